"""Steps for an apply that can be retried: already applied paths, modes, symlinks, conflicts,
and the entry fields behind them (kind, before_mode, after_mode, rolled_back_by)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from apply_steps import agent_steps, snapshot
from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from sqlalchemy import text
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.links import make_link, read_link
from support.world import attempt, factory, real_id, sha, table_rows

from cleveragents.application.services.plan_apply_service import ApplyError, ApplyResult
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    ToolInvocationRepository,
)


def _names(text_value: str) -> list[str]:
    return [part.strip() for part in text_value.split(",") if part.strip()]


def _stats(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime, ctime) of ``root`` (as ``""``) and of every path under it.

    A rewrite (a new file renamed into place) changes the inode, a write the mtime,
    a chmod the ctime, and a folder's mtime changes when an entry is added to it or
    removed from it (a staging folder included).
    """
    found = {"": _stat_key(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[path.relative_to(root).as_posix()] = _stat_key(path)
    return found


def _stat_key(path: Path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)


@then('the apply result lists modes "{modes:Text}" and already applied "{already:Text}"')
def step_apply_modes(context: Context, modes: str, already: str) -> None:
    result: ApplyResult = context.result
    assert result.modes == _names(modes), result
    assert result.already_applied == _names(already), result


@when("I note the target's files with their inodes and times")
def step_note_stats(context: Context) -> None:
    context.stats = _stats(context.target)


@then('of the target, only "{paths:Text}" were touched')
def step_only_touched(context: Context, paths: str) -> None:
    """The paths named changed; nothing else did, but the folders holding them."""
    touched = set(_names(paths))
    holders = {
        "/".join(rel.split("/")[:depth]) for rel in touched for depth in range(rel.count("/") + 1)
    }
    now = _stats(context.target)
    for rel, before in context.stats.items():
        if rel not in touched and rel not in holders:
            assert now.get(rel) == before, (rel, now.get(rel), before)
    for rel in touched:
        assert now.get(rel) != context.stats.get(rel), f"{rel} was not touched"
    assert set(now) - set(context.stats) <= touched, sorted(set(now) - set(context.stats))


@given('the target already holds the sandbox\'s "{paths}"')
def step_partly_applied(context: Context, paths: str) -> None:
    """Copy each path's state (file with its mode, symlink, or nothing) from the sandbox."""
    for rel in _names(paths):
        source, place = context.sandbox / rel, context.target / rel
        if os.path.lexists(place):
            place.unlink()
        if source.is_symlink():
            make_link(read_link(source), place)
        elif source.exists():
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, place)
    context.before = snapshot(context.target)


@then('the target holds a symlink "{rel}" to "{target}"')
def step_target_symlink(context: Context, rel: str, target: str) -> None:
    path = context.target / rel
    assert stat.S_ISLNK(os.lstat(path).st_mode), rel
    assert read_link(path) == target.encode(), read_link(path)


@then('the target file "{rel}" is a regular file holding "{content}" with mode {mode}')
def step_target_regular(context: Context, rel: str, content: str, mode: str) -> None:
    info = os.lstat(context.target / rel)
    assert stat.S_ISREG(info.st_mode), rel
    assert (context.target / rel).read_bytes() == content.encode()
    assert stat.S_IMODE(info.st_mode) == int(mode, 8), oct(info.st_mode)


@given('the target file "{rel}" is removed')
def step_target_removed(context: Context, rel: str) -> None:
    (context.target / rel).unlink()
    context.before = snapshot(context.target)


def _plan_rows(context: Context, plan: str) -> int:
    """The plan's changeset records, counted with plain SQL."""
    total = 0
    with factory(context)() as session:
        for table in ("changeset_entries", "tool_invocations", "changesets"):
            counted = session.execute(
                text(f"SELECT count(*) FROM {table} WHERE plan_id = :plan"), {"plan": plan}
            ).scalar_one()
            total += int(counted)
    return total


@given('I count the records of plan "{plan}" with SQL')
@when('I count the records of plan "{plan}" with SQL')
def step_count_records(context: Context, plan: str) -> None:
    context.counted = _plan_rows(context, plan)
    assert context.counted > 0, "the plan has no records to count"


@then('plan "{plan}" still has the records counted')
def step_records_kept(context: Context, plan: str) -> None:
    assert _plan_rows(context, plan) == context.counted


@then("the apply error says its cleanup deleted the records counted")
def step_cleaned_up(context: Context) -> None:
    error: ApplyError = context.error
    assert isinstance(error, ApplyError), error
    assert error.cleaned_up == context.counted, (error.cleaned_up, context.counted)
    assert f"deleted {context.counted} " in str(error), str(error)


def _digest(cell: str) -> str | None:
    return (
        None
        if cell == "<nothing>"
        else hashlib.sha256(cell.replace("\\n", "\n").encode()).hexdigest()
    )


@then("the apply error lists the conflicts")
def step_conflicts(context: Context) -> None:
    """Rows: path, what the plan expected there and what was found (``<nothing>``)."""
    error: ApplyError = context.error
    assert isinstance(error, ApplyError), error
    wanted = [(r["path"], _digest(r["expected"]), _digest(r["found"])) for r in table_rows(context)]
    assert sorted(error.conflicts, key=str) == sorted(wanted, key=str), error.conflicts
    message = str(error)
    for path, expected, found in wanted:
        assert path in message, (path, message)
        for digest in (expected, found):
            if digest is not None:
                assert digest in message, (path, digest, message)


# --- the entry fields ---------------------------------------------------------------------

_MODES: dict[str, Any] = {"none": None, "true": True, "false": False}


def _mode(value: str) -> Any:
    return _MODES[value] if value in _MODES else int(value, 8)


@when("I try to build a {operation} {kind} entry with before_mode {before} and after_mode {after}")
def step_build_modes(context: Context, operation: str, kind: str, before: str, after: str) -> None:
    fields: dict[str, Any] = {
        "changeset_id": "cs-1",
        "plan_id": "plan-1",
        "path": "bin/run.sh",
        "operation": operation,
        "kind": kind,
        "before_hash": None if operation == "create" else sha("before"),
        "after_hash": None if operation == "delete" else sha("after"),
        "before_mode": _mode(before),
        "after_mode": _mode(after),
    }
    attempt(context, lambda: ChangeEntry(**fields))


@when("I try to record, with rolled_back_by set, {what}")
def step_record_rolled_back(context: Context, what: str) -> None:
    changeset_id = real_id(context, "A")

    def entry(path: str, **extra: Any) -> ChangeEntry:
        return ChangeEntry(
            changeset_id=changeset_id,
            plan_id="plan-1",
            path=path,
            operation="create",
            after_hash=sha(path),
            **extra,
        )

    marked = {"rolled_back_by": "01HXYZ1234567890ABCDEFGHIJ"}
    call = ToolInvocation(plan_id="plan-1", changeset_id=changeset_id, tool_name="t", **marked)
    entries = ChangeSetEntryRepository(factory(context))
    calls = ToolInvocationRepository(factory(context))
    actions: dict[str, Any] = {
        "an entry through the store": lambda: store(context).record(entry("a.txt", **marked)),
        "a batch through the store": lambda: store(context).record_many(
            [entry("a.txt"), entry("b.txt", **marked), entry("c.txt")]
        ),
        "an entry through the entry repository": lambda: entries.save_entry(
            entry("a.txt", **marked)
        ),
        "a batch through the entry repository": lambda: entries.save_entries(
            [entry("a.txt"), entry("b.txt", **marked)]
        ),
        "a tool invocation through the store": lambda: store(context).record_invocation(call),
        "a tool invocation through its repository": lambda: calls.save_invocation(call),
        "a tool invocation without a changeset": lambda: store(context).record_invocation(
            call.model_copy(update={"changeset_id": None})
        ),
    }
    attempt(context, actions[what])


@then('the entries of plan "{plan}" read back exactly as recorded, kinds and modes included')
def step_entries_read_back(context: Context, plan: str) -> None:
    found = [e for changeset in store(context).get_for_plan(plan) for e in changeset.entries]
    recorded = [e for done in agent_steps(context) for e in done.entries if e.plan_id == plan]
    assert found and found == recorded, (found, recorded)
