"""Steps that kill writer processes with SIGKILL at random moments and check what is left.

Writers are forked from the test process (``multiprocessing``'s fork context), so a
kill cycle costs milliseconds instead of a Python start-up. Each child makes its own
engine after the fork. A child appends ``begin K`` to a marker file right before
operation K and ``done K`` right after it returns, each with its ``time.monotonic()``
(one clock for every process of the machine); whatever operation was begun and not done
when the kill came is the one in flight.

The kill window is measured, not guessed: once any operation has been seen to finish,
"inside" kills come at a random moment within 1.25 times the median time an operation took on this
machine, so a fast CI runner lands as many kills inside a transaction as a slow laptop. A writer
whose critical parts are short next to the whole operation (a restore's swap, after the reading
and staging, and the moment after its commit marker) can name signs of them seen from outside
(its steps have begun, its commit marker is written); then half the cycles of each kind wait for
one of the signs instead, in turn, and kill within 1.25 times the median time from that sign to the
operation's return.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from behave import then, when
from behave.runner import Context
from sqlalchemy import text
from support.world import factory

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.domain.models.core.checkpoint import DIFF_BASED, DIFF_HASH, DIFF_PATHS
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory

_FORK = multiprocessing.get_context("fork")
_SEED = 20261130


def _mark(marker: Path, line: str) -> None:
    fd = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{line} {time.monotonic()}\n".encode())
    finally:
        os.close(fd)


def _in_flight(marker: Path) -> tuple[int | None, int]:
    """(the operation begun and not done, or None; how many were done)."""
    begun: int | None = None
    done = 0
    if not marker.exists():
        return None, 0
    for line in marker.read_text().splitlines():
        word, number, _ = line.split()
        if word == "begin":
            begun = int(number)
        else:
            done += 1
            begun = None
    return begun, done


def _durations(marker: Path) -> list[float]:
    """How long each operation that finished took, in seconds."""
    durations: list[float] = []
    started: dict[str, float] = {}
    for line in marker.read_text().splitlines():
        word, number, stamp = line.split()
        if word == "begin":
            started[number] = float(stamp)
        elif number in started:
            durations.append(float(stamp) - started.pop(number))
    return durations


def _tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _kill_cycles(
    context: Context,
    kills: int,
    child: Callable[[str, Path, Path, int], None],
    after_kill: Callable[[Path, int | None, int], str],
    critical: Sequence[Callable[[], bool]] = (),
) -> None:
    """Fork ``child`` ``kills`` times, SIGKILL it at a random moment, classify the outcome.

    Each of ``critical`` tells whether an operation has reached one of its critical
    parts (see the module docstring); without them, every cycle waits for a marker line.
    """
    rng = random.Random(_SEED)
    context.outcomes = {"inside": 0, "after": 0}
    durations: list[float] = []
    # Per sign: from when it was first seen to the operation's return.
    critical_parts: list[list[float]] = [[] for _ in critical]
    for cycle in range(kills):
        workdir = context.tmp / f"cycle-{cycle}"
        workdir.mkdir()
        marker = workdir / "marker"
        process = _FORK.Process(target=child, args=(context.url, workdir, marker, cycle))
        process.start()
        # Even cycles kill at a random moment after an operation began (mostly inside
        # its transaction); odd ones right after one returned (just after its commit,
        # or early in the next one). Both kinds of kill points are always covered.
        wait_for = "begin" if cycle % 2 == 0 else "done"
        sign = (cycle % 4 - 2) % len(critical) if critical else 0
        if critical and cycle % 4 >= 2:  # half the cycles of each kind wait for a sign instead
            wait_for = "critical"
        seen: list[float | None] = [None for _ in critical]  # when each sign was first seen
        deadline = time.monotonic() + 120
        while True:
            now = time.monotonic()
            seen = [
                at if at is not None or not it() else now
                for at, it in zip(seen, critical, strict=True)
            ]
            if wait_for == "critical":
                if seen[sign] is not None:
                    break
            elif wait_for in (marker.read_text() if marker.exists() else ""):
                break
            assert process.is_alive(), f"the writer died on its own (exit {process.exitcode})"
            assert time.monotonic() < deadline, f"the writer never logged {wait_for!r}"
            time.sleep(0.002)
        if wait_for == "done":
            for parts, at in zip(critical_parts, seen, strict=True):
                if at is not None:
                    parts.append(time.monotonic() - at)
            window = 0.01
        elif wait_for == "critical" and critical_parts[sign]:
            window = 1.25 * statistics.median(critical_parts[sign])
        elif durations:
            window = 1.25 * statistics.median(durations)
        else:
            window = context.kill_window
        time.sleep(rng.uniform(0.0, window))
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
        assert process.exitcode == -signal.SIGKILL, process.exitcode
        begun, done = _in_flight(marker)
        durations.extend(_durations(marker))
        try:
            outcome = after_kill(workdir, begun, done)
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc))
            raise AssertionError(f"cycle {cycle} (begun {begun}, done {done}):\n{detail}") from exc
        context.outcomes[outcome] += 1


# --- record_many ---------------------------------------------------------------------------


def _batch_writer(url: str, workdir: Path, marker: Path, cycle: int) -> None:
    store = SqliteChangeSetStore(create_session_factory(url, migrate=False))
    changeset = store.start(f"crash-{cycle}")
    (workdir / "changeset").write_text(changeset.changeset_id)
    rng = random.Random(cycle)
    batch = 0
    while True:
        entries = [
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=f"crash-{cycle}",
                path=f"b{batch}/{index}.txt",
                operation="create",
                after_hash=f"{index:064x}",
                diff="+" + "x" * 200,
            )
            for index in range(_BATCH)
        ]
        _mark(marker, f"begin {batch}")
        store.record_many(entries)
        _mark(marker, f"done {batch}")
        batch += 1
        time.sleep(rng.uniform(0.0, 0.03))


_BATCH = 1500


@when("a writer doing record_many of {size:d} entries is killed {kills:d} times")
def step_kill_record_many(context: Context, size: int, kills: int) -> None:
    global _BATCH
    _BATCH = size
    factory(context)  # migrate once, before the writers
    context.kill_window = 0.25
    context.batch_counts = []

    def after_kill(workdir: Path, begun: int | None, done: int) -> str:
        changeset_id = (workdir / "changeset").read_text()
        changeset = SqliteChangeSetStore(factory(context)).get(changeset_id)
        assert changeset is not None
        counts: dict[int, int] = {}
        for entry in changeset.entries:
            batch = int(entry.path.split("/")[0][1:])
            counts[batch] = counts.get(batch, 0) + 1
        context.batch_counts.append((counts, begun, done, size))
        if begun is None:
            return "after"
        return "after" if counts.get(begun) == size else "inside"

    _kill_cycles(context, kills, _batch_writer, after_kill)


@then("every batch is either complete or absent")
def step_batches_whole(context: Context) -> None:
    for counts, begun, done, size in context.batch_counts:
        assert all(count == size for count in counts.values()), counts
        assert all(counts.get(batch) == size for batch in range(done)), (counts, done)
        allowed = set(range(done)) | ({begun} if begun is not None else set())
        assert set(counts) <= allowed, (counts, done, begun)


@then("the database passes its integrity check")
def step_integrity(context: Context) -> None:
    engine = factory(context).kw["bind"]
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert connection.execute(text("PRAGMA foreign_key_check")).first() is None
        else:
            assert connection.execute(text("SELECT 1")).scalar() == 1


@then("the kills landed both inside and after the transaction")
def step_both_outcomes(context: Context) -> None:
    outcomes = context.outcomes
    assert outcomes["inside"] > 0 and outcomes["after"] > 0, outcomes
    print(f"kill outcomes: {outcomes}")


# --- checkpoints ---------------------------------------------------------------------------


def _workspace(root: Path, files: int) -> None:
    for index in range(files):
        path = root / f"d{index % 12}" / f"f{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {index}\n" * (50 + index % 40))


def _snapshot_writer(url: str, workdir: Path, marker: Path, cycle: int) -> None:
    service = CheckpointService(CheckpointRepository(create_session_factory(url, migrate=False)))
    workspace = workdir / "ws"
    _workspace(workspace, 300)
    rng = random.Random(cycle)
    step = 0
    while True:
        for index in rng.sample(range(300), 25):
            (workspace / f"d{index % 12}" / f"f{index}.txt").write_text(
                f"step {step} {index}\n" * 80
            )
        (workspace / f"new-{step}.bin").write_bytes(os.urandom(20_000))
        _mark(marker, f"begin {step}")
        service.create_workspace_snapshot(f"crash-{cycle}", str(workspace), f"step-{step}")
        _mark(marker, f"done {step}")
        step += 1
        time.sleep(rng.uniform(0.0, 0.02))


@when("a writer taking workspace snapshots is killed {kills:d} times")
def step_kill_snapshots(context: Context, kills: int) -> None:
    factory(context)
    context.kill_window = 0.35
    service = CheckpointService(CheckpointRepository(factory(context)))
    context.checkpoint_cycles = []

    def after_kill(workdir: Path, begun: int | None, done: int) -> str:
        checkpoints = service.list_checkpoints(f"crash-{workdir.name.split('-')[1]}")
        decisions = [c.metadata.decision_id for c in checkpoints]
        context.checkpoint_cycles.append((checkpoints, begun, done))
        if begun is None:
            return "after"
        return "after" if f"step-{begun}" in decisions else "inside"

    _kill_cycles(context, kills, _snapshot_writer, after_kill)


@then("every checkpoint is complete, verified and carries its diff metadata")
def step_checkpoints_whole(context: Context) -> None:
    service = CheckpointService(CheckpointRepository(factory(context)))
    for checkpoints, begun, done in context.checkpoint_cycles:
        decisions = [c.metadata.decision_id for c in checkpoints]
        expected = [f"step-{n}" for n in range(done)]
        assert decisions[:done] == expected, (decisions, done)
        assert len(decisions) in (done, done + (1 if begun is not None else 0)), (decisions, begun)
        for checkpoint in checkpoints:
            extra = checkpoint.metadata.extra
            assert {DIFF_PATHS, DIFF_BASED, DIFF_HASH} <= set(extra), extra
            assert service.verify_checkpoint(checkpoint.checkpoint_id), checkpoint.checkpoint_id


# --- apply ---------------------------------------------------------------------------------

_APPLY_FILES = 150


def _apply_writer(url: str, workdir: Path, marker: Path, cycle: int) -> None:
    store = SqliteChangeSetStore(create_session_factory(url, migrate=False))
    service = PlanApplyService(store)
    base = workdir / "base"
    _workspace(base, _APPLY_FILES)
    plan = f"apply-{cycle}"
    target = workdir / "target"
    sandbox = workdir / "sandbox"
    shutil.copytree(base, target)
    shutil.copytree(base, sandbox)
    changeset = store.start(plan)
    entries = []
    for index in range(_APPLY_FILES):
        rel = f"d{index % 12}/f{index}.txt"
        before = hashlib.sha256((sandbox / rel).read_bytes()).hexdigest()
        if index % 10 == 0:
            (sandbox / rel).unlink()
            entries.append(
                ChangeEntry(
                    changeset_id=changeset.changeset_id,
                    plan_id=plan,
                    path=rel,
                    operation="delete",
                    before_hash=before,
                )
            )
            continue
        (sandbox / rel).write_text(f"applied {index}\n" * 120)
        after = hashlib.sha256((sandbox / rel).read_bytes()).hexdigest()
        entries.append(
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=plan,
                path=rel,
                operation="modify",
                before_hash=before,
                after_hash=after,
            )
        )
    for index in range(40):
        rel = f"new/deep/n{index % 5}/file{index}.txt"
        path = sandbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"new {index}\n" * 50)
        after = hashlib.sha256(path.read_bytes()).hexdigest()
        entries.append(
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=plan,
                path=rel,
                operation="create",
                after_hash=after,
            )
        )
    store.record_many(entries)
    _mark(marker, "begin 0")
    service.apply(plan, sandbox, target)
    _mark(marker, "done 0")
    time.sleep(60)  # killed here when the kill comes after the apply


@when("a writer applying plans is killed {kills:d} times")
def step_kill_apply(context: Context, kills: int) -> None:
    factory(context)
    context.kill_window = 0.6
    service = PlanApplyService(SqliteChangeSetStore(factory(context)))
    context.apply_results = []

    def after_kill(workdir: Path, begun: int | None, done: int) -> str:
        target = workdir / "target"
        leftovers_before = sorted(p.name for p in target.glob(".cleveragents-*"))
        service.recover(target)
        found = _tree(target)
        leftovers = sorted(p.name for p in target.glob(".cleveragents-*"))
        before, after = _tree(workdir / "base"), _tree(workdir / "sandbox")
        state = "before" if found == before else "after" if found == after else "mixed"
        context.apply_results.append((state, begun, done, leftovers_before, leftovers))
        return "after" if done else "inside"

    _kill_cycles(context, kills, _apply_writer, after_kill)


@then("every interrupted target is back as it was before, or wholly applied")
def step_targets_whole(context: Context) -> None:
    for state, begun, done, leftovers_before, leftovers in context.apply_results:
        assert leftovers == [], leftovers
        assert state == ("after" if done else "before") or (state == "after" and begun == 0), (
            state,
            begun,
            done,
            leftovers_before,
        )
    # Kills mid-staging or mid-swap left staging folders that recovery cleared.
    recovered = sum(1 for result in context.apply_results if result[3])
    assert recovered > 0, "no kill landed while a staging folder existed"
    print(f"staging folders recovered: {recovered}")
