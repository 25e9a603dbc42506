"""Hostile input: hypothesis-generated models and arguments for every public method.

Each property draws hostile values (empty, whitespace, 1 MB strings, NUL, lone
surrogates, deep JSON, NaN/inf, huge ints, naive and odd-offset datetimes,
SQL-looking text, Unicode normalisation variants) and checks that every call
either round-trips exactly (read back equal, same types, datetimes as the same
UTC instant) or is refused with ``ValueError``/``ValidationError`` with every
table's row count unchanged. Any other exception fails the property.

The path properties check that no write lands outside the target folder, whatever
the path (absolute, ``..``, backslashes, empty segments, symlinked parents).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from behave import given, then
from behave.runner import Context
from hypothesis import HealthCheck, example, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url
from support.backends import postgres_admin_url
from support.links import read_link
from support.world import factory

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_apply_service import (
    ApplyError,
    ApplyResult,
    PlanApplyService,
)
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation, ToolInvocation
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    CheckpointMetadata,
    DiffEntry,
    FileKind,
    ManifestEntry,
    SnapshotContent,
)
from cleveragents.domain.models.core.error_pattern import ErrorPattern, brute_force_match
from cleveragents.domain.redaction import DEFAULT_REDACTOR
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    SqliteChangeSetStore,
    ToolInvocationRepository,
    redact_invocation,
)
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.error_pattern_repository import (
    ErrorPatternRepository,
    pattern_terms,
)
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import Base

INT64_MAX = 2**63 - 1
MB = 1_000_000
# Generated examples per property (explicit @example cases come on top).
EXAMPLES = {
    "change entries": 35,
    "tool invocations": 30,
    "id arguments": 40,
    "checkpoints": 35,
    "error patterns": 35,
    "apply paths": 40,
    "restore paths": 30,
}

# --- running a property inside a step --------------------------------------------------------


def _settings(examples: int) -> settings:
    """Deterministic, reproducible runs: no example database, no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


class Tally:
    """How many calls of a property round-tripped and how many were refused."""

    def __init__(self) -> None:
        self.stored = 0
        self.refused = 0
        self.examples = 0

    def check(self, name: str, *, examples: int) -> None:
        print(f"{name}: {self.examples} examples, {self.stored} stored, {self.refused} refused")
        assert self.examples >= examples, f"{name}: only {self.examples} examples ran"
        assert self.stored > 0, f"{name}: nothing was ever stored, the property is vacuous"
        assert self.refused > 0, f"{name}: nothing was ever refused, the property is vacuous"


def is_refusal(exc: BaseException) -> bool:
    """``ValueError`` or pydantic's ``ValidationError`` (a ``ValueError``), but not a
    ``UnicodeError``: an encoder failing deep inside a driver is not a refusal."""
    return isinstance(exc, ValueError) and not isinstance(exc, UnicodeError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:300]}"


def _counts(context: Context) -> dict[str, int]:
    """Row counts of every table of the schema, in one statement."""
    tables = sorted(Base.metadata.tables.values(), key=lambda table: table.name)
    query = select(
        *[
            select(func.count()).select_from(table).scalar_subquery().label(table.name)
            for table in tables
        ]
    )
    with factory(context)() as session:
        row = session.execute(query).one()
    return {table.name: int(value) for table, value in zip(tables, row, strict=True)}


def _wipe(context: Context) -> None:
    """Empty every table (children first): each example starts from an empty database."""
    with factory(context)() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


class Refused(Exception):
    """A call was refused as the property allows (the refusal is kept as ``cause``)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def attempt_call(context: Context, tally: Tally, what: str, action: Callable[[], Any]) -> Any:
    """``action()``; a refusal must leave every table as it was and raises ``Refused``.

    Any exception but a refusal fails the property.
    """
    before = _counts(context)
    try:
        return action()
    except Exception as exc:
        if not is_refusal(exc):
            raise AssertionError(f"{what} raised {_describe(exc)}") from exc
        after = _counts(context)
        assert after == before, (
            f"{what} was refused ({_describe(exc)}) yet wrote: {before} -> {after}"
        )
        tally.refused += 1
        raise Refused(exc) from exc


def build(tally: Tally, model: Callable[..., Any], fields: dict[str, Any]) -> Any:
    """``model(**fields)``, or ``Refused`` when the model refuses the fields."""
    try:
        return model(**fields)
    except Exception as exc:
        if not is_refusal(exc):
            raise AssertionError(
                f"{getattr(model, '__name__', model)}(...) raised {_describe(exc)}"
            ) from exc
        tally.refused += 1
        raise Refused(exc) from exc


# --- exact comparison ------------------------------------------------------------------------


def instant(value: datetime) -> datetime:
    """The UTC instant a datetime stands for (naive ones are UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


def assert_same(stored: Any, wanted: Any, where: str = "") -> None:
    """Equal values of the same types, all the way down (``1`` is not ``1.0`` nor ``True``).

    Datetimes must be aware UTC and the same instant as ``wanted``.
    """
    if isinstance(wanted, datetime):
        assert isinstance(stored, datetime), f"{where}: {type(stored).__name__} is not a datetime"
        assert stored.utcoffset() == timedelta(0), f"{where}: {stored!r} is not UTC"
        assert stored == instant(wanted), f"{where}: {stored!r} != {wanted!r}"
        return
    if isinstance(wanted, BaseModel):
        assert type(stored) is type(wanted), f"{where}: {type(stored)} is not {type(wanted)}"
        for name in type(wanted).model_fields:
            assert_same(getattr(stored, name), getattr(wanted, name), f"{where}.{name}")
        return
    if isinstance(wanted, Enum):
        assert stored == wanted, f"{where}: {stored!r} != {wanted!r}"
        return
    assert type(stored) is type(wanted), (
        f"{where}: {type(stored).__name__} is not {type(wanted).__name__}"
    )
    if isinstance(wanted, dict):
        assert set(stored) == set(wanted), f"{where}: keys differ"
        for key, value in wanted.items():
            assert_same(stored[key], value, f"{where}[{key!r:.40}]")
    elif isinstance(wanted, list | tuple):
        assert len(stored) == len(wanted), f"{where}: {len(stored)} items, wanted {len(wanted)}"
        for index, (got, value) in enumerate(zip(stored, wanted, strict=True)):
            assert_same(got, value, f"{where}[{index}]")
    elif isinstance(wanted, float):
        assert stored == wanted, f"{where}: {stored!r} != {wanted!r}"
    else:
        assert stored == wanted, f"{where}: values differ"


def assert_same_list(stored: list[Any], wanted: list[Any], where: str) -> None:
    assert len(stored) == len(wanted), f"{where}: {len(stored)} records, wanted {len(wanted)}"
    for index, (got, value) in enumerate(zip(stored, wanted, strict=True)):
        assert_same(got, value, f"{where}[{index}]")


# --- strategies ------------------------------------------------------------------------------

NFC_E = "\u00e9"  # é, precomposed
NFD_E = "e\u0301"  # é, e + combining acute
SQLISH = [
    "'; DROP TABLE changeset_entries; --",
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "%_%",
    '"',
    "\\'",
    "/* */",
    "$1",
    ":name",
    "?",
    "\\x00",
    "\\u0000",
]
UNSTORABLE_TEXT = ["\x00", "a\x00b", "\ud800", "a\udfffb", "\ud83d"]
STORABLE_TEXT = [
    "",
    " ",
    "\t\n\r ",
    "\u3000",
    "\u00a0x\u00a0",
    NFC_E,
    NFD_E,
    "\ufb01",  # the ligature fi, NFKC-equal to "fi"
    "fi",
    "\u00c5",  # Å
    "\u212b",  # Angstrom sign, NFC-equal to Å
    "\U0001f642",
    "\ufeff",
    "\u202e",
    "\U0010ffff",
    "\uffff",
    "\x7f\x1b[31m",
    "\u0130",  # İ: case folds to two characters
    "\u00df",  # ß: case folds to ss
    *SQLISH,
]


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any], one_in: int
) -> st.SearchStrategy[Any]:
    """``valid`` most of the time, ``hostile`` about one draw in ``one_in``: a model has
    many fields, and one hostile field in each would leave nothing ever stored."""
    return st.integers(1, one_in).flatmap(lambda n: hostile if n == 1 else valid)


