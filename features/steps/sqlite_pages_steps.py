"""Steps for the order in which checkpoint objects are appended to SQLite's pages."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from typing import Any

from behave import then, when
from behave.runner import Context
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.sqlite_pages import leaf_order, record_size


def _leaf_pages(database: Any, table: str) -> list[tuple[int, int]]:
    """(unused bytes, cells) of each leaf page of ``table``, read with SQLite's dbstat."""
    with sqlite3.connect(database) as connection:
        try:
            rows = connection.execute(
                "SELECT unused, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,)
            ).fetchall()
        except sqlite3.OperationalError as exc:
            raise AssertionError(f"this SQLite has no dbstat table to read pages: {exc}") from exc
    return [(int(unused), int(cells)) for unused, cells in rows]


@when("{count:d} files of random sizes up to {kilobytes:d} KB are snapshotted into it")
def step_snapshot_random_files(context: Context, count: int, kilobytes: int) -> None:
    chance = random.Random(7)
    sandbox = context.tmp / "many-sizes"
    for number in range(count):
        folder = sandbox / f"d{number % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        size = chance.randrange(50, kilobytes * 1024)
        (folder / f"f{number}.bin").write_bytes(chance.randbytes(size))
    svc = CheckpointService(CheckpointRepository(context.own_factory))
    svc.create_workspace_snapshot("plan-pages", str(sandbox), "d1")
    svc.close()


@then("the leaf pages of its objects table are less than {percent:d}% empty")
def step_pages_full(context: Context, percent: int) -> None:
    pages = _leaf_pages(context.own_sqlite, "checkpoint_objects")
    unused = sum(u for u, _ in pages)
    assert sum(c for _, c in pages) > 0, "no object was stored"
    page_size = 4096
    share = unused / (len(pages) * page_size)
    assert share < percent / 100, f"{unused} of {len(pages) * page_size} leaf bytes are empty"


_VALUE = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=300),
    st.binary(max_size=20_000),
)


@then("the record sizes computed for random rows are the ones SQLite stores")
def step_record_sizes(context: Context) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @hypothesis_given(st.lists(st.tuples(_VALUE, _VALUE, _VALUE), min_size=1, max_size=8))
    def check(rows: list[tuple[Any, Any, Any]]) -> None:
        with sqlite3.connect(":memory:") as connection:
            connection.execute("CREATE TABLE t (a, b, c)")
            connection.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
            stored = connection.execute(
                "SELECT sum(payload) FROM dbstat WHERE name = 't'"
            ).fetchone()[0]
        assert stored == sum(record_size(row) for row in rows)

    check()


@then("ordering random rows for the leaf pages keeps every row exactly once")
def step_order_permutation(context: Context) -> None:
    @settings(max_examples=150, deadline=None)
    @hypothesis_given(st.lists(st.integers(min_value=1, max_value=70_000), max_size=60))
    def check(payloads: list[int]) -> None:
        rows = list(range(len(payloads)))
        ordered = leaf_order(rows, payloads, 4096)
        assert Counter(ordered) == Counter(rows)

    check()
