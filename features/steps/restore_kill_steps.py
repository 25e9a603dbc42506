"""A writer restoring a sandbox in place, killed with SIGKILL again and again.

The writer (forked by ``crash_steps._kill_cycles``, which measures the kill window
from the operations' own durations; every fourth cycle it waits until the restore has
begun its steps, or written its commit marker, so that many kills land inside the swap and
just after it) restores the shared sandbox alternately to
checkpoints A and B, marking ``begin K``/``done K`` around each restore. After each
kill the next operation on the folder repairs it, the kind of operation taken in
turn (:data:`REPAIRS`), and what it found and left is kept per cycle for the
checks: the folder the repair saw, once it had recovered it, must be the old
tree of the interrupted restore (undone) or its new tree (completed), and the
folder it left exactly A or exactly B, without a staging folder.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from behave import then, when
from behave.runner import Context
from crash_steps import _kill_cycles, _mark
from sandbox_repair_steps import Repair, repair
from support.sandbox_states import other

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.workspace.file_swap import COMMITTED, STAGED, STAGING_PREFIX

REPAIRS = ("restore", "recovery", "snapshot", "rollback", "reset")


@dataclass(frozen=True)
class KillCycle:
    """One kill: which restore was in flight (None: none was) and how it was repaired."""

    cycle: int
    begun: int | None
    old: str | None  # the tree the interrupted restore started from (None: nothing in flight)
    new: str  # the tree it was making (or the last one a finished restore made)
    repair: Repair


def _target(start: str, operation: int) -> str:
    """The state the writer's ``operation``-th restore makes, starting from ``start``."""
    return other(start) if operation % 2 == 0 else start


def _operation(kind: str, new: str) -> str:
    if kind in ("snapshot", "recovery"):
        return kind
    return f'{kind} {"of" if kind == "restore" else "to"} "{new}"'


@when(
    'a writer restoring the sandbox in place, alternately to "A" and "B", is killed {kills:d} '
    "times, each kill repaired by the next restore, recovery, snapshot, rollback or reset in turn"
)
def step_kill_restores(context: Context, kills: int) -> None:
    sandbox = context.sandbox
    checkpoint_ids = dict(context.state_checkpoints)
    context.kill_window = 0.3  # until a restore has been seen to finish
    context.kill_cycles = []

    def writer(url: str, workdir: Path, marker: Path, cycle: int) -> None:
        # Forked: the closure's state is the parent's at the fork (where the last
        # repair left the sandbox). The service is the child's own.
        restores = CheckpointService(
            CheckpointRepository(create_session_factory(url, migrate=False)), watch=False
        )
        start = context.sandbox_state
        rng = random.Random(cycle)
        operation = 0
        while True:
            _mark(marker, f"begin {operation}")
            restores.restore_workspace(checkpoint_ids[_target(start, operation)], sandbox)
            _mark(marker, f"done {operation}")
            operation += 1
            time.sleep(rng.uniform(0.0, 0.01))

    def after_kill(workdir: Path, begun: int | None, done: int) -> str:
        cycle = int(workdir.name.split("-")[1])
        start = context.sandbox_state
        if begun is None:
            old, new = None, _target(start, done - 1)
        else:
            new = _target(start, begun)
            old = other(new)
        kind = REPAIRS[cycle % len(REPAIRS)]
        made = repair(context, _operation(kind, new), f"after-kill-{cycle}")
        context.kill_cycles.append(KillCycle(cycle, begun, old, new, made))
        # Checked here as well as in the Then steps: the next writer needs A or B.
        assert made.found in (old, new), made
        assert made.after in ("A", "B") and made.own_after == [], made
        context.sandbox_state = made.after
        return "inside" if made.found == old else "after"

    def marked(name: str) -> Callable[[], bool]:
        def seen() -> bool:
            folders = [p for p in sandbox.iterdir() if p.name.startswith(STAGING_PREFIX)]
            return any((folder / name).exists() for folder in folders)

        return seen

    # The restore's steps have begun (its ``staged`` marker), or it has just committed.
    _kill_cycles(context, kills, writer, after_kill, critical=(marked(STAGED), marked(COMMITTED)))


