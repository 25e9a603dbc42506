"""Steps for retention: prune limits, dry runs, budget sweeps, and the space given back.

The bytes a plan holds alone are computed here independently of the library: the
objects its checkpoints reach (read raw, as ``no stored object is unreachable``
does) minus those any other checkpoint reaches, summed by their stored length.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, repository, service
from cli_steps import _run_in_process
from restore_steps import files_of, reachable_objects, stored_objects
from sqlalchemy import select, update
from support.world import attempt, factory

import cleveragents
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.domain.models.core.checkpoint import Checkpoint
from cleveragents.domain.retention import RetentionLimits, parse_duration
from cleveragents.infrastructure.database import vacuum as vacuum_module
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.models import CheckpointModel
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.vacuum import file_bytes

# --- taking snapshots ------------------------------------------------------------------


def _snapshot_trees(context: Context) -> dict[str, Any]:
    if not hasattr(context, "snapshot_trees"):
        context.snapshot_trees = {}
    trees: dict[str, Any] = context.snapshot_trees
    return trees


def _replace_content(sandbox: Path, number: int, kilobytes: int) -> None:
    """Incompressible new content: each version is stored on its own."""
    chance = random.Random(f"{sandbox}-{number}")
    (sandbox / "data").mkdir(parents=True, exist_ok=True)
    (sandbox / "data" / "blob.bin").write_bytes(chance.randbytes(kilobytes * 1024))
    (sandbox / "src").mkdir(parents=True, exist_ok=True)
    (sandbox / "src" / "main.py").write_text(f"print({number})\n")


@given('{count:d} snapshots of plan "{plan}", each replacing {kilobytes:d} KB of content')
def step_snapshots(context: Context, count: int, plan: str, kilobytes: int) -> None:
    for number in range(count):
        _replace_content(context.sandbox, len(checkpoints(context)) + number, kilobytes)
        taken = service(context).create_workspace_snapshot(plan, str(context.sandbox), "d")
        checkpoints(context).append(taken)
        _snapshot_trees(context)[taken.checkpoint_id] = files_of(context.sandbox)


def _taken(context: Context, plan: str) -> list[Checkpoint]:
    return [c for c in checkpoints(context) if c.plan_id == plan]


def _ids(context: Context, plan: str, first: int, last: int) -> list[str]:
    return [c.checkpoint_id for c in _taken(context, plan)[first - 1 : last]]


@given('checkpoints {first:d} to {last:d} of plan "{plan}" were made {days:d} days ago')
def step_backdate(context: Context, first: int, last: int, plan: str, days: int) -> None:
    moment = datetime.now(UTC) - timedelta(days=days)
    with factory(context)() as session:
        session.execute(
            update(CheckpointModel)
            .where(CheckpointModel.checkpoint_id.in_(_ids(context, plan, first, last)))
            .values(created_at=moment)
        )
        session.commit()


# --- the bytes a set of checkpoints holds alone (the oracle) ---------------------------


def _stored(context: Context) -> list[tuple[str, str, str | None]]:
    """(checkpoint id, plan id, root tree) of every stored checkpoint."""
    with factory(context)() as session:
        rows = session.execute(
            select(
                CheckpointModel.checkpoint_id, CheckpointModel.plan_id, CheckpointModel.root_tree
            )
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def bytes_held_alone(context: Context, kept: list[str], others: list[str] | None = None) -> int:
    """Stored bytes of the objects ``kept`` reach and none of ``others`` reaches.

    ``others`` defaults to every other stored checkpoint.
    """
    raw = stored_objects(context)
    rows = _stored(context)
    if others is None:
        others = [checkpoint_id for checkpoint_id, _, _ in rows if checkpoint_id not in kept]
    mine = [root for checkpoint_id, _, root in rows if checkpoint_id in kept and root]
    theirs = [root for checkpoint_id, _, root in rows if checkpoint_id in others and root]
    alone = reachable_objects(context, mine, raw) - reachable_objects(context, theirs, raw)
    return sum(len(raw[digest]) for digest in alone)


def plan_bytes(context: Context, plan: str, kept: list[str]) -> int:
    """What ``kept`` of the plan hold once the plan's other checkpoints are gone."""
    others = [checkpoint_id for checkpoint_id, owner, _ in _stored(context) if owner != plan]
    return bytes_held_alone(context, kept, others)


