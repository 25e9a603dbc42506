"""Sum up the JUnit XML reports of a test run and print one verdict line.

Usage: ``python tools/test_summary.py DIR_OR_FILE...`` (e.g. ``build/junit build/robot``).
Every ``*.xml`` file below the given folders whose root is ``<testsuite>`` or
``<testsuites>`` counts (Behave's ``TESTS-*.xml``, Robot Framework's ``--xunit`` file).
Other XML files (Robot's own ``output.xml``) are ignored.

A short table per suite is printed, then, as the very last line::

    tests: N passed, M failed

where failed counts failures and errors, and skipped tests are neither. The exit
code is 1 when something failed or when no test ran at all, else 0.
Only the standard library is used.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SUITE_TAGS = frozenset({"testsuite", "testsuites"})


@dataclass(frozen=True)
class SuiteCounts:
    """Outcome counts of one top-level test suite."""

    name: str
    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def failed(self) -> int:
        return self.failures + self.errors

    @property
    def passed(self) -> int:
        return max(self.tests - self.failed - self.skipped, 0)


def _int_attribute(element: ET.Element, name: str) -> int:
    try:
        return int(float(element.get(name, "0")))
    except ValueError:
        return 0


def _count_suite(suite: ET.Element, label: str) -> SuiteCounts:
    # Count the test cases themselves: Robot's xunit nests suites whose attributes
    # already include their children, so adding attributes would count twice.
    cases = list(suite.iter("testcase"))
    if not cases:
        return SuiteCounts(
            name=label,
            tests=_int_attribute(suite, "tests"),
            failures=_int_attribute(suite, "failures"),
            errors=_int_attribute(suite, "errors"),
            skipped=_int_attribute(suite, "skipped"),
        )
    failures = errors = skipped = 0
    for case in cases:
        if case.find("error") is not None:
            errors += 1
        elif case.find("failure") is not None:
            failures += 1
        elif case.find("skipped") is not None:
            skipped += 1
    return SuiteCounts(label, len(cases), failures, errors, skipped)


def suites_in_file(path: Path) -> list[SuiteCounts]:
    """The top-level suites of one report; empty when it is not a JUnit report."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not well-formed XML ({exc})") from exc
    if root.tag not in SUITE_TAGS:
        return []
    tops = [root] if root.tag == "testsuite" else root.findall("testsuite")
    folder = path.parent.name
    return [_count_suite(suite, f"{folder}/{suite.get('name') or path.stem}") for suite in tops]


def report_files(locations: Iterable[Path]) -> Iterator[Path]:
    """Every XML file at or below the given locations, in a stable order."""
    for location in locations:
        if location.is_file():
            yield location
        elif location.is_dir():
            yield from sorted(location.rglob("*.xml"))


def format_table(suites: Sequence[SuiteCounts]) -> list[str]:
    """One line per suite, aligned."""
    width = max([len("suite"), *(len(suite.name) for suite in suites)])
    lines = [f"{'suite':<{width}}  {'tests':>6} {'passed':>6} {'failed':>6} {'skipped':>7}"]
    lines.extend(
        f"{s.name:<{width}}  {s.tests:>6} {s.passed:>6} {s.failed:>6} {s.skipped:>7}"
        for s in suites
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table and the verdict line; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        print("usage: test_summary.py DIR_OR_FILE...", file=sys.stderr)
        return 2
    suites: list[SuiteCounts] = []
    problems: list[str] = []
    for path in report_files(Path(argument) for argument in arguments):
        try:
            suites.extend(suites_in_file(path))
        except ValueError as exc:
            problems.append(str(exc))
    for line in format_table(suites):
        print(line)
    for problem in problems:
        print(f"unreadable report: {problem}")
    if not suites:
        print(f"no JUnit reports found in: {' '.join(arguments)}")
    passed = sum(suite.passed for suite in suites)
    failed = sum(suite.failed for suite in suites) + len(problems)
    print(f"tests: {passed} passed, {failed} failed", flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
