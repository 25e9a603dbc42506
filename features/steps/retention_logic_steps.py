"""Steps for retention's pure logic (features/retention_logic.feature): no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from behave import then
from behave.runner import Context
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from cleveragents.domain.retention import (
    RetentionLimits,
    parse_duration,
    parse_size,
    removal_count,
)

_NOW = datetime(2026, 12, 7, tzinfo=UTC)


@then('the size "{text}" is {count:d} bytes')
def step_size(context: Context, text: str, count: int) -> None:
    assert parse_size(text) == count, parse_size(text)


@then('the duration "{text}" is {seconds:d} seconds')
def step_duration(context: Context, text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def _quoted(text: str) -> list[str]:
    return [item.strip().strip('"') for item in text.split('", "')]


@then("each of these sizes is refused: {texts}")
def step_bad_sizes(context: Context, texts: str) -> None:
    for text in _quoted(texts):
        try:
            parse_size(text)
        except ValueError as exc:
            assert repr(text) in str(exc), exc
        else:
            raise AssertionError(f"{text!r} was taken as a size")


@then("each of these durations is refused: {texts}")
def step_bad_durations(context: Context, texts: str) -> None:
    for text in _quoted(texts):
        try:
            parse_duration(text)
        except ValueError as exc:
            assert repr(text) in str(exc), exc
        else:
            raise AssertionError(f"{text!r} was taken as a duration")


def _holds(removed: int, ages: list[int], own: list[int], limits: RetentionLimits) -> bool:
    """Every limit holds once the first ``removed`` are gone (brute force, by definition)."""
    total = len(ages)
    kept = range(removed, total)
    if limits.keep_last is not None and len(kept) > limits.keep_last:
        return False
    if limits.older_than is not None and any(
        ages[index] > limits.older_than.total_seconds() for index in kept if index != total - 1
    ):
        return False
    return limits.max_bytes is None or sum(own[removed:]) <= limits.max_bytes


@then(
    "for random checkpoint times, byte counts and limits the removal is the smallest that "
    "satisfies them, never the newest but for keep_last"
)
def step_removal_property(context: Context) -> None:
    limit_values = st.tuples(
        st.none() | st.integers(0, 8),
        st.none() | st.integers(0, 100),
        st.none() | st.integers(0, 400),
    ).filter(lambda limits: any(value is not None for value in limits))

    @settings(max_examples=400, deadline=None)
    @hypothesis_given(
        st.lists(st.tuples(st.integers(0, 100), st.integers(0, 60)), max_size=8), limit_values
    )
    def check(rows: list[tuple[int, int]], values: tuple[Any, Any, Any]) -> None:
        ages = [age for age, _ in rows]  # seconds before now
        own = [size for _, size in rows]  # bytes each checkpoint holds alone
        keep_last, older, max_bytes = values
        limits = RetentionLimits(
            keep_last, None if older is None else timedelta(seconds=older), max_bytes
        )
        created = [_NOW - timedelta(seconds=age) for age in ages]
        removed = removal_count(created, limits, _NOW, lambda k: sum(own[k:]))
        total = len(rows)
        floor = total if limits.keep_last == 0 else max(total - 1, 0)
        assert 0 <= removed <= floor, (removed, rows, limits)
        # The smallest count within reach that satisfies every limit; if none is
        # within reach (only the newest left), as many as may go.
        expected = next((k for k in range(floor + 1) if _holds(k, ages, own, limits)), floor)
        assert removed == expected, (removed, expected, rows, limits)

    check()


@then("retention limits refuse no limit, negative numbers, booleans and negative durations")
def step_bad_limits(context: Context) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"keep_last": -1},
        {"max_bytes": -1},
        {"keep_last": True},
        {"max_bytes": False},
        {"keep_last": "2"},
        {"older_than": timedelta(seconds=-1)},
        {"older_than": 7},
    ]
    for kwargs in bad:
        try:
            RetentionLimits(**kwargs)
        except ValueError:
            continue
        raise AssertionError(f"RetentionLimits({kwargs}) was accepted")
    assert RetentionLimits(older_than=timedelta(weeks=10**6)).older_than is not None
    huge = RetentionLimits(older_than=timedelta(days=999_999_999))
    assert removal_count([_NOW], huge, _NOW) == 0
