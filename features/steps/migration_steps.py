"""Steps for Alembic migrations and session factories."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path
from unittest import mock

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from behave import given, then, when
from behave.runner import Context
from restore_steps import files_of
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, make_entry, run_python

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.error_pattern import ErrorPattern
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.models import Base
from cleveragents.infrastructure.database.session import (
    create_database_engine,
    create_session_factory,
    default_database_url,
)


def _keep_engine(context: Context) -> None:
    """A memory database lives in one connection: keep one engine for the whole scenario."""
    if getattr(context, "engine", None) is None:
        context.engine = create_database_engine(context.url)
        context.cleanups.append(context.engine.dispose)


def _upgrade(context: Context, revision: str) -> None:
    _keep_engine(context)
    if context.url == "sqlite://":
        migrations.upgrade_engine(context.engine, revision)
    else:
        migrations.upgrade(context.url, revision)


def _current(context: Context) -> str | None:
    _keep_engine(context)
    with context.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@given('the database is upgraded to "{revision}"')
@when('I upgrade the database to "{revision}"')
def step_upgrade(context: Context, revision: str) -> None:
    _upgrade(context, revision)


@when('I try to upgrade the database to "{revision:Text}"')
def step_try_upgrade(context: Context, revision: str) -> None:
    attempt(context, lambda: _upgrade(context, revision))


@when('I try to downgrade the database to "{revision:Text}"')
def step_try_downgrade(context: Context, revision: str) -> None:
    _upgrade(context, "head")
    attempt(context, lambda: step_downgrade(context, revision))


@when('I downgrade the database to "{revision}"')
def step_downgrade(context: Context, revision: str) -> None:
    _keep_engine(context)
    if context.url == "sqlite://":
        migrations._run(context.engine, "downgrade", revision)
    else:
        migrations.downgrade(context.url, revision)


@then("the current revision is the head revision")
def step_current_head(context: Context) -> None:
    head = migrations.head_revision()
    assert _current(context) == head
    if context.url != "sqlite://":
        assert migrations.current_revision(context.url) == head


@then("the current revision is none")
def step_current_none(context: Context) -> None:
    assert _current(context) is None
    if context.url != "sqlite://":
        assert migrations.current_revision(context.url) is None


@then("the schema matches the models exactly")
def step_schema_matches(context: Context) -> None:
    with context.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert differences == [], differences


@then("the database has no cleveragents tables")
def step_no_tables(context: Context) -> None:
    with context.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
    assert tables == set(), tables


@given('a changeset for plan "{plan}" holding {count:d} entries is recorded')
def step_plan_entries(context: Context, plan: str, count: int) -> None:
    factory = create_session_factory(context.url)
    context.cleanups.append(factory.kw["bind"].dispose)
    store = SqliteChangeSetStore(factory)
    changeset = store.start(plan)
    context.names = {"X": changeset.changeset_id}
    store.record_many(
        [
            make_entry(context, "X", plan, {"path": f"f{i}", "operation": "create"})
            for i in range(count)
        ]
    )
    context.kept_factory = factory


@when("I open a new session factory on the database")
def step_open_new(context: Context) -> None:
    if context.url == "sqlite://":
        context.reopened = context.kept_factory  # a memory database cannot be reopened
        return
    context.reopened = create_session_factory(context.url)
    context.cleanups.append(context.reopened.kw["bind"].dispose)


@then('plan "{plan}" still has {count:d} entries')
def step_still_has(context: Context, plan: str, count: int) -> None:
    changesets = SqliteChangeSetStore(context.reopened).get_for_plan(plan)
    assert sum(len(c.entries) for c in changesets) == count


@given('the database claims revision "{revision}"')
def step_claims(context: Context, revision: str) -> None:
    _keep_engine(context)
    with context.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def _open(context: Context, url: str, migrate: bool) -> None:
    if url == "sqlite://":
        # The memory database of this scenario lives in context.engine: check it directly.
        _keep_engine(context)

        def check() -> None:
            if migrate:
                migrations.upgrade_engine(context.engine, "head")
            else:
                migrations.check_schema_version(context.engine)

        attempt(context, check)
        return

    def open_factory() -> object:
        factory = create_session_factory(url, migrate=migrate)
        context.cleanups.append(factory.kw["bind"].dispose)
        return factory

    attempt(context, open_factory)


@when("I try to open a session factory on the database")
def step_try_open(context: Context) -> None:
    _open(context, context.url, migrate=True)


@when("I try to open a session factory on the database without migrating")
def step_try_open_no_migrate(context: Context) -> None:
    _open(context, context.url, migrate=False)


@when("I open a session factory on the database without migrating")
def step_open_no_migrate(context: Context) -> None:
    _open(context, context.url, migrate=False)
    assert context.error is None, context.error


@when('I try to open a session factory on "{url}"')
def step_try_open_url(context: Context, url: str) -> None:
    _open(context, url, migrate=True)


@when('I try to open a session factory on "{url}" without migrating')
def step_try_open_url_no_migrate(context: Context, url: str) -> None:
    _open(context, url, migrate=False)


@then('the error names "{revision}" and the head revision')
def step_error_names(context: Context, revision: str) -> None:
    message = str(context.error)
    assert revision in message and migrations.head_revision() in message, message


@then('the error mentions "{shown}" but not "{secret}"')
def step_error_mentions(context: Context, shown: str, secret: str) -> None:
    message = str(context.error)
    assert shown in message, message
    assert secret not in message, message
    cause = context.error.__cause__
    assert cause is not None or "unsupported" in message, "the original error is not the cause"


_OPENER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
factory = create_session_factory(sys.argv[1])
print(json.dumps(SqliteChangeSetStore(factory).start("p").plan_id))
"""


