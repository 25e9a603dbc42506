"""What ``plan list`` and ``plan delete`` show, per format.

``plan list --format json`` prints a list of ``PlanInfo`` dumps, ordered by plan id
(``[]`` when there is none; plain and rich print nothing then)::

    [
      {"plan_id": "demo-01J...", "changesets": 1, "entries": 5, "tool_invocations": 9,
       "checkpoints": 9, "cancelled": false, "last_activity": "2024-05-01T12:00:00.123456Z"}
    ]

``last_activity`` is null for a plan with nothing dated. ``plan delete PLAN_ID
--format json`` prints the ``PlanDeletion`` dump: plan_id, entries,
tool_invocations, changesets, checkpoints (what was deleted). YAML carries the
same keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_lines
from cleveragents.domain.models.core.plan import PlanDeletion, PlanInfo

_PLAN_COUNTS = ("changesets", "entries", "tool_invocations", "checkpoints")
_DELETED_COUNTS = ("entries", "tool_invocations", "changesets", "checkpoints")


def _last_activity(plan: PlanInfo) -> str:
    value = plan.model_dump(mode="json")["last_activity"]
    return "none" if value is None else str(value)


def render_plans(plans: Sequence[PlanInfo], fmt: OutputFormat) -> None:
    """Write ``plan list`` output in ``fmt``."""
    if fmt.is_document:
        write_document([plan.model_dump(mode="json") for plan in plans], fmt)
    elif not plans:
        return
    elif fmt is OutputFormat.RICH:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("plan", no_wrap=True)
        for name in ("changesets", "entries", "tool calls", "checkpoints"):
            table.add_column(name, justify="right")
        table.add_column("cancelled")
        table.add_column("last activity (UTC)", no_wrap=True)
        for plan in plans:
            table.add_row(
                plan.plan_id,
                *(str(getattr(plan, field)) for field in _PLAN_COUNTS),
                Text("yes", style="yellow") if plan.cancelled else "",
                plan.last_activity.strftime("%Y-%m-%d %H:%M:%S") if plan.last_activity else "",
            )
        stdout_console().print(table)
    else:
        lines: list[str] = []
        for plan in plans:
            lines.append(f"plan: {plan.plan_id}")
            lines += [f"  {field}: {getattr(plan, field)}" for field in _PLAN_COUNTS]
            lines += [
                f"  cancelled: {'true' if plan.cancelled else 'false'}",
                f"  last_activity: {_last_activity(plan)}",
            ]
        write_lines(lines)


def render_deletion(deletion: PlanDeletion, fmt: OutputFormat) -> None:
    """Write ``plan delete`` output in ``fmt``."""
    if fmt.is_document:
        write_document(deletion.model_dump(mode="json"), fmt)
    elif fmt is OutputFormat.RICH:
        counts = ", ".join(
            f"{getattr(deletion, field)} {field.replace('_', ' ')}" for field in _DELETED_COUNTS
        )
        stdout_console().print(
            Text.assemble(("deleted plan ", "bold"), (deletion.plan_id, "bold"), f": {counts}")
        )
    else:
        write_lines(
            [f"plan: {deletion.plan_id}"]
            + [f"{field}: {getattr(deletion, field)}" for field in _DELETED_COUNTS]
        )
