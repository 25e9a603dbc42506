"""The report of ``compare_git_history.py``: its rows, the table, and what was wrong."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from benchmarks.compare_git import _show
from benchmarks.tree_oracle import Difference

SHOWN_DIFFERENCES: Final = 20


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


def notes(
    results: Sequence[Measurement], findings: Sequence[Finding], git_misses: set[str]
) -> list[str]:
    """The lines under the table: load, what the ratios are, stars, what git misses."""
    in_place = max((len(r.samples) for r in results if r.pair), default=0)
    fresh = max((len(r.samples) for r in results if not r.pair), default=0)
    lines = [
        f"load average     {load_average()} (1, 5, 15 min) after the measurements",
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
    if git_misses:
        lines.append(
            "git misses       what it does not track, empty folders: "
            + ", ".join(sorted(git_misses))
        )
    if not findings:
        lines.append("correctness      every restore of ours checked is exactly the expected tree")
    return lines


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def print_findings(findings: Sequence[Finding]) -> None:
    print(f"\nCORRECTNESS: our restore is not the expected tree in {len(findings)} case(s)")
    for finding in findings:
        print(f"  {finding.where}: {len(finding.found)} difference(s)")
        for difference in finding.found[:SHOWN_DIFFERENCES]:
            print(f"    {difference}")
        if len(finding.found) > SHOWN_DIFFERENCES:
            print(f"    ... and {len(finding.found) - SHOWN_DIFFERENCES} more")
