"""What ``plan status`` and ``plan diff`` show: read from the database, rendered per format.

``plan status --format json`` prints (yaml: the same keys, in the same order)::

    {
      "plan_id": "demo-01J...",
      "changesets": [                       # oldest first
        {
          "summary": {                      # ChangeSetSummary, field for field
            "changeset_id": "01J...", "plan_id": "demo-01J...",
            "files_changed": 5, "created": 1, "modified": 2, "deleted": 1, "renamed": 1,
            "insertions": 31, "deletions": 4,
            "tool_invocations": 9, "failed_invocations": 1,
            "paths": ["README.md", "app/http.py", ...],      # sorted, distinct
            "rolled_back": 0                # entries a rollback undid, left out above
          },
          "created_at": "2024-05-01T12:00:00.123456Z"       # the changeset's, UTC
        }
      ],
      "tool_invocations": {                 # the whole plan, including invocations
        "total": 9,                         # attached to no changeset; live ones only
        "failed": 1,
        "rolled_back": 0,                   # undone by a rollback, counted apart
        "failures": [                       # recording order
          {"invocation_id": "01J...", "tool_name": "run_tests", "error": "Traceback ..."}
        ]
      },
      "checkpoints": [                      # oldest first
        {
          "checkpoint_id": "01J...", "checkpoint_type": "pre_decision",
          "created_at": "2024-05-01T12:00:00.123456Z",
          "decision_id": "step-1",          # null when the checkpoint has none
          "diff_path_count": 5              # len(metadata.extra["diff_paths"]), else 0
        }
      ]
    }

A plan is found when it has a changeset, a tool invocation or a checkpoint.

``plan diff --format json`` prints ``{"plan_id": ..., "entries": [...]}`` where each
entry is a ``ChangeEntry`` dump (entry_id, changeset_id, plan_id, path, operation,
old_path, before_hash, after_hash, diff, insertions, deletions, tool_invocation_id,
metadata, created_at, kind, before_mode, after_mode, rolled_back_by), in recording
order; entries a rollback undid are left out; no matching entry gives ``"entries": []``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from cleveragents.cli.checkpoint_views import (
    checkpoint_summary,
    checkpoint_table,
    plain_checkpoint_summaries,
)
from cleveragents.cli.context import NotFoundError
from cleveragents.cli.output import (
    OutputFormat,
    indent,
    stdout_console,
    write_document,
    write_lines,
    write_text,
)
from cleveragents.domain.models.core._types import require_id
from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeOperation,
    ChangeSetSummary,
    ToolInvocation,
)
from cleveragents.domain.models.core.checkpoint import Checkpoint

if TYPE_CHECKING:
    from cleveragents.database import Database

_DATETIME = TypeAdapter(datetime)


def _timestamp(value: datetime) -> str:
    rendered = _DATETIME.dump_python(value, mode="json")
    return str(rendered)


@dataclass(frozen=True)
class ChangeSetStatus:
    """One changeset of a plan: when it was started and its summary."""

    created_at: datetime
    summary: ChangeSetSummary


@dataclass(frozen=True)
class PlanStatus:
    """Everything ``plan status`` shows about one plan."""

    plan_id: str
    changesets: list[ChangeSetStatus]
    invocations: list[ToolInvocation]
    checkpoints: list[Checkpoint]

    @property
    def live_invocations(self) -> list[ToolInvocation]:
        """The invocations no rollback undid, in recording order."""
        return [invocation for invocation in self.invocations if invocation.rolled_back_by is None]

    @property
    def rolled_back_invocations(self) -> int:
        """How many invocations a rollback undid (shown apart, counted nowhere else)."""
        return len(self.invocations) - len(self.live_invocations)

    @property
    def failures(self) -> list[ToolInvocation]:
        """The failed live tool invocations, in recording order."""
        return [call for call in self.live_invocations if call.error is not None]

    def to_document(self) -> dict[str, Any]:
        """The JSON/YAML document described in this module's docstring."""
        return {
            "plan_id": self.plan_id,
            "changesets": [
                {
                    "summary": status.summary.model_dump(mode="json"),
                    "created_at": _timestamp(status.created_at),
                }
                for status in self.changesets
            ],
            "tool_invocations": {
                "total": len(self.live_invocations),
                "failed": len(self.failures),
                "rolled_back": self.rolled_back_invocations,
                "failures": [
                    {
                        "invocation_id": failure.invocation_id,
                        "tool_name": failure.tool_name,
                        "error": failure.error,
                    }
                    for failure in self.failures
                ],
            },
            "checkpoints": [checkpoint_summary(checkpoint) for checkpoint in self.checkpoints],
        }