@when("{count:d} processes open the database at the same time")
def step_concurrent_open(context: Context, count: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run_python, _OPENER, context.url) for _ in range(count)]
        context.outcomes = [f.exception() or f.result() for f in futures]


@then("every process succeeded")
def step_every_process(context: Context) -> None:
    assert context.outcomes == ["p"] * len(context.outcomes), context.outcomes


@then("the default database URL follows CLEVERAGENTS_DATABASE_URL and XDG_DATA_HOME")
def step_default_url(context: Context) -> None:
    with mock.patch.dict(os.environ, {"CLEVERAGENTS_DATABASE_URL": "sqlite:///x.db"}):
        assert default_database_url() == "sqlite:///x.db"
    clean = {k: v for k, v in os.environ.items() if k != "CLEVERAGENTS_DATABASE_URL"}
    with mock.patch.dict(os.environ, {**clean, "XDG_DATA_HOME": str(context.tmp)}, clear=True):
        assert default_database_url() == f"sqlite:///{context.tmp}/cleveragents/cleveragents.db"
        factory = create_session_factory()
        factory.kw["bind"].dispose()
        assert (context.tmp / "cleveragents" / "cleveragents.db").is_file()
    clean.pop("XDG_DATA_HOME", None)
    with mock.patch.dict(os.environ, clean, clear=True):
        home = Path.home()
        assert (
            default_database_url() == f"sqlite:///{home}/.local/share/cleveragents/cleveragents.db"
        )


@when("I try to open a session factory with {argument}")
def step_open_nonsense(context: Context, argument: str) -> None:
    value: object = {"an empty URL": "  ", "a number": 42}[argument]
    attempt(context, lambda: create_session_factory(value))  # deliberately not a str


@when("I try to build a SqliteChangeSetStore with a string as session factory")
def step_store_string_factory(context: Context) -> None:
    attempt(context, lambda: SqliteChangeSetStore("sqlite://"))  # deliberately not callable


@then('the current revision is "{revision}"')
def step_current_is(context: Context, revision: str) -> None:
    assert _current(context) == revision, _current(context)
    if context.url != "sqlite://":
        assert migrations.current_revision(context.url) == revision


def _tables(context: Context) -> set[str]:
    _keep_engine(context)
    with context.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


@then('the database has the tables "{names}"')
def step_has_tables(context: Context, names: str) -> None:
    wanted = {name.strip() for name in names.split(",")}
    assert wanted <= _tables(context), wanted - _tables(context)


@then('the database does not have the tables "{names}"')
def step_lacks_tables(context: Context, names: str) -> None:
    unwanted = {name.strip() for name in names.split(",")}
    assert not unwanted & _tables(context), unwanted & _tables(context)


def _migrated(context: Context) -> sessionmaker[Session]:
    """Sessions on the scenario's engine: the same database the migrations ran on (memory too)."""
    _keep_engine(context)
    return sessionmaker(bind=context.engine, expire_on_commit=False)


def _reopened(context: Context) -> sessionmaker[Session]:
    """A new session factory on the migrated database, as a restarted process opens it."""
    if context.url == "sqlite://":
        return _migrated(context)  # a memory database cannot be reopened
    reopened = create_session_factory(context.url, migrate=False)
    context.cleanups.append(reopened.kw["bind"].dispose)
    return reopened


