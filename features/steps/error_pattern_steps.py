"""Steps for error patterns: CRUD, matching, statistics, restarts, concurrency and plans."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from behave import given, then, when
from behave.runner import Context
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import TRANSACTION_CONTROL, attempt, factory, run_python, table_rows
from ulid import ULID

from cleveragents.domain.models.core.error_pattern import (
    WORD,
    ErrorPattern,
    ErrorPatternStatistics,
    ErrorPatternStore,
    brute_force_match,
    fold,
)
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.models import ErrorPatternTermModel
from cleveragents.infrastructure.database.session import create_database_engine

SEED_ID = "01HXYZ1234567890ABCDEFGHIJ"
DEFAULT_SEEN = "2024-01-01T00:00:00+00:00"
SEED_CONTEXT = "ImportError: No module named 'foo'"


def repo(context: Context) -> ErrorPatternRepository:
    if getattr(context, "error_repository", None) is None:
        context.error_repository = ErrorPatternRepository(factory(context))
    made: ErrorPatternRepository = context.error_repository
    return made


def stored(context: Context) -> dict[str, ErrorPattern]:
    """What each pattern should read back as, by id, as the scenario wrote them."""
    if not hasattr(context, "stored_patterns"):
        context.stored_patterns = {}
    patterns: dict[str, ErrorPattern] = context.stored_patterns
    return patterns


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _field_value(field: str, raw: str) -> Any:
    """A table cell as the value of an ErrorPattern field (empty cells are "not set")."""
    if field == "keywords":
        return [word.strip() for word in raw.split(",") if word.strip()]
    if field == "frequency":
        return int(raw)
    if field in ("last_seen", "first_seen"):
        return _when(raw) if raw else None
    if field == "metadata":
        return json.loads(raw) if raw else {}
    if field in ("category", "resolution"):
        return raw or None
    return raw


def pattern_from(fields: dict[str, str]) -> ErrorPattern:
    values = {key: _field_value(key, raw) for key, raw in fields.items()}
    values = {key: value for key, value in values.items() if value is not None}
    values.setdefault("last_seen", _when(DEFAULT_SEEN))
    return ErrorPattern(**values)


def _render(field: str, value: Any) -> str:
    """A field value in the form the scenarios write it."""
    if field == "keywords":
        return ",".join(value)
    if field == "metadata":
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        assert value.utcoffset() == timedelta(0), f"{field} is not UTC: {value!r}"
        return value.isoformat()
    return "" if value is None else str(value)


def _expected(field: str, raw: str) -> str:
    if field == "metadata":
        return json.dumps(json.loads(raw), sort_keys=True)
    return raw


def _ids(patterns: list[ErrorPattern]) -> str:
    return ", ".join(p.pattern_id for p in patterns)


def _split(names: str) -> list[str]:
    return [name.strip() for name in names.split(",") if name.strip()]


def _vertical(context: Context) -> dict[str, str]:
    return {row["field"]: row["value"] for row in table_rows(context)}


def _check_fields(pattern: ErrorPattern | None, expected: dict[str, str]) -> None:
    assert pattern is not None, "no such pattern"
    for field, raw in expected.items():
        found = _render(field, getattr(pattern, field))
        assert found == _expected(field, raw), f"{field}: expected {raw!r}, got {found!r}"


# --- creating and reading -----------------------------------------------------------------


@given("an error pattern repository")
def step_repository(context: Context) -> None:
    repo(context)


@given("the error patterns")
def step_given_patterns(context: Context) -> None:
    for row in table_rows(context):
        created = repo(context).create(pattern_from(row))
        stored(context)[created.pattern_id] = created


@when("I create the error pattern")
def step_create(context: Context) -> None:
    for row in table_rows(context):
        pattern = pattern_from(row)
        context.created = pattern
        context.result = repo(context).create(pattern)
        stored(context)[pattern.pattern_id] = pattern


@when("I try to create the error pattern")
def step_try_create(context: Context) -> None:
    pattern = pattern_from(table_rows(context)[0])
    attempt(context, lambda: repo(context).create(pattern))


@when('I create an error pattern "{text}" without an id or a time')
def step_create_defaults(context: Context, text: str) -> None:
    context.before = datetime.now(UTC)
    context.result = repo(context).create(ErrorPattern(pattern=text))
    context.after = datetime.now(UTC)


@given('I create an error pattern "{pattern_id}" with metadata')
@when('I create an error pattern "{pattern_id}" with metadata')
def step_create_metadata(context: Context, pattern_id: str) -> None:
    metadata = json.loads(context.text)
    pattern = ErrorPattern(pattern_id=pattern_id, pattern="E", metadata=metadata)
    repo(context).create(pattern)
    context.metadata_texts = getattr(context, "metadata_texts", {})
    context.metadata_texts[pattern_id] = context.text


@then("every error pattern reads back with exactly its metadata")
def step_metadata_exact(context: Context) -> None:
    for pattern_id, text in context.metadata_texts.items():
        got = repo(context).get(pattern_id)
        assert got is not None
        # Compare the serialised forms: 1 and 1.0, or a reordered key, would differ.
        expected = json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
        found = json.dumps(got.metadata, sort_keys=True, ensure_ascii=False)
        assert found == expected, (found, expected)
        assert got.metadata == json.loads(text)


@then("the returned error pattern is the one created")
def step_returned_created(context: Context) -> None:
    assert context.result == context.created, (context.result, context.created)


@then('error pattern "{pattern_id}" reads back equal to the one created')
def step_reads_back_created(context: Context, pattern_id: str) -> None:
    got = repo(context).get(pattern_id)
    assert got == context.created, (got, context.created)
    assert got.model_dump() == context.created.model_dump()


@then('error pattern "{pattern_id}" reads back equal to the returned one')
def step_reads_back_returned(context: Context, pattern_id: str) -> None:
    got = repo(context).get(pattern_id)
    assert got == context.result, (got, context.result)


@then('error pattern "{pattern_id}" is unchanged')
def step_unchanged(context: Context, pattern_id: str) -> None:
    got = repo(context).get(pattern_id)
    assert got == stored(context)[pattern_id], (got, stored(context)[pattern_id])


@then('getting error pattern "{pattern_id}" gives None')
def step_get_none(context: Context, pattern_id: str) -> None:
    assert repo(context).get(pattern_id) is None


@then("the error pattern count is {count:d}")
def step_count(context: Context, count: int) -> None:
    found = repo(context).count()
    assert found == count, found
    assert isinstance(found, int)


@then("the repository is an ErrorPatternStore")
def step_is_store(context: Context) -> None:
    assert isinstance(repo(context), ErrorPatternStore)


@then("the returned error pattern has a ULID as pattern_id")
def step_ulid(context: Context) -> None:
    pattern_id = context.result.pattern_id
    assert str(ULID.from_str(pattern_id)) == pattern_id, pattern_id
    assert repo(context).get(pattern_id) == context.result


@then("its last_seen is now and its first_seen equals its last_seen")
def step_defaults_now(context: Context) -> None:
    made = context.result
    assert context.before <= made.last_seen <= context.after, made.last_seen
    assert made.first_seen == made.last_seen


@then("its frequency is {frequency:d}")
def step_its_frequency(context: Context, frequency: int) -> None:
    assert context.result.frequency == frequency


@then('error pattern "{pattern_id}" has')
def step_has(context: Context, pattern_id: str) -> None:
    _check_fields(repo(context).get(pattern_id), _vertical(context))


@then("the returned error pattern has")
def step_returned_has(context: Context) -> None:
    _check_fields(context.result, _vertical(context))


# --- update and delete ----------------------------------------------------------------------


def _updated(context: Context, pattern_id: str) -> ErrorPattern:
    """The stored pattern (or a new one with this id) with the table's fields replaced."""
    current = repo(context).get(pattern_id)
    base = current.model_dump() if current is not None else {"pattern_id": pattern_id}
    for field, raw in _vertical(context).items():
        base[field] = _field_value(field, raw)
    if base.get("last_seen") is None:
        base["last_seen"] = _when(DEFAULT_SEEN)
    return ErrorPattern(**base)