# --- pruning --------------------------------------------------------------------------


def _limits(context: Context, plan: str, text: str) -> dict[str, Any]:
    """``keep_last=2 and older_than=7d and max_bytes=own(3..5)`` as prune keywords."""
    if text == "no limit":
        return {}
    found: dict[str, Any] = {}
    for item in text.split(" and "):
        name, _, value = item.partition("=")
        if name == "keep_last":
            found[name] = int(value)
        elif name == "older_than":
            found[name] = (
                parse_duration(value) if value[-1].isalpha() else timedelta(seconds=int(value))
            )
        elif value.startswith("own("):
            first, last = (int(n) for n in value[4:-1].split(".."))
            found[name] = plan_bytes(context, plan, _ids(context, plan, first, last))
        else:
            found[name] = True if value == "true" else int(value)
    context.limit = found.get("max_bytes")
    return found


@when('I prune plan "{plan}" with {limits}')
def step_prune_with(context: Context, plan: str, limits: str) -> None:
    if limits.endswith(", asking for the report"):
        kwargs = _limits(context, plan, limits.removesuffix(", asking for the report"))
        context.report = service(context).prune_report(plan, RetentionLimits(**kwargs))
        return
    context.pruned = service(context).prune(plan, **_limits(context, plan, limits))


@when('I try to prune plan "{plan}" with {limits}')
def step_try_prune(context: Context, plan: str, limits: str) -> None:
    attempt(context, lambda: service(context).prune(plan, **_limits(context, plan, limits)))


@when('I ask for a dry run of a prune of plan "{plan}" with {limits}')
def step_dry_run(context: Context, plan: str, limits: str) -> None:
    limits_given = RetentionLimits(**_limits(context, plan, limits))
    context.dry_run = service(context).prune_report(plan, limits_given, dry_run=True)


@then('plan "{plan}" keeps checkpoints {first:d} to {last:d}')
def step_keeps(context: Context, plan: str, first: int, last: int) -> None:
    listed = [c.checkpoint_id for c in service(context).list_checkpoints(plan)]
    assert listed == _ids(context, plan, first, last), listed


@then('plan "{plan}" keeps no checkpoint')
def step_keeps_none(context: Context, plan: str) -> None:
    assert service(context).list_checkpoints(plan) == []


def _verify_and_restore(context: Context, checkpoint_id: str, expected: Any) -> None:
    svc = service(context)
    assert svc.verify_checkpoint(checkpoint_id), checkpoint_id
    target = context.tmp / f"kept-{checkpoint_id}"
    svc.restore_workspace(checkpoint_id, target)
    assert files_of(target) == expected, checkpoint_id


@then("every kept checkpoint verifies and restores exactly as it was snapshotted")
def step_kept_restore(context: Context) -> None:
    for checkpoint_id, tree in _snapshot_trees(context).items():
        if service(context).get_checkpoint(checkpoint_id) is not None:
            _verify_and_restore(context, checkpoint_id, tree)


@then('plan "{plan}"\'s only checkpoint verifies and restores exactly as it was snapshotted')
def step_other_restores(context: Context, plan: str) -> None:
    (only,) = service(context).list_checkpoints(plan)
    _verify_and_restore(context, only.checkpoint_id, files_of(context.sandbox))


@then('the stored bytes only plan "{plan}" references are at most the limit')
def step_within_limit(context: Context, plan: str) -> None:
    kept = [c.checkpoint_id for c in service(context).list_checkpoints(plan)]
    held = plan_bytes(context, plan, kept)
    assert held <= context.limit, (held, context.limit)


