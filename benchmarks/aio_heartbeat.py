"""Does the event loop keep running while ``cleveragents.aio`` works? A heartbeat says.

    python benchmarks/aio_heartbeat.py --scale small|full [--check] [--url URL] [--gc-between]

A heartbeat task sleeps 2 ms at a time on the event loop and records how late
each wake-up is (its *stall*: the time past its due moment). While it beats,
the loop awaits, one after the other, on one ``AsyncDatabase``:

- the first snapshot of a generated workspace (20,000 files, about 120 MB at
  ``full`` scale; 500 files at ``small``): every file read, hashed, compressed, stored;
- ``record_many`` of 20,000 changeset entries (500 at ``small``), ~2.5 KB diffs each;
- ``get`` of that changeset (every entry read back);
- ``verify_checkpoint`` of the snapshot, and its restore into a new, empty folder.

With a PostgreSQL ``--url``, one more row shows what an async driver would do
with the same 20,000 rows: psycopg's ``AsyncConnection`` inserting them with
``executemany`` into a temporary table of the same columns, on the event loop's
own thread (the CPU work of adapting the rows stays on the loop).

It prints, per operation, its duration, the number of beats, the p50, p99 and
largest stall, and the full garbage collections that ran meanwhile (each one
stops every thread, for a time that grows with the live objects of the whole
process); an idle loop's row is the floor. The heartbeat goes on for half a
second after each operation: the "after the operations" row shows what they
leave behind (the async API puts full collections off while its calls run, so
one may come due once they end); it is printed, not checked. ``--gc-between``
turns automatic collection off during each operation and collects between
them, as an application that schedules its collections would. The database is
a SQLite file in a temporary folder (WAL, the library's ``synchronous``) unless
``--url`` names another. ``--check`` makes a full-scale run exit 1 when an
operation's largest stall exceeds 20 ms or its p99 exceeds 5 ms; ``--scale
small`` is a smoke run and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cleveragents.aio
from benchmarks.compare_git import WorkspaceScale, build_workspace
from benchmarks.workload import file_changes, make_entries
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.infrastructure.database.session import SQLITE_SYNCHRONOUS

PERIOD: Final = 0.002  # the heartbeat's sleep, seconds
MAX_STALL_MS: Final = 20.0
P99_STALL_MS: Final = 5.0
PLAN_ID: Final = "aio-heartbeat"


@dataclass(frozen=True)
class HeartbeatScale:
    name: str
    workspace: WorkspaceScale
    entries: int


SCALES: Final = {
    "small": HeartbeatScale(
        "small", WorkspaceScale("small", 500, 4, 3_000_000, 2_000_000, 1, 1), entries=500
    ),
    "full": HeartbeatScale(
        "full", WorkspaceScale("full", 20_000, 60, 80_000_000, 40_000_000, 1, 1), entries=20_000
    ),
}


@dataclass(frozen=True)
class Stalls:
    """One operation: how long it took and how late the heartbeat was meanwhile."""

    name: str
    seconds: float
    stalls_ms: tuple[float, ...]
    full_collections: tuple[float, ...] = ()  # ms each: CPython's gen-2 GC, every thread stopped

    @property
    def p50(self) -> float:
        return statistics.median(self.stalls_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.stalls_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def worst(self) -> float:
        return max(self.stalls_ms)

    def missed(self) -> list[str]:
        """The targets this operation misses."""
        missed = []
        if self.worst > MAX_STALL_MS:
            missed.append(f"largest stall {self.worst:.1f} ms > {MAX_STALL_MS:.0f} ms")
        if self.p99 > P99_STALL_MS:
            missed.append(f"p99 stall {self.p99:.2f} ms > {P99_STALL_MS:.0f} ms")
        return missed


async def _heartbeat(stop: asyncio.Event, stalls: list[float]) -> None:
    while not stop.is_set():
        due = time.perf_counter() + PERIOD
        await asyncio.sleep(PERIOD)
        stalls.append(max(0.0, time.perf_counter() - due) * 1000)


class _Collections:
    """The full (generation 2) garbage collections meanwhile, and how long each took."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.taken.append((time.perf_counter() - self._started) * 1000)