@when('I update error pattern "{pattern_id}" with')
def step_update(context: Context, pattern_id: str) -> None:
    context.result = repo(context).update(_updated(context, pattern_id))
    context.error = None


@when('I try to update error pattern "{pattern_id}" with')
def step_try_update(context: Context, pattern_id: str) -> None:
    pattern = _updated(context, pattern_id)
    attempt(context, lambda: repo(context).update(pattern))


@when('I delete error pattern "{pattern_id}"')
def step_delete(context: Context, pattern_id: str) -> None:
    context.result = repo(context).delete(pattern_id)


@then("the delete result is {value}")
def step_delete_result(context: Context, value: str) -> None:
    assert context.result is {"True": True, "False": False}[value], context.result


@then('error pattern "{pattern_id}" has no index terms left')
def step_no_terms(context: Context, pattern_id: str) -> None:
    terms = ErrorPatternTermModel.__table__
    with factory(context)() as session:
        left = session.execute(
            select(func.count()).select_from(terms).where(terms.c.pattern_id == pattern_id)
        ).scalar_one()
    assert left == 0, left


# --- listing --------------------------------------------------------------------------------


@then('listing the error patterns gives "{names:Text}"')
def step_list(context: Context, names: str) -> None:
    found = repo(context).list_all()
    assert _ids(found) == ", ".join(_split(names)), _ids(found)
    for pattern in found:
        if pattern.pattern_id in stored(context):
            assert pattern == stored(context)[pattern.pattern_id]


@then('listing the error patterns with limit {limit:d} gives "{names:Text}"')
def step_list_limit(context: Context, limit: int, names: str) -> None:
    found = repo(context).list_all(limit=limit)
    assert _ids(found) == ", ".join(_split(names)), _ids(found)


@then('listing the error patterns with offset {offset:d} gives "{names:Text}"')
def step_list_offset(context: Context, offset: int, names: str) -> None:
    found = repo(context).list_all(offset=offset)
    assert _ids(found) == ", ".join(_split(names)), _ids(found)


@then('listing the error patterns with limit {limit:d} and offset {offset:d} gives "{names:Text}"')
def step_list_page(context: Context, limit: int, offset: int, names: str) -> None:
    found = repo(context).list_all(limit=limit, offset=offset)
    assert _ids(found) == ", ".join(_split(names)), _ids(found)


# --- argument checks ------------------------------------------------------------------------


