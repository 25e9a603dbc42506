"""asv benchmarks of the changeset store on a SQLite file (WAL, ``synchronous=FULL``).

An application keeps its engine, so every benchmark process opens each database
once and keeps it open: a timed call never pays for a new engine or for compiling
its statements (``setup`` makes one untimed call of the same kind first).

Benchmarks that consume what they time (``record``, ``record_many``,
``delete_for_plan``) use ``number = 1`` and no warm-up, and ``setup`` makes the
rows or entries that the next timed call uses; the cleanup benchmark checks in
``teardown`` that each timed call deleted every row ``setup`` recorded.
``CLEVERAGENTS_BENCH_SCALE`` (``small`` | ``full``) sets the size of the big table.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from benchmarks.workload import (
    CHANGESET_SIZE,
    FileChange,
    LargeTable,
    current_scale,
    file_changes,
    large_table,
    make_entries,
)
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.session import create_session_factory

F = TypeVar("F", bound=Callable[..., Any])

SCALE = current_scale()
INVOCATIONS_PER_CHANGESET = 5
BACKGROUND_PLANS = 20

_plan_numbers = itertools.count()


def asv_timeout(seconds: float) -> Callable[[F], F]:
    """Give ``setup_cache`` its own time limit (asv reads the ``timeout`` attribute)."""

    def mark(function: F) -> F:
        vars(function)["timeout"] = seconds
        return function

    return mark


@functools.cache
def pool() -> list[FileChange]:
    return file_changes()


@functools.cache
def store_for(path: Path) -> SqliteChangeSetStore:
    """One store (engine and pool) per database file, open for the life of the process."""
    return SqliteChangeSetStore(create_session_factory(f"sqlite:///{path}"))


@functools.cache
def _scratch_folder() -> tempfile.TemporaryDirectory[str]:
    # Removed when the process exits.
    return tempfile.TemporaryDirectory(prefix="cleveragents-asv-")


def scratch_store() -> SqliteChangeSetStore:
    """A store on this process's own empty database file, for the write benchmarks."""
    return store_for(Path(_scratch_folder().name) / "writes.db")


def new_plan(prefix: str) -> str:
    return f"{prefix}-{next(_plan_numbers)}"


def invocations(plan_id: str, changeset_id: str) -> list[ToolInvocation]:
    """Tool calls as an agent makes them; one in five failed."""
    return [
        ToolInvocation(
            plan_id=plan_id,
            changeset_id=changeset_id,
            tool_name="edit_file",
            arguments={"path": f"src/package_{n}/module_{n}.py", "mode": "replace"},
            result={"ok": n % 5 != 4, "bytes": 2_048 + n},
            error="timeout after 30s" if n % 5 == 4 else None,
            duration_ms=12.5 + n,
        )
        for n in range(INVOCATIONS_PER_CHANGESET)
    ]


def populate_plan(
    store: SqliteChangeSetStore, plan_id: str, changesets: int, entries: int
) -> list[str]:
    """Record ``changesets`` changesets of ``entries`` entries each; returns their ids."""
    ids = []
    for _ in range(changesets):
        changeset = store.start(plan_id)
        store.record_many(make_entries(changeset.changeset_id, plan_id, entries, pool()))
        for invocation in invocations(plan_id, changeset.changeset_id):
            store.record_invocation(invocation)
        ids.append(changeset.changeset_id)
    return ids


def build_shared_database(folder: Path) -> Path:
    """A database other plans already use: what the reads and cleanups run against."""
    path = folder / "shared.db"
    store = SqliteChangeSetStore(create_session_factory(f"sqlite:///{path}"))
    for n in range(BACKGROUND_PLANS):
        populate_plan(store, f"background-plan-{n}", 1, CHANGESET_SIZE)
    return path


class Record:
    """One entry recorded in its own transaction."""

    number = 1
    warmup_time = 0.0
    repeat = (20, 100, 10.0)
    timeout = 300.0

    def setup(self) -> None:
        self.store = scratch_store()
        changeset = self.store.start(new_plan("plan-record"))
        # Built here: a timed call never validates its entry. One is recorded untimed.
        self.entries: Iterator[ChangeEntry] = iter(
            make_entries(changeset.changeset_id, changeset.plan_id, 20, pool())
        )
        self.store.record(next(self.entries))

    def time_record(self) -> None:
        self.store.record(next(self.entries))


