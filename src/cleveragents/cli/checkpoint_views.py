"""What the ``checkpoint`` commands (and the checkpoints of ``plan status``) show, per format.

``checkpoint list PLAN_ID --format json`` prints (yaml: the same keys)::

    {"plan_id": "demo-01J...", "checkpoints": [Checkpoint dump, ...]}   # oldest first

``checkpoint show ID --format json`` prints one ``Checkpoint`` dump: checkpoint_id,
plan_id, sandbox_ref, checkpoint_type, parent_id, created_at and metadata
(decision_id, description, tags, extra; a workspace snapshot's extra holds
diff_paths, diff_based and diff_hash).

``checkpoint restore ID --to DIR --format json`` prints the ``RestoreResult``::

    {"checkpoint_id": "01J...", "target_dir": "/abs/dir",
     "written": [...], "removed": [...], "skipped": [...], "dry_run": false}   # lists sorted

``plan status`` lists each checkpoint as :func:`checkpoint_summary`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cleveragents.application.services.checkpoint_service import CheckpointService, RestoreResult
from cleveragents.cli.context import NotFoundError
from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_lines
from cleveragents.domain.models.core.checkpoint import DIFF_PATHS, Checkpoint


def diff_path_count(checkpoint: Checkpoint) -> int:
    """How many paths the checkpoint changed since its parent (0 without diff metadata)."""
    paths = checkpoint.metadata.extra.get(DIFF_PATHS)
    return len(paths) if isinstance(paths, list) else 0


def _none(value: object) -> str:
    return "none" if value is None else str(value)


def _created(checkpoint: Checkpoint) -> str:
    return str(checkpoint.model_dump(mode="json")["created_at"])


def checkpoint_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    """One checkpoint in ``plan status``: id, type, created_at, decision_id, diff_path_count."""
    return {
        "checkpoint_id": checkpoint.checkpoint_id,
        "checkpoint_type": checkpoint.checkpoint_type,
        "created_at": _created(checkpoint),
        "decision_id": checkpoint.metadata.decision_id,
        "diff_path_count": diff_path_count(checkpoint),
    }


def plain_checkpoint_summaries(checkpoints: list[Checkpoint]) -> list[str]:
    """The ``checkpoints`` section of plain ``plan status``: a count, then each summary."""
    lines = [f"checkpoints: {len(checkpoints)}"]
    for checkpoint in checkpoints:
        fields = checkpoint_summary(checkpoint)
        lines.append(f"checkpoint: {fields.pop('checkpoint_id')}")
        lines += [f"  {key}: {_none(value)}" for key, value in fields.items()]
    return lines


# --- reading -------------------------------------------------------------------------


def load_checkpoint(service: CheckpointService, checkpoint_id: str) -> Checkpoint:
    """The checkpoint, or :class:`NotFoundError`."""
    checkpoint = service.get_checkpoint(checkpoint_id)
    if checkpoint is None:
        raise NotFoundError(f"checkpoint {checkpoint_id} not found")
    return checkpoint


def load_checkpoints(service: CheckpointService, plan_id: str) -> list[Checkpoint]:
    """The plan's checkpoints, oldest first; :class:`NotFoundError` when it has none."""
    checkpoints = service.list_checkpoints(plan_id)
    if not checkpoints:
        raise NotFoundError(f"plan {plan_id} has no checkpoints")
    return checkpoints


@dataclass(frozen=True)
class RestoreReport:
    """A restore's result with the checkpoint and folder it was about."""

    checkpoint_id: str
    target_dir: Path
    result: RestoreResult

    def to_document(self) -> dict[str, Any]:
        """The JSON/YAML document described in this module's docstring."""
        return {
            "checkpoint_id": self.checkpoint_id,
            "target_dir": str(self.target_dir),
            "written": list(self.result.written),
            "removed": list(self.result.removed),
            "skipped": list(self.result.skipped),
            "dry_run": self.result.dry_run,
        }


# --- rendering -----------------------------------------------------------------------