def _bad_call(context: Context, call: str) -> Any:
    r = repo(context)
    long_id = "x" * 65
    p1 = stored(context).get("p1")

    def blank_copy() -> ErrorPattern:
        assert p1 is not None
        return p1.model_copy(update={"pattern": "   "})

    calls: dict[str, Callable[[], Any]] = {
        "a get of an empty id": lambda: r.get(""),
        "a get of a whitespace id": lambda: r.get("   "),
        "a get of a padded id": lambda: r.get(" p1"),
        "a get of a 65-character id": lambda: r.get(long_id),
        "a get of a number": lambda: r.get(1),
        "a get of None": lambda: r.get(None),
        "a delete of an empty id": lambda: r.delete(""),
        "a delete of a padded id": lambda: r.delete("p1 "),
        "a delete of a 65-character id": lambda: r.delete(long_id),
        "a delete of None": lambda: r.delete(None),
        "a record_occurrence of an empty id": lambda: r.record_occurrence(""),
        "a record_occurrence of a 65-character id": lambda: r.record_occurrence(long_id),
        "a record_occurrence seen at a string": lambda: r.record_occurrence(
            "p1", seen_at="2024-01-01T00:00:00"
        ),
        "a record_occurrence seen at a timestamp number": lambda: r.record_occurrence(
            "p1", seen_at=1_700_000_000
        ),
        "a record_occurrence seen at a date": lambda: r.record_occurrence(
            "p1", seen_at=date(2024, 1, 1)
        ),
        "a create of a dict": lambda: r.create({"pattern": "E", "last_seen": DEFAULT_SEEN}),
        "a create of None": lambda: r.create(None),
        "an update of a string": lambda: r.update("p1"),
        "an update of None": lambda: r.update(None),
        "a create of a pattern made blank with model_copy": lambda: r.create(
            ErrorPattern(pattern_id="p9", pattern="E").model_copy(update={"pattern": " "})
        ),
        "a create of a pattern given bad keywords by model_copy": lambda: r.create(
            ErrorPattern(pattern_id="p9", pattern="E").model_copy(
                update={"keywords": ["two words"]}
            )
        ),
        "a create of a pattern built with model_construct": lambda: r.create(
            ErrorPattern.model_construct(
                pattern_id="p9",
                pattern="",
                keywords=[],
                frequency=1,
                last_seen=_when(DEFAULT_SEEN),
                first_seen=_when(DEFAULT_SEEN),
                category=None,
                resolution=None,
                metadata={},
            )
        ),
        "an update made blank with model_copy": lambda: r.update(blank_copy()),
        "a list with limit -1": lambda: r.list_all(limit=-1),
        "a list with offset -1": lambda: r.list_all(offset=-1),
        'a list with limit "2"': lambda: r.list_all(limit="2"),
        "a list with limit 2.0": lambda: r.list_all(limit=2.0),
        "a list with limit True": lambda: r.list_all(limit=True),
        "a list with offset None": lambda: r.list_all(offset=None),
        "a list with offset False": lambda: r.list_all(offset=False),
        "a match with limit -1": lambda: r.match_context("ImportError", limit=-1),
        "a match with limit True": lambda: r.match_context("ImportError", limit=True),
        "a match with limit None": lambda: r.match_context("ImportError", limit=None),
        "a match with limit 1.5": lambda: r.match_context("ImportError", limit=1.5),
        "a match of None": lambda: r.match_context(None),
        "a match of bytes": lambda: r.match_context(b"ImportError"),
        "a match of a list of words": lambda: r.match_context(["ImportError"]),
        "a match of a text holding NUL": lambda: r.match_context("Import\x00Error"),
        "a match of a text holding a lone surrogate": lambda: r.match_context("Import\ud800"),
    }
    return calls[call]()


@when("I try to call the error pattern repository with {call}")
def step_bad_call(context: Context, call: str) -> None:
    attempt(context, lambda: _bad_call(context, call))


@when("I try to build an ErrorPatternRepository with {what} as session factory")
def step_bad_factory(context: Context, what: str) -> None:
    value: object = {"None": None, "a string": "sqlite://", "a number": 3}[what]
    attempt(context, lambda: ErrorPatternRepository(value))  # deliberately not a factory


def _failure_name(action: Callable[[], Any]) -> str | None:
    """The names of the classes of what ``action`` raised, or None when it succeeded."""
    try:
        action()
    except Exception as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return " ".join(cls.__name__ for cls in type(exc).__mro__)
    return None


@then("each of these calls to the error pattern repository fails and changes nothing")
def step_bad_calls(context: Context) -> None:
    wrong: list[str] = []
    for row in table_rows(context):
        raised = _failure_name(lambda row=row: _bad_call(context, row["call"]))
        if raised is None or row["error"] not in raised.split():
            wrong.append(f"{row['call']}: expected {row['error']}, got {raised or 'success'}")
        if repo(context).get("p1") != stored(context)["p1"] or repo(context).count() != 1:
            wrong.append(f"{row['call']}: changed the database")
    assert not wrong, "\n".join(wrong)


@then("building an error pattern fails with ValidationError for each of these fields")
def step_bad_models(context: Context) -> None:
    wrong: list[str] = []
    for row in table_rows(context):
        field, value = row["field"], row["value"]
        fields: dict[str, Any] = {"pattern_id": "p1", "pattern": "ImportError"}
        fields["last_seen"] = _when(DEFAULT_SEEN)
        fields[field] = "x" * 65 if value == "65 characters" else json.loads(value)
        raised = _failure_name(lambda fields=fields: ErrorPattern(**fields))
        if raised is None or "ValidationError" not in raised.split():
            wrong.append(f"{field} = {value}: got {raised or 'success'}")
    assert not wrong, "\n".join(wrong)


# --- occurrences ----------------------------------------------------------------------------