storable_text = st.one_of(
    st.sampled_from(STORABLE_TEXT),
    st.text(max_size=20),
    st.lists(st.one_of(st.sampled_from(STORABLE_TEXT), st.text(max_size=4)), max_size=4).map(
        "".join
    ),
)
unstorable_text = st.builds(
    lambda before, bad, after: before + bad + after,
    storable_text,
    st.one_of(
        st.sampled_from(UNSTORABLE_TEXT),
        st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
    ),
    storable_text,
)
hostile_text = mostly(storable_text, unstorable_text, 6)
valid_ids = st.one_of(
    st.sampled_from(
        [
            "plan-1",
            "01HXYZ1234567890ABCDEFGHIJ",
            "x" * 64,
            NFC_E * 64,
            NFC_E,
            NFD_E,
            "\U0001f642",
            "a b",
            *[text for text in SQLISH if text.strip() == text],
        ]
    ),
    st.text(min_size=1, max_size=12).filter(lambda text: valid_id(text)),
)
invalid_ids = st.one_of(
    st.sampled_from(["", " ", "\t", " plan", "plan ", "x" * 65, NFC_E * 65, *UNSTORABLE_TEXT]),
    unstorable_text,
    st.text(min_size=65, max_size=70),
)
hostile_ids = mostly(valid_ids, invalid_ids, 4)
hostile_ints = mostly(
    st.integers(0, 10**6),
    st.sampled_from([2**31 - 1, 2**31, INT64_MAX, 2**63, 10**30, -1, -(2**63), 2**64]),
    3,
)
ZONES = [
    None,
    UTC,
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(minutes=-1)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(hours=23, minutes=59)),
    timezone(timedelta(hours=-23, minutes=-59)),
    timezone(timedelta(seconds=1)),
]
EDGE_DATETIMES = [datetime.min, datetime.max, datetime(1970, 1, 1), datetime(2038, 1, 19, 3, 14, 8)]
hostile_datetimes = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.one_of(st.sampled_from(EDGE_DATETIMES), st.datetimes()),
    st.sampled_from(ZONES),
)
# Integers JSON holds exactly on both backends (up to 640 digits), and beyond.
JSON_INTS = [INT64_MAX, 2**63, -(2**63) - 1, 10**30, -(10**30), 10**639, -(10**640) + 1]
storable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(JSON_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 0.1]),
    storable_text,
)


def nested(depth: int) -> Any:
    """JSON ``depth`` containers deep (lists and objects in turn)."""
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


class Lazy:
    """A value made only when an example runs: hypothesis prints examples, and printing
    JSON 2,000 levels deep, an int of 5,000 digits or 1 MB of text would fail or flood."""

    def __init__(self, label: str, make: Callable[[], Any]) -> None:
        self.label = label
        self.make = make

    def __repr__(self) -> str:
        return self.label


def deep(depth: int) -> Lazy:
    return Lazy(f"nested({depth})", lambda: nested(depth))


def big(unit: str, size: int = MB) -> Lazy:
    """About ``size`` characters of ``unit`` repeated."""
    count = max(1, size // len(unit))
    return Lazy(f"{unit!r} * {count}", lambda: unit * count)


HUGE_INT = Lazy("10**5000", lambda: 10**5000)


def materialize(value: Any) -> Any:
    """``value`` with every ``Lazy`` replaced by what it stands for."""
    if isinstance(value, Lazy):
        return value.make()
    if isinstance(value, dict):
        return {materialize(key): materialize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [materialize(item) for item in value]
    if isinstance(value, tuple):
        return tuple(materialize(item) for item in value)
    return value


json_values = mostly(
    st.one_of(
        st.recursive(
            storable_leaves,
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(storable_text, children, max_size=3)
            ),
            max_leaves=8,
        ),
        st.sampled_from([50, 199]).map(deep),
    ),
    st.one_of(
        st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**640, 10**700, HUGE_INT]),
        st.sampled_from([200, 254, 255, 1000, 2000]).map(deep),
        unstorable_text,
        st.dictionaries(unstorable_text, st.none(), min_size=1, max_size=1),
    ),
    5,
)
json_objects = st.dictionaries(storable_text, json_values, max_size=3)
hostile_floats = st.one_of(
    st.floats(), st.sampled_from([-0.0, 5e-324, 1e308, float("nan"), float("inf"), -1.0])
)

HASH_A = hashlib.sha256(b"a").hexdigest()
HASH_B = hashlib.sha256(b"b").hexdigest()
hostile_hashes = st.sampled_from([HASH_A.upper(), HASH_A[:63], HASH_A + "0", "", "g" * 64])

PATH_SEGMENTS = [
    "a",
    "b",
    NFC_E,
    NFD_E,
    "\u00c5",
    "\u212b",
    "link",
    "slink",
    "..",
    ".",
    "",
    " ",
    "a\\b",
    "C:",
    "~",
    "...",
    "-rf",
    ".hidden",
    "\n",
    "\U0001f642",
    "'; DROP TABLE changeset_entries; --",
    "%",
    "_",
    "x" * 255,
    "y" * 256,
    "a\x00b",
    "\ud800",
]
hostile_paths = st.builds(
    lambda lead, segments, trail: lead + "/".join(segments) + trail,
    st.sampled_from(["", "", "", "/", "//", "\\", "C:\\"]),
    st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=4),
    st.sampled_from(["", "", "", "/"]),
)
VALID_SEGMENTS = [
    s
    for s in PATH_SEGMENTS
    if s not in ("", ".", "..") and "\\" not in s and "\x00" not in s and s != "\ud800"
]
valid_paths = st.lists(st.sampled_from(VALID_SEGMENTS), min_size=1, max_size=3).map("/".join)
workspace_paths = mostly(valid_paths, hostile_paths, 3)
sandbox_refs = mostly(
    st.one_of(st.just("/sandbox"), storable_text.filter(bool)),
    st.one_of(st.just(""), unstorable_text),
    4,
)
checkpoint_types = mostly(
    st.one_of(
        st.sampled_from(["manual", "pre_decision", "post_apply", "%", NFD_E, "t" * 64]),
        storable_text.filter(lambda text: 0 < len(text) <= 64),
    ),
    st.sampled_from(["", "t" * 65, "\x00"]),
    4,
)


# A path segment repeated to 3,000 bytes: longer than any index key PostgreSQL takes.
def noise(count: int, seed: int) -> str:
    """``count`` CJK characters (3 bytes each in UTF-8) that do not compress: PostgreSQL
    compresses index keys, so a repeated character would slip under its size limit."""
    chooser = random.Random(seed)
    return "".join(chr(chooser.randrange(0x4E00, 0x9FFF)) for _ in range(count))


# Segments of 240 bytes: 3,000 bytes in all, above the 2,048 an entry path may have ...
LONG_PATH = "/".join(noise(80, seed) for seed in range(13))
# ... and a path of exactly 2,048 bytes, which must be stored (and indexed).
LIMIT_PATH = noise(682, 99) + "ab"


def expected_path_ok(path: str) -> bool:
    """The pinned path rules, written out independently of the library."""
    if not path or "\\" in path or path.startswith("/"):
        return False
    if any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in path):
        return False
    return all(segment not in ("", ".", "..") for segment in path.split("/"))


def valid_id(value: object) -> bool:
    """The pinned id rules: a non-empty string of at most 64 characters, no surrounding
    whitespace, storable (no NUL, no lone surrogate)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 64
        and value.strip() == value
        and not any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    )


# --- the stores --------------------------------------------------------------------------------


class Stores:
    """Every store and service of the scenario's database."""

    def __init__(self, context: Context) -> None:
        made = factory(context)
        self.changesets = SqliteChangeSetStore(made)
        self.entries = ChangeSetEntryRepository(made)
        self.invocations = ToolInvocationRepository(made)
        self.checkpoints = CheckpointRepository(made)
        self.checkpoint_service = CheckpointService(self.checkpoints)
        self.errors = ErrorPatternRepository(made)
        self.apply = PlanApplyService(self.changesets)


def stores(context: Context) -> Stores:
    made: Stores = context.hostile_stores
    return made


@given('the database server\'s default time zone is "{zone}"')
def step_server_time_zone(context: Context, zone: str) -> None:
    """PostgreSQL sends timestamps in the session's time zone; make it a far one.

    SQLite keeps no time zone (it stores UTC text): nothing to set there.
    """
    if context.backend != "postgres":
        return
    database = make_url(context.url).database
    engine = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"ALTER DATABASE \"{database}\" SET timezone TO '{zone}'"))
    finally:
        engine.dispose()


@given("hostile stores on the scenario's database")
def step_hostile_stores(context: Context) -> None:
    context.hostile_stores = Stores(context)


# --- changesets: entries ------------------------------------------------------------------------


@st.composite
def entry_fields(draw: st.DrawFn) -> dict[str, Any]:
    operation = draw(st.sampled_from([*ChangeOperation, "bogus", "CREATE"]))
    wants_before = operation in ("modify", "delete", "rename")
    wants_after = operation in ("create", "modify", "rename")
    fields: dict[str, Any] = {
        "path": draw(workspace_paths),
        "operation": operation,
        "before_hash": HASH_A if wants_before else None,
        "after_hash": HASH_B if wants_after else None,
        "diff": draw(hostile_text),
        "insertions": draw(hostile_ints),
        "deletions": draw(st.one_of(st.just(0), hostile_ints)),
        "metadata": draw(json_objects),
        "created_at": draw(hostile_datetimes),
    }
    if operation == "rename" or draw(st.integers(0, 9)) == 0:
        fields["old_path"] = draw(workspace_paths)
    if draw(st.booleans()):
        fields["entry_id"] = draw(hostile_ids)
    if draw(st.booleans()):
        fields["tool_invocation_id"] = draw(st.one_of(st.none(), hostile_ids))
    if draw(st.integers(0, 9)) == 0:
        fields[draw(st.sampled_from(["before_hash", "after_hash"]))] = draw(hostile_hashes)
    return fields


_entry_batches = st.lists(entry_fields(), min_size=1, max_size=3)


def _start(context: Context, tally: Tally, plan_id: Any) -> str:
    changeset = attempt_call(
        context, tally, "start", lambda: stores(context).changesets.start(plan_id)
    )
    assert_same(stores(context).changesets.get(changeset.changeset_id), changeset, "start")
    tally.stored += 1
    return str(changeset.changeset_id)