@given('a changeset for plan "{plan}" holding {count:d} entries is stored in the migrated database')
def step_migrated_entries(context: Context, plan: str, count: int) -> None:
    store = SqliteChangeSetStore(_migrated(context))
    changeset = store.start(plan)
    context.names = {"X": changeset.changeset_id}
    store.record_many(
        [
            make_entry(context, "X", plan, {"path": f"f{i}", "operation": "create"})
            for i in range(count)
        ]
    )


@given('an error pattern "{pattern_id}" is stored in the migrated database')
def step_migrated_pattern(context: Context, pattern_id: str) -> None:
    context.kept_pattern = ErrorPatternRepository(_migrated(context)).create(
        ErrorPattern(pattern_id=pattern_id, pattern="ImportError", keywords=["module"])
    )


@then(
    'error pattern "{pattern_id}" is still stored, matched and counted after reopening the database'
)
def step_pattern_kept(context: Context, pattern_id: str) -> None:
    repository = ErrorPatternRepository(_reopened(context))
    assert repository.get(pattern_id) == context.kept_pattern
    assert repository.match_context("No module named 'x'") == [context.kept_pattern]
    assert repository.count() == 1


@then('plan "{plan}" still has {count:d} entries in the migrated database')
def step_migrated_still_has(context: Context, plan: str, count: int) -> None:
    # Counted in SQL: after a downgrade the schema is older than this version's models.
    with _migrated(context)() as session:
        found = session.execute(
            text("SELECT count(*) FROM changeset_entries WHERE plan_id = :plan"), {"plan": plan}
        ).scalar_one()
    assert found == count, found


@then("the migrated database holds no error patterns")
def step_migrated_no_patterns(context: Context) -> None:
    repository = ErrorPatternRepository(_migrated(context))
    assert repository.count() == 0
    assert repository.match_context("ImportError: No module named 'x'") == []


@given("error patterns with these texts are stored in the migrated database")
def step_migrated_texts(context: Context) -> None:
    repository = ErrorPatternRepository(_migrated(context))
    context.kept_texts = {}
    for row in context.table:
        repository.create(ErrorPattern(pattern_id=row["pattern_id"], pattern=row["text"]))
        context.kept_texts[row["pattern_id"]] = row["text"]


@then("the stored text anchors are")
def step_text_anchors(context: Context) -> None:
    with _migrated(context)() as session:
        rows = session.execute(
            text(
                "SELECT pattern_id, kind, term FROM error_pattern_terms WHERE kind <> 0 "
                "ORDER BY pattern_id, kind, term"
            )
        ).all()
    found: dict[str, set[str]] = {}
    for pattern_id, kind, term in rows:
        found.setdefault(pattern_id, set()).add(f"{kind}:{term}")
    expected = {row["pattern_id"]: set(json.loads(row["anchors"])) for row in context.table}
    assert found == expected, (found, expected)


@then("the stored patterns are matched by their texts after reopening the database")
def step_texts_matched(context: Context) -> None:
    repository = ErrorPatternRepository(_reopened(context))
    for pattern_id, pattern_text in context.kept_texts.items():
        found = repository.match_context(f"failed: {pattern_text}!", limit=10)
        assert pattern_id in [p.pattern_id for p in found], (pattern_id, found)


_OLD_DIFFS = {
    "cp-with-diff": [("a/z.txt", "a" * 64), ("a/é.txt", None), ("b.txt", "b" * 64)],
    "cp-without-diff": [],
}


@given("two checkpoints with revision 0005's diff rows are stored in the migrated database")
def step_old_diff_rows(context: Context) -> None:
    with _migrated(context).begin() as session:
        for number, (checkpoint_id, rows) in enumerate(_OLD_DIFFS.items()):
            session.execute(
                text(
                    "INSERT INTO checkpoints (checkpoint_id, plan_id, sandbox_ref, "
                    "checkpoint_type, parent_id, created_at, checkpoint_metadata, root_tree, "
                    "file_count, total_size) VALUES (:id, 'plan-old', '/s', 'manual', NULL, "
                    ":at, '{}', NULL, 0, 0)"
                ),
                {"id": checkpoint_id, "at": f"2026-11-30 12:00:0{number}"},
            )
            for path, sha256 in rows:
                session.execute(
                    text(
                        "INSERT INTO checkpoint_diffs (checkpoint_id, path, sha256) "
                        "VALUES (:id, :path, :sha)"
                    ),
                    {"id": checkpoint_id, "path": path, "sha": sha256},
                )