@given('I record an occurrence of "{pattern_id}" seen at "{seen}"')
@when('I record an occurrence of "{pattern_id}" seen at "{seen}"')
def step_record_at(context: Context, pattern_id: str, seen: str) -> None:
    context.result = repo(context).record_occurrence(pattern_id, seen_at=_when(seen))


@when('I record an occurrence of "{pattern_id}" now')
def step_record_now(context: Context, pattern_id: str) -> None:
    context.before = datetime.now(UTC)
    context.result = repo(context).record_occurrence(pattern_id)
    context.after = datetime.now(UTC)


@when('I try to record an occurrence of "{pattern_id}" now')
def step_try_record_now(context: Context, pattern_id: str) -> None:
    attempt(context, lambda: repo(context).record_occurrence(pattern_id))


@then(
    'the returned error pattern has frequency {frequency:d}, first_seen "{first}" and last_seen "{last}"'
)
def step_returned_counters(context: Context, frequency: int, first: str, last: str) -> None:
    _check_fields(
        context.result, {"frequency": str(frequency), "first_seen": first, "last_seen": last}
    )


@then("the returned error pattern has frequency {frequency:d} and a last_seen of now")
def step_returned_now(context: Context, frequency: int) -> None:
    made = context.result
    assert made.frequency == frequency, made.frequency
    assert context.before <= made.last_seen <= context.after, made.last_seen
    assert made.last_seen.utcoffset() == timedelta(0)


# --- statistics -----------------------------------------------------------------------------


def _statistics(context: Context) -> ErrorPatternStatistics:
    made = repo(context).statistics()
    assert isinstance(made, ErrorPatternStatistics)
    return made


@given("{count:d} error patterns numbered from 1 with their number as frequency")
def step_numbered(context: Context, count: int) -> None:
    for number in range(1, count + 1):
        made = repo(context).create(
            ErrorPattern(
                pattern_id=f"f{number:02d}",
                pattern=f"Error number {number}",
                frequency=number,
                last_seen=_when(DEFAULT_SEEN),
            )
        )
        stored(context)[made.pattern_id] = made


@then("the statistics count {patterns:d} patterns and {occurrences:d} occurrences")
def step_stat_totals(context: Context, patterns: int, occurrences: int) -> None:
    made = _statistics(context)
    assert made.total_patterns == patterns, made.total_patterns
    assert made.total_occurrences == occurrences, made.total_occurrences


@then('the statistics\' most frequent patterns are "{names:Text}"')
def step_stat_most(context: Context, names: str) -> None:
    found = _statistics(context).most_frequent
    assert _ids(found) == ", ".join(_split(names)), _ids(found)


@then("the statistics' most frequent patterns are equal to the stored ones")
def step_stat_most_equal(context: Context) -> None:
    for pattern in _statistics(context).most_frequent:
        assert pattern == stored(context)[pattern.pattern_id], pattern


@then("the statistics' patterns per category are {categories}")
def step_stat_categories(context: Context, categories: str) -> None:
    found = _statistics(context).by_category
    assert found == json.loads(categories), found


@then('the statistics\' last_seen is "{when}"')
def step_stat_last_seen(context: Context, when: str) -> None:
    found = _statistics(context).last_seen
    assert found is not None
    assert _render("last_seen", found) == when, found


@then("the statistics' last_seen is none")
def step_stat_last_seen_none(context: Context) -> None:
    made = _statistics(context)
    assert made.last_seen is None, made.last_seen
    assert made.most_frequent == [] and made.by_category == {}


# --- the seed: two processes ----------------------------------------------------------------

_SEED_CREATE = """
import json, sys, warnings
from datetime import datetime
warnings.simplefilter("ignore", DeprecationWarning)  # datetime.utcnow, as the seed has it
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.domain.models.core.error_pattern import ErrorPattern

pattern = ErrorPattern(
    pattern_id=sys.argv[2],
    pattern="ImportError",
    keywords=["import", "module"],
    frequency=1,
    last_seen=datetime.utcnow(),
)
repo1 = ErrorPatternRepository(create_session_factory(sys.argv[1]))
created = repo1.create(pattern)
print(json.dumps({
    "naive": pattern.last_seen.replace(tzinfo=None).isoformat(),
    "pattern": pattern.model_dump(mode="json"),
    "created": created.model_dump(mode="json"),
    "same": created == pattern,
}))
"""

_SEED_READ = """
import json, sys
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory

repo2 = ErrorPatternRepository(create_session_factory(sys.argv[1]))
got = repo2.get(sys.argv[2])
print(json.dumps({
    "got": None if got is None else got.model_dump(mode="json"),
    "matched": [p.model_dump(mode="json") for p in repo2.match_context(sys.argv[3])],
    "count": repo2.count(),
    "listed": [p.pattern_id for p in repo2.list_all()],
    "statistics": repo2.statistics().model_dump(mode="json"),
}))
"""


@when(
    'a process creates the seed\'s error pattern "{pattern_id}" with last_seen = datetime.utcnow() and exits'
)
def step_seed_create(context: Context, pattern_id: str) -> None:
    assert pattern_id == SEED_ID, "the seed's id, which is not a valid ULID, must be accepted"
    context.seed_written = run_python(_SEED_CREATE, context.url, pattern_id)
    assert context.seed_written["same"] is True, context.seed_written
    context.seed = ErrorPattern.model_validate(context.seed_written["created"])


def _seed_read(context: Context) -> dict[str, Any]:
    if getattr(context, "seed_read", None) is None:
        context.seed_read = run_python(
            _SEED_READ, context.url, context.seed.pattern_id, SEED_CONTEXT
        )
    read: dict[str, Any] = context.seed_read
    return read