@then("the report names checkpoints {first:d} to {last:d} and the bytes only they hold")
def step_report_names(context: Context, first: int, last: int) -> None:
    report = context.dry_run
    doomed = _ids(context, report.plan_id, first, last)
    assert report.dry_run and report.checkpoint_ids == doomed, report
    assert report.count == len(doomed)
    assert report.bytes_freed == bytes_held_alone(context, doomed) > 0, report


@then("the number of stored objects is unchanged")
def step_objects_unchanged(context: Context) -> None:
    assert repository(context).object_count() == context.objects_before


@then("the report is the dry run's, not a dry run")
def step_report_matches(context: Context) -> None:
    real, dry = context.report, context.dry_run
    assert not real.dry_run
    assert (real.checkpoint_ids, real.bytes_freed) == (dry.checkpoint_ids, dry.bytes_freed)


# --- the budget sweep -----------------------------------------------------------------


@when(
    'the database is swept to the bytes that plan "{one}" checkpoint {a:d} and plan "{two}" '
    "checkpoints {b:d} to {c:d} hold"
)
def step_sweep_to(context: Context, one: str, a: int, two: str, b: int, c: int) -> None:
    kept = _ids(context, one, a, a) + _ids(context, two, b, c)
    everything = stored_objects(context)
    with factory(context)() as session:
        roots = session.execute(
            select(CheckpointModel.root_tree).where(CheckpointModel.checkpoint_id.in_(kept))
        ).scalars()
        held = [root for root in roots if root]
    budget = sum(len(everything[d]) for d in reachable_objects(context, held, everything))
    context.budget = budget
    context.sweep = service(context).prune_all(max_bytes=budget)


@then(
    'the sweep removed plan "{one}" checkpoints {a:d} to {b:d} and plan "{two}" '
    "checkpoints {c:d} to {d:d}"
)
def step_swept(context: Context, one: str, a: int, b: int, two: str, c: int, d: int) -> None:
    expected = _ids(context, one, a, b) + _ids(context, two, c, d)
    assert context.sweep.checkpoint_ids == expected, context.sweep
    assert context.sweep.plan_id is None and context.sweep.bytes_freed > 0


@then("the stored content takes at most the budget")
def step_within_budget(context: Context) -> None:
    stored = sum(len(data) for data in stored_objects(context).values())
    assert stored <= context.budget, (stored, context.budget)


@when("the database is swept to 0 bytes")
def step_sweep_zero(context: Context) -> None:
    context.sweep = service(context).prune_all(max_bytes=0)


@then("each plan keeps only its newest checkpoint")
def step_newest_only(context: Context) -> None:
    for plan in {c.plan_id for c in checkpoints(context)}:
        listed = [c.checkpoint_id for c in service(context).list_checkpoints(plan)]
        assert listed == [_taken(context, plan)[-1].checkpoint_id], (plan, listed)


# --- a SQLite file of its own ---------------------------------------------------------