# With --gc-between: no automatic collection during an operation, a full one between them.
_GC_BETWEEN = False
# Seconds the heartbeat goes on after each operation, for the "after the operations" row.
AFTERMATH: Final = 0.5


@dataclass
class _Aftermath:
    stalls: list[float]
    collections: list[float]


_AFTER = _Aftermath([], [])


async def measured(name: str, operation: Callable[[], Awaitable[Any]]) -> tuple[Stalls, Any]:
    """Await ``operation()`` while the heartbeat beats; its stalls and its result."""
    stop = asyncio.Event()
    stalls: list[float] = []
    collections = _Collections()
    if _GC_BETWEEN:
        gc.collect()
        gc.disable()
    gc.callbacks.append(collections)
    beating = asyncio.create_task(_heartbeat(stop, stalls))
    await asyncio.sleep(PERIOD * 3)  # the heartbeat is going before the operation starts
    stalls.clear()
    started = time.perf_counter()
    try:
        result = await operation()
    finally:
        seconds = time.perf_counter() - started
        during = (tuple(stalls or [0.0]), tuple(collections.taken))
        collections.taken.clear()
        stalls.clear()
        # What the operation leaves behind (a full collection it put off) lands just after it.
        await asyncio.sleep(AFTERMATH)
        stop.set()
        await beating
        _AFTER.stalls.extend(stalls)
        _AFTER.collections.extend(collections.taken)
        gc.callbacks.remove(collections)
        gc.enable()
    return Stalls(name, seconds, *during), result


async def run(scale: HeartbeatScale, folder: Path, url: str) -> list[Stalls]:
    workspace = build_workspace(folder / "workspace", scale.workspace)
    results: list[Stalls] = []
    async with cleveragents.aio.open(url) as db:
        idle, _ = await measured("idle loop (floor)", lambda: asyncio.sleep(1.0))
        results.append(idle)
        idle_after, idle_collections = list(_AFTER.stalls), list(_AFTER.collections)
        snapshot, checkpoint = await measured(
            f"first snapshot, {workspace.file_count:,} files",
            lambda: db.checkpoints.create_workspace_snapshot(PLAN_ID, str(workspace.root), "d1"),
        )
        results.append(snapshot)
        changeset = await db.changesets.start(PLAN_ID)
        entries = make_entries(changeset.changeset_id, PLAN_ID, scale.entries, file_changes())
        recorded, count = await measured(
            f"record_many, {len(entries):,} entries", lambda: db.changesets.record_many(entries)
        )
        assert count == len(entries), count
        results.append(recorded)
        read, stored = await measured(
            f"get, {len(entries):,} entries", lambda: db.changesets.get(changeset.changeset_id)
        )
        assert stored is not None and len(stored.entries) == len(entries)
        results.append(read)
        verified, ok = await measured(
            "verify_checkpoint", lambda: db.checkpoints.verify_checkpoint(checkpoint.checkpoint_id)
        )
        assert ok
        results.append(verified)
        target = folder / "restored"
        restored, result = await measured(
            f"restore into a new folder, {workspace.file_count:,} files",
            lambda: db.checkpoints.restore_workspace(checkpoint.checkpoint_id, target),
        )
        assert len(result.written) >= workspace.file_count, len(result.written)
        results.append(restored)
    results.append(
        Stalls(
            f"after the operations ({AFTERMATH:.1f} s each)",
            AFTERMATH * (len(results) - 1),
            tuple(_AFTER.stalls[len(idle_after) :] or [0.0]),
            tuple(_AFTER.collections[len(idle_collections) :]),
        )
    )
    if url.startswith("postgresql"):
        results.append(await async_driver_rows(url, entries))
    return results


