"""Names in step text filled in from the scenario: ``{tmp}``, ``{plan}`` and the like."""

from __future__ import annotations

from behave.runner import Context


def fill(context: Context, text: str) -> str:
    """``text`` with ``{tmp}`` (the scenario folder), ``{plan}`` and ``context.cli_values``."""
    values = {
        "plan": getattr(context, "plan_id", "none"),
        "tmp": str(context.tmp),
        **getattr(context, "cli_values", {}),
    }
    for name, value in values.items():
        text = text.replace(f"{{{name}}}", value)
    return text
