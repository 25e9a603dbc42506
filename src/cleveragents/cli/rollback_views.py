"""What ``plan rollback`` shows, per format.

``plan rollback --format json`` prints (yaml: the same keys)::

    {
      "plan_id": "demo-01J...",
      "checkpoint_id": "01J...",            # the checkpoint rolled back to
      "safety_checkpoint_id": "01J...",     # the pre_rollback checkpoint; null on a dry run
      "sandbox_dir": "/abs/path",
      "written": ["src/app.py", "empty/"],  # sorted; folders end with "/"
      "removed": ["scratch.txt"],
      "rolled_back_entries": 3,
      "rolled_back_invocations": 2,
      "dry_run": false
    }
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from cleveragents.application.services.plan_rollback_service import RollbackResult
from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_lines


@dataclass(frozen=True)
class RollbackReport:
    """A rollback's result with the plan and sandbox it was about."""

    plan_id: str
    sandbox_dir: Path
    result: RollbackResult

    def to_document(self) -> dict[str, Any]:
        """The JSON/YAML document described in this module's docstring."""
        result = self.result
        return {
            "plan_id": self.plan_id,
            "checkpoint_id": result.checkpoint_id,
            "safety_checkpoint_id": result.safety_checkpoint_id,
            "sandbox_dir": str(self.sandbox_dir),
            "written": list(result.written),
            "removed": list(result.removed),
            "rolled_back_entries": result.rolled_back_entries,
            "rolled_back_invocations": result.rolled_back_invocations,
            "dry_run": result.dry_run,
        }


def render_rollback(report: RollbackReport, fmt: OutputFormat) -> None:
    """Write ``plan rollback`` output in ``fmt``."""
    if fmt.is_document:
        write_document(report.to_document(), fmt)
        return
    result = report.result
    groups = (("written", result.written), ("removed", result.removed))
    counts = (
        f"rolled_back_entries: {result.rolled_back_entries}",
        f"rolled_back_invocations: {result.rolled_back_invocations}",
    )
    if fmt is OutputFormat.RICH:
        verb = "would roll back" if result.dry_run else "rolled back"
        parts: list[RenderableType] = [
            Text(f"plan {report.plan_id} {verb} to checkpoint {result.checkpoint_id}", style="bold")
        ]
        if result.safety_checkpoint_id is not None:
            parts.append(Text(f"undo with checkpoint {result.safety_checkpoint_id}"))
        styles = {"written": "green", "removed": "red"}
        for name, paths in groups:
            parts.append(Text(f"{name}: {len(paths)}", style=styles[name]))
            parts += [Text(f"  {path}") for path in paths]
        parts += [Text(line) for line in counts]
        stdout_console().print(Group(*parts))
        return
    lines = [
        f"plan: {report.plan_id}",
        f"checkpoint: {result.checkpoint_id}",
        f"safety_checkpoint: {result.safety_checkpoint_id or 'null'}",
        f"sandbox_dir: {report.sandbox_dir}",
        f"dry_run: {'true' if result.dry_run else 'false'}",
    ]
    for name, paths in groups:
        lines.append(f"{name}: {len(paths)}")
        lines += [f"  {path}" for path in paths]
    write_lines([*lines, *counts])