class RecordMany:
    """A batch recorded in one transaction; the large case is ``SCALE.batch_size``."""

    params: ClassVar[list[int]] = [100, SCALE.batch_size]
    param_names: ClassVar[list[str]] = ["entries"]
    number = 1
    warmup_time = 0.0
    repeat = (5, 20, 30.0)
    timeout = 300.0

    def setup(self, count: int) -> None:
        self.store = scratch_store()
        warm = self.store.start(new_plan("plan-warm-up"))
        self.store.record_many(make_entries(warm.changeset_id, warm.plan_id, 2, pool()))
        changeset = self.store.start(new_plan("plan-record-many"))
        self.batch = make_entries(changeset.changeset_id, changeset.plan_id, count, pool())

    def time_record_many(self, count: int) -> None:
        self.store.record_many(self.batch)


class ReadChangeSets:
    """Reads of a plan with three changesets, next to other plans' data."""

    params: ClassVar[list[int]] = [10, CHANGESET_SIZE]
    param_names: ClassVar[list[str]] = ["entries_per_changeset"]
    timeout = 300.0

    @asv_timeout(600)
    def setup_cache(self) -> dict[str, Any]:
        path = build_shared_database(Path.cwd())
        store = store_for(path)
        plans = {
            size: (f"read-plan-{size}", populate_plan(store, f"read-plan-{size}", 3, size))
            for size in self.params
        }
        return {"path": path, "plans": plans}

    def setup(self, cache: dict[str, Any], size: int) -> None:
        self.store = store_for(cache["path"])
        self.plan_id, changesets = cache["plans"][size]
        self.changeset_id = changesets[1]
        self.store.get(self.changeset_id)
        self.store.get_for_plan(self.plan_id)
        self.store.summarize(self.changeset_id)

    def time_get(self, cache: dict[str, Any], size: int) -> None:
        self.store.get(self.changeset_id)

    def time_get_for_plan(self, cache: dict[str, Any], size: int) -> None:
        self.store.get_for_plan(self.plan_id)

    def time_summarize(self, cache: dict[str, Any], size: int) -> None:
        self.store.summarize(self.changeset_id)


class DeleteForPlan:
    """Cleanup of a plan; ``setup`` records the rows that the next timed call deletes."""

    params: ClassVar[list[int]] = [CHANGESET_SIZE, 1_000]
    param_names: ClassVar[list[str]] = ["entries"]
    number = 1
    warmup_time = 0.0
    repeat = (5, 20, 30.0)
    timeout = 300.0

    @asv_timeout(600)
    def setup_cache(self) -> Path:
        return build_shared_database(Path.cwd())

    def setup(self, path: Path, size: int) -> None:
        self.store = store_for(path)
        self.store.delete_for_plan("plan-never-recorded")  # compiles the statements
        self.plan_id = new_plan("cleanup-plan")
        populate_plan(self.store, self.plan_id, 1, size)
        self.expected = size + INVOCATIONS_PER_CHANGESET + 1  # entries, calls, header
        self.deleted: int | None = None

    def teardown(self, path: Path, size: int) -> None:
        if self.deleted is not None and self.deleted != self.expected:
            raise RuntimeError(
                f"a timed delete_for_plan removed {self.deleted} rows, expected {self.expected}: "
                "it ran without a fresh setup"
            )

    def time_delete_for_plan(self, path: Path, size: int) -> None:
        self.deleted = self.store.delete_for_plan(self.plan_id)


class LargeTableReads:
    """Reads of one 100-entry changeset among ``SCALE.table_rows`` entries (cached file)."""

    timeout = 300.0

    @asv_timeout(3_600)
    def setup_cache(self) -> LargeTable:
        return large_table(SCALE)

    def setup(self, table: LargeTable) -> None:
        self.store = store_for(table.path)
        self.store.get(table.target_changeset_id)
        self.store.get_for_plan(table.target_plan_id)

    def time_get(self, table: LargeTable) -> None:
        self.store.get(table.target_changeset_id)

    def time_get_for_plan(self, table: LargeTable) -> None:
        self.store.get_for_plan(table.target_plan_id)
