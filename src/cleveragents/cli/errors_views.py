"""What the ``errors`` commands show, per format.

``errors list --format json`` prints a list of ``ErrorPattern`` dumps (pattern_id,
pattern, keywords, frequency, last_seen, first_seen, category, resolution,
metadata), most frequent first. ``errors match TEXT --format json`` prints the
matching patterns best first, each dump with one more key, ``score`` (keywords
matched, plus one when the pattern text occurs); no match prints ``[]``.
``errors stats --format json`` prints the ``ErrorPatternStatistics`` dump
(total_patterns, total_occurrences, most_frequent, by_category, last_seen).
YAML carries the same keys. Plain text prints one block per pattern (nothing
when there is none), so that ``errors match`` with no hit prints nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_lines
from cleveragents.domain.models.core.error_pattern import ErrorPattern, ErrorPatternStatistics

NO_CATEGORY = "(none)"


def _none(value: object) -> str:
    return "none" if value is None else str(value)


def _when(pattern: ErrorPattern, field: str) -> str:
    return str(pattern.model_dump(mode="json")[field])


def _pattern_lines(pattern: ErrorPattern, score: int | None) -> list[str]:
    lines = [f"pattern_id: {pattern.pattern_id}"]
    if score is not None:
        lines.append(f"  score: {score}")
    lines += [
        f"  pattern: {pattern.pattern}",
        f"  keywords: {', '.join(pattern.keywords)}".rstrip(),
        f"  frequency: {pattern.frequency}",
        f"  first_seen: {_when(pattern, 'first_seen')}",
        f"  last_seen: {_when(pattern, 'last_seen')}",
        f"  category: {_none(pattern.category)}",
        f"  resolution: {_none(pattern.resolution)}",
    ]
    return lines


def pattern_table(patterns: Sequence[ErrorPattern], scores: Sequence[int] | None = None) -> Table:
    """A rich table of patterns in the order given (ids are in the plain and json output)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    with_resolution = any(pattern.resolution for pattern in patterns)
    if scores is not None:
        table.add_column("score", justify="right")
    table.add_column("seen", justify="right")
    table.add_column("pattern", overflow="fold", ratio=2, min_width=16)
    table.add_column("keywords", overflow="fold", ratio=1, min_width=12)
    table.add_column("last seen (UTC)", no_wrap=True)
    table.add_column("category", overflow="fold")
    if with_resolution:
        table.add_column("resolution", overflow="fold", ratio=2, min_width=12)
    for index, pattern in enumerate(patterns):
        cells = [
            str(pattern.frequency),
            pattern.pattern,
            ", ".join(pattern.keywords),
            pattern.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
            pattern.category or "",
        ]
        if with_resolution:
            cells.append(pattern.resolution or "")
        if scores is not None:
            cells.insert(0, str(scores[index]))
        table.add_row(*cells)
    return table


def render_patterns(
    patterns: Sequence[ErrorPattern], fmt: OutputFormat, scores: Sequence[int] | None = None
) -> None:
    """Write ``errors list`` (no scores) or ``errors match`` (with scores) output."""
    if fmt.is_document:
        dumps: list[dict[str, Any]] = []
        for index, pattern in enumerate(patterns):
            dump = pattern.model_dump(mode="json")
            if scores is not None:
                dump["score"] = scores[index]
            dumps.append(dump)
        write_document(dumps, fmt)
    elif not patterns:
        return
    elif fmt is OutputFormat.RICH:
        stdout_console().print(pattern_table(patterns, scores))
    else:
        lines: list[str] = []
        for index, pattern in enumerate(patterns):
            lines += _pattern_lines(pattern, None if scores is None else scores[index])
        write_lines(lines)


def render_statistics(statistics: ErrorPatternStatistics, fmt: OutputFormat) -> None:
    """Write ``errors stats`` output in ``fmt``."""
    if fmt.is_document:
        write_document(statistics.model_dump(mode="json"), fmt)
        return
    last_seen = statistics.model_dump(mode="json")["last_seen"]
    categories = [
        (name or NO_CATEGORY, count) for name, count in sorted(statistics.by_category.items())
    ]
    if fmt is OutputFormat.RICH:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column()
        grid.add_row("patterns", str(statistics.total_patterns))
        grid.add_row("occurrences", str(statistics.total_occurrences))
        grid.add_row("last seen", _none(last_seen))
        for name, count in categories:
            grid.add_row(f"category {name}", str(count))
        parts: list[Text | Table] = [Text("error patterns", style="bold"), grid]
        if statistics.most_frequent:
            parts += [Text("most frequent", style="bold"), pattern_table(statistics.most_frequent)]
        stdout_console().print(Group(*parts))
        return
    lines = [
        f"total_patterns: {statistics.total_patterns}",
        f"total_occurrences: {statistics.total_occurrences}",
        f"last_seen: {_none(last_seen)}",
        f"by_category: {len(categories)}",
    ]
    lines += [f"  {name}: {count}" for name, count in categories]
    lines.append(f"most_frequent: {len(statistics.most_frequent)}")
    lines += [
        f"  {pattern.frequency} {pattern.pattern_id} {pattern.pattern}"
        for pattern in statistics.most_frequent
    ]
    write_lines(lines)