@then('a new process gets error pattern "{pattern_id}" back equal to the one created')
def step_seed_get(context: Context, pattern_id: str) -> None:
    got = _seed_read(context)["got"]
    assert got is not None, "the new process found no pattern: it was not persisted"
    assert ErrorPattern.model_validate(got) == context.seed, (got, context.seed)
    assert got == context.seed_written["created"]
    assert got["pattern_id"] == pattern_id
    assert got["keywords"] == ["import", "module"] and got["frequency"] == 1


@then("the naive last_seen was taken as UTC to the microsecond")
def step_seed_utc(context: Context) -> None:
    naive = datetime.fromisoformat(context.seed_written["naive"])
    got = ErrorPattern.model_validate(_seed_read(context)["got"])
    assert got.last_seen == naive.replace(tzinfo=UTC), (got.last_seen, naive)
    assert got.last_seen.utcoffset() == timedelta(0)
    assert got.first_seen == got.last_seen
    assert abs(datetime.now(UTC) - got.last_seen) < timedelta(minutes=5), got.last_seen


@then('that new process matches it from the context "{text}"')
def step_seed_match(context: Context, text: str) -> None:
    assert text == SEED_CONTEXT
    matched = _seed_read(context)["matched"]
    assert [ErrorPattern.model_validate(m) for m in matched] == [context.seed], matched


@then("that new process counts {count:d} error pattern and sees it in the statistics")
def step_seed_statistics(context: Context, count: int) -> None:
    read = _seed_read(context)
    assert read["count"] == count, read["count"]
    assert read["listed"] == [context.seed.pattern_id], read["listed"]
    statistics = ErrorPatternStatistics.model_validate(read["statistics"])
    assert statistics.total_patterns == count
    assert statistics.total_occurrences == context.seed.frequency
    assert statistics.most_frequent == [context.seed], statistics.most_frequent
    assert statistics.by_category == {"": 1}, statistics.by_category
    assert statistics.last_seen == context.seed.last_seen


@then('this process reads error pattern "{pattern_id}" back equal to the one created')
def step_seed_here(context: Context, pattern_id: str) -> None:
    assert repo(context).get(pattern_id) == context.seed
    assert repo(context).match_context(SEED_CONTEXT) == [context.seed]


# --- several processes ----------------------------------------------------------------------

_OCCURRENCES = """
import json, sys
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory

url, pattern_id, count = sys.argv[1:4]
repo = ErrorPatternRepository(create_session_factory(url))
seen = [repo.record_occurrence(pattern_id).frequency for _ in range(int(count))]
# Each call sees its own increment: the frequencies one process reads strictly increase.
print(json.dumps({"count": len(seen), "increasing": all(a < b for a, b in zip(seen, seen[1:]))}))
"""

_UPDATES = """
import json, sys
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.session import create_session_factory

url, pattern_id, count = sys.argv[1:4]
repo = ErrorPatternRepository(create_session_factory(url))
for i in range(int(count)):
    current = repo.get(pattern_id)  # a stale frequency: update must not write it back
    repo.update(current.model_copy(update={"resolution": f"try {i}"}))
print(json.dumps({"count": int(count), "increasing": True}))
"""


def _run_processes(context: Context, jobs: list[tuple[str, str]], pattern_id: str) -> None:
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [
            pool.submit(run_python, code, context.url, pattern_id, count) for code, count in jobs
        ]
        results = [future.result() for future in futures]
    for (_, count), result in zip(jobs, results, strict=True):
        assert result == {"count": int(count), "increasing": True}, result


@when('{workers:d} processes each record {count:d} occurrences of "{pattern_id}"')
def step_concurrent_occurrences(
    context: Context, workers: int, count: int, pattern_id: str
) -> None:
    _run_processes(context, [(_OCCURRENCES, str(count))] * workers, pattern_id)


@when(
    '{workers:d} processes each record {count:d} occurrences of "{pattern_id}" while another process updates its resolution {updates:d} times'
)
def step_concurrent_with_updates(
    context: Context, workers: int, count: int, pattern_id: str, updates: int
) -> None:
    jobs = [(_OCCURRENCES, str(count))] * workers + [(_UPDATES, str(updates))]
    _run_processes(context, jobs, pattern_id)


# --- commits that fail ----------------------------------------------------------------------


class DriverError(Exception):
    """Stands in for the DB-API exception a driver raises when a COMMIT fails."""


class _FailingSession(Session):
    """A session whose commit asks its :class:`FailingCommits` owner whether to fail."""

    owner: FailingCommits

    def commit(self) -> None:
        owner = self.owner
        if len(owner.raised) < owner.times:
            if owner.take_effect:
                super().commit()
            failure = sa_exc.OperationalError("COMMIT", {}, DriverError(owner.message))
            owner.raised.append(failure)
            raise failure
        super().commit()


class FailingCommits:
    """A session factory whose sessions' first ``times`` commits raise ``message``.

    With ``take_effect`` the real COMMIT runs first, as when a server commits and
    the connection drops before the client hears of it.
    """

    def __init__(
        self, inner: sessionmaker[Session], message: str, times: int, take_effect: bool
    ) -> None:
        self.make = sessionmaker(
            bind=inner.kw["bind"], expire_on_commit=False, class_=_FailingSession
        )
        self.message = message
        self.times = times
        self.take_effect = take_effect
        self.sessions = 0
        self.raised: list[BaseException] = []

    def __call__(self) -> Session:
        self.sessions += 1
        session = self.make()
        session.owner = self
        return session