_SUMMARY_FIELDS = {
    ChangeOperation.CREATE: "created",
    ChangeOperation.MODIFY: "modified",
    ChangeOperation.DELETE: "deleted",
    ChangeOperation.RENAME: "renamed",
}


def _check_entries_read_back(
    context: Context, plan_id: str, changeset_id: str, recorded: list[ChangeEntry]
) -> None:
    s = stores(context)
    changeset = s.changesets.get(changeset_id)
    assert changeset is not None
    assert_same_list(changeset.entries, recorded, "get().entries")
    (only,) = s.changesets.get_for_plan(plan_id)
    assert_same_list(only.entries, recorded, "get_for_plan().entries")
    assert_same_list(s.entries.get_entries_for_changeset(changeset_id), recorded, "by changeset")
    assert_same_list(s.entries.get_entries_for_plan(plan_id), recorded, "by plan")
    summary = s.changesets.summarize(changeset_id)
    paths = sorted({entry.path for entry in recorded})
    assert summary.paths == paths and summary.files_changed == len(paths), summary
    assert summary.insertions == sum(entry.insertions for entry in recorded), summary
    assert summary.deletions == sum(entry.deletions for entry in recorded), summary
    for operation, field in _SUMMARY_FIELDS.items():
        count = sum(1 for entry in recorded if entry.operation is operation)
        assert getattr(summary, field) == count, (field, summary)


@then(
    "every hostile change entry written through record, record_many, save_entry and save_entries reads back exactly or is refused without a write"
)
def step_entries_property(context: Context) -> None:
    tally = Tally()

    @_settings(EXAMPLES["change entries"])
    @hypothesis_given(
        plan_id=st.one_of(st.just("plan-1"), hostile_ids),
        batches=st.lists(_entry_batches, min_size=1, max_size=2),
        methods=st.lists(
            st.sampled_from(["record", "save_entry", "record_many", "save_entries"]),
            min_size=3,
            max_size=3,
        ),
    )
    @example(
        plan_id="plan-1",
        batches=[
            [
                {
                    "path": "big.txt",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "diff": big("\u00e9\U0001f642%_\\"),
                    "metadata": {big("k"): big("v")},
                }
            ]
        ],
        methods=["record"] * 3,
    )
    @example(
        plan_id="plan-1",
        batches=[
            [
                {
                    "path": "a",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "metadata": {"deep": deep(2000)},
                }
            ],
            [
                {
                    "path": "b",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "metadata": {"nan": float("nan")},
                }
            ],
            [{"path": "c", "operation": "create", "after_hash": HASH_B, "insertions": 2**63}],
        ],
        methods=["record", "record_many", "save_entries"],
    )
    @example(
        plan_id="plan-1",
        batches=[
            [
                {"path": "a", "operation": "create", "after_hash": HASH_B, "insertions": 2**31},
                {"path": "b", "operation": "create", "after_hash": HASH_B, "deletions": 10**30},
            ]
        ],
        methods=["record_many"] * 3,
    )
    @example(
        plan_id="plan-1",
        batches=[
            [
                {
                    "path": "a",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "metadata": {"big": [2**63, 10**30, -(2**63) - 1]},
                }
            ],
            [
                {
                    "path": "b",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "metadata": {"huge": HUGE_INT},
                }
            ],
        ],
        methods=["record", "record", "record"],
    )
    @example(
        plan_id="plan-1",
        batches=[
            [
                {
                    "path": "a",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "created_at": datetime(
                        1, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))
                    ),
                }
            ],
            [
                {
                    "path": "b",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "created_at": datetime(
                        9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(minutes=-1))
                    ),
                }
            ],
            [
                {
                    "path": "c",
                    "operation": "create",
                    "after_hash": HASH_B,
                    "created_at": datetime(9999, 12, 31, 23, 59, 59, 999999),
                }
            ],
        ],
        methods=["record", "save_entry", "record"],
    )
    @example(
        plan_id="'; DROP TABLE changeset_entries; --",
        batches=[
            [
                {"path": "%/_/\u00e9", "operation": "create", "after_hash": HASH_B},
                {"path": "%/_/e\u0301", "operation": "create", "after_hash": HASH_B},
                {"path": LONG_PATH, "operation": "create", "after_hash": HASH_B},
                {"path": LIMIT_PATH, "operation": "create", "after_hash": HASH_B},
            ]
        ],
        methods=["save_entries"] * 3,
    )
    @example(
        plan_id="a\x00b",
        batches=[[{"path": "a", "operation": "create", "after_hash": HASH_B}]],
        methods=["record"] * 3,
    )
    @example(
        plan_id="\ud800",
        batches=[[{"path": "a", "operation": "create", "after_hash": HASH_B}]],
        methods=["record"] * 3,
    )
    def check(plan_id: Any, batches: list[list[dict[str, Any]]], methods: list[str]) -> None:
        batches = materialize(batches)
        _wipe(context)
        tally.examples += 1
        try:
            changeset_id = _start(context, tally, plan_id)
        except Refused:
            assert not valid_id(plan_id), f"start refused the valid plan id {plan_id!r}"
            return
        assert valid_id(plan_id), f"start accepted the invalid plan id {plan_id!r}"
        s = stores(context)
        recorded: list[ChangeEntry] = []
        used_ids: set[Any] = set()
        for batch, method in zip(batches, methods, strict=False):
            models: list[ChangeEntry] = []
            for raw in batch:
                fields = {**raw, "changeset_id": changeset_id, "plan_id": plan_id}
                # Reusing an id is a DuplicateRecordError by contract: each id is drawn once.
                if "entry_id" in fields and fields["entry_id"] in used_ids:
                    del fields["entry_id"]
                used_ids.add(fields.get("entry_id"))
                try:
                    entry = build(tally, ChangeEntry, fields)
                except Refused:
                    continue
                assert expected_path_ok(entry.path), f"path {entry.path!r} was accepted"
                models.append(entry)
            if not models:
                continue
            before = _counts(context)
            stored: list[ChangeEntry] = []
            if method in ("record", "save_entry"):
                writer = s.changesets.record if method == "record" else s.entries.save_entry
                for entry in models:
                    try:
                        returned = attempt_call(
                            context, tally, method, lambda e=entry, w=writer: w(e)
                        )
                    except Refused:
                        continue
                    assert_same(returned, entry, method)
                    stored.append(entry)
            else:
                writer_many = (
                    s.changesets.record_many if method == "record_many" else s.entries.save_entries
                )
                try:
                    count = attempt_call(
                        context, tally, method, lambda m=models, w=writer_many: w(m)
                    )
                except Refused:
                    continue
                assert count == len(models), count
                stored = models
            after = _counts(context)
            assert after["changeset_entries"] == before["changeset_entries"] + len(stored)
            assert {k: v for k, v in after.items() if k != "changeset_entries"} == {
                k: v for k, v in before.items() if k != "changeset_entries"
            }
            recorded.extend(stored)
            tally.stored += len(stored)
        _check_entries_read_back(context, plan_id, changeset_id, recorded)
        deleted = s.changesets.delete_for_plan(plan_id)
        assert deleted == len(recorded) + 1, deleted
        assert sum(_counts(context).values()) == 0

    check()
    tally.check("change entries", examples=EXAMPLES["change entries"])


# --- changesets: tool invocations ---------------------------------------------------------------


@st.composite
def invocation_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "tool_name": draw(st.one_of(hostile_text, st.just("write_file"), st.just("t" * 201))),
        "arguments": draw(json_objects),
        "result": draw(json_values),
        "error": draw(st.one_of(st.none(), hostile_text)),
        "started_at": draw(hostile_datetimes),
        "duration_ms": draw(hostile_floats),
        "change_ids": draw(st.lists(hostile_ids, max_size=3)),
        "resource_refs": draw(st.lists(hostile_text, max_size=3)),
        "provider_metadata": draw(json_objects),
    }
    if draw(st.booleans()):
        fields["invocation_id"] = draw(hostile_ids)
    return fields


