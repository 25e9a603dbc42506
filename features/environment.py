"""Backend selection for the Behave contract suite.

``CLEVERAGENTS_TEST_BACKEND`` picks where every scenario runs: ``sqlite-memory``
(default), ``sqlite-file`` or ``postgres`` (a real server whose URL is in
``CLEVERAGENTS_TEST_POSTGRES_URL``; a missing URL fails the run, it never skips).
Each scenario gets a fresh, empty database.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from behave.model import Scenario
from behave.runner import Context

sys.path.insert(0, str(Path(__file__).parent / "steps"))
sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))  # mixed_workload

from support import backends


def before_all(context: Context) -> None:
    context.backend = os.environ.get("CLEVERAGENTS_TEST_BACKEND", "sqlite-memory")
    if context.backend not in backends.BACKENDS:
        raise SystemExit(f"unknown CLEVERAGENTS_TEST_BACKEND {context.backend!r}")
    if context.backend == "postgres":
        backends.postgres_admin_url()  # fails loudly when no server is configured


def before_scenario(context: Context, scenario: Scenario) -> None:
    if "persistent" in scenario.effective_tags and context.backend == "sqlite-memory":
        raise AssertionError(
            "scenarios tagged @persistent need a database that outlives a process: "
            "run them with CLEVERAGENTS_TEST_BACKEND=sqlite-file or postgres "
            "(the sqlite-memory run excludes them with --tags='not @persistent')"
        )
    context.tmp = Path(tempfile.mkdtemp(prefix="cleveragents-test-"))
    context.cleanups: list[Any] = []
    if "unit" in scenario.effective_tags:
        context.database = None  # pure logic: no database at all
        return
    context.database = backends.fresh_database(context.backend, context.tmp)
    context.url = context.database.url


def after_scenario(context: Context, scenario: Scenario) -> None:
    for cleanup in reversed(getattr(context, "cleanups", [])):
        cleanup()
    database = getattr(context, "database", None)
    if database is not None:
        database.drop()
    shutil.rmtree(getattr(context, "tmp", ""), ignore_errors=True)
