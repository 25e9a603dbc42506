"""Steps for cleveragents.aio under pressure: cancelled calls and many concurrent tasks.

A cancellation lands at a random moment of the call (the moments are drawn from
the time one uncancelled call took), so over the iterations it finds the call
queued, running, or already done; the checks hold for all three.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context

import cleveragents.aio
from cleveragents.aio import AsyncDatabase
from cleveragents.domain.errors import PlanCancelledError
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation

LATER = 0.2  # seconds: a call still running in a worker would change the counts by then


@dataclass(frozen=True)
class Outcome:
    """One cancelled call: whether CancelledError reached the caller, and what was stored."""

    cancelled: bool
    right_after: int
    later: int


def entries(changeset_id: str, plan: str, count: int, prefix: str = "f") -> list[ChangeEntry]:
    return [
        ChangeEntry(
            changeset_id=changeset_id,
            plan_id=plan,
            path=f"{prefix}/{n:05d}.txt",
            operation=ChangeOperation.CREATE,
            after_hash=f"{n:064x}",
            metadata={"n": n},
        )
        for n in range(count)
    ]


async def live_entries(db: AsyncDatabase, changeset_id: str) -> int:
    return (await db.changesets.summarize(changeset_id)).created


async def cancelled_at(
    call: Coroutine[Any, Any, Any], delay: float, count: Callable[[], Awaitable[int]]
) -> tuple[bool, int, int]:
    """Start ``call``, cancel it after ``delay``; then ``count()`` right after and later."""
    task = asyncio.create_task(call)
    await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
        cancelled = False
    except asyncio.CancelledError:
        cancelled = True
    right_after = await count()
    await asyncio.sleep(LATER)
    return cancelled, right_after, await count()


async def still_usable(db: AsyncDatabase) -> bool:
    changeset = await db.changesets.start("plan-after")
    await db.changesets.record(entries(changeset.changeset_id, "plan-after", 1)[0])
    found = await db.changesets.get(changeset.changeset_id)
    return found is not None and len(found.entries) == 1


# --- cancelling record_many -------------------------------------------------------------


@when("I cancel a task awaiting record_many of {count:d} entries at {times:d} random moments")
def step_cancel_record_many(context: Context, count: int, times: int) -> None:
    rng = random.Random(20261207)

    async def main() -> tuple[list[Outcome], bool]:
        outcomes = []
        async with cleveragents.aio.open(context.url) as db:
            for _ in range(2):  # the span of a warm call: the first pays one-off costs
                changeset = await db.changesets.start("plan-cancel")
                batch = entries(changeset.changeset_id, "plan-cancel", count)
                started = time.perf_counter()
                await db.changesets.record_many(batch)
                span = time.perf_counter() - started
            for _ in range(times):
                changeset = await db.changesets.start("plan-cancel")
                key = changeset.changeset_id
                batch = entries(key, "plan-cancel", count)
                found = await cancelled_at(
                    db.changesets.record_many(batch),
                    rng.uniform(0, span * 0.8),
                    lambda key=key: live_entries(db, key),
                )
                outcomes.append(Outcome(*found))
            return outcomes, await still_usable(db)

    context.outcomes, context.usable = asyncio.run(main())
    context.whole = count


@then("after each CancelledError the batch was wholly present or wholly absent")
def step_batch_whole(context: Context) -> None:
    for outcome in context.outcomes:
        assert outcome.right_after in (0, context.whole), context.outcomes
        if not outcome.cancelled:
            assert outcome.right_after == context.whole, context.outcomes
    assert any(outcome.cancelled for outcome in context.outcomes), context.outcomes


@then("200 ms later no batch had changed")
def step_batch_unchanged(context: Context) -> None:
    for outcome in context.outcomes:
        assert outcome.later == outcome.right_after, context.outcomes


@then("the database was still usable afterwards")
def step_still_usable(context: Context) -> None:
    assert context.usable is True


# --- cancelling a snapshot --------------------------------------------------------------


@given("a sandbox of {count:d} files")
def step_sandbox_files(context: Context, count: int) -> None:
    context.sandbox = context.tmp / "sandbox"
    for n in range(count):
        path = context.sandbox / f"dir_{n % 17}" / f"file_{n:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {n}\n" + "line of text\n" * (n % 50))
    context.sandbox_files = count


async def _snapshots(db: AsyncDatabase, plan: str) -> int:
    """How many checkpoints the plan has; each one must verify and hold every file."""
    checkpoints = await db.checkpoints.list_checkpoints(plan)
    for checkpoint in checkpoints:
        assert await db.checkpoints.verify_checkpoint(checkpoint.checkpoint_id)
    return len(checkpoints)


@when("I cancel a task awaiting a snapshot of the sandbox at {times:d} random moments")
def step_cancel_snapshot(context: Context, times: int) -> None:
    rng = random.Random(20261208)
    sandbox = str(context.sandbox)

    async def main() -> tuple[list[Outcome], bool]:
        outcomes = []
        async with cleveragents.aio.open(context.url) as db:
            # The span of a warm first snapshot (the very first pays one-off costs):
            # the cancels land within it, so that some find the snapshot still running.
            await db.checkpoints.create_workspace_snapshot("plan-warm-up", sandbox, "d")
            started = time.perf_counter()
            await db.checkpoints.create_workspace_snapshot("plan-timing", sandbox, "d")
            span = time.perf_counter() - started
            for n in range(times):
                plan = f"plan-snapshot-{n}"  # each one a first snapshot: every file stored
                found = await cancelled_at(
                    db.checkpoints.create_workspace_snapshot(plan, sandbox, "d"),
                    rng.uniform(0, span * 0.8),
                    lambda plan=plan: _snapshots(db, plan),
                )
                outcomes.append(Outcome(*found))
            context.restored = await _restore_each(db, times, context.tmp)
            return outcomes, await still_usable(db)

    context.outcomes, context.usable = asyncio.run(main())


async def _restore_each(db: AsyncDatabase, times: int, tmp: Path) -> dict[str, int]:
    """Restore every snapshot that was stored into a new folder; the files each brought back."""
    restored = {}
    for n in range(times):
        for checkpoint in await db.checkpoints.list_checkpoints(f"plan-snapshot-{n}"):
            target = tmp / f"restored-{n}"
            result = await db.checkpoints.restore_workspace(checkpoint.checkpoint_id, target)
            restored[checkpoint.checkpoint_id] = len(result.written)
    return restored


@then("after each CancelledError the snapshot was stored whole or not at all")
def step_snapshot_whole(context: Context) -> None:
    for outcome in context.outcomes:
        assert outcome.right_after in (0, 1), context.outcomes
        if not outcome.cancelled:
            assert outcome.right_after == 1, context.outcomes
    assert any(outcome.cancelled for outcome in context.outcomes), context.outcomes
    assert all(count == context.sandbox_files for count in context.restored.values()), (
        context.restored
    )


@then("200 ms later no snapshot had changed")
def step_snapshot_unchanged(context: Context) -> None:
    for outcome in context.outcomes:
        assert outcome.later == outcome.right_after, context.outcomes


# --- many tasks at once -----------------------------------------------------------------


@when(
    '{tasks:d} tasks each start a changeset for plan "{plan}" and record {count:d} entries one by one, all at once'
)
def step_concurrent_tasks(context: Context, tasks: int, plan: str, count: int) -> None:
    async def one_task(db: AsyncDatabase, task: int) -> str:
        changeset = await db.changesets.start(plan)
        for entry in entries(changeset.changeset_id, plan, count, prefix=f"t{task}"):
            await db.changesets.record(entry)
        return changeset.changeset_id

    async def main() -> dict[str, Any]:
        async with cleveragents.aio.open(context.url) as db:
            keys = await asyncio.gather(*(one_task(db, task) for task in range(tasks)))
            return {
                "keys": keys,
                "changesets": await db.changesets.get_for_plan(plan),
                "summaries": [await db.changesets.summarize(key) for key in keys],
                "entries": await db.entries_for_plan(plan),
            }

    context.concurrent = asyncio.run(main())


@then("every changeset holds its {count:d} entries in the order they were recorded")
def step_concurrent_order(context: Context, count: int) -> None:
    seen = context.concurrent
    by_id = {changeset.changeset_id: changeset for changeset in seen["changesets"]}
    assert sorted(by_id) == sorted(seen["keys"]), (sorted(by_id), sorted(seen["keys"]))
    for key in seen["keys"]:
        order = [entry.metadata["n"] for entry in by_id[key].entries]
        assert order == list(range(count)), (key, order)
    assert all(summary.created == count for summary in seen["summaries"]), seen["summaries"]


@then('plan "{plan}" holds {count:d} entries')
def step_plan_holds(context: Context, plan: str, count: int) -> None:
    found = context.concurrent["entries"]
    assert len(found) == count, len(found)
    assert all(entry.plan_id == plan for entry in found)


@when('{writers:d} tasks keep recording for plan "{plan}" while another task cancels it')
def step_tombstone_race(context: Context, writers: int, plan: str) -> None:
    async def writer(db: AsyncDatabase, wrote: list[int], index: int) -> str:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                changeset = await db.changesets.start(plan)
                for entry in entries(changeset.changeset_id, plan, 3, prefix=f"w{index}"):
                    await db.changesets.record(entry)
                    wrote[index] += 1
            return "not stopped"
        except PlanCancelledError:
            return "stopped"

    async def main() -> dict[str, Any]:
        async with cleveragents.aio.open(context.url) as db:
            wrote = [0] * writers
            tasks = [asyncio.create_task(writer(db, wrote, n)) for n in range(writers)]
            while not all(wrote) and not any(task.done() for task in tasks):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # every writer has written: let them keep going a little
            removed = await db.cancel_plan(plan)
            results = await asyncio.gather(*tasks)
            return {
                "results": results,
                "wrote": wrote,
                "removed": removed,
                "entries": await db.entries_for_plan(plan),
                "cancelled": await db.changesets.is_cancelled(plan),
            }

    context.race = asyncio.run(main())


@then("every writing task was stopped by PlanCancelledError")
def step_writers_stopped(context: Context) -> None:
    race = context.race
    assert race["results"] == ["stopped"] * len(race["results"]), race["results"]
    assert all(race["wrote"]), race["wrote"]
    assert race["removed"] > 0, race


@then('the tombstone of plan "{plan}" is there and the plan holds no entry')
def step_tombstone(context: Context, plan: str) -> None:
    assert context.race["cancelled"] is True, plan
    assert context.race["entries"] == [], context.race["entries"][:3]