@then(
    "every hostile tool invocation written through record_invocation and save_invocation reads back as stored or is refused without a write"
)
def step_invocations_property(context: Context) -> None:
    tally = Tally()

    @_settings(EXAMPLES["tool invocations"])
    @hypothesis_given(
        plan_id=st.one_of(st.just("plan-1"), hostile_ids),
        calls=st.lists(
            st.tuples(
                invocation_fields(),
                st.booleans(),
                st.sampled_from(["record_invocation", "save_invocation"]),
            ),
            min_size=1,
            max_size=4,
            unique_by=lambda call: call[0].get("invocation_id", object()),
        ),
    )
    @example(
        plan_id="plan-1",
        calls=[
            (
                {"tool_name": "read", "result": big("\U0001f642"), "error": "e" * 1000},
                True,
                "record_invocation",
            )
        ],
    )
    @example(
        plan_id="plan-1",
        calls=[
            ({"tool_name": "t", "result": deep(2000)}, True, "record_invocation"),
            ({"tool_name": "t", "duration_ms": float("inf")}, False, "save_invocation"),
            ({"tool_name": "t", "arguments": {"n": float("nan")}}, True, "save_invocation"),
        ],
    )
    @example(
        plan_id="plan-1",
        calls=[
            (
                {
                    "tool_name": "t",
                    "result": [2**63, 10**30],
                    "duration_ms": 1e308,
                    "started_at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                },
                True,
                "record_invocation",
            ),
            ({"tool_name": "t", "result": HUGE_INT}, True, "record_invocation"),
        ],
    )
    @example(
        plan_id="plan-1",
        calls=[
            (
                {
                    "tool_name": "t",
                    "error": "bad\x00",
                    "started_at": datetime(
                        1, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))
                    ),
                },
                True,
                "record_invocation",
            ),
            (
                {
                    "tool_name": "t",
                    "arguments": {"password": "hunter2", "%": "'; DROP TABLE tool_invocations; --"},
                },
                True,
                "record_invocation",
            ),
        ],
    )
    def check(plan_id: Any, calls: list[tuple[dict[str, Any], bool, str]]) -> None:
        calls = materialize(calls)
        _wipe(context)
        tally.examples += 1
        try:
            changeset_id = _start(context, tally, plan_id)
        except Refused:
            assert not valid_id(plan_id), plan_id
            return
        s = stores(context)
        stored_all: list[ToolInvocation] = []
        for raw, in_changeset, method in calls:
            fields = {
                **raw,
                "plan_id": plan_id,
                "changeset_id": changeset_id if in_changeset else None,
            }
            try:
                invocation = build(tally, ToolInvocation, fields)
            except Refused:
                continue
            writer = (
                s.changesets.record_invocation
                if method == "record_invocation"
                else s.invocations.save_invocation
            )
            before = _counts(context)
            try:
                returned = attempt_call(context, tally, method, lambda i=invocation, w=writer: w(i))
            except Refused:
                continue
            expected = redact_invocation(invocation, DEFAULT_REDACTOR)
            assert_same(returned, expected, method)
            after = _counts(context)
            assert after["tool_invocations"] == before["tool_invocations"] + 1
            stored_all.append(expected)
            tally.stored += 1
        in_changeset_only = [i for i in stored_all if i.changeset_id is not None]
        changeset = s.changesets.get(changeset_id)
        assert changeset is not None
        assert_same_list(changeset.invocations, in_changeset_only, "get().invocations")
        assert_same_list(s.invocations.get_invocations_for_plan(plan_id), stored_all, "by plan")
        assert_same_list(
            s.invocations.get_invocations_for_changeset(changeset_id),
            in_changeset_only,
            "by changeset",
        )
        summary = s.changesets.summarize(changeset_id)
        assert summary.tool_invocations == len(in_changeset_only), summary
        assert summary.failed_invocations == sum(
            1 for i in in_changeset_only if i.error is not None
        )
        assert s.invocations.delete_for_plan(plan_id) == len(stored_all)
        assert s.changesets.delete_for_plan(plan_id) == 1
        assert sum(_counts(context).values()) == 0

    check()
    tally.check("tool invocations", examples=EXAMPLES["tool invocations"])


# --- ids and other arguments of every read and delete method ------------------------------------

hostile_arguments = st.one_of(
    valid_ids,
    invalid_ids,
    st.sampled_from([None, 0, 7, -1, 2**63, 1.5, b"plan", ["plan"], {"id": 1}, True]),
).filter(lambda value: value != "plan-1")


def _id_calls(
    context: Context, value: Any, target: Path
) -> dict[str, tuple[Callable[[], Any], Any]]:
    """Each method taking one id, with what it answers for a valid but unknown id."""
    s = stores(context)
    not_found = RecordNotFoundError
    return {
        "changesets.get": (lambda: s.changesets.get(value), None),
        "changesets.get_for_plan": (lambda: s.changesets.get_for_plan(value), []),
        "changesets.summarize": (lambda: s.changesets.summarize(value), not_found),
        "changesets.delete_for_plan": (lambda: s.changesets.delete_for_plan(value), 0),
        "changesets.is_cancelled": (lambda: s.changesets.is_cancelled(value), False),
        "entries.get_entries_for_changeset": (
            lambda: s.entries.get_entries_for_changeset(value),
            [],
        ),
        "entries.get_entries_for_plan": (lambda: s.entries.get_entries_for_plan(value), []),
        "entries.delete_for_changeset": (lambda: s.entries.delete_for_changeset(value), 0),
        "entries.delete_for_plan": (lambda: s.entries.delete_for_plan(value), 0),
        "invocations.get_invocations_for_plan": (
            lambda: s.invocations.get_invocations_for_plan(value),
            [],
        ),
        "invocations.get_invocations_for_changeset": (
            lambda: s.invocations.get_invocations_for_changeset(value),
            [],
        ),
        "invocations.delete_for_plan": (lambda: s.invocations.delete_for_plan(value), 0),
        "checkpoints.get": (lambda: s.checkpoints.get(value), None),
        "checkpoints.list_for_plan": (lambda: s.checkpoints.list_for_plan(value), []),
        "checkpoints.latest_for_plan": (lambda: s.checkpoints.latest_for_plan(value), None),
        "checkpoints.delete_for_plan": (lambda: s.checkpoints.delete_for_plan(value), 0),
        "checkpoints.prune": (lambda: s.checkpoints.prune(value, 1), 0),
        "checkpoints.manifest": (lambda: s.checkpoints.manifest(value), not_found),
        "checkpoints.diff": (lambda: s.checkpoints.diff(value), not_found),
        "checkpoints.known_paths": (lambda: s.checkpoints.known_paths(value), set()),
        "checkpoints.stat_cache": (lambda: s.checkpoints.stat_cache(value), None),
        "service.get_checkpoint": (lambda: s.checkpoint_service.get_checkpoint(value), None),
        "service.list_checkpoints": (lambda: s.checkpoint_service.list_checkpoints(value), []),
        "service.verify_checkpoint": (
            lambda: s.checkpoint_service.verify_checkpoint(value),
            not_found,
        ),
        "service.restore_workspace": (
            lambda: s.checkpoint_service.restore_workspace(value, target),
            not_found,
        ),
        "errors.get": (lambda: s.errors.get(value), None),
        "errors.delete": (lambda: s.errors.delete(value), False),
        "errors.record_occurrence": (lambda: s.errors.record_occurrence(value), not_found),
        "apply.cleanup_changeset": (lambda: s.apply.cleanup_changeset(value), 0),
        "apply.apply": (lambda: s.apply.apply(value, target, target), not_found),
    }


@then(
    "every hostile id given to a read or delete method of the three stores gives the answer for an unknown id or a ValueError, and writes nothing"
)
def step_id_property(context: Context) -> None:
    tally = Tally()
    s = stores(context)
    # Something to find (and not to delete by accident) in every table.
    changeset = s.changesets.start("plan-1")
    s.changesets.record(
        ChangeEntry(
            changeset_id=changeset.changeset_id,
            plan_id="plan-1",
            path="a",
            operation="create",
            after_hash=HASH_B,
        )
    )
    s.changesets.record_invocation(
        ToolInvocation(plan_id="plan-1", changeset_id=changeset.changeset_id, tool_name="t")
    )
    s.checkpoint_service.create_checkpoint("plan-1", "/sandbox")
    s.errors.create(ErrorPattern(pattern="ImportError", keywords=["import"]))
    target = context.tmp / "restore-target"
    target.mkdir()

    @_settings(EXAMPLES["id arguments"])
    @hypothesis_given(value=hostile_arguments)
    @example(value="a\x00b")
    @example(value="\ud800")
    @example(value="'; DROP TABLE changeset_entries; --")
    @example(value="%")
    @example(value=big("x"))
    @example(value=NFD_E)
    def check(value: Any) -> None:
        value = materialize(value)
        tally.examples += 1
        ok = valid_id(value)
        shown = repr(value)[:80]
        before = _counts(context)
        for name, (call, unknown) in _id_calls(context, value, target).items():
            try:
                answer = call()
            except RecordNotFoundError as exc:
                assert ok and unknown is RecordNotFoundError, f"{name}({shown}): {_describe(exc)}"
                tally.stored += 1
            except Exception as exc:
                assert is_refusal(exc), f"{name}({shown}) raised {_describe(exc)}"
                assert not ok, f"{name} refused the valid id {shown}: {_describe(exc)}"
                tally.refused += 1
            else:
                assert ok, f"{name} accepted the invalid id {shown}"
                assert answer == unknown, f"{name}({shown}) answered {answer!r}"
                tally.stored += 1
        assert _counts(context) == before, f"a read or delete of {shown} changed rows"
        assert list(target.iterdir()) == []

    check()
    tally.check("id arguments", examples=EXAMPLES["id arguments"])
    kept = s.changesets.get(changeset.changeset_id)
    assert kept is not None and len(kept.entries) == 1 and len(kept.invocations) == 1


# --- checkpoints --------------------------------------------------------------------------------


@st.composite
def metadata_arguments(draw: st.DrawFn) -> Any:
    """None, a CheckpointMetadata built from hostile fields, or something that is not one."""
    choice = draw(st.integers(0, 19))
    if choice < 4:
        return None
    if choice == 4:
        return draw(st.sampled_from([{"tags": []}, "metadata", 5, ["tag"]]))
    return (
        "model",
        {
            "decision_id": draw(st.one_of(st.none(), hostile_ids)),
            "description": draw(st.one_of(st.none(), hostile_text)),
            "tags": draw(st.lists(hostile_text, max_size=3)),
            "extra": draw(json_objects),
        },
    )


