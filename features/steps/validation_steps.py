"""Steps that feed bad input to models, repositories and the store."""

from __future__ import annotations

import json
from typing import Any

from behave import when
from behave.runner import Context
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, factory, sha

from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    SqliteChangeSetStore,
    ToolInvocationRepository,
)

_REPOSITORIES: dict[str, Any] = {
    "SqliteChangeSetStore": SqliteChangeSetStore,
    "ChangeSetEntryRepository": ChangeSetEntryRepository,
    "ToolInvocationRepository": ToolInvocationRepository,
}

_VALUES: dict[str, Any] = {
    "empty": "",
    "blank": "   ",
    "padded": " plan-1 ",
    "too long": "x" * 65,
    "a number": 42,
    "None": None,
    "a string": "not a model",
}


def _literal(value: str) -> Any:
    """Table cell notation: <empty>, <blank>, <none>, <sha>, <NUL>, <65 chars>, JSON or text."""
    special = {
        "<empty>": "",
        "<blank>": "  ",
        "<none>": None,
        "<sha>": sha("x"),
        "<65 chars>": "c" * 65,
    }
    if value in special:
        return special[value]
    value = (
        value.replace("<NUL>", "\\u0000")
        if value.startswith(("{", "["))
        else value.replace("<NUL>", "\x00")
    )
    if value.startswith(("{", "[")) or value in ("NaN", "Infinity") or value.lstrip("-").isdigit():
        return json.loads(value)
    return value.replace("\\\\", "\\")


@when("I try to build a {repository} without a session factory")
def step_no_factory(context: Context, repository: str) -> None:
    attempt(context, lambda: _REPOSITORIES[repository](None))


@when("I try to call the store method {method} with {value}")
def step_call_store(context: Context, method: str, value: str) -> None:
    store = SqliteChangeSetStore(factory(context))
    attempt(context, lambda: getattr(store, method)(_VALUES[value]))


@when("I try to call the {repository} repository method {method} with {value}")
def step_call_repository(context: Context, repository: str, method: str, value: str) -> None:
    kind = ChangeSetEntryRepository if repository == "entries" else ToolInvocationRepository
    target = kind(factory(context))
    attempt(context, lambda: getattr(target, method)(_VALUES[value]))


def _valid_entry_fields() -> dict[str, Any]:
    return {
        "changeset_id": "cs-1",
        "plan_id": "plan-1",
        "path": "src/app.py",
        "operation": "create",
        "after_hash": sha("b"),
    }


@when("I try to build a change entry with {field} set to {value}")
def step_build_entry(context: Context, field: str, value: str) -> None:
    fields = _valid_entry_fields()
    fields[field] = _literal(value)
    attempt(context, lambda: ChangeEntry(**fields))


@when(
    "I try to build a {operation} entry with before {before} and after {after} and old path {old}"
)
def step_build_shape(context: Context, operation: str, before: str, after: str, old: str) -> None:
    fields: dict[str, Any] = {
        "changeset_id": "cs-1",
        "plan_id": "plan-1",
        "path": "b.txt",
        "operation": operation,
        "before_hash": sha("before") if before == "yes" else None,
        "after_hash": sha("after") if after == "yes" else None,
        "old_path": "a.txt" if old == "yes" else None,
    }
    attempt(context, lambda: ChangeEntry(**fields))


@when("I try to build a tool invocation with {field} set to {value}")
def step_build_invocation(context: Context, field: str, value: str) -> None:
    fields: dict[str, Any] = {"plan_id": "plan-1", "tool_name": "write_file"}
    fields[field] = _literal(value)
    attempt(context, lambda: ToolInvocation(**fields))
