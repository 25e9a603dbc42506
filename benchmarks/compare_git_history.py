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
  is racily clean). Restore A in that folder, then B again, several round trips.
  Ours: ``restore_workspace(checkpoint of A, folder)``. git: ``git checkout
  --quiet <commit A>`` (HEAD detached at B, clean). That is the honest
  equivalent: git refreshes its index (an ``lstat`` of every tracked path),
  refuses to lose a local change, writes only the paths that differ, removes the
  ones A lacks and the folders they leave empty. ``checkout -f`` would drop the
  safety check, ``read-tree -u -m`` is the same work without the porcelain.
  Pairs: adjacent commits, and commits 10 and 50 apart.
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
cProfile of our in-place restores of the last pair.
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
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_git import _show, both, git_racy_resolution, git_settings, git_version
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
SHOWN_DIFFERENCES: Final = 20


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
class Measurement:
    """The timed samples (ours, git) of one row, and the largest acceptable ratio of medians."""

    name: str
    target: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    failed: str = ""  # why ours could not be timed: its restore raised
    pair: tuple[int, int] | None = None  # in place: (A, B)
    links: list[str] = field(default_factory=list)  # removed from our folder before each restore

    def median(self, side: int) -> float:
        return statistics.median(pair[side] for pair in self.samples)

    def best(self, side: int) -> float:
        return min(pair[side] for pair in self.samples)

    @property
    def ratio(self) -> float:
        return self.median(0) / self.median(1)

    @property
    def best_ratio(self) -> float:
        return self.best(0) / self.best(1)

    @property
    def met(self) -> bool:
        return not self.failed and self.ratio <= self.target


@dataclass(frozen=True)
class Finding:
    """Our restore of one state, in one measurement, that is not the state."""

    where: str
    found: list[Difference]


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
    for number in (a, b):
        _unlink(mine, links)
        raised = context.restore_ours(where, number, mine)
        if raised:
            return raised
        context.git.checkout(number, theirs)
        context.check(where, mine, theirs, number)
    return ""


def measure_in_place(context: Context, a: int, b: int, trips: int) -> Measurement:
    """Round trips A, B, A, B... in place on both sides, after one checked trip.

    When our restore raises and symlinks changed between A and B (it refuses to
    replace a symlink), the pair is timed with those symlinks removed from our
    folder before each of our restores (untimed), and the row is starred.
    """
    changed = context.history.state(a).changed_paths(context.history.state(b))
    name = f"in place {a} <-> {b} ({changed} paths differ)"
    result = Measurement(name, IN_PLACE_TARGET, pair=(a, b))
    links = result.links
    raised = _checked_trip(context, result.name, a, b, links)
    if raised and _changed_links(context.history, a, b):
        links.extend(_changed_links(context.history, a, b))
        result.name += " *"
        raised = _checked_trip(context, result.name, a, b, links)
    if raised:
        result.failed = raised
        return result
    mine, theirs = context.folder / "ours-work", context.folder / "git-work"
    for trip in range(trips):
        for step, number in enumerate((a, b)):
            result.samples.append(
                both(
                    functools.partial(context.ours.restore, number, mine),
                    functools.partial(context.git.checkout, number, theirs),
                    trip + step,
                    prepare=functools.partial(_unlink, mine, links) if links else None,
                )
            )
    return result


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
    shutil.rmtree(mine)
    materialize(context.history.state(b), mine)
    profiler = cProfile.Profile()
    for _ in range(trips):
        for number in (a, b):
            _unlink(mine, links)
            profiler.enable()
            context.ours.restore(number, mine)
            profiler.disable()
    out = io.StringIO()
    out.write(f"cProfile of {2 * trips} in-place restores of ours, {measured.name}\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


# --- the report ---------------------------------------------------------------------------


def print_table(results: Sequence[Measurement]) -> None:
    header = (
        f"{'measurement':<52} {'ours med':>9} {'best':>9} {'git med':>9} {'best':>9} "
        f"{'ratio':>7} {'best':>7} {'target':>7}  met"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.failed:
            print(f"{r.name:<52} {'our restore failed':>49} {r.target:>15.1f}x  NO")
            continue
        print(
            f"{r.name:<52} {_show(r.median(0), 's'):>9} {_show(r.best(0), 's'):>9} "
            f"{_show(r.median(1), 's'):>9} {_show(r.best(1), 's'):>9} {r.ratio:>6.2f}x "
            f"{r.best_ratio:>6.2f}x {r.target:>6.1f}x  {'yes' if r.met else 'NO'}"
        )


def notes(results: Sequence[Measurement], context: Context) -> list[str]:
    in_place = max((len(r.samples) for r in results if r.pair), default=0)
    fresh = max((len(r.samples) for r in results if not r.pair), default=0)
    lines = [
        "ratio            ours / git, of the medians (judged) and of the best samples: "
        f"{in_place} samples per side in place, {fresh} into an empty folder",
        "git              in place: git checkout --quiet <commit>; into an empty folder: "
        "git archive <commit> | tar -x",
    ]
    starred = [r for r in results if r.links]
    if starred:
        lines.append(
            "*                our restore refuses to replace a symlink in place: before each "
            f"of its restores, {', '.join(sorted({p for r in starred for p in r.links}))} "
            "removed from its folder (untimed)"
        )
    if context.git_notes:
        lines.append(
            "git misses       what it does not track, empty folders: "
            + ", ".join(sorted(context.git_notes))
        )
    if not context.findings:
        lines.append("correctness      every restore of ours checked is exactly the expected tree")
    return lines


def print_findings(findings: Sequence[Finding]) -> None:
    print(f"\nCORRECTNESS: our restore is not the expected tree in {len(findings)} case(s)")
    for finding in findings:
        print(f"  {finding.where}: {len(finding.found)} difference(s)")
        for difference in finding.found[:SHOWN_DIFFERENCES]:
            print(f"    {difference}")
        if len(finding.found) > SHOWN_DIFFERENCES:
            print(f"    ... and {len(finding.found) - SHOWN_DIFFERENCES} more")


def run(scale: str, folder: Path, profile: bool) -> tuple[list[Measurement], Context]:
    history = History(history_scale(scale))
    plan = RUN_PLANS[scale]
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
        print(f"sqlite           {sqlite3.sqlite_version}, {ours.settings()}")
        print(f"git              {git_version()}; {git_settings(context.git)}")
        print(f"git repository   after git gc: {context.git.packed()}\n")
        results = [measure_in_place(context, a, b, plan.round_trips) for a, b in plan.pairs]
        results += [measure_fresh(context, n, plan.fresh_repetitions) for n in plan.fresh]
        timed = [r for r in results if r.pair is not None and not r.failed]
        if profile and timed:  # the first pair and the farthest: the two ends of the range
            for measured in timed[:1] + timed[1:][-1:]:
                print(profile_in_place(context, measured, plan.round_trips))
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
    for line in notes(results, context):
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