@dataclass(frozen=True)
class PlanDiff:
    """The recorded entries ``plan diff`` shows, in recording order."""

    plan_id: str
    entries: list[ChangeEntry]

    def to_document(self) -> dict[str, Any]:
        """``{"plan_id": ..., "entries": [ChangeEntry dumps]}``."""
        return {
            "plan_id": self.plan_id,
            "entries": [entry.model_dump(mode="json") for entry in self.entries],
        }


# --- reading -------------------------------------------------------------------------


def load_status(database: Database, plan_id: str) -> PlanStatus:
    """The plan's changesets with their summaries, its tool invocations and checkpoints."""
    key = require_id(plan_id, "plan_id")
    store = database.changesets
    changesets = store.get_for_plan(key)
    invocations = database.invocations_for_plan(key)
    checkpoints = database.checkpoints.list_checkpoints(key)
    if not changesets and not invocations and not checkpoints:
        raise NotFoundError(f"plan {key} not found")
    statuses = [
        ChangeSetStatus(created_at=cs.created_at, summary=store.summarize(cs.changeset_id))
        for cs in changesets
    ]
    return PlanStatus(
        plan_id=key, changesets=statuses, invocations=invocations, checkpoints=checkpoints
    )


def load_diff(
    database: Database,
    plan_id: str,
    *,
    changeset_id: str | None = None,
    path_glob: str | None = None,
) -> PlanDiff:
    """The plan's entries (of one changeset, when given), filtered by a path glob."""
    key = require_id(plan_id, "plan_id")
    if changeset_id is not None:
        changeset = database.changesets.get(require_id(changeset_id, "changeset_id"))
        if changeset is None or changeset.plan_id != key:
            raise NotFoundError(f"changeset {changeset_id} of plan {key} not found")
        entries = changeset.entries
    else:
        entries = database.entries_for_plan(key)
        if not entries and not _plan_exists(database, key):
            raise NotFoundError(f"plan {key} not found")
    entries = [entry for entry in entries if entry.rolled_back_by is None]
    if path_glob is not None:
        entries = [entry for entry in entries if _matches(entry, path_glob)]
    return PlanDiff(plan_id=key, entries=entries)


def _plan_exists(database: Database, plan_id: str) -> bool:
    if database.changesets.get_for_plan(plan_id):
        return True
    if database.invocations_for_plan(plan_id):
        return True
    return bool(database.checkpoints.list_checkpoints(plan_id))


def _matches(entry: ChangeEntry, pattern: str) -> bool:
    """fnmatch-style, case-sensitive; a rename also matches by its old path."""
    if fnmatchcase(entry.path, pattern):
        return True
    return entry.old_path is not None and fnmatchcase(entry.old_path, pattern)


# --- rendering -----------------------------------------------------------------------


def render_status(status: PlanStatus, fmt: OutputFormat) -> None:
    """Write ``plan status`` output in ``fmt``."""
    if fmt.is_document:
        write_document(status.to_document(), fmt)
    elif fmt is OutputFormat.RICH:
        stdout_console().print(_rich_status(status))
    else:
        write_lines(_plain_status(status))


