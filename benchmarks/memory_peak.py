"""How much memory a snapshot, a restore and a verify need beyond what the process had.

    python benchmarks/memory_peak.py --scale small|full [--check] [--url URL]

Each case runs in a fresh Python process that imports the library and opens the
database first; the figure is the process's peak resident set
minus its resident set right before the operation. The peak is ``VmHWM``, reset
right before the operation through ``/proc/self/clear_refs`` (so that a transient
peak while the database was opened is not counted), or ``ru_maxrss`` where the
kernel refuses the reset. The cases, on generated content (half of the binaries incompressible,
as in ``compare_git``):

- ``snapshot tree``: the first snapshot of a tree (400 MB, 20,000 files at ``full``);
- ``restore tree`` / ``verify tree``: that snapshot restored into an empty folder,
  and verified (figure per file: the extra peak divided by the tree's files; and per
  added file: how much more the same operation needs on the tree than on a tree of
  half its files and bytes, divided by the files added, which leaves out what does
  not grow with the tree: read batches, a chunk, compression contexts, imports);
- ``snapshot big file``: the first snapshot of one file (150 MB at ``full``), with
  ``size_limit`` raised above it; then its restore and verify.

The database is a SQLite file in a temporary folder unless ``--url`` names
another (each case's plan id is new). ``--check`` makes a full-scale run exit 1
when the tree's snapshot needs more than 150 MB, the big file's snapshot, restore
or verify more than 100 MB, or the tree's restore or verify more than 1 KiB per
file; ``--scale small`` is a smoke run and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_git import WorkspaceScale, build_workspace, tree_digest

MB: Final = 1_000_000
TREE_LIMIT: Final = 150 * MB
BIG_LIMIT: Final = 100 * MB
PER_FILE_LIMIT: Final = 1024
_PIECE: Final = 1 << 20


@dataclass(frozen=True)
class Scale:
    """The tree and the big file of one scale."""

    tree: WorkspaceScale
    big_file: int


SCALES: Final = {
    "small": Scale(
        WorkspaceScale("small", 600, 6, 3_000_000, 3_000_000, 1, 1), big_file=12_000_000
    ),
    "full": Scale(
        WorkspaceScale("full", 20_000, 200, 160_000_000, 240_000_000, 1, 1),
        big_file=150_000_000,
    ),
}


def _status(field: str) -> int:
    """A size from ``/proc/self/status``, in bytes (Linux)."""
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    """Forget the peak so far (Linux >= 4.0), so that what opening the database took
    is not counted; False where the kernel refuses."""
    try:
        with Path("/proc/self/clear_refs").open("w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _peak(reset: bool) -> int:
    """The peak resident set since the reset (``VmHWM``), else the process's
    (``ru_maxrss``, KiB on Linux)."""
    if reset:
        return _status("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_case(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import cleveragents

    with cleveragents.open(args.url, size_limit=args.size_limit, watch=False) as db:
        db.checkpoints.list_checkpoints("warm-up")  # the connection and the schema are ready
        opened_peak = _peak(reset=False)
        reset = _reset_peak()
        before = _status("VmRSS")
        if args.case == "snapshot":
            made = db.checkpoints.create_workspace_snapshot(args.plan, args.folder, "decision")
            outcome: Any = made.checkpoint_id
        elif args.case == "restore":
            outcome = len(db.checkpoints.restore_workspace(args.checkpoint, args.folder).written)
        else:
            outcome = db.checkpoints.verify_checkpoint(args.checkpoint)
        extra = max(0, _peak(reset) - before)
    return {"outcome": outcome, "before": before, "opened_peak": opened_peak, "extra": extra}


def _child(*args: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _big_file(path: Path, size: int, seed: int = 7) -> None:
    """``size`` bytes, alternating incompressible and compressible megabytes."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        written = 0
        while written < size:
            n = min(_PIECE, size - written)
            piece = rng.randbytes(n) if (written // _PIECE) % 2 == 0 else bytes(n)
            out.write(piece)
            written += n


def _series(url: str, folder: Path, files: int, size_limit: int, work: Path) -> list[Row]:
    plan = f"memory-{uuid.uuid4().hex[:12]}"
    common = ["--url", url, "--size-limit", str(size_limit)]
    made = _child("--case", "snapshot", "--plan", plan, "--folder", str(folder), *common)
    checkpoint = str(made["outcome"])
    target = work / f"restored-{plan}"
    restored = _child(
        "--case", "restore", "--checkpoint", checkpoint, "--folder", str(target), *common
    )
    if tree_digest(target) != tree_digest(folder):
        raise RuntimeError(f"the restore of {folder} is not the tree it snapshotted")
    verified = _child("--case", "verify", "--checkpoint", checkpoint, *common)
    if verified["outcome"] is not True:
        raise RuntimeError(f"checkpoint {checkpoint} did not verify")
    return [
        Row("snapshot", files, made["extra"]),
        Row("restore", files, restored["extra"]),
        Row("verify", files, verified["extra"]),
    ]


def _halved(scale: WorkspaceScale) -> WorkspaceScale:
    """A tree like ``scale``'s with half its files and bytes."""
    return replace(
        scale,
        name=f"{scale.name}-half",
        files=scale.files // 2,
        binaries=scale.binaries // 2,
        text_bytes=scale.text_bytes // 2,
        binary_bytes=scale.binary_bytes // 2,
    )


@dataclass(frozen=True)
class Row:
    operation: str
    files: int
    extra: int

    @property
    def per_file(self) -> float:
        return self.extra / self.files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=("snapshot", "restore", "verify"))
    parser.add_argument("--plan", default="memory")
    parser.add_argument("--folder")
    parser.add_argument("--checkpoint")
    parser.add_argument("--size-limit", type=int, default=100 * 1024 * 1024)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args)))
        return 0
    scale = SCALES[args.scale]
    with tempfile.TemporaryDirectory(prefix="cleveragents-memory-") as scratch:
        work = Path(scratch)
        url = args.url or f"sqlite:///{work / 'memory.db'}"
        tree = build_workspace(work / "tree", scale.tree)
        half = build_workspace(work / "half", _halved(scale.tree))
        big = work / "big" / "big.bin"
        _big_file(big, scale.big_file)
        print(
            f"memory_peak ({args.scale}): tree of {tree.file_count} files, "
            f"{tree.total_bytes / MB:.0f} MB; one file of {scale.big_file / MB:.0f} MB; "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"load {os.getloadavg()[0]:.2f}"
        )
        trees = _series(url, tree.root, tree.file_count, 100 * 1024 * 1024, work)
        halves = _series(url, half.root, half.file_count, 100 * 1024 * 1024, work)
        bigs = _series(url, big.parent, 1, scale.big_file * 2, work)
    print(f"{'case':<20} {'extra peak RSS':>15} {'per file':>12}  limit")
    misses: list[str] = []
    for row in trees:
        per_file = row.operation != "snapshot"
        limit = f"{PER_FILE_LIMIT} B/file" if per_file else f"{TREE_LIMIT / MB:.0f} MB"
        over = row.per_file > PER_FILE_LIMIT if per_file else row.extra > TREE_LIMIT
        _show(f"{row.operation} tree", row, limit, over, misses)
    for row, smaller in zip(trees, halves, strict=True):
        if row.operation != "snapshot":
            added = (row.extra - smaller.extra) / (row.files - smaller.files)
            print(
                f"{row.operation} tree: {added:.0f} B per added file "
                f"({smaller.extra / MB:.1f} MB for {smaller.files} files)"
            )
    for row in bigs:
        _show(
            f"{row.operation} big file",
            row,
            f"{BIG_LIMIT / MB:.0f} MB",
            row.extra > BIG_LIMIT,
            misses,
        )
    if args.check and args.scale == "full" and misses:
        print(f"over the limit: {', '.join(misses)}")
        return 1
    return 0


def _show(name: str, row: Row, limit: str, over: bool, misses: list[str]) -> None:
    mark = "  OVER" if over else ""
    print(f"{name:<20} {row.extra / MB:>12.1f} MB {row.per_file:>10.0f} B  {limit}{mark}")
    if over:
        misses.append(name)


if __name__ == "__main__":
    sys.exit(main())