@then("the checkpoint repository reads those diffs back, sorted by path")
def step_diffs_read_back(context: Context) -> None:
    repository = CheckpointRepository(_reopened(context))
    for checkpoint_id, rows in _OLD_DIFFS.items():
        found = [(d.path, d.sha256) for d in repository.diff(checkpoint_id)]
        assert found == sorted(rows), (checkpoint_id, found)


@then("the diff rows of revision 0005 are back")
def step_diff_rows_back(context: Context) -> None:
    with _migrated(context)() as session:
        rows = session.execute(
            text("SELECT checkpoint_id, path, sha256 FROM checkpoint_diffs")
        ).all()
    expected = sorted((c, p, h or "") for c, found in _OLD_DIFFS.items() for p, h in found)
    assert sorted((c, p, h or "") for c, p, h in rows) == expected, rows


@given("a checkpoint of {count:d} small files is stored in the migrated database")
def step_checkpoint_migrated(context: Context, count: int) -> None:
    sandbox = context.tmp / "migrated-sandbox"
    for n in range(count):
        path = sandbox / "src" / f"module_{n:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"value_{i} = compute({i}, {n})\n" for i in range(40 + n)))
    service = CheckpointService(CheckpointRepository(_migrated(context)), watch=False)
    made = service.create_workspace_snapshot("plan-keep", str(sandbox), "d1")
    context.migrated_checkpoint = (made.checkpoint_id, files_of(sandbox))


@then("every stored object key is {form}, read raw")
def step_object_keys(context: Context, form: str) -> None:
    with _migrated(context)() as session:
        keys = list(session.execute(text("SELECT object_hash FROM checkpoint_objects")).scalars())
    assert keys, "no object is stored"
    if form == "64 lowercase hex digits":
        assert all(isinstance(k, str) and k == bytes.fromhex(k).hex() for k in keys), keys[:3]
    else:
        assert form == "32 raw bytes", form
        assert all(isinstance(k, bytes) and len(k) == 32 for k in keys), keys[:3]


@then("the stored checkpoint verifies and restores exactly after reopening the database")
def step_checkpoint_survives(context: Context) -> None:
    checkpoint_id, files = context.migrated_checkpoint
    service = CheckpointService(CheckpointRepository(_reopened(context)), watch=False)
    assert service.verify_checkpoint(checkpoint_id)
    target = context.tmp / "migrated-restore"
    service.restore_workspace(checkpoint_id, target)
    assert files_of(target) == files


@given(
    "a SQLite file made by this version holding {count:d} incompressible files of {size:d} bytes"
)
def step_sqlite_file_objects(context: Context, count: int, size: int) -> None:
    sandbox = context.tmp / "own-file-sandbox"
    sandbox.mkdir()
    rng = random.Random(count)
    for n in range(count):
        (sandbox / f"noise_{n:03d}.bin").write_bytes(rng.randbytes(size))
    context.own_file = context.tmp / "own.sqlite"
    context.own_url = f"sqlite:///{context.own_file}"
    factory = create_session_factory(context.own_url)
    service = CheckpointService(CheckpointRepository(factory), watch=False)
    made = service.create_workspace_snapshot("plan-own", str(sandbox), "d1")
    service.close()
    factory.kw["bind"].dispose()
    context.own_checkpoint = (made.checkpoint_id, files_of(sandbox))
    context.own_pages = [_pages_in_file(context.own_file)]


def _pages_in_file(path: Path) -> int:
    """The file's pages after a WAL checkpoint, free ones included: what the file holds."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(connection.execute("PRAGMA page_count").fetchone()[0])
    finally:
        connection.close()


@when('it is downgraded to "{down}" and upgraded to "{up}" again')
def step_down_and_up(context: Context, down: str, up: str) -> None:
    migrations.downgrade(context.own_url, down)
    context.own_pages.append(_pages_in_file(context.own_file))
    migrations.upgrade(context.own_url, up)
    context.own_pages.append(_pages_in_file(context.own_file))


@then("its pages after each migration are at most {ratio:g} times its pages before")
def step_pages_bounded(context: Context, ratio: float) -> None:
    before, *after = context.own_pages
    assert all(pages <= before * ratio for pages in after), context.own_pages


@then("its checkpoint verifies and restores exactly")
def step_own_checkpoint(context: Context) -> None:
    checkpoint_id, files = context.own_checkpoint
    factory = create_session_factory(context.own_url)
    context.cleanups.append(factory.kw["bind"].dispose)
    service = CheckpointService(CheckpointRepository(factory), watch=False)
    assert service.verify_checkpoint(checkpoint_id)
    target = context.tmp / "own-restore"
    service.restore_workspace(checkpoint_id, target)
    assert files_of(target) == files