@st.composite
def service_checkpoint_calls(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "plan_id": draw(hostile_ids),
        "sandbox_ref": draw(sandbox_refs),
        "checkpoint_type": draw(checkpoint_types),
        "decision_id": draw(st.one_of(st.none(), hostile_ids)),
        "description": draw(st.one_of(st.none(), hostile_text)),
        "metadata": draw(metadata_arguments()),
    }


def _blob(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


@st.composite
def snapshot_contents(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 2)) == 0:
        return None
    files = draw(
        st.lists(
            st.tuples(
                workspace_paths,
                st.binary(max_size=16),
                st.booleans(),
                st.one_of(st.none(), hostile_ints),
            ),
            max_size=5,
            unique_by=lambda item: item[0],
        )
    )
    return {
        "files": files,
        "deleted": draw(st.lists(workspace_paths, max_size=2)),
        "stat_cache": draw(st.one_of(st.none(), st.binary(max_size=32))),
        "scan_started_ns": draw(st.one_of(st.just(0), hostile_ints)),
        "bad_blob_key": draw(st.one_of(st.none(), st.none(), hostile_hashes, st.just("x" * 300))),
    }


@st.composite
def repository_checkpoint_calls(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "plan_id": draw(hostile_ids),
        "sandbox_ref": draw(sandbox_refs),
        "checkpoint_type": draw(checkpoint_types),
        "parent_id": draw(st.one_of(st.none(), hostile_ids)),
        "created_at": draw(hostile_datetimes),
        "metadata": draw(metadata_arguments()),
    }
    if draw(st.booleans()):
        fields["checkpoint_id"] = draw(hostile_ids)
    return {"fields": fields, "content": draw(snapshot_contents())}


def _metadata(tally: Tally, argument: Any) -> Any:
    if isinstance(argument, tuple):
        return build(tally, CheckpointMetadata, argument[1])
    return argument


def _content(tally: Tally, raw: dict[str, Any] | None) -> SnapshotContent | None:
    if raw is None:
        return None
    manifest = []
    blobs: dict[str, bytes] = {}
    for path, data, executable, size in raw["files"]:
        digest, content = _blob(data)
        entry = build(
            tally,
            ManifestEntry,
            {
                "path": path,
                "sha256": digest,
                "size": len(data) if size is None else size,
                "executable": executable,
            },
        )
        manifest.append(entry)
        blobs[digest] = content
    if raw["bad_blob_key"] is not None:
        blobs[raw["bad_blob_key"]] = b"stray"
    diff = [DiffEntry(path=e.path, sha256=e.sha256) for e in manifest]
    diff += [build(tally, DiffEntry, {"path": path, "sha256": None}) for path in raw["deleted"]]
    unique = {entry.path: entry for entry in diff}
    return SnapshotContent(
        manifest=manifest,
        diff=list(unique.values()),
        blobs=blobs,
        stat_cache=raw["stat_cache"],
        scan_started_ns=raw["scan_started_ns"],
    )


@then(
    "every hostile checkpoint made through create_checkpoint or the repository's create reads back exactly or is refused without a write"
)
def step_checkpoints_property(context: Context) -> None:
    tally = Tally()
    s = stores(context)

    @_settings(EXAMPLES["checkpoints"])
    @hypothesis_given(
        service_calls=st.lists(service_checkpoint_calls(), max_size=3),
        repository_calls=st.lists(
            repository_checkpoint_calls(),
            max_size=3,
            unique_by=lambda call: call["fields"].get("checkpoint_id", object()),
        ),
    )
    @example(
        service_calls=[
            {
                "plan_id": "plan-1",
                "sandbox_ref": big("/s"),
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": big("d"),
                "metadata": (
                    "model",
                    {"tags": [big("t")], "extra": {big("x"): big("\U0001f642")}},
                ),
            }
        ],
        repository_calls=[],
    )
    @example(
        service_calls=[
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": "a\x00b",
                "description": None,
                "metadata": None,
            },
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": "\ud800",
                "metadata": None,
            },
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": None,
                "metadata": {"tags": []},
            },
        ],
        repository_calls=[],
    )
    @example(
        service_calls=[
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": None,
                "metadata": ("model", {"extra": {"deep": deep(2000), "nan": float("nan")}}),
            },
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": None,
                "metadata": ("model", {"extra": {"big": [2**63, 10**30], "huge": HUGE_INT}}),
            },
            {
                "plan_id": "plan-1",
                "sandbox_ref": "/s",
                "checkpoint_type": "manual",
                "decision_id": None,
                "description": None,
                "metadata": ("model", {"extra": {"big": [2**63, 10**30, -(2**63) - 1]}}),
            },
        ],
        repository_calls=[],
    )
    @example(
        service_calls=[],
        repository_calls=[
            {
                "fields": {
                    "plan_id": "plan-1",
                    "sandbox_ref": "/s",
                    "checkpoint_type": "x",
                    "parent_id": None,
                    "created_at": datetime(
                        1, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))
                    ),
                    "metadata": None,
                },
                "content": None,
            },
            {
                "fields": {
                    "plan_id": "plan-1",
                    "sandbox_ref": "/s",
                    "checkpoint_type": "x",
                    "parent_id": None,
                    "created_at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                    "metadata": None,
                },
                "content": None,
            },
        ],
    )
    @example(
        service_calls=[],
        repository_calls=[
            {
                "fields": {
                    "plan_id": "plan-1",
                    "sandbox_ref": "/s",
                    "checkpoint_type": "x",
                    "parent_id": None,
                    "created_at": datetime(2020, 1, 1),
                    "metadata": None,
                },
                "content": {
                    "files": [("a", b"1", False, INT64_MAX), ("b", b"2", True, INT64_MAX)],
                    "deleted": [],
                    "stat_cache": None,
                    "scan_started_ns": 0,
                    "bad_blob_key": None,
                },
            },
            {
                "fields": {
                    "plan_id": "plan-1",
                    "sandbox_ref": "/s",
                    "checkpoint_type": "x",
                    "parent_id": None,
                    "created_at": datetime(2020, 1, 1),
                    "metadata": None,
                },
                "content": {
                    "files": [(NFC_E, b"1", False, None), (NFD_E, b"2", True, None)],
                    "deleted": ["%/_"],
                    "stat_cache": b"\x00",
                    "scan_started_ns": 2**63,
                    "bad_blob_key": None,
                },
            },
            {
                "fields": {
                    "plan_id": "plan-1",
                    "sandbox_ref": "/s",
                    "checkpoint_type": "x",
                    "parent_id": None,
                    "created_at": datetime(2020, 1, 1),
                    "metadata": None,
                },
                "content": {
                    "files": [("a", b"1", False, None)],
                    "deleted": [],
                    "stat_cache": None,
                    "scan_started_ns": 0,
                    "bad_blob_key": "x" * 300,
                },
            },
        ],
    )
    def check(service_calls: list[dict[str, Any]], repository_calls: list[dict[str, Any]]) -> None:
        service_calls, repository_calls = materialize((service_calls, repository_calls))
        _wipe(context)
        tally.examples += 1
        created: dict[str, list[Checkpoint]] = {}
        for call in service_calls:
            try:
                metadata = _metadata(tally, call["metadata"])
            except Refused:
                continue
            arguments = {**call, "metadata": metadata}
            try:
                made = attempt_call(
                    context,
                    tally,
                    "create_checkpoint",
                    lambda a=arguments: s.checkpoint_service.create_checkpoint(**a),
                )
            except Refused:
                continue
            assert valid_id(call["plan_id"]), call["plan_id"]
            base = metadata or CheckpointMetadata()
            assert made.plan_id == call["plan_id"] and made.sandbox_ref == call["sandbox_ref"]
            assert made.checkpoint_type == call["checkpoint_type"]
            wanted_decision = (
                call["decision_id"] if call["decision_id"] is not None else base.decision_id
            )
            wanted_description = (
                call["description"] if call["description"] is not None else base.description
            )
            assert (
                made.metadata.decision_id == wanted_decision
                and made.metadata.description == wanted_description
            )
            assert_same(made.metadata.tags, base.tags, "tags")
            assert_same(made.metadata.extra, base.extra, "extra")
            earlier = created.setdefault(made.plan_id, [])
            assert made.parent_id == (earlier[-1].checkpoint_id if earlier else None)
            earlier.append(made)
            assert_same(s.checkpoints.get(made.checkpoint_id), made, "get")
            tally.stored += 1
        for call in repository_calls:
            try:
                fields = {**call["fields"]}
                metadata = _metadata(tally, fields.pop("metadata"))
                if metadata is not None:
                    fields["metadata"] = metadata
                checkpoint = build(tally, Checkpoint, fields)
                content = _content(tally, call["content"])
            except Refused:
                continue
            before = _counts(context)
            try:
                made = attempt_call(
                    context,
                    tally,
                    "create",
                    lambda c=checkpoint, n=content: s.checkpoints.create(c, n),
                )
            except Refused:
                continue
            assert_same(made, checkpoint, "create")
            after = _counts(context)
            assert after["checkpoints"] == before["checkpoints"] + 1
            stored_diff = s.checkpoints.diff(made.checkpoint_id)
            assert sorted((d.path, d.sha256 or "") for d in stored_diff) == sorted(
                (d.path, d.sha256 or "") for d in (content.diff if content else [])
            )
            created.setdefault(made.plan_id, []).append(made)
            assert_same(s.checkpoints.get(made.checkpoint_id), checkpoint, "get")
            manifest = s.checkpoints.manifest(made.checkpoint_id)
            if content is None:
                assert manifest is None
            else:
                assert manifest is not None
                assert_same_list(
                    manifest, sorted(content.manifest, key=lambda e: e.path), "manifest"
                )
                assert_same_list(
                    s.checkpoints.diff(made.checkpoint_id),
                    sorted(content.diff, key=lambda e: e.path),
                    "diff",
                )
                if content.stat_cache is not None:
                    assert s.checkpoints.stat_cache(made.plan_id) == (
                        made.checkpoint_id,
                        content.scan_started_ns,
                        content.stat_cache,
                    )
            tally.stored += 1
        for plan_id, made_for_plan in created.items():
            assert_same_list(s.checkpoints.list_for_plan(plan_id), made_for_plan, "list_for_plan")
            assert_same(
                s.checkpoints.latest_for_plan(plan_id), made_for_plan[-1], "latest_for_plan"
            )
            assert s.checkpoints.delete_for_plan(plan_id) == len(made_for_plan)
        assert sum(_counts(context).values()) == 0

    check()
    tally.check("checkpoints", examples=EXAMPLES["checkpoints"])


