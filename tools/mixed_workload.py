"""Several processes writing to one database at once, then a full consistency check.

Used by the concurrency scenarios of the test suite (a fixed number of operations
per process) and by ``nox -s soak`` (mixed operations for a fixed time). Every
worker is a separate Python process (``python tools/mixed_workload.py worker``) with
its own engine, its own plan, changeset and sandbox, and a share of a few error
patterns that all workers increment. Nothing is shared in memory: the check at the
end reads everything back from the database.

    python tools/mixed_workload.py run --url URL --workers 8 --records 500 \\
        --occurrences 50 --snapshots 5
    python tools/mixed_workload.py run --url URL --workers 6 --duration 600 --report soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.domain.models.core.error_pattern import ErrorPattern
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory

PATTERNS = 4
CONTEXT = (
    'Traceback (most recent call last):\n  File "app/main.py", line 3, in <module>\n'
    "ModuleNotFoundError: No module named 'requests'\n"
)


def pattern_id(index: int) -> str:
    return f"shared-pattern-{index}"


def plan_of(worker: int) -> str:
    return f"workload-w{worker}"


@dataclass
class Mix:
    """How many of each operation a worker does (``duration``: repeat the mix until then)."""

    records: int = 500
    invocations: int = 0
    occurrences: int = 0
    snapshots: int = 0
    reads: int = 0
    duration: float = 0.0


@dataclass
class WorkerReport:
    worker: int
    changeset_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    snapshot_ids: list[str] = field(default_factory=list)


def _schedule(mix: Mix, rng: random.Random) -> list[str]:
    """One round of the mix, shuffled (snapshots spread through it)."""
    kinds = (
        ["record"] * mix.records
        + ["invocation"] * mix.invocations
        + ["occurrence"] * mix.occurrences
        + ["read"] * mix.reads
    )
    rng.shuffle(kinds)
    if mix.snapshots:
        step = max(1, len(kinds) // mix.snapshots)
        for index in range(mix.snapshots):
            kinds.insert(min(len(kinds), (index + 1) * step + index), "snapshot")
    return kinds


def run_worker(url: str, worker: int, mix: Mix, workdir: Path, seed: int) -> WorkerReport:
    """Do the mix once (or until ``mix.duration`` seconds passed) and report every outcome."""
    rng = random.Random(seed * 1000 + worker)
    factory = create_session_factory(url)
    store = SqliteChangeSetStore(factory)
    patterns = ErrorPatternRepository(factory)
    checkpoints = CheckpointService(CheckpointRepository(factory))
    plan = plan_of(worker)
    report = WorkerReport(worker=worker)
    changeset = store.start(plan)
    report.changeset_id = changeset.changeset_id
    sandbox = workdir / f"sandbox-{worker}"
    for index in range(20):
        (sandbox / f"d{index % 4}").mkdir(parents=True, exist_ok=True)
        (sandbox / f"d{index % 4}" / f"f{index}.txt").write_text(f"{worker} {index}\n" * 30)
    deadline = time.monotonic() + mix.duration
    number = 0

    def record() -> None:
        store.record(
            ChangeEntry(
                changeset_id=changeset.changeset_id,
                plan_id=plan,
                path=f"w{worker}/{number:07d}.txt",
                operation="create",
                after_hash=f"{number:064x}",
                diff=f"+line {number}\n",
                insertions=1,
            )
        )

    def invocation() -> None:
        store.record_invocation(
            ToolInvocation(
                plan_id=plan,
                changeset_id=changeset.changeset_id,
                tool_name="run_tests",
                arguments={"n": number},
                result={"ok": number % 7 != 0},
                error=None if number % 7 else "ModuleNotFoundError: No module named 'x'",
            )
        )

    def occurrence() -> None:
        patterns.record_occurrence(pattern_id(rng.randrange(PATTERNS)))

    def snapshot() -> None:
        target = sandbox / f"d{rng.randrange(4)}" / f"f{rng.randrange(20)}.txt"
        target.write_text(f"changed {number}\n" * rng.randrange(1, 50))
        made = checkpoints.create_workspace_snapshot(plan, str(sandbox), f"step-{number}")
        report.snapshot_ids.append(made.checkpoint_id)

    def read() -> None:
        if number % 2:
            store.get(changeset.changeset_id)
        else:
            patterns.match_context(CONTEXT)

    operations: dict[str, Callable[[], None]] = {
        "record": record,
        "invocation": invocation,
        "occurrence": occurrence,
        "snapshot": snapshot,
        "read": read,
    }
    while True:
        for kind in _schedule(mix, rng):
            started = time.perf_counter()
            try:
                operations[kind]()
            except Exception as exc:  # counted, never hidden: the check fails on any
                report.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            else:
                report.counts[kind] = report.counts.get(kind, 0) + 1
                elapsed = (time.perf_counter() - started) * 1000
                report.latencies_ms.setdefault(kind, []).append(round(elapsed, 3))
            number += 1
        if time.monotonic() >= deadline:
            break
    factory.kw["bind"].dispose()
    return report


def prepare(url: str) -> dict[str, int]:
    """Migrate once and (re)create the shared patterns; returns their starting frequencies."""
    repository = ErrorPatternRepository(create_session_factory(url))
    start: dict[str, int] = {}
    for index in range(PATTERNS):
        existing = repository.get(pattern_id(index))
        if existing is None:
            existing = repository.create(
                ErrorPattern(
                    pattern_id=pattern_id(index),
                    pattern="No module named",
                    keywords=["modulenotfounderror", f"k{index}"],
                )
            )
        start[existing.pattern_id] = existing.frequency
    return start


def run(
    url: str, workers: int, mix: Mix, seed: int = 1, workdir: Path | None = None
) -> tuple[list[WorkerReport], dict[str, int], float]:
    """Start ``workers`` processes at once; returns their reports, the starting pattern
    frequencies and the wall time."""
    start = prepare(url)
    folder = workdir or Path(tempfile.mkdtemp(prefix="cleveragents-workload-"))
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    began = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "worker",
                "--url",
                url,
                "--worker",
                str(worker),
                "--seed",
                str(seed),
                "--workdir",
                str(folder),
                "--mix",
                json.dumps(asdict(mix)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in range(workers)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=max(600.0, mix.duration * 3))
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed ({process.returncode}):\n{err}")
        reports.append(WorkerReport(**json.loads(out.strip().splitlines()[-1])))
    return reports, start, time.monotonic() - began


def check(url: str, reports: Sequence[WorkerReport], start: dict[str, int]) -> list[str]:
    """Everything every worker was told succeeded is in the database, exactly once."""
    problems: list[str] = []
    factory = create_session_factory(url)
    store = SqliteChangeSetStore(factory)
    for report in reports:
        problems += [f"worker {report.worker}: {error}" for error in report.errors]
        changeset = store.get(report.changeset_id)
        if changeset is None:
            problems.append(f"worker {report.worker}: changeset {report.changeset_id} missing")
            continue
        paths = [entry.path for entry in changeset.entries]
        if len(paths) != report.counts.get("record", 0):
            problems.append(
                f"worker {report.worker}: {len(paths)} entries stored, "
                f"{report.counts.get('record', 0)} recorded"
            )
        if paths != sorted(paths):
            problems.append(f"worker {report.worker}: entries out of recording order")
        if len(changeset.invocations) != report.counts.get("invocation", 0):
            problems.append(
                f"worker {report.worker}: {len(changeset.invocations)} invocations stored, "
                f"{report.counts.get('invocation', 0)} recorded"
            )
    occurrences = sum(report.counts.get("occurrence", 0) for report in reports)
    stored = ErrorPatternRepository(factory)
    total = sum(
        pattern.frequency
        for pattern in (stored.get(pattern_id(index)) for index in range(PATTERNS))
        if pattern is not None
    )
    if total != sum(start.values()) + occurrences:
        problems.append(
            f"pattern frequencies sum to {total}, expected "
            f"{sum(start.values())} + {occurrences} increments"
        )
    checkpoints = CheckpointService(CheckpointRepository(factory))
    for report in reports:
        listed = [c.checkpoint_id for c in checkpoints.list_checkpoints(plan_of(report.worker))]
        if listed != report.snapshot_ids:
            problems.append(
                f"worker {report.worker}: checkpoints {listed} != {report.snapshot_ids}"
            )
        for checkpoint_id in report.snapshot_ids[-3:]:
            if not checkpoints.verify_checkpoint(checkpoint_id):
                problems.append(f"worker {report.worker}: checkpoint {checkpoint_id} fails verify")
    engine = factory.kw["bind"]
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            verdict = connection.execute(text("PRAGMA integrity_check")).scalar()
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
    engine.dispose()
    return problems


def summary(
    url: str, reports: Sequence[WorkerReport], wall: float, problems: Sequence[str]
) -> dict[str, Any]:
    """Operations, errors, p50/p99 latency per operation and the database size."""
    latencies: dict[str, list[float]] = {}
    for report in reports:
        for kind, values in report.latencies_ms.items():
            latencies.setdefault(kind, []).extend(values)
    per_kind = {}
    for kind, values in sorted(latencies.items()):
        values.sort()
        per_kind[kind] = {
            "operations": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
            "max_ms": round(values[-1], 2),
        }
    engine = create_session_factory(url, migrate=False).kw["bind"]
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            pages = connection.execute(text("PRAGMA page_count")).scalar() or 0
            size = connection.execute(text("PRAGMA page_size")).scalar() or 0
            database_bytes = int(pages) * int(size)
        else:
            database_bytes = int(
                connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
                or 0
            )
    engine.dispose()
    operations = sum(item["operations"] for item in per_kind.values())
    return {
        "workers": len(reports),
        "wall_seconds": round(wall, 1),
        "operations": operations,
        "operations_per_second": round(operations / wall, 1) if wall else 0.0,
        "errors": sum(len(report.errors) for report in reports),
        "problems": list(problems),
        "per_operation": per_kind,
        "database_bytes": database_bytes,
    }


def _print_summary(result: dict[str, Any]) -> None:
    print(
        f"workers {result['workers']}, {result['operations']} operations in "
        f"{result['wall_seconds']} s ({result['operations_per_second']}/s), "
        f"errors {result['errors']}, database {result['database_bytes'] / 1e6:.1f} MB"
    )
    print("| operation | count | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for kind, item in result["per_operation"].items():
        print(
            f"| {kind} | {item['operations']} | {item['p50_ms']} | {item['p99_ms']} "
            f"| {item['max_ms']} |"
        )
    for problem in result["problems"]:
        print(f"PROBLEM: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="one worker process (used by run)")
    worker.add_argument("--url", required=True)
    worker.add_argument("--worker", type=int, required=True)
    worker.add_argument("--seed", type=int, default=1)
    worker.add_argument("--workdir", type=Path, required=True)
    worker.add_argument("--mix", required=True)
    runner = commands.add_parser("run", help="start the workers, then check and summarise")
    runner.add_argument("--url", required=True)
    runner.add_argument("--workers", type=int, default=8)
    runner.add_argument("--records", type=int, default=500)
    runner.add_argument("--invocations", type=int, default=0)
    runner.add_argument("--occurrences", type=int, default=0)
    runner.add_argument("--snapshots", type=int, default=0)
    runner.add_argument("--reads", type=int, default=0)
    runner.add_argument("--duration", type=float, default=0.0, help="seconds (0: one round)")
    runner.add_argument("--report", type=Path, help="write the summary as JSON here")
    args = parser.parse_args(argv)
    if args.command == "worker":
        report = run_worker(
            args.url, args.worker, Mix(**json.loads(args.mix)), args.workdir, args.seed
        )
        print(json.dumps(asdict(report)))
        return 0
    mix = Mix(
        records=args.records,
        invocations=args.invocations,
        occurrences=args.occurrences,
        snapshots=args.snapshots,
        reads=args.reads,
        duration=args.duration,
    )
    reports, start, wall = run(args.url, args.workers, mix)
    problems = check(args.url, reports, start)
    result = summary(args.url, reports, wall, problems)
    _print_summary(result)
    if args.report is not None:
        args.report.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
