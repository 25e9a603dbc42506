"""Steps for cleveragents.aio: the API's shape, a plan's life and closing.

Each When step runs its coroutines in one ``asyncio.run`` on the scenario's
database URL (a fresh in-memory SQLite database is one per open, so everything a
scenario checks happens inside that one open database); Then steps check what it kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import shutil
from pathlib import Path
from typing import Any

from behave import then, when
from behave.runner import Context

import cleveragents
import cleveragents.aio
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation


def public_methods(cls: type) -> set[str]:
    """The names of the public methods of ``cls`` (properties and attributes left out)."""
    names = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        found = inspect.getattr_static(cls, name)
        if inspect.isfunction(found) or isinstance(found, staticmethod | classmethod):
            names.add(name)
    return names


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its content."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- the API's shape --------------------------------------------------------------------


@when("I open the database with cleveragents.aio.open and with cleveragents.open")
def step_open_both(context: Context) -> None:
    async def inspect_async() -> dict[str, Any]:
        async with cleveragents.aio.open(context.url) as db:
            return {
                "database": type(db),
                "changesets": type(db.changesets),
                "checkpoints": type(db.checkpoints),
                "errors": type(db.errors),
                "attributes": {name: vars(db).get(name) for name in ("url", "changesets")},
                "instance": db,
            }

    context.async_side = asyncio.run(inspect_async())
    with cleveragents.open(context.url) as db:
        context.sync_side = {
            "database": type(db),
            "changesets": type(db.changesets),
            "checkpoints": type(db.checkpoints),
            "errors": type(db.errors),
            "url": db.url,
        }


def _check_coroutines(sync_cls: type, async_cls: type) -> None:
    wanted = public_methods(sync_cls)
    assert wanted, f"{sync_cls.__name__} has no public method"
    missing = sorted(name for name in wanted if not hasattr(async_cls, name))
    assert not missing, f"{async_cls.__name__} lacks {missing}"
    plain = sorted(
        name for name in wanted if not inspect.iscoroutinefunction(getattr(async_cls, name))
    )
    assert not plain, f"{async_cls.__name__}: not coroutine functions: {plain}"
    for name in wanted:
        sync_doc = inspect.getdoc(getattr(sync_cls, name))
        assert inspect.getdoc(getattr(async_cls, name)) == sync_doc, f"{name}: docstring differs"


@then("every public method of the Database is a coroutine method of the AsyncDatabase")
def step_database_methods(context: Context) -> None:
    _check_coroutines(context.sync_side["database"], context.async_side["database"])


@then(
    "every public method of its changesets, checkpoints and errors is a coroutine method of their async faces"
)
def step_store_methods(context: Context) -> None:
    for attribute in ("changesets", "checkpoints", "errors"):
        _check_coroutines(context.sync_side[attribute], context.async_side[attribute])


@then("url, changesets, checkpoints and errors of the AsyncDatabase are plain attributes")
def step_plain_attributes(context: Context) -> None:
    db = context.async_side["instance"]
    for name in ("url", "changesets", "checkpoints", "errors"):
        assert name in vars(db), f"{name} is not a plain attribute of the AsyncDatabase"
    assert db.url == context.sync_side["url"], (db.url, context.sync_side["url"])


# --- a plan's whole life ----------------------------------------------------------------


async def _plan_life(url: str, tmp: Path) -> dict[str, Any]:
    plan = "plan-aio"
    target, sandbox = tmp / "target", tmp / "sandbox"
    (target / "src").mkdir(parents=True)
    (target / "src" / "main.py").write_bytes(b"print('old')\n")
    (target / "keep.txt").write_bytes(b"untouched\n")
    shutil.copytree(target, sandbox)
    seen: dict[str, Any] = {"original": tree(target)}
    async with cleveragents.aio.open(url) as db:
        before = await db.checkpoints.create_workspace_snapshot(plan, str(sandbox), "d0")
        changeset = await db.changesets.start(plan)
        (sandbox / "src" / "main.py").write_bytes(b"print('new')\n")
        (sandbox / "src" / "new.py").write_bytes(b"NEW = True\n")
        entries = [
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=plan,
                path="src/main.py",
                operation=ChangeOperation.MODIFY,
                before_hash=sha(b"print('old')\n"),
                after_hash=sha(b"print('new')\n"),
            ),
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=plan,
                path="src/new.py",
                operation=ChangeOperation.CREATE,
                after_hash=sha(b"NEW = True\n"),
            ),
        ]
        seen["recorded"] = await db.changesets.record_many(entries)
        seen["summary"] = await db.changesets.summarize(changeset.changeset_id)
        after = await db.checkpoints.create_workspace_snapshot(plan, str(sandbox), "d1")
        seen["verified"] = await db.checkpoints.verify_checkpoint(after.checkpoint_id)
        restored = tmp / "restored"
        seen["restore"] = await db.checkpoints.restore_workspace(before.checkpoint_id, restored)
        seen["restored"] = tree(restored)
        seen["apply"] = await db.apply(plan, sandbox, target)
        seen["applied"] = tree(target)
        seen["sandbox"] = tree(sandbox)
        seen["rollback"] = await db.rollback(plan, before.checkpoint_id, sandbox)
        seen["rolled back"] = tree(sandbox)
        seen["plans"] = await db.list_plans()
        seen["entries"] = await db.entries_for_plan(plan)
        seen["deletion"] = await db.delete_plan(plan)
        seen["plans after"] = await db.list_plans()
        seen["vacuum"] = await db.vacuum()
    return seen


@when("I await a plan's whole life through cleveragents.aio.open")
def step_plan_life(context: Context) -> None:
    context.life = asyncio.run(_plan_life(context.url, context.tmp))


@then("the awaited results are those of the sync API")
def step_plan_life_results(context: Context) -> None:
    seen = context.life
    assert seen["recorded"] == 2, seen["recorded"]
    summary = seen["summary"]
    assert (summary.created, summary.modified, summary.files_changed) == (1, 1, 2), summary
    assert seen["verified"] is True
    assert seen["restored"] == seen["original"], seen["restored"]
    assert sorted(seen["restore"].written) == ["keep.txt", "src/main.py"], seen["restore"]
    assert seen["apply"].written == ["src/main.py", "src/new.py"], seen["apply"]
    assert seen["applied"] == seen["sandbox"], seen["applied"]
    rollback = seen["rollback"]
    assert rollback.rolled_back_entries == 2, rollback
    assert rollback.safety_checkpoint_id is not None, rollback
    assert seen["rolled back"] == seen["original"], seen["rolled back"]
    assert [p.plan_id for p in seen["plans"]] == ["plan-aio"], seen["plans"]
    assert seen["plans"][0].checkpoints == 3, seen["plans"]  # before, after, the safety one
    assert all(entry.rolled_back_by for entry in seen["entries"]), seen["entries"]
    deletion = seen["deletion"]
    assert (deletion.entries, deletion.checkpoints) == (2, 3), deletion
    assert seen["plans after"] == [], seen["plans after"]
    assert isinstance(seen["vacuum"], int) and seen["vacuum"] >= 0, seen["vacuum"]


# --- closing ------------------------------------------------------------------------------


@when("I close the async database twice and then call it and its stores")
def step_close_twice(context: Context) -> None:
    async def main() -> list[BaseException | None]:
        db = await cleveragents.aio.open(context.url)
        await db.changesets.start("plan-closed")
        await db.close()
        await db.close()
        outcomes: list[BaseException | None] = []
        for call in (
            db.list_plans(),
            db.changesets.start("plan-closed"),
            db.checkpoints.list_checkpoints("plan-closed"),
            db.errors.count(),
        ):
            try:
                await call
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    context.outcomes = asyncio.run(main())


@then("every call failed with DatabaseError")
def step_all_failed(context: Context) -> None:
    for outcome in context.outcomes:
        assert isinstance(outcome, cleveragents.DatabaseError), context.outcomes
        assert "closed" in str(outcome), outcome