@given('a session factory whose first {times:d} commits fail with "{message}"')
def step_failing_commits(context: Context, times: int, message: str) -> None:
    context.failing = FailingCommits(factory(context), message, times, take_effect=False)


@given('a session factory whose first {times:d} commits take effect and then fail with "{message}"')
def step_failing_after_commit(context: Context, times: int, message: str) -> None:
    context.failing = FailingCommits(factory(context), message, times, take_effect=True)


@when('I try to record an occurrence of "{pattern_id}" through that session factory')
def step_record_failing(context: Context, pattern_id: str) -> None:
    failing = ErrorPatternRepository(context.failing)
    attempt(context, lambda: failing.record_occurrence(pattern_id))


@when(
    'I try to update error pattern "{pattern_id}" through that session factory with resolution "{resolution}"'
)
def step_update_failing(context: Context, pattern_id: str, resolution: str) -> None:
    failing = ErrorPatternRepository(context.failing)
    current = repo(context).get(pattern_id)
    assert current is not None
    attempt(context, lambda: failing.update(current.model_copy(update={"resolution": resolution})))


@then("the OperationalError raised by the commit is its cause")
def step_commit_cause(context: Context) -> None:
    assert context.failing.raised, "the commit never failed"
    assert context.error.__cause__ is context.failing.raised[-1], context.error.__cause__


@then("that session factory opened {count:d} session")
@then("that session factory opened {count:d} sessions")
def step_sessions_opened(context: Context, count: int) -> None:
    assert context.failing.sessions == count, context.failing.sessions


class _CommitFailures:
    """What the driver connections of a scenario's database do at COMMIT.

    Unarmed (``times == 0``) they commit normally; armed, their next ``times``
    commits raise the driver's own ``OperationalError`` with ``message``, after
    really committing when ``take_effect``. The library sees exactly what a
    connection lost during COMMIT looks like, whichever path it takes.
    """

    def __init__(self) -> None:
        self.times = 0
        self.take_effect = False
        self.message = ""
        self.raised: list[BaseException] = []

    def commit(self, real_commit: Callable[[], None], error: type[Exception]) -> None:
        if len(self.raised) < self.times:
            if self.take_effect:
                real_commit()
            failure = error(self.message)
            self.raised.append(failure)
            raise failure
        real_commit()


_COMMITS = _CommitFailures()


class _FailingSqliteConnection(sqlite3.Connection):
    def commit(self) -> None:
        _COMMITS.commit(super().commit, sqlite3.OperationalError)


def _failing_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """``do_connect``: make the engine's driver connections the failing kind."""
    if dialect.name == "sqlite":
        cparams["factory"] = _FailingSqliteConnection
        return None
    import psycopg

    class FailingPostgresConnection(psycopg.Connection[Any]):
        def commit(self) -> None:
            _COMMITS.commit(super().commit, psycopg.OperationalError)

    return FailingPostgresConnection.connect(*cargs, **cparams)


@given("a database whose driver connections can be made to fail at COMMIT")
def step_failing_database(context: Context) -> None:
    global _COMMITS
    _COMMITS = _CommitFailures()
    engine = create_database_engine(context.url)
    event.listen(engine, "do_connect", _failing_connect)
    context.cleanups.append(engine.dispose)
    migrations.upgrade_engine(engine, "head")
    # A plain sessionmaker, as create_session_factory makes: the library picks its path.
    context.session_factory = sessionmaker(bind=engine, expire_on_commit=False)
    context.error_repository = None


@when('the next {times:d} commits fail with "{message}"')
def step_arm_failures(context: Context, times: int, message: str) -> None:
    _COMMITS.times, _COMMITS.take_effect, _COMMITS.message = times, False, message


@when('the next {times:d} commits take effect and then fail with "{message}"')
def step_arm_failures_after(context: Context, times: int, message: str) -> None:
    _COMMITS.times, _COMMITS.take_effect, _COMMITS.message = times, True, message


@then("{count:d} commits failed, and any error raised has the last of them at its root")
def step_commits_failed(context: Context, count: int) -> None:
    assert len(_COMMITS.raised) == count, _COMMITS.raised
    if context.error is not None:
        root: BaseException = context.error
        while root.__cause__ is not None:
            root = root.__cause__
        assert root is _COMMITS.raised[-1], (root, _COMMITS.raised)


# --- matching -------------------------------------------------------------------------------


def _match(context: Context, text: str, limit: int | None = None) -> list[ErrorPattern]:
    r = repo(context)
    found = r.match_context(text) if limit is None else r.match_context(text, limit=limit)
    oracle = brute_force_match(r.list_all(), text, limit=10 if limit is None else limit)
    assert _ids(found) == _ids(oracle), f"repository {_ids(found)!r}, oracle {_ids(oracle)!r}"
    context.matches = found
    return found


@then('matching "{text:Text}" gives "{names:Text}"')
def step_match(context: Context, text: str, names: str) -> None:
    found = _match(context, text)
    assert _ids(found) == ", ".join(_split(names)), f"{text!r} matched {_ids(found)!r}"


@then('matching "{text:Text}" with limit {limit:d} gives "{names:Text}"')
def step_match_limit(context: Context, text: str, limit: int, names: str) -> None:
    found = _match(context, text, limit)
    assert _ids(found) == ", ".join(_split(names)), f"{text!r} matched {_ids(found)!r}"


