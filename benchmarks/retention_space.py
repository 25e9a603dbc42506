"""The space a prune gives back on a SQLite file, and what a concurrent writer feels.

    python benchmarks/retention_space.py [--snapshots 20] [--workspace-kb 2048] [--changed 0.1]

A new SQLite file takes ``--snapshots`` snapshots of a workspace of
``--workspace-kb`` KB of incompressible files, each snapshot rewriting the
``--changed`` share of them; then ``prune(plan, keep_last=1)``, starting from an
empty log. Printed: the file plus its WAL before the prune, the peak seen while
it ran (sampled every 0.2 ms by a thread), after it, and a fresh copy of what is
left (``VACUUM INTO``); then the latency of single-entry ``record`` calls made by
another thread while a prune gives its pages back, next to the same calls with
no prune running, and next to a prune followed by a full ``VACUUM`` (what ``db
vacuum`` runs). Figures are for the machine it runs on;
``docs/reference/database.md`` quotes one run.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cleveragents
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.infrastructure.database.vacuum import file_bytes


def _workspace(root: Path, kilobytes: int, files: int = 64) -> list[Path]:
    paths = [root / f"d{n % 8}" / f"f{n}.bin" for n in range(files)]
    chance = random.Random(1)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chance.randbytes(kilobytes * 1024 // files))
    return paths


def _peak_while(database: Path, action: Callable[[], object]) -> tuple[int, int, int]:
    """(before, peak, after) of the file plus its WAL around ``action``."""
    before = file_bytes(database)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], file_bytes(database))
            except FileNotFoundError:
                continue
            time.sleep(0.0002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        action()
    finally:
        done.set()
        watcher.join()
    return before, peak[0], file_bytes(database)


def _latencies_while(db: cleveragents.Database, action: Callable[[], object]) -> list[float]:
    """Milliseconds of each ``record`` another thread made while ``action`` ran."""
    changeset = db.changesets.start("writer")
    times: list[float] = []
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            started = time.perf_counter()
            db.changesets.record(
                ChangeEntry(
                    changeset_id=changeset.changeset_id,
                    plan_id="writer",
                    path=f"f{len(times)}.txt",
                    operation=ChangeOperation.CREATE,
                    after_hash="0" * 64,
                )
            )
            times.append((time.perf_counter() - started) * 1000)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.05)
        action()
    finally:
        done.set()
        writer.join()
    return times


def _summary(times: list[float]) -> str:
    if not times:
        return "no call"
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(times)} calls, median {statistics.median(times):.2f} ms, "
        f"p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms"
    )


def _snapshots(db: cleveragents.Database, sandbox: Path, count: int, changed: float) -> None:
    paths = sorted(sandbox.rglob("*.bin"))
    chance = random.Random(2)
    for number in range(count):
        for path in chance.sample(paths, max(1, int(len(paths) * changed))):
            path.write_bytes(chance.randbytes(path.stat().st_size))
        db.checkpoints.create_workspace_snapshot("plan", str(sandbox), f"d{number}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--workspace-kb", type=int, default=2048)
    parser.add_argument("--changed", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retention-space-") as folder:
        root = Path(folder)
        database = root / "space.db"
        sandbox = root / "sandbox"
        _workspace(sandbox, args.workspace_kb)
        with cleveragents.open(f"sqlite:///{database}", watch=False) as db:
            _snapshots(db, sandbox, args.snapshots, args.changed)
            logged = file_bytes(database)
            # Frames the snapshots left in the log count twice while a checkpoint copies
            # them into the file: start from an empty log, so that the prune alone counts.
            with contextlib.closing(sqlite3.connect(database)) as raw:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            before, peak, after = _peak_while(database, lambda: db.checkpoints.prune("plan", 1))
            fresh = root / "fresh.db"
            with contextlib.closing(sqlite3.connect(database)) as raw:
                raw.execute("VACUUM INTO ?", (str(fresh),))
            print(
                f"{args.snapshots} snapshots of {args.workspace_kb} KB, {args.changed:.0%} changed"
            )
            print(f"  file + WAL after the snapshots: {logged:>9,} bytes (log not yet folded in)")
            print(f"  file + WAL before the prune: {before:>12,} bytes")
            print(f"  peak while it ran:           {peak:>12,} bytes (+{peak - before:,})")
            print(f"  after it returned:           {after:>12,} bytes")
            print(f"  a fresh copy of what's left: {fresh.stat().st_size:>12,} bytes")
            print(f"  ratio after / fresh:         {after / fresh.stat().st_size:>12.2f}")

            idle = _latencies_while(db, lambda: time.sleep(0.5))
            _snapshots(db, sandbox, args.snapshots, args.changed)
            during = _latencies_while(db, lambda: db.checkpoints.prune("plan", 1))
            _snapshots(db, sandbox, args.snapshots, args.changed)
            full = _latencies_while(db, lambda: (db.checkpoints.prune("plan", 1), db.vacuum()))
            print("record() latency in another thread:")
            print(f"  nothing else running:           {_summary(idle)}")
            print(f"  prune + incremental give-back:  {_summary(during)}")
            print(f"  prune + full VACUUM (db vacuum): {_summary(full)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