async def async_driver_rows(url: str, entries: Sequence[ChangeEntry]) -> Stalls:
    """The same rows through psycopg's AsyncConnection, on the loop's thread (comparison)."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    columns = (
        "entry_id", "changeset_id", "plan_id", "path", "operation", "before_hash",
        "after_hash", "diff", "insertions", "deletions", "metadata", "created_at",
    )  # fmt: skip
    rows = [
        (
            entry.entry_id,
            entry.changeset_id,
            entry.plan_id,
            entry.path,
            entry.operation.value,
            entry.before_hash,
            entry.after_hash,
            entry.diff,
            entry.insertions,
            entry.deletions,
            json.dumps(entry.metadata),
            entry.created_at,
        )
        for entry in entries
    ]
    async with await psycopg.AsyncConnection.connect(conninfo) as connection:
        async with connection.cursor() as cursor:
            await cursor.execute(
                "CREATE TEMPORARY TABLE aio_rows (entry_id text, changeset_id text, "
                "plan_id text, path text, operation text, before_hash text, after_hash text, "
                "diff text, insertions integer, deletions integer, metadata jsonb, "
                "created_at timestamptz)"
            )
            placeholders = ", ".join(["%s"] * len(columns))
            statement = f"INSERT INTO aio_rows ({', '.join(columns)}) VALUES ({placeholders})"
            stalls, _ = await measured(
                f"psycopg async executemany, {len(rows):,} rows",
                lambda: cursor.executemany(statement, rows),
            )
        await connection.commit()
    return stalls


def report(scale: HeartbeatScale, results: Sequence[Stalls], where: str) -> None:
    print(f"cleveragents.aio heartbeat ({scale.name} scale), every {PERIOD * 1000:.0f} ms")
    print(f"python {platform.python_version()}, {platform.machine()}, database: {where}")
    print(f"switch interval {sys.getswitchinterval() * 1000:.1f} ms")
    print()
    header = (
        f"{'operation':<44} {'time':>8} {'beats':>6} {'p50':>7} {'p99':>7} {'max':>7}"
        f" {'full GCs':>9} {'longest':>8}"
    )
    print(header)
    print("-" * len(header))
    for item in results:
        print(
            f"{item.name:<44} {item.seconds:>7.2f}s {len(item.stalls_ms):>6} "
            f"{item.p50:>5.2f}ms {item.p99:>5.2f}ms {item.worst:>5.1f}ms"
            f" {len(item.full_collections):>9} {max(item.full_collections, default=0):>6.1f}ms"
        )
    print()
    print(f"targets: largest stall <= {MAX_STALL_MS:.0f} ms, p99 <= {P99_STALL_MS:.0f} ms")
    print(
        "full GCs: CPython's generation-2 collections during the operation; each stops every"
        " thread, the event loop's too, for a time that grows with the process's live objects"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a full-scale target is missed"
    )
    parser.add_argument("--url", help="the database (default: a SQLite file in a temp folder)")
    parser.add_argument(
        "--gc-between",
        action="store_true",
        help="no automatic garbage collection during an operation; a full one between them",
    )
    args = parser.parse_args(argv)
    global _GC_BETWEEN
    _GC_BETWEEN = args.gc_between
    scale = SCALES[args.scale]
    with tempfile.TemporaryDirectory(prefix="cleveragents-aio-heartbeat-") as scratch:
        folder = Path(scratch)
        url = args.url or f"sqlite:///{folder / 'heartbeat.db'}"
        where = "--url" if args.url else f"SQLite file, synchronous={SQLITE_SYNCHRONOUS}"
        where += ", GC between operations" if args.gc_between else ", automatic GC"
        results = asyncio.run(run(scale, folder, url))
    report(scale, results, where)
    ours = [item for item in results[1:] if not item.name.startswith(("psycopg", "after"))]
    missed = [f"{item.name}: {miss}" for item in ours for miss in item.missed()]
    for line in missed:
        print(f"MISSED {line}")
    return 1 if args.check and scale.name == "full" and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