_SNAPSHOTS = ("snapshot", "rollback")  # a rollback first snapshots the folder as it is
_RESTORES = ("restore", "reset", "rollback")


def _kind(made: Repair) -> str:
    return made.operation.split(" ")[0]


def _cycles(context: Context) -> list[KillCycle]:
    cycles: list[KillCycle] = context.kill_cycles
    assert cycles, "no kill cycle ran"
    return cycles


@then("after every repair the sandbox was exactly A or exactly B, with no staging folder left")
def step_repaired_exactly(context: Context) -> None:
    for each in _cycles(context):
        made = each.repair
        # A restore, reset or rollback makes the tree it was asked for; a snapshot or
        # a recovery leaves the tree it found.
        expected = each.new if _kind(made) in _RESTORES else made.found
        assert made.after == expected and made.after in ("A", "B"), each
        assert made.own_after == [], each


@then(
    "every repair found the tree the interrupted restore started from or the one it was "
    "making, never a mix"
)
def step_found_old_or_new(context: Context) -> None:
    for each in _cycles(context):
        allowed = {each.new} if each.old is None else {each.old, each.new}
        assert each.repair.found in allowed, each
        if _kind(each.repair) == "recovery":  # it says it undid steps exactly when it did
            assert bool(each.repair.undone) == (each.repair.found != each.repair.before), each


@then("no snapshot right after a kill stored a staging path, and each stored A or B exactly")
def step_snapshots_clean(context: Context) -> None:
    snapshots = [c for c in _cycles(context) if _kind(c.repair) in _SNAPSHOTS]
    assert snapshots, "no snapshot followed a kill"
    for each in snapshots:
        assert not each.repair.stored_own, each
        assert each.repair.found in ("A", "B"), each


@then("no restore right after a kill listed a staging path as written or removed")
def step_restores_clean(context: Context) -> None:
    restores = [c for c in _cycles(context) if _kind(c.repair) in _RESTORES]
    assert restores, "no restore followed a kill"
    for each in restores:
        assert not each.repair.listed_own, each


@then("the repairs found interrupted restores both undone and completed")
def step_both_outcomes(context: Context) -> None:
    cycles = _cycles(context)
    undone = sum(1 for c in cycles if c.old is not None and c.repair.found == c.old)
    in_flight_done = sum(1 for c in cycles if c.old is not None and c.repair.found == c.new)
    finished = sum(1 for c in cycles if c.old is None)
    assert undone > 0 and in_flight_done + finished > 0, (undone, in_flight_done, finished)
    print(
        f"kills: {len(cycles)}; in flight and undone: {undone}, in flight and completed: "
        f"{in_flight_done}, between restores: {finished}"
    )


@then("some kills left a staging folder that the repair recovered, some of them mid-swap")
def step_staging_recovered(context: Context) -> None:
    cycles = _cycles(context)
    staged = [c for c in cycles if c.repair.own_before]
    journaled = [c for c in staged if c.repair.journaled]
    # Steps were taken: the folder was no longer the old tree (a mix, or the new tree
    # once every step was done and the commit marker was not yet written).
    changed = [c for c in journaled if c.repair.before != c.old]
    assert staged, "no kill left a staging folder"
    assert changed, "no kill landed mid-swap, after some of its steps"
    assert all(c.repair.own_after == [] for c in staged)
    by_repair = Counter(_kind(c.repair) for c in changed)
    print(
        f"staging folders recovered: {len(staged)}; with a journal and no commit marker: "
        f"{len(journaled)}; of them after some steps: {len(changed)} {dict(by_repair)}, "
        f"the tree then a mix: {sum(1 for c in changed if c.repair.before == 'mixed')}"
    )


@then("each kind of repair ran at least {count:d} times")
def step_each_repair(context: Context, count: int) -> None:
    ran = Counter(_kind(c.repair) for c in _cycles(context))
    assert set(ran) == set(REPAIRS) and min(ran.values()) >= count, ran
