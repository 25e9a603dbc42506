"""Steps shared by every feature: outcomes, errors and raw row counts."""

from __future__ import annotations

from behave import then
from behave.runner import Context
from support.world import row_count

_TABLES = {
    "changesets": "changesets",
    "changeset entries": "changeset_entries",
    "tool invocations": "tool_invocations",
    "error patterns": "error_patterns",
    "error pattern terms": "error_pattern_terms",
}


@then("it fails with {error_name}")
def step_fails_with(context: Context, error_name: str) -> None:
    error = context.error
    assert error is not None, (
        f"expected {error_name}, but the call succeeded with {context.result!r}"
    )
    names = {cls.__name__ for cls in type(error).__mro__}
    assert error_name in names, f"expected {error_name}, got {type(error).__name__}: {error}"
    assert str(error).strip(), "the error has no message"


@then("it succeeds")
def step_succeeds(context: Context) -> None:
    assert context.error is None, f"expected success, got {context.error!r}"


@then("the database holds {count:d} {what}")
def step_database_holds(context: Context, count: int, what: str) -> None:
    found = row_count(context, _TABLES[what])
    assert found == count, f"expected {count} {what}, found {found}"


@then("the deleted count is {count:d}")
def step_deleted_count(context: Context, count: int) -> None:
    assert context.error is None, context.error
    assert context.result == count, f"expected {count} deleted, got {context.result}"