def _plain_status(status: PlanStatus) -> list[str]:
    lines = [f"plan: {status.plan_id}", f"changesets: {len(status.changesets)}"]
    for changeset in status.changesets:
        summary = changeset.summary
        lines += [
            f"changeset: {summary.changeset_id}",
            f"  created_at: {_timestamp(changeset.created_at)}",
        ]
        for field in _SUMMARY_COUNTS:
            lines.append(f"  {field}: {getattr(summary, field)}")
        lines.append("  paths:")
        lines += [f"    {path}" for path in summary.paths]
    failures = status.failures
    lines += [
        f"tool_invocations: {len(status.live_invocations)}",
        f"failed_invocations: {len(failures)}",
        f"rolled_back_invocations: {status.rolled_back_invocations}",
    ]
    for failure in failures:
        lines.append(f"failure: {failure.tool_name} ({failure.invocation_id})")
        lines += indent(failure.error or "")
    return lines + plain_checkpoint_summaries(status.checkpoints)


_SUMMARY_COUNTS = (
    "files_changed",
    "created",
    "modified",
    "deleted",
    "renamed",
    "insertions",
    "deletions",
    "tool_invocations",
    "failed_invocations",
    "rolled_back",
)


def _rich_status(status: PlanStatus) -> RenderableType:
    failures = status.failures
    parts: list[RenderableType] = [Text(f"plan {status.plan_id}", style="bold")]
    for changeset in status.changesets:
        s = changeset.summary
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column()
        grid.add_row("created", _timestamp(changeset.created_at))
        grid.add_row(
            "files",
            f"{s.files_changed} ({s.created} created, {s.modified} modified, "
            f"{s.deleted} deleted, {s.renamed} renamed)",
        )
        grid.add_row(
            "lines", Text.assemble((f"+{s.insertions}", "green"), " ", (f"-{s.deletions}", "red"))
        )
        grid.add_row("tool calls", _tools_cell(s.tool_invocations, s.failed_invocations))
        if s.rolled_back:
            grid.add_row("rolled back", Text(f"{s.rolled_back} entries", style="yellow"))
        grid.add_row("paths", "\n".join(s.paths))
        parts.append(Panel(grid, title=f"changeset {s.changeset_id}", title_align="left"))
    parts.append(
        Text.assemble(
            "tool invocations: ", _tools_cell(len(status.live_invocations), len(failures))
        )
    )
    if status.rolled_back_invocations:
        parts.append(
            Text(f"rolled back tool invocations: {status.rolled_back_invocations}", style="yellow")
        )
    parts += [
        Panel(
            Text(failure.error or ""),
            title=f"failed: {failure.tool_name} ({failure.invocation_id})",
            title_align="left",
            border_style="red",
        )
        for failure in failures
    ]
    parts.append(Text(f"checkpoints: {len(status.checkpoints)}"))
    if status.checkpoints:
        parts.append(checkpoint_table(status.checkpoints))
    return Group(*parts)


def _tools_cell(total: int, failed: int) -> Text:
    text = Text(str(total))
    if failed:
        text.append(f" ({failed} failed)", style="bold red")
    return text


def render_diff(diff: PlanDiff, fmt: OutputFormat) -> None:
    """Write ``plan diff`` output in ``fmt``."""
    if fmt.is_document:
        write_document(diff.to_document(), fmt)
    elif fmt is OutputFormat.RICH:
        console = stdout_console()
        for entry in diff.entries:
            console.print(Text(diff_header(entry), style="bold"))
            if entry.diff:
                console.print(
                    Syntax(entry.diff.rstrip("\n"), "diff", theme="ansi_dark", word_wrap=True)
                )
    else:
        for entry in diff.entries:
            write_text(diff_header(entry))
            write_text(entry.diff)


def diff_header(entry: ChangeEntry) -> str:
    """``# <operation> <path>``, or ``# rename <old_path> -> <path>``."""
    if entry.operation is ChangeOperation.RENAME:
        return f"# rename {entry.old_path} -> {entry.path}"
    return f"# {entry.operation.value} {entry.path}"