@then("the matches are equal to the stored patterns")
def step_matches_equal(context: Context) -> None:
    assert context.matches
    for pattern in context.matches:
        assert pattern == stored(context)[pattern.pattern_id], pattern


@then("a pattern with the keyword is matched by the context as the table says")
def step_camel_table(context: Context) -> None:
    r = repo(context)
    wrong: list[str] = []
    for row in table_rows(context):
        r.create(ErrorPattern(pattern_id="k", pattern="Q!", keywords=[row["keyword"]]))
        found = _ids(r.match_context(row["context"]))
        if found != row["result"]:
            wrong.append(
                f"{row['keyword']} in {row['context']!r}: {found!r}, not {row['result']!r}"
            )
        assert r.delete("k")
    assert not wrong, "\n".join(wrong)


@then(
    "each of these pattern texts is found after 0 to {before:d} characters and before 0 to {after:d}, and not with its last character changed"
)
def step_offsets_table(context: Context, before: int, after: int) -> None:
    r = repo(context)
    wrong: list[str] = []
    for row in table_rows(context):
        text = row["pattern"]
        r.create(ErrorPattern(pattern_id="p", pattern=text))
        plain = [
            filler * lead + text + filler * tail
            for filler in ("Q", "\u00e9")
            for lead in range(before + 1)
            for tail in range(after + 1)
        ]
        # The same contexts with every letter's case flipped, for the "Q" filler.
        flipped = [around.swapcase() for around in plain[: len(plain) // 2]]
        contexts = plain + flipped
        for around in contexts:
            if _ids(r.match_context(around)) != "p":
                wrong.append(f"{text!r} not found in {around!r}")
        if r.match_context(text[:-1] + "#"):
            wrong.append(f"{text!r} found in {text[:-1] + '#'!r}")
        assert r.delete("p")
    assert not wrong, "\n".join(wrong[:20])


@given("the database orders pattern ids linguistically where it can")
def step_linguistic_ids(context: Context) -> None:
    """PostgreSQL: give the id columns an ICU collation, as an en_US database would have.

    SQLite always compares text by code point: there is nothing to change.
    """
    engine = factory(context).kw["bind"]
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        icu = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_collation WHERE collname = 'en-x-icu'"
        ).scalar_one()
        assert icu == 1, "this PostgreSQL has no ICU collation en-x-icu to test with"
        for table in ("error_pattern_terms", "error_patterns"):
            connection.exec_driver_sql(
                f'ALTER TABLE {table} ALTER COLUMN pattern_id TYPE varchar(64) COLLATE "en-x-icu"'
            )
        ordered = connection.exec_driver_sql(
            "SELECT x FROM (VALUES ('a'), ('B'), ('_z'), ('-y')) AS v(x) "
            'ORDER BY x COLLATE "en-x-icu"'
        ).scalars()
        assert list(ordered) != ["-y", "B", "_z", "a"], "the collation is not linguistic"


# --- the property: the index agrees with the brute-force rule --------------------------------

_T0 = datetime(2024, 1, 1, tzinfo=UTC)
_TIMES = [
    _T0,
    _T0 + timedelta(microseconds=1),
    _T0 + timedelta(days=3),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
# Letters whose case folding is not one character to one (ß → ss, İ → i̇, ﬁ → fi), Greek
# sigmas, digits, the underscore and punctuation that ends words.
_CHARS = "aAbBeEiIoOrRtTxXßẞİ\u0131Σ\u03c3ςﬁé0129_ .:'-()/😀"
_PIECES = [
    "Import",
    "Error",
    "ImportError",
    "HTTPError",
    "OSError",
    "module",
    "named",
    "foo",
    "Timeout",
    "key_error",
    "Straße",
    "ΟΔΟΣ",
    "x",
    "ab",
    ": ",
    "'",
    ".",
]
_KEYWORDS = [
    "import",
    "error",
    "importerror",
    "http",
    "httperror",
    "os",
    "module",
    "named",
    "foo",
    "timeout",
    "key_error",
    "strasse",
    "οδοσ",
    "x",
    "ab",
]
_piece = st.one_of(st.sampled_from(_PIECES), st.text(alphabet=_CHARS, min_size=1, max_size=4))
_text = st.lists(_piece, min_size=1, max_size=4).map("".join).filter(lambda s: bool(s.strip()))
_keyword = st.one_of(
    st.sampled_from(_KEYWORDS), st.text(alphabet="abexXéß_19İ", min_size=1, max_size=3)
).filter(lambda k: WORD.fullmatch(fold(k)) is not None)
_pattern_fields = st.fixed_dictionaries(
    {
        "pattern": _text,
        "keywords": st.lists(_keyword, max_size=3),
        "frequency": st.integers(0, 1),
        "last_seen": st.sampled_from(_TIMES),
    }
)
_ids_strategy = st.lists(
    st.text(alphabet="aBz_-É09", min_size=1, max_size=3), min_size=1, max_size=8, unique=True
)


def _context_from(data: st.DataObject, patterns: list[ErrorPattern]) -> str:
    """A context built partly from pieces of the stored patterns, so that matches happen."""
    parts: list[str] = []
    for _ in range(data.draw(st.integers(0, 5))):
        kind = data.draw(st.sampled_from(["text", "slice", "keyword", "case", "random"]))
        source = data.draw(st.sampled_from(patterns))
        if kind == "text":
            parts.append(source.pattern)
        elif kind == "slice":
            start = data.draw(st.integers(0, len(source.pattern)))
            end = data.draw(st.integers(start, len(source.pattern)))
            parts.append(source.pattern[start:end])
        elif kind == "keyword" and source.keywords:
            parts.append(data.draw(st.sampled_from(source.keywords)))
        elif kind == "case":
            parts.append(
                data.draw(st.sampled_from([str.upper, str.lower, str.swapcase]))(source.pattern)
            )
        else:
            parts.append(data.draw(_piece))
        parts.append(data.draw(st.sampled_from(["", " ", ":", "_", "\n", "'", "x", "E"])))
    return "".join(parts)


@then("for random patterns and contexts match_context gives what brute_force_match gives")
def step_property(context: Context) -> None:
    r = repo(context)
    checked = {"examples": 0, "matches": 0}

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @hypothesis_given(_ids_strategy, st.data())
    def check(pattern_ids: list[str], data: st.DataObject) -> None:
        for old in r.list_all():
            assert r.delete(old.pattern_id)
        made = [
            r.create(ErrorPattern(pattern_id=pattern_id, **data.draw(_pattern_fields)))
            for pattern_id in pattern_ids
        ]
        everything = r.list_all()
        assert sorted(p.pattern_id for p in everything) == sorted(pattern_ids)
        for _ in range(3):
            text = _context_from(data, made)
            limit = data.draw(st.integers(0, 10))
            found = r.match_context(text, limit=limit)
            oracle = brute_force_match(everything, text, limit=limit)
            assert [p.pattern_id for p in found] == [p.pattern_id for p in oracle], (
                text,
                limit,
                [p.pattern_id for p in found],
                [p.pattern_id for p in oracle],
            )
            assert found == oracle
            checked["matches"] += len(found)
        checked["examples"] += 1

    check()
    assert checked["examples"] >= 60, checked
    assert checked["matches"] > 0, "no example matched anything: the property is vacuous"


# --- what match_context asks the database ----------------------------------------------------

_KIND_TEXTS = [
    "Err{i}Code",  # 8+ characters, no interior word: 4-grams every 4 or 8 positions
    "x.{i}.y",  # an interior word
    "q{d}",  # shorter than a gram
    "Fail{i}",  # 5 to 7 characters: 4-grams every 2 or 4 positions
    "ab{d}c",  # 4 characters: one 4-gram at every position
    "ImportError{i}",
]
_PLAN_CONTEXT = "ImportError7: Fail3 abc ab4c x.5.y q2 kw8 Err9Code common kw250"


@given("{count:d} generated error patterns")
@given("{count:d} more generated error patterns")
def step_generated(context: Context, count: int) -> None:
    start = getattr(context, "generated", 0)
    for i in range(start, start + count):
        template = _KIND_TEXTS[i % len(_KIND_TEXTS)]
        keywords = [f"kw{i}", "common"] if i % 3 == 0 else [f"kw{i}"]
        repo(context).create(
            ErrorPattern(
                pattern_id=f"g{i:04d}",
                pattern=template.format(i=i, d=i % 10),
                keywords=keywords,
                frequency=i % 5,
                last_seen=_T0 + timedelta(seconds=i % 7),
            )
        )
    context.generated = start + count
    assert repo(context).count() == context.generated


@when("I match a context touching every kind of index term while capturing its SQL")
def step_capture(context: Context) -> None:
    engine = factory(context).kw["bind"]
    statements: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        context.matches = repo(context).match_context(_PLAN_CONTEXT, limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    context.queries = [
        (statement, parameters)
        for statement, parameters in statements
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL)
    ]


@then("match_context issued {count:d} queries")
def step_query_count(context: Context, count: int) -> None:
    assert len(context.queries) == count, [q for q, _ in context.queries]


@then("match_context found what brute_force_match finds")
def step_found_oracle(context: Context) -> None:
    oracle = brute_force_match(repo(context).list_all(), _PLAN_CONTEXT, limit=10)
    assert context.matches == oracle, (_ids(context.matches), _ids(oracle))
    assert len(context.matches) >= 5, _ids(context.matches)


@then("the query plans of match_context read the error pattern tables through indexes only")
def step_query_plans(context: Context) -> None:
    engine = factory(context).kw["bind"]
    postgres = engine.dialect.name == "postgresql"
    lines: list[str] = []
    with engine.connect() as connection:
        if postgres:
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in context.queries:
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).fetchall()
            lines.extend(str(row[0] if postgres else row[-1]) for row in rows)
        connection.rollback()
    plan = "\n".join(lines)
    if postgres:
        assert "Seq Scan on error_pattern" not in plan, plan
        assert "Index" in plan and "error_pattern_terms" in plan, plan
        assert "error_patterns" in plan, plan
        return
    touching = [line for line in lines if "error_pattern" in line]
    assert any("error_pattern_terms" in line for line in touching), plan
    assert any("error_patterns " in line for line in touching), plan
    for line in touching:
        assert line.startswith("SEARCH "), f"not an index search: {line}\n{plan}"
        assert " USING " in line and ("PRIMARY KEY" in line or "INDEX" in line), line
    # The term lookups seek (kind, term), not every term of a kind; patterns by id.
    assert sum("(kind=? AND term=?)" in line for line in touching) >= 2, plan
    assert all(
        "(kind=? AND term=?)" in line or line.endswith("(kind=?)")
        for line in touching
        if "error_pattern_terms" in line
    ), plan
    assert all("(pattern_id=?)" in line for line in touching if "error_patterns " in line), plan