def _pragma(path: Path, name: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return int(connection.execute(f"PRAGMA {name}").fetchone()[0])


@then("its auto_vacuum is incremental")
def step_incremental(context: Context) -> None:
    assert _pragma(context.own_sqlite, "auto_vacuum") == 2


@given("a SQLite file made with auto_vacuum off, then migrated")
def step_old_file(context: Context) -> None:
    context.own_sqlite = context.tmp / "old.db"
    with contextlib.closing(sqlite3.connect(context.own_sqlite)) as connection:
        connection.execute("PRAGMA auto_vacuum = NONE")
        connection.execute("CREATE TABLE made_before_auto_vacuum (x)")
        connection.commit()
    context.own_factory = create_session_factory(f"sqlite:///{context.own_sqlite}")
    context.cleanups.append(context.own_factory.kw["bind"].dispose)
    assert _pragma(context.own_sqlite, "auto_vacuum") == 0


@given('{count:d} snapshots of plan "{plan}" in it, each replacing {kilobytes:d} KB of content')
def step_own_snapshots(context: Context, count: int, plan: str, kilobytes: int) -> None:
    context.own_service = CheckpointService(CheckpointRepository(context.own_factory))
    context.cleanups.append(context.own_service.close)
    sandbox = context.tmp / "big-sandbox"
    for number in range(count):
        _replace_content(sandbox, number, kilobytes)
        context.own_last = context.own_service.create_workspace_snapshot(plan, str(sandbox), "d")
    context.own_last_tree = files_of(sandbox)


class SizeWatch:
    """Samples the size of a SQLite file and its WAL in a thread: the peak it saw."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.before = file_bytes(database)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, file_bytes(self.database))
            except FileNotFoundError:  # the WAL went away between exists() and stat()
                continue
            time.sleep(0.0002)

    def __enter__(self) -> SizeWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = file_bytes(self.database)


@when('plan "{plan}" is pruned in it to its last checkpoint while its size is watched')
def step_own_prune_watched(context: Context, plan: str) -> None:
    # Pages the log holds from the snapshots would be counted twice while a checkpoint
    # copies them into the file: start from an empty log, so that only the prune counts.
    with contextlib.closing(sqlite3.connect(context.own_sqlite)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    with SizeWatch(context.own_sqlite) as watch:
        assert context.own_service.prune(plan, 1) >= 1
    context.size_watch = watch


@then("its file and WAL take at most {ratio:f} times a fresh copy of what is left")
def step_close_to_fresh(context: Context, ratio: float) -> None:
    fresh = context.tmp / f"fresh-{time.monotonic_ns()}.db"
    with contextlib.closing(sqlite3.connect(context.own_sqlite)) as connection:
        connection.execute("VACUUM INTO ?", (str(fresh),))
    size, fresh_size = file_bytes(context.own_sqlite), fresh.stat().st_size
    wal = Path(f"{context.own_sqlite}-wal")
    assert size <= ratio * fresh_size, (
        size,
        fresh_size,
        context.own_sqlite.stat().st_size,
        wal.stat().st_size if wal.exists() else None,
        _pragma(context.own_sqlite, "freelist_count"),
    )


@then("the file never grew by more than {kilobytes:d} KB during the prune")
def step_never_grew(context: Context, kilobytes: int) -> None:
    watch = context.size_watch
    grown = watch.peak - watch.before
    assert grown <= kilobytes * 1024, (watch.before, watch.peak, watch.after)
    print(f"file + WAL: {watch.before} before, {watch.peak} at the peak, {watch.after} after")
    assert watch.after < watch.before, (watch.before, watch.after)


@then("its last checkpoint verifies and restores exactly")
def step_own_last(context: Context) -> None:
    checkpoint_id = context.own_last.checkpoint_id
    assert context.own_service.verify_checkpoint(checkpoint_id)
    target = context.tmp / "own-restored"
    context.own_service.restore_workspace(checkpoint_id, target)
    assert files_of(target) == context.own_last_tree


@when('plan "{plan}" is deleted through the front door of its file')
def step_delete_front_door(context: Context, plan: str) -> None:
    with cleveragents.open(f"sqlite:///{context.own_sqlite}") as database:
        assert database.delete_plan(plan).checkpoints >= 1


class _PausesBetweenSteps:
    """The vacuum module's ``time`` during a prune: at each pause between two steps of
    giving space back, the writer has up to 5 s to record one more entry, which it can
    only do if the prune holds no lock then. Counts the pauses and the writer's entries."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self, written: list[str]) -> None:
        self.written = written
        self.count = 0
        self.writer_got_in = 0

    def sleep(self, seconds: float) -> None:
        self.count += 1
        before = len(self.written)
        deadline = time.monotonic() + max(seconds, 5.0)
        while len(self.written) == before and time.monotonic() < deadline:
            time.sleep(0.001)
        if len(self.written) > before:
            self.writer_got_in += 1


@when('plan "{plan}" is pruned in it to its last checkpoint while another thread records entries')
def step_prune_with_writer(context: Context, plan: str) -> None:
    store = SqliteChangeSetStore(context.own_factory)
    changeset = store.start("writer-plan")
    errors: list[BaseException] = []
    written: list[str] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            path = f"file-{len(written)}.txt"
            try:
                store.record(
                    ChangeEntry(
                        changeset_id=changeset.changeset_id,
                        plan_id="writer-plan",
                        path=path,
                        operation=ChangeOperation.CREATE,
                        after_hash=hashlib.sha256(path.encode()).hexdigest(),
                    )
                )
            except BaseException as exc:
                errors.append(exc)
                return
            written.append(path)

    writer = threading.Thread(target=write)
    writer.start()
    pauses = _PausesBetweenSteps(written)
    try:
        while len(written) < 20 and writer.is_alive():
            time.sleep(0.001)
        with mock.patch.object(vacuum_module, "time", pauses):
            assert context.own_service.prune(plan, 1) >= 1
    finally:
        stop.set()
        writer.join()
    context.writer = (store, changeset.changeset_id, errors, written)
    context.vacuum_pauses = pauses


@then("the writer saw no error and every entry it recorded is stored")
def step_writer_fine(context: Context) -> None:
    store, changeset_id, errors, written = context.writer
    assert errors == [], errors
    stored = [entry.path for entry in store.get(changeset_id).entries]
    assert stored == written, (len(stored), len(written))
    pauses = context.vacuum_pauses
    assert pauses.count > 0, "the space was given back in one step: nothing to let a writer in"
    assert pauses.writer_got_in == pauses.count, (pauses.writer_got_in, pauses.count)
    assert _pragma(context.own_sqlite, "freelist_count") == 0


@then("its auto_vacuum is none and its free pages are kept")
def step_none_kept(context: Context) -> None:
    assert _pragma(context.own_sqlite, "auto_vacuum") == 0
    assert _pragma(context.own_sqlite, "freelist_count") > 0


@when('I run "db vacuum" on it')
def step_db_vacuum(context: Context) -> None:
    context.own_before = file_bytes(context.own_sqlite)
    _run_in_process(context, ["--database-url", f"sqlite:///{context.own_sqlite}", "db", "vacuum"])
    assert context.exit_code == 0, context.stderr


@then("the command printed the bytes its file and WAL shrank by")
def step_vacuum_printed(context: Context) -> None:
    shrunk = context.own_before - file_bytes(context.own_sqlite)
    assert int(context.stdout) == shrunk > 0, (context.stdout, shrunk)


# --- the command line -----------------------------------------------------------------


def _prune_document(context: Context, fmt: str) -> dict[str, Any]:
    assert context.exit_code == 0, context.stderr
    if fmt == "json":
        document: dict[str, Any] = json.loads(context.stdout)
    else:
        document = yaml.safe_load(context.stdout)
    assert list(document) == ["plan_id", "dry_run", "count", "bytes_freed", "checkpoint_ids"]
    return document


@then("the {fmt} prune document names checkpoints {first:d} to {last:d}, as a dry run")
def step_document_dry(context: Context, fmt: str, first: int, last: int) -> None:
    document = _prune_document(context, fmt)
    doomed = _ids(context, "plan-1", first, last)
    assert document["plan_id"] == "plan-1" and document["dry_run"] is True, document
    assert document["checkpoint_ids"] == doomed and document["count"] == len(doomed)
    assert document["bytes_freed"] == bytes_held_alone(context, doomed), document


@then("the {fmt} prune document names no checkpoint, not as a dry run")
def step_document_empty(context: Context, fmt: str) -> None:
    document = _prune_document(context, fmt)
    assert document == {
        "plan_id": "plan-1",
        "dry_run": False,
        "count": 0,
        "bytes_freed": 0,
        "checkpoint_ids": [],
    }, document


@then('stdout is exactly "{text}"')
def step_stdout_exactly(context: Context, text: str) -> None:
    assert context.exit_code == 0, context.stderr
    assert context.stdout == "".join(f"{line}\n" for line in text.split("|")), context.stdout
