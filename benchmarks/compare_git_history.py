"""Checkpoint restores side by side with git, on a generated project history.

    python benchmarks/compare_git_history.py --scale small|full [--check] [--profile]

``history_workload.py`` makes a repository-like tree (``full``: 3,500 files in
about 200 nested folders, binaries, executable scripts, symlinks, empty folders)
and 150 commits of tens of paths each. The history is replayed into one sandbox:
after each commit ``CheckpointService.create_workspace_snapshot`` (SQLite file,
WAL, ``synchronous=FULL`` as ``create_session_factory`` sets them) and
``git add -A && git commit`` (git with its defaults, ``GIT_DIR`` outside the
sandbox) record exactly the same state. The repository is then packed with
``git gc``, as a clone is. Nothing of the replay is timed. Then, in one run:

- **in place**: each side has its own folder holding commit B (written by the
  generator; git's index refreshed, and rewritten a second later so that no entry
  is racily clean; ours snapshotted, untimed, so that the folder is the plan's
  sandbox with its stat data and watcher, as an agent's sandbox always is before a
  restore). Restore A in that folder, then B again, several round trips; after
  each round trip the two folders swap sides (each side adopts the other's, untimed),
  so that neither side keeps a folder the file system made slower to write in.
  Ours: ``restore_workspace(checkpoint of A, folder)``. git: ``git checkout
  --quiet <commit A>`` (HEAD detached at B, clean). That is the honest
  equivalent: git refreshes its index (an ``lstat`` of every tracked path),
  refuses to lose a local change, writes only the paths that differ, removes the
  ones A lacks and the folders they leave empty. ``checkout -f`` would drop the
  safety check, ``read-tree -u -m`` is the same work without the porcelain.
  Pairs: adjacent commits, and commits 10 and 50 apart; each direction is a row.
- **into an empty folder**: ours ``restore_workspace(checkpoint, new empty
  folder)``; git ``git archive <commit> | tar -x`` through ``bash -o pipefail``,
  timed as a whole (``--no-same-owner --no-same-permissions``: tar as any user
  but root applies the umask, 022 here for both sides).

Every measured action comes after ``os.sync()`` and ``gc.collect()``, and the
side that goes first alternates. Each pair's first round trip and each state's
first restore into an empty folder are untimed or checked outside the timing:
both restored trees are compared with the generator's description (bytes,
permission bits, symlink targets byte for byte, folders, empty ones included).
git does not track folders, so empty folders missing on git's side are expected;
any other git difference stops the run. Our differences are listed by path;
``--check`` exits 1 on them, and at full scale on a missed target (in place
<= 1.5x, into an empty folder <= 1.0x, ratio of medians). ``--profile`` adds a
cProfile of our in-place restores of the first and the last pair.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import platform
import pstats
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_git import both, git_racy_resolution, git_settings, git_version
from benchmarks.history_report import (
    SHOWN_DIFFERENCES,
    Finding,
    Measurement,
    load_average,
    notes,
    print_findings,
    print_table,
)
from benchmarks.history_sides import GitHistory, OursHistory, replay
from benchmarks.history_workload import (
    HISTORY_SCALES,
    History,
    describe,
    history_scale,
    materialize,
)
from benchmarks.tree_oracle import Difference, differences, only_empty_folders_missing

IN_PLACE_TARGET: Final = 1.5
FRESH_TARGET: Final = 1.0


@dataclass(frozen=True)
class RunPlan:
    """What one scale measures: (A, B) pairs, and states restored into an empty folder."""

    pairs: tuple[tuple[int, int], ...]
    round_trips: int  # timed A-then-B trips per pair, after one checked, untimed trip
    fresh: tuple[int, ...]
    fresh_repetitions: int


RUN_PLANS: Final = {
    "small": RunPlan(((5, 6), (9, 10), (1, 11)), 3, (12, 6), 3),
    "full": RunPlan(
        ((30, 31), (120, 121), (60, 70), (140, 150), (20, 70), (100, 150)), 5, (150, 75), 5
    ),
}


@dataclass
class Context:
    """Everything the measurements share."""

    history: History
    ours: OursHistory
    git: GitHistory
    folder: Path
    resolution_ns: int
    findings: list[Finding] = field(default_factory=list)
    git_notes: set[str] = field(default_factory=set)

    def check(self, where: str, mine: Path, theirs: Path, number: int) -> None:
        """Compare both restored trees with state ``number``; ours may differ, git may not."""
        expected = self.history.state(number)
        found = differences(theirs, expected)
        if not only_empty_folders_missing(found):
            shown = "\n  ".join(map(str, found[:SHOWN_DIFFERENCES]))
            raise SystemExit(f"git's tree differs from commit {number} ({where}):\n  {shown}")
        self.git_notes.update(d.path for d in found)
        found = differences(mine, expected)
        if found:
            self.findings.append(Finding(f"{where}, restoring commit {number}", found))

    def restore_ours(self, where: str, number: int, target: Path) -> str:
        """Our restore, untimed; what it raised (recorded as a finding), or ''."""
        try:
            self.ours.restore(number, target)
        except Exception as exc:  # a wrong restore is a finding, not a crash
            raised = f"{type(exc).__name__}: {exc}"
            whole = Difference("(the whole restore)", f"raised {raised}")
            self.findings.append(Finding(f"{where}, restoring commit {number}", [whole]))
            return raised
        return ""


def _changed_links(history: History, a: int, b: int) -> list[str]:
    """Symlinks whose target differs between states ``a`` and ``b``."""
    one, other = history.state(a).entries, history.state(b).entries
    return sorted(
        path
        for path in one.keys() & other.keys()
        if one[path].link and other[path].link and one[path] != other[path]
    )


def _unlink(folder: Path, paths: Sequence[str]) -> None:
    for path in paths:
        (folder / path).unlink(missing_ok=True)


def _checked_trip(context: Context, where: str, a: int, b: int, links: Sequence[str]) -> str:
    """Both folders at ``b``, then an untimed, checked restore of ``a`` and of ``b``.

    ``links`` are removed from our folder before each of its restores. Returns what
    our restore raised, or ''.
    """
    mine, theirs = context.folder / "ours-work", context.folder / "git-work"
    for path in (mine, theirs):
        shutil.rmtree(path, ignore_errors=True)
        materialize(context.history.state(b), path)
    context.git.adopt(b, theirs, context.resolution_ns)
    context.ours.adopt(b, mine)
    for number in (a, b):
        _unlink(mine, links)
        raised = context.restore_ours(where, number, mine)
        if raised:
            return raised
        context.git.checkout(number, theirs)
        context.check(where, mine, theirs, number)
    return ""


def measure_in_place(context: Context, a: int, b: int, trips: int) -> list[Measurement]:
    """Round trips A, B, A, B... in place on both sides, after one checked trip.

    Two rows: back to A from B, and on to B from A (the work differs: our restore
    reads the plan's history only when the folder holds a path the target lacks).
    When our restore raises and symlinks changed between A and B (it refuses to
    replace a symlink), the pair is timed with those symlinks removed from our
    folder before each of our restores (untimed), and its rows are starred.

    The two folders swap sides after every round trip (each side adopts its new
    folder, untimed): where the file system placed a folder changes what creating
    a file in it costs several times over on some machines, and that must not be
    charged to one side.
    """
    changed = context.history.state(a).changed_paths(context.history.state(b))
    where = f"in place {a} <-> {b}"
    links: list[str] = []
    raised = _checked_trip(context, where, a, b, links)
    star = ""
    if raised and _changed_links(context.history, a, b):
        links = _changed_links(context.history, a, b)
        star = " *"
        raised = _checked_trip(context, f"{where}{star}", a, b, links)
    rows = [
        Measurement(f"in place {b} -> {a} ({changed} paths){star}", IN_PLACE_TARGET, pair=(a, b)),
        Measurement(f"in place {a} -> {b} ({changed} paths){star}", IN_PLACE_TARGET, pair=(a, b)),
    ]
    for row in rows:
        row.failed, row.links = raised, links
    if raised:
        return rows
    mine, theirs = context.folder / "ours-work", context.folder / "git-work"
    for trip in range(trips):
        if trip and not links:  # both folders are at B: they swap sides
            mine, theirs = theirs, mine
            context.git.adopt(b, theirs, context.resolution_ns)
            context.ours.adopt(b, mine)
        for step, number in enumerate((a, b)):
            rows[step].samples.append(
                both(
                    functools.partial(context.ours.restore, number, mine),
                    functools.partial(context.git.checkout, number, theirs),
                    trip + step,
                    prepare=functools.partial(_unlink, mine, links) if links else None,
                )
            )
    return rows


def measure_fresh(context: Context, number: int, repetitions: int) -> Measurement:
    """Restores of state ``number`` into a new, empty folder on both sides."""
    entries = len(context.history.state(number).entries)
    result = Measurement(f"into an empty folder, commit {number} ({entries:,} paths)", FRESH_TARGET)
    mine, theirs = context.folder / "fresh-ours", context.folder / "fresh-git"
    for turn in range(repetitions + 1):
        mine.mkdir()
        theirs.mkdir()
        if turn == 0:  # untimed and checked
            result.failed = context.restore_ours(result.name, number, mine)
            context.git.archive(number, theirs)
            if not result.failed:
                context.check(result.name, mine, theirs, number)
        else:
            result.samples.append(
                both(
                    functools.partial(context.ours.restore, number, mine),
                    functools.partial(context.git.archive, number, theirs),
                    turn,
                )
            )
        shutil.rmtree(mine)
        shutil.rmtree(theirs)
        if result.failed:
            break
    return result


def profile_in_place(context: Context, measured: Measurement, trips: int) -> str:
    """cProfile of our in-place restores of a measured pair, from B (untimed, unchecked)."""
    assert measured.pair is not None
    a, b = measured.pair
    mine, links = context.folder / "ours-work", measured.links
    shutil.rmtree(mine, ignore_errors=True)
    materialize(context.history.state(b), mine)
    context.ours.adopt(b, mine)
    profiler = cProfile.Profile()
    for _ in range(trips):
        for number in (a, b):
            _unlink(mine, links)
            profiler.enable()
            context.ours.restore(number, mine)
            profiler.disable()
    out = io.StringIO()
    out.write(f"cProfile of {2 * trips} in-place restores of ours between {a} and {b}\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def run(scale: str, folder: Path, profile: bool) -> tuple[list[Measurement], Context]:
    history = History(history_scale(scale))
    plan = RUN_PLANS[scale]
    trips = plan.round_trips
    sandbox = folder / "sandbox"
    sandbox.mkdir()
    resolution = git_racy_resolution(folder)
    ours = OursHistory(folder / "checkpoints.db")
    context = Context(
        history, ours, GitHistory(folder / "history.git", sandbox), folder, resolution
    )
    try:
        seconds = replay(history, ours, context.git)
        print(
            f"scale            {scale}: {len(plan.pairs)} pairs x {plan.round_trips} round "
            f"trips in place, {len(plan.fresh)} states x {plan.fresh_repetitions} restores "
            "into an empty folder"
        )
        for line in describe(history):
            print(line)
        print(f"replay           {seconds:.1f}s, untimed: {len(history)} checkpoints and commits")
        print(f"python           {platform.python_version()} ({platform.python_implementation()})")
        print(f"platform         {platform.platform()}, {os.cpu_count()} CPUs")
        print(f"load average     {load_average()} (1, 5, 15 min) before the measurements")
        print(f"sqlite           {sqlite3.sqlite_version}, {ours.settings()}")
        print(f"git              {git_version()}; {git_settings(context.git)}")
        print(f"git repository   after git gc: {context.git.packed()}\n")
        results = [r for a, b in plan.pairs for r in measure_in_place(context, a, b, trips)]
        results += [measure_fresh(context, n, plan.fresh_repetitions) for n in plan.fresh]
        timed = [r for r in results if r.pair is not None and not r.failed]
        if profile and timed:  # the first pair and the farthest: the two ends of the range
            for measured in timed[:1] + timed[2:][-1:]:
                print(profile_in_place(context, measured, trips))
        return results, context
    finally:
        ours.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=sorted(HISTORY_SCALES), default="small")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when our restore is wrong, or (full scale) when a target is missed",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of our in-place restores"
    )
    args = parser.parse_args(argv)
    os.umask(0o022)  # git's checkout and tar apply it; ours sets 0644/0755 itself
    with tempfile.TemporaryDirectory(prefix="cleveragents-compare-git-history-") as folder:
        results, context = run(args.scale, Path(folder), args.profile)
    print_table(results)
    for line in notes(results, context.findings, context.git_notes):
        print(line)
    wrong = bool(context.findings)
    if wrong:
        print_findings(context.findings)
    missed = [r.name for r in results if not r.met]
    if args.scale == "small":
        print("small scale is a smoke run: targets are judged at full scale only")
    elif missed:
        print(f"targets missed: {'; '.join(missed)}")
    else:
        print("every target met")
    if args.check and (wrong or (missed and args.scale != "small")):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
