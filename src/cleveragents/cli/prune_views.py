"""What ``checkpoint prune`` shows, per format.

``checkpoint prune PLAN_ID ... --format json`` prints (yaml: the same keys)::

    {"plan_id": "demo-01J...", "dry_run": false, "count": 2, "bytes_freed": 40960,
     "checkpoint_ids": ["01J...", "01J..."]}                       # oldest first

``count`` checkpoints were deleted (with ``--dry-run``: would be); ``bytes_freed``
is the stored (compressed) size of the content no kept checkpoint needs. Plain
text prints the count alone, as scripts read it; with ``--dry-run`` it prints
``dry_run: true``, ``count: N``, ``bytes_freed: N`` and ``checkpoint_ids: N``
followed by each id, indented. Rich prints one line and then the ids.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_lines
from cleveragents.domain.retention import PruneReport


def prune_document(report: PruneReport) -> dict[str, Any]:
    """The JSON/YAML document described in this module's docstring."""
    return {
        "plan_id": report.plan_id,
        "dry_run": report.dry_run,
        "count": report.count,
        "bytes_freed": report.bytes_freed,
        "checkpoint_ids": list(report.checkpoint_ids),
    }


def render_prune(report: PruneReport, fmt: OutputFormat) -> None:
    """Write ``checkpoint prune`` output in ``fmt``."""
    if fmt.is_document:
        write_document(prune_document(report), fmt)
    elif fmt is OutputFormat.RICH:
        verb = "would delete" if report.dry_run else "deleted"
        noun = "checkpoint" if report.count == 1 else "checkpoints"
        headline = Text(
            f"plan {report.plan_id}: {verb} {report.count} {noun}, "
            f"{report.bytes_freed:,} bytes of stored content",
            style="bold",
        )
        ids = [Text(f"  {checkpoint_id}") for checkpoint_id in report.checkpoint_ids]
        stdout_console().print(Group(headline, *ids))
    elif report.dry_run:
        write_lines(
            [
                "dry_run: true",
                f"count: {report.count}",
                f"bytes_freed: {report.bytes_freed}",
                f"checkpoint_ids: {report.count}",
            ]
            + [f"  {checkpoint_id}" for checkpoint_id in report.checkpoint_ids]
        )
    else:
        write_lines([str(report.count)])
