"""A Robot Framework pre-run modifier that keeps one shard of the tests.

    robot --pythonpath tools --prerunmodifier robot_shard.Shard:0:2 robot/

keeps the 1st, 3rd, 5th... test of the whole run (in suite order) and
``Shard:1:2`` the others, so two processes side by side run every test once
(``noxfile.py``'s ``integration_tests``). Every test of ours sets up its own
database, so no test depends on another running before it.
"""

from __future__ import annotations

from robot.api import SuiteVisitor
from robot.running import TestSuite


class Shard(SuiteVisitor):
    """Keep every ``count``-th test, starting at the ``index``-th (both from 0)."""

    def __init__(self, index: str, count: str) -> None:
        self.index = int(index)
        self.count = int(count)
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")
        self.seen = 0

    def start_suite(self, suite: TestSuite) -> None:
        kept = []
        for test in suite.tests:
            if self.seen % self.count == self.index:
                kept.append(test)
            self.seen += 1
        suite.tests = kept

    def end_suite(self, suite: TestSuite) -> None:
        suite.suites = [child for child in suite.suites if child.test_count]