# --- error patterns --------------------------------------------------------------------------------

KEYWORDS = [
    "ImportError",
    "import",
    "\u00df",
    "\u0130",
    "a b",
    "",
    "_",
    "x" * 300,
    NFC_E,
    NFD_E,
    "%",
    "DROP",
]


@st.composite
def pattern_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pattern": draw(
            st.one_of(
                hostile_text, st.sampled_from(["ImportError", "a.b", "xy", "Error in %_ module"])
            )
        ),
        "keywords": draw(st.lists(st.one_of(st.sampled_from(KEYWORDS), hostile_text), max_size=4)),
        "frequency": draw(st.one_of(st.just(1), hostile_ints)),
        "last_seen": draw(hostile_datetimes),
        "category": draw(st.one_of(st.none(), hostile_text, st.just("c" * 201))),
        "resolution": draw(st.one_of(st.none(), hostile_text)),
        "metadata": draw(json_objects),
    }
    if draw(st.booleans()):
        fields["first_seen"] = draw(hostile_datetimes)
    if draw(st.booleans()):
        fields["pattern_id"] = draw(hostile_ids)
    return fields


def _descriptive(pattern: ErrorPattern) -> dict[str, Any]:
    return {
        name: getattr(pattern, name)
        for name in ("pattern", "keywords", "category", "resolution", "metadata")
    }


def _list_oracle(patterns: list[ErrorPattern]) -> list[ErrorPattern]:
    return sorted(
        patterns,
        key=lambda p: (
            -p.frequency,
            -((p.last_seen - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)),
            p.pattern_id,
        ),
    )


hostile_limits = st.one_of(
    st.integers(-2, 12), st.sampled_from([INT64_MAX, 2**63, 10**30, None, True, 2.0, "3"])
)
hostile_contexts = st.one_of(
    hostile_text,
    st.sampled_from(
        [
            "ImportError: No module named 'foo'",
            "a.b c",
            "DROP TABLE",
            big("x", MB + 1),
            5,
            None,
            b"bytes",
        ]
    ),
)


def _count_ok(value: Any, *, none: bool) -> bool:
    """A limit or offset the repository must take: None (where allowed) or an int64 >= 0."""
    if value is None:
        return none
    return type(value) is int and 0 <= value <= INT64_MAX


def _storable(value: str) -> bool:
    return not any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def _utc_ok(value: datetime) -> bool:
    """True when the datetime has a UTC equivalent inside the datetime range."""
    try:
        instant(value).astimezone(UTC)
    except OverflowError:
        return False
    return True


def _seen(value: Any, stored: ErrorPattern) -> tuple[int, datetime, datetime]:
    moment = instant(value).astimezone(UTC)
    assert stored.first_seen is not None
    return stored.frequency + 1, max(stored.last_seen, moment), min(stored.first_seen, moment)


@then(
    "every hostile error pattern call (create, update, get, delete, list_all, match_context, record_occurrence, count, statistics) round-trips or is refused without a write"
)
def step_errors_property(context: Context) -> None:
    tally = Tally()
    r = stores(context).errors

    @_settings(EXAMPLES["error patterns"])
    @hypothesis_given(
        creates=st.lists(
            pattern_fields(),
            min_size=1,
            max_size=4,
            unique_by=lambda f: f.get("pattern_id", object()),
        ),
        update=pattern_fields(),
        seen_at=st.one_of(st.none(), hostile_datetimes, st.sampled_from(["2020-01-01", 5])),
        limit=hostile_limits,
        offset=hostile_limits,
        match=st.tuples(hostile_contexts, hostile_limits),
    )
    @example(
        creates=[
            {
                "pattern": big("p"),
                "resolution": big("r"),
                "metadata": {big("m"): big("\U0001f642")},
            },
            {"pattern": "ImportError", "keywords": ["import"]},
        ],
        update={"pattern": big("Error in w module ")},
        seen_at=None,
        limit=None,
        offset=0,
        match=(big("x"), 10),
    )
    @example(
        creates=[
            {"pattern": "Big", "frequency": INT64_MAX},
            {"pattern": "Big2", "frequency": INT64_MAX},
            {"pattern": "Huge", "frequency": 2**63},
        ],
        update={"pattern": "Big3"},
        seen_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        limit=INT64_MAX,
        offset=INT64_MAX,
        match=("Big", INT64_MAX),
    )
    @example(
        creates=[
            {
                "pattern": "Old",
                "last_seen": datetime(9999, 12, 31, 23, 59, 59, 999999),
                "first_seen": datetime(1, 1, 1),
            }
        ],
        update={"pattern": "New", "metadata": {"deep": deep(2000)}},
        seen_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        limit=2**63,
        offset=10**30,
        match=("Old", 2**63),
    )
    @example(
        creates=[
            {"pattern": f"a {noise(1000, 1)} b {noise(200, 2)} c"},
            {"pattern": "x", "keywords": [noise(1000, 3)]},
            {"pattern": "y", "keywords": [noise(200, 4)]},
        ],
        update={"pattern": "x", "keywords": ["import"], "metadata": {"huge": HUGE_INT}},
        seen_at=datetime(2020, 1, 1, tzinfo=timezone(timedelta(minutes=-1))),
        limit=3,
        offset=0,
        match=(f"a {noise(1000, 1)} b {noise(200, 2)} c {noise(200, 4)}", 3),
    )
    @example(
        creates=[
            {"pattern": "'; DROP TABLE error_patterns; --", "keywords": ["DROP"], "category": "%"},
            {"pattern": "%", "category": "_"},
            {"pattern": "\\", "keywords": ["_"]},
        ],
        update={"pattern": "\x00"},
        seen_at=datetime(2020, 1, 1),
        limit=10,
        offset=0,
        match=("DROP TABLE % _ \\", 10),
    )
    @example(
        creates=[{"pattern": NFC_E}, {"pattern": NFD_E, "keywords": [NFD_E]}],
        update={"pattern": "\ud800"},
        seen_at=None,
        limit=10,
        offset=1,
        match=(NFC_E + " " + NFD_E, 10),
    )
    def check(
        creates: list[dict[str, Any]],
        update: dict[str, Any],
        seen_at: Any,
        limit: Any,
        offset: Any,
        match: tuple[Any, Any],
    ) -> None:
        creates, update, match = materialize((creates, update, match))
        _wipe(context)
        tally.examples += 1
        stored: dict[str, ErrorPattern] = {}
        for fields in creates:
            try:
                pattern = build(tally, ErrorPattern, fields)
                before = _counts(context)
                returned = attempt_call(context, tally, "create", lambda p=pattern: r.create(p))
            except Refused:
                continue
            assert_same(returned, pattern, "create")
            assert_same(r.get(pattern.pattern_id), pattern, "get")
            after = _counts(context)
            assert after["error_patterns"] == before["error_patterns"] + 1
            assert after["error_pattern_terms"] == before["error_pattern_terms"] + len(
                set(pattern_terms(pattern))
            )
            stored[pattern.pattern_id] = pattern
            tally.stored += 1
        if not stored:
            return
        first = next(iter(stored.values()))
        try:
            changed = build(tally, ErrorPattern, {**update, "pattern_id": first.pattern_id})
            updated = attempt_call(context, tally, "update", lambda: r.update(changed))
        except Refused:
            pass
        else:
            wanted = first.model_copy(update=_descriptive(changed))
            assert_same(updated, wanted, "update")
            assert_same(r.get(first.pattern_id), wanted, "get after update")
            stored[first.pattern_id] = wanted
            tally.stored += 1
        current = stored[first.pattern_id]
        try:
            occurred = attempt_call(
                context,
                tally,
                "record_occurrence",
                lambda: r.record_occurrence(first.pattern_id, seen_at=seen_at),
            )
        except Refused as refused:
            seen_ok = seen_at is None or (isinstance(seen_at, datetime) and _utc_ok(seen_at))
            assert not seen_ok or current.frequency == INT64_MAX, refused.cause
        else:
            if seen_at is None:
                assert occurred.frequency == current.frequency + 1
                assert occurred.last_seen >= current.last_seen
            else:
                frequency, last_seen, first_seen = _seen(seen_at, current)
                assert (occurred.frequency, occurred.last_seen, occurred.first_seen) == (
                    frequency,
                    last_seen,
                    first_seen,
                ), occurred
            assert_same(
                occurred,
                current.model_copy(
                    update={
                        "frequency": occurred.frequency,
                        "last_seen": occurred.last_seen,
                        "first_seen": occurred.first_seen,
                    }
                ),
                "record_occurrence",
            )
            assert_same(r.get(first.pattern_id), occurred, "get after record_occurrence")
            stored[first.pattern_id] = occurred
            tally.stored += 1
        everything = list(stored.values())
        assert r.count() == len(everything)
        oracle = _list_oracle(everything)
        arguments_ok = _count_ok(limit, none=True) and _count_ok(offset, none=False)
        try:
            listed = attempt_call(
                context, tally, "list_all", lambda: r.list_all(limit=limit, offset=offset)
            )
        except Refused as refused:
            assert not arguments_ok, (
                f"list_all(limit={limit!r}, offset={offset!r}) refused: {refused}"
            )
        else:
            assert arguments_ok, f"list_all accepted limit={limit!r}, offset={offset!r}"
            end = None if limit is None else offset + limit
            assert_same_list(listed, oracle[offset:end], "list_all")
            tally.stored += 1
        text_value, match_limit = match
        context_ok = (
            isinstance(text_value, str)
            and len(text_value) <= MB
            and _storable(text_value)
            and _count_ok(match_limit, none=False)
        )
        try:
            found = attempt_call(
                context,
                tally,
                "match_context",
                lambda: r.match_context(text_value, limit=match_limit),
            )
        except Refused as refused:
            assert not context_ok, f"match_context refused: {refused}"
        else:
            assert context_ok, "match_context accepted a context or limit it should refuse"
            assert_same_list(
                found,
                brute_force_match(r.list_all(), text_value, limit=match_limit),
                "match_context",
            )
            tally.stored += 1
        statistics = r.statistics()
        assert statistics.by_category == dict(Counter(p.category or "" for p in everything))
        assert statistics.total_patterns == len(everything)
        assert statistics.total_occurrences == sum(p.frequency for p in everything)
        assert statistics.last_seen == max(p.last_seen for p in everything)
        assert_same_list(statistics.most_frequent, oracle[:10], "most_frequent")
        for pattern_id in stored:
            assert r.delete(pattern_id) is True
            assert r.get(pattern_id) is None
        assert sum(_counts(context).values()) == 0

    check()
    tally.check("error patterns", examples=EXAMPLES["error patterns"])