def render_list(plan_id: str, checkpoints: list[Checkpoint], fmt: OutputFormat) -> None:
    """Write ``checkpoint list`` output in ``fmt``."""
    if fmt.is_document:
        dumps = [checkpoint.model_dump(mode="json") for checkpoint in checkpoints]
        write_document({"plan_id": plan_id, "checkpoints": dumps}, fmt)
    elif fmt is OutputFormat.RICH:
        stdout_console().print(
            Group(Text(f"plan {plan_id}", style="bold"), checkpoint_table(checkpoints))
        )
    else:
        lines = [f"plan: {plan_id}", f"checkpoints: {len(checkpoints)}"]
        for checkpoint in checkpoints:
            lines += [
                f"checkpoint: {checkpoint.checkpoint_id}",
                f"  checkpoint_type: {checkpoint.checkpoint_type}",
                f"  created_at: {_created(checkpoint)}",
                f"  parent_id: {_none(checkpoint.parent_id)}",
                f"  decision_id: {_none(checkpoint.metadata.decision_id)}",
                f"  description: {_none(checkpoint.metadata.description)}",
                f"  diff_path_count: {diff_path_count(checkpoint)}",
            ]
        write_lines(lines)


def checkpoint_table(checkpoints: list[Checkpoint]) -> Table:
    """A rich table of checkpoints, oldest first (``show`` has every field of one)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("checkpoint", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("decision", overflow="fold")
    table.add_column("changed", justify="right")
    table.add_column("description", overflow="fold", ratio=1)
    for checkpoint in checkpoints:
        table.add_row(
            checkpoint.checkpoint_id,
            checkpoint.checkpoint_type,
            checkpoint.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            checkpoint.metadata.decision_id or "",
            str(diff_path_count(checkpoint)),
            checkpoint.metadata.description or "",
        )
    return table


def _json_text(value: JsonValue) -> str:
    """Text as is, anything else (true, null, numbers, lists, objects) as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render_checkpoint(checkpoint: Checkpoint, fmt: OutputFormat) -> None:
    """Write ``checkpoint show`` output in ``fmt``."""
    if fmt.is_document:
        write_document(checkpoint.model_dump(mode="json"), fmt)
        return
    meta = checkpoint.metadata
    rows: list[tuple[str, str]] = [
        ("plan_id", checkpoint.plan_id),
        ("sandbox_ref", checkpoint.sandbox_ref),
        ("checkpoint_type", checkpoint.checkpoint_type),
        ("parent_id", _none(checkpoint.parent_id)),
        ("created_at", _created(checkpoint)),
        ("decision_id", _none(meta.decision_id)),
        ("description", _none(meta.description)),
        ("tags", ", ".join(meta.tags)),
    ]
    lists: list[tuple[str, list[str]]] = []
    for key, value in meta.extra.items():
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            lists.append((key, [str(item) for item in value]))
        else:
            rows.append((key, _json_text(value)))
    if fmt is OutputFormat.RICH:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column(overflow="fold")
        for key, text in rows:
            grid.add_row(key, text)
        for key, items in lists:
            grid.add_row(f"{key} ({len(items)})", "\n".join(items))
        stdout_console().print(
            Group(Text(f"checkpoint {checkpoint.checkpoint_id}", style="bold"), grid)
        )
        return
    lines = [f"checkpoint: {checkpoint.checkpoint_id}"]
    lines += [f"{key}: {text}".rstrip() for key, text in rows]
    for key, items in lists:
        lines.append(f"{key}: {len(items)}")
        lines += [f"  {item}" for item in items]
    write_lines(lines)


def render_restore(report: RestoreReport, fmt: OutputFormat) -> None:
    """Write ``checkpoint restore`` output in ``fmt``."""
    if fmt.is_document:
        write_document(report.to_document(), fmt)
        return
    result = report.result
    groups = [
        ("written", result.written),
        ("removed", result.removed),
        ("skipped", result.skipped),
    ]
    if fmt is OutputFormat.RICH:
        verb = "would change" if result.dry_run else "changed"
        parts: list[RenderableType] = [
            Text(f"checkpoint {report.checkpoint_id} -> {report.target_dir} ({verb})", style="bold")
        ]
        styles = {"written": "green", "removed": "red", "skipped": "yellow"}
        for name, paths in groups:
            parts.append(Text(f"{name}: {len(paths)}", style=styles[name]))
            parts += [Text(f"  {path}") for path in paths]
        stdout_console().print(Group(*parts))
        return
    lines = [
        f"checkpoint: {report.checkpoint_id}",
        f"target_dir: {report.target_dir}",
        f"dry_run: {_json_text(result.dry_run)}",
    ]
    for name, paths in groups:
        lines.append(f"{name}: {len(paths)}")
        lines += [f"  {path}" for path in paths]
    write_lines(lines)