# --- paths: apply and restore never write outside their target ---------------------------------


def tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under ``root``, symlinks not followed: files with their bytes, symlinks
    with their target, folders."""
    found: dict[str, tuple[str, bytes]] = {}
    if not root.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[relative] = ("link", read_link(path))
            elif path.is_dir():
                found[relative] = ("dir", b"")
            else:
                found[relative] = ("file", path.read_bytes())
    return found


def files_only(found: dict[str, tuple[str, bytes]]) -> dict[str, tuple[str, bytes]]:
    return {path: value for path, value in found.items() if value[0] != "dir"}


def snapshot_view(found: dict[str, tuple[str, bytes]]) -> dict[str, tuple[str, bytes]]:
    """What a snapshot records of a tree: files, symlinks and the folders that are empty."""
    folders = {path.rpartition("/")[0] for path in found}
    return {p: v for p, v in found.items() if v[0] != "dir" or p not in folders}


def safe_write(root: Path, relative: str, data: bytes) -> bool:
    """Write a test fixture under ``root``, never through a symlink; False when the file
    system refuses the path (a name too long, a file where a folder should be...)."""
    current = root
    parts = relative.split("/")
    try:
        for part in parts[:-1]:
            current = current / part
            if current.is_symlink():
                return False
            current.mkdir(exist_ok=True)
        final = current / parts[-1]
        if final.is_symlink() or final.is_dir():
            return False
        final.write_bytes(data)
    except (OSError, ValueError):
        return False
    return True


@contextmanager
def workspace(context: Context) -> Iterator[Path]:
    """A fresh folder with an ``outside`` folder holding one file; removed afterwards."""
    work = Path(tempfile.mkdtemp(dir=context.tmp))
    try:
        (work / "outside").mkdir()
        (work / "outside" / "keep.txt").write_bytes(b"outside")
        yield work
    finally:
        shutil.rmtree(work)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SIMPLE_PATHS = [
    "a.txt",
    "d/e.txt",
    f"{NFC_E}.txt",
    f"{NFD_E}.txt",
    "x" * 255,
    "C:",
    "~/x",
    ".../y",
    "-rf",
    "'; DROP TABLE changeset_entries; --",
    "%/_",
    "link/escape.txt",
    "slink/escape.txt",
    "sfile",
]
apply_paths = mostly(st.sampled_from(SIMPLE_PATHS), hostile_paths, 2)


@st.composite
def apply_plans(draw: st.DrawFn) -> dict[str, Any]:
    initial = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a.txt", "d/e.txt", NFC_E, NFD_E, "%"]), st.binary(max_size=8)
            ),
            max_size=3,
            unique_by=lambda item: item[0],
        )
    )
    entries = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["create", "create", "modify", "delete", "rename"]),
                apply_paths,
                st.binary(max_size=8),
                st.integers(0, 5),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {"initial": initial, "entries": entries}


def _simulate(
    initial: dict[str, bytes], entries: list[tuple[ChangeEntry, bytes]]
) -> dict[str, bytes]:
    state = dict(initial)
    for entry, content in entries:
        if entry.operation is ChangeOperation.DELETE:
            state.pop(entry.path, None)
            continue
        if entry.operation is ChangeOperation.RENAME and entry.old_path is not None:
            state.pop(entry.old_path, None)
        state[entry.path] = content
    return state


def _siblings(context: Context) -> list[str]:
    """What the scenario's folder holds, but the SQLite database's own files."""
    return sorted(
        path.name for path in context.tmp.iterdir() if not path.name.startswith("cleveragents.db")
    )


@then("applying plans whose entries carry hostile paths never writes outside the target")
def step_apply_property(context: Context) -> None:
    tally = Tally()
    s = stores(context)
    siblings = _siblings(context)

    @_settings(EXAMPLES["apply paths"])
    @hypothesis_given(plan=apply_plans())
    @example(
        plan={
            "initial": [],
            "entries": [
                ("create", "link/escape.txt", b"x", 0, True),
                ("create", "a.txt", b"y", 0, True),
            ],
        }
    )
    @example(
        plan={
            "initial": [],
            "entries": [
                ("create", "../escape.txt", b"x", 0, True),
                ("create", "/tmp/escape.txt", b"x", 0, True),
                ("create", "a\\..\\..\\escape.txt", b"x", 0, True),
            ],
        }
    )
    @example(plan={"initial": [], "entries": [("create", "slink/escape.txt", b"x", 0, True)]})
    @example(
        plan={"initial": [("a.txt", b"old")], "entries": [("modify", "sfile", b"new", 0, True)]}
    )
    @example(
        plan={
            "initial": [],
            "entries": [
                ("create", f"{NFC_E}.txt", b"nfc", 0, True),
                ("create", f"{NFD_E}.txt", b"nfd", 0, True),
            ],
        }
    )
    @example(
        plan={
            "initial": [("a.txt", b"old")],
            "entries": [("rename", "d/", b"old", 0, True), ("create", "a.txt/b", b"x", 0, True)],
        }
    )
    @example(
        plan={
            "initial": [],
            "entries": [("create", "a", b"x", 0, True), ("create", "a/b", b"y", 0, True)],
        }
    )
    def check(plan: dict[str, Any]) -> None:
        _wipe(context)
        tally.examples += 1
        with workspace(context) as work:
            outside, sandbox, target = work / "outside", work / "sandbox", work / "target"
            sandbox.mkdir()
            target.mkdir()
            (target / "link").symlink_to(outside, target_is_directory=True)
            (sandbox / "slink").symlink_to(outside, target_is_directory=True)
            (sandbox / "sfile").symlink_to(outside / "keep.txt")
            initial = dict(plan["initial"])
            for path, data in initial.items():
                assert safe_write(target, path, data)
            changeset = s.changesets.start("plan-apply")
            recorded: list[tuple[ChangeEntry, bytes]] = []
            for operation, raw_path, content, pick, correct in plan["entries"]:
                sources = sorted(initial)
                source = sources[pick % len(sources)] if sources else raw_path
                fields: dict[str, Any] = {
                    "changeset_id": changeset.changeset_id,
                    "plan_id": "plan-apply",
                    "operation": operation,
                    "path": source if operation in ("modify", "delete") else raw_path,
                }
                before = sha(initial.get(source, b"")) if correct else sha(b"wrong")
                if operation != "create":
                    fields["before_hash"] = before
                if operation != "delete":
                    fields["after_hash"] = sha(content)
                if operation == "rename":
                    fields["old_path"] = source
                try:
                    entry = build(tally, ChangeEntry, fields)
                except Refused:
                    assert not expected_path_ok(fields["path"]) or not expected_path_ok(
                        fields.get("old_path") or "ok"
                    ), fields
                    continue
                assert expected_path_ok(entry.path), entry.path
                if operation != "delete":
                    safe_write(sandbox, entry.path, content)
                s.changesets.record(entry)
                recorded.append((entry, content))
            before_target, before_sandbox, before_outside = (
                tree(target),
                tree(sandbox),
                tree(outside),
            )
            try:
                result = s.apply.apply("plan-apply", sandbox, target)
            except RecordNotFoundError:
                assert not recorded
            except ApplyError:
                assert tree(target) == before_target, "a failed apply changed the target"
                assert sum(_counts(context).values()) == 0, "a failed apply kept the plan's records"
                tally.refused += 1
            else:
                assert isinstance(result, ApplyResult)
                wanted = _simulate(initial, recorded)
                found = {p: v for p, v in files_only(tree(target)).items() if p != "link"}
                assert found == {p: ("file", data) for p, data in wanted.items()}, (found, wanted)
                assert set(result.written) <= set(wanted) and not set(result.deleted) & set(wanted)
                tally.stored += 1
            assert tree(outside) == before_outside == {"keep.txt": ("file", b"outside")}
            assert tree(sandbox) == before_sandbox
            assert sorted(path.name for path in work.iterdir()) == ["outside", "sandbox", "target"]
        assert _siblings(context) == siblings

    check()
    tally.check("apply paths", examples=EXAMPLES["apply paths"])


RESTORE_SEGMENTS = [
    "a",
    "b",
    NFC_E,
    NFD_E,
    "\u00c5",
    "\u212b",
    "a\\b",
    "C:",
    "~",
    "...",
    "-rf",
    ".hidden",
    "\n",
    "\U0001f642",
    "'; DROP TABLE checkpoints; --",
    "%",
    "_",
    "x" * 255,
    "y" * 256,
    NFC_E * 200,
]


@st.composite
def restore_cases(draw: st.DrawFn) -> dict[str, Any]:
    files = draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(RESTORE_SEGMENTS), min_size=1, max_size=3).map("/".join),
                st.binary(max_size=8),
                st.booleans(),
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda item: item[0],
        )
    )
    return {
        "files": files,
        "link": draw(st.sampled_from([None, "outside", "outside/keep.txt", "../outside"])),
        "trick": draw(st.sampled_from(["folder", "folder", "file", "none"])),
        "edit": draw(st.integers(0, 10)),
        "remove_untracked": draw(st.booleans()),
        "snapshot": {
            "plan_id": draw(mostly(st.just("plan-restore"), hostile_ids, 3)),
            "decision_id": draw(mostly(st.just("d1"), hostile_ids, 3)),
            "description": draw(st.one_of(st.none(), hostile_text)),
        },
    }


@then(
    "restoring snapshots of hostile file names never writes outside the target, even through a symlinked parent"
)
def step_restore_property(context: Context) -> None:
    tally = Tally()
    service = stores(context).checkpoint_service

    @_settings(EXAMPLES["restore paths"])
    @hypothesis_given(case=restore_cases())
    @example(
        case={
            "files": [("d/a", b"1", False), ("d/b", b"2", True)],
            "link": None,
            "trick": "folder",
            "edit": 0,
            "remove_untracked": False,
        }
    )
    @example(
        case={
            "files": [("d/a", b"1", False), ("d/b", b"2", True)],
            "link": None,
            "trick": "folder",
            "edit": 0,
            "remove_untracked": True,
        }
    )
    @example(
        case={
            "files": [("a", b"1", False)],
            "link": "outside/keep.txt",
            "trick": "file",
            "edit": 0,
            "remove_untracked": True,
        }
    )
    @example(
        case={
            "files": [("a\\b", b"1", False), ("c/d\\e", b"2", False), ("ok", b"3", False)],
            "link": None,
            "trick": "none",
            "edit": 0,
            "remove_untracked": True,
        }
    )
    @example(
        case={
            "files": [
                (NFC_E, b"nfc", False),
                (NFD_E, b"nfd", False),
                ("\u00c5/\u212b", b"a", False),
            ],
            "link": "../outside",
            "trick": "none",
            "edit": 1,
            "remove_untracked": False,
        }
    )
    def check(case: dict[str, Any]) -> None:
        _wipe(context)
        tally.examples += 1
        with workspace(context) as work:
            outside, sandbox, target = work / "outside", work / "sandbox", work / "target"
            sandbox.mkdir()
            for path, data, executable in case["files"]:
                if safe_write(sandbox, path, data) and executable:
                    (sandbox / path).chmod(0o755)
            if case["link"] is not None:
                (sandbox / "lnk").symlink_to(
                    work / case["link"] if case["link"] != "../outside" else case["link"]
                )
            arguments = case.get("snapshot", {"plan_id": "plan-restore", "decision_id": "d1"})
            try:
                made = attempt_call(
                    context,
                    tally,
                    "create_workspace_snapshot",
                    lambda: service.create_workspace_snapshot(
                        arguments["plan_id"],
                        str(sandbox),
                        arguments["decision_id"],
                        description=arguments.get("description"),
                    ),
                )
            except Refused:
                assert tree(outside) == {"keep.txt": ("file", b"outside")}
                return
            assert valid_id(arguments["plan_id"]) and valid_id(arguments["decision_id"])
            # Names a workspace path cannot hold (a backslash) are skipped by snapshots.
            wanted = {p: v for p, v in snapshot_view(tree(sandbox)).items() if "\\" not in p}
            manifest = stores(context).checkpoints.manifest(made.checkpoint_id) or []
            assert sorted(e.path for e in manifest) == sorted(wanted), "snapshot manifest"
            shown = sorted(f"{p}/" if v[0] == "dir" else p for p, v in wanted.items())
            outside_before = tree(outside)
            # 1. Into a fresh folder: the snapshot comes back exactly.
            fresh = work / "fresh"
            restored = service.restore_workspace(made.checkpoint_id, fresh)
            assert snapshot_view(tree(fresh)) == wanted, "a fresh restore differs from the sandbox"
            assert restored.written == shown
            tally.stored += 1
            # 2. Into a copy with edits and a symlink trick: never through the symlink.
            shutil.copytree(sandbox, target, symlinks=True)
            tracked = sorted(p for p, v in wanted.items() if v[0] == "file")
            if tracked:
                edited = tracked[case["edit"] % len(tracked)]
                (target / edited).write_bytes(b"edited")
            nested = [p for p in tracked if "/" in p]
            if case["trick"] == "folder" and nested:
                folder = target / nested[0].split("/")[0]
                shutil.rmtree(folder)
                folder.symlink_to(outside, target_is_directory=True)
            elif case["trick"] == "file" and tracked:
                (target / tracked[-1]).unlink()
                (target / tracked[-1]).symlink_to(outside / "keep.txt")
            before = tree(target)
            untracked = {p: v for p, v in files_only(before).items() if "\\" in p}
            try:
                service.restore_workspace(
                    made.checkpoint_id, target, remove_untracked=case["remove_untracked"]
                )
            except (ValueError, OSError) as exc:
                assert not isinstance(exc, UnicodeError), _describe(exc)
                assert tree(target) == before, (
                    f"a refused restore changed the target ({_describe(exc)})"
                )
                tally.refused += 1
            else:
                found = snapshot_view(tree(target))
                assert found == {**wanted, **untracked}, "the restored target differs"
                tally.stored += 1
            assert tree(outside) == outside_before == {"keep.txt": ("file", b"outside")}

    check()
    tally.check("restore paths", examples=EXAMPLES["restore paths"])


@then("a crafted manifest whose symlink is also a folder is refused and writes nothing")
def step_crafted_manifest(context: Context) -> None:
    s = stores(context)
    with workspace(context) as work:
        outside = work / "outside"
        link_target = os.fsencode(str(outside))
        crafted = [
            ManifestEntry(
                path="dir", kind=FileKind.SYMLINK, sha256=sha(link_target), size=len(link_target)
            ),
            ManifestEntry(path="dir/escape.txt", sha256=sha(b"escape"), size=6),
        ]
        # Both orders, and the same path twice: no tree can hold any of them.
        for manifest in (crafted, crafted[::-1], [crafted[1], crafted[1]]):
            content = SnapshotContent(
                manifest=manifest,
                diff=[],
                blobs={sha(link_target): link_target, sha(b"escape"): b"escape"},
            )
            checkpoint = Checkpoint(plan_id="plan-crafted", sandbox_ref=str(work))
            objects = s.checkpoints.object_count()
            try:
                s.checkpoints.create(checkpoint, content)
            except ValueError as exc:
                assert "content.manifest" in str(exc), exc
            else:
                raise AssertionError(f"a manifest holding {[e.path for e in manifest]} was stored")
            assert s.checkpoints.get(checkpoint.checkpoint_id) is None
            assert s.checkpoints.object_count() == objects
            assert tree(outside) == {"keep.txt": ("file", b"outside")}
