"""Steps for faults: a lock held by another process, a stopped server, a full disk,
a read-only database and a corrupt SQLite file.

Faults that belong to one engine use a database of that engine of their own (a
SQLite file in the scenario's folder, a throwaway PostgreSQL cluster started with
tools/pg_cluster.py), so that they run, and prove the same thing, on every backend.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import os
import pwd
import select
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from behave import given, then, when
from behave.runner import Context
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from support.world import attempt, factory, table_rows

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.cli.app import main
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation, ToolInvocation
from cleveragents.domain.models.core.error_pattern import ErrorPattern
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.errors import DatabaseError
from cleveragents.infrastructure.database.session import create_session_factory

_ROOT = Path(__file__).resolve().parents[2]
_SRC = str(_ROOT / "src")
_CHILD_TIMEOUT = 120
# CONTRACT.md section 6, Retries: by default at most 5 attempts within about 5 s.
_MAX_ATTEMPTS = 5


@dataclass
class FaultDatabase:
    """The database a fault scenario works on, and what was written to it before the fault."""

    url: str
    path: Path | None = None  # the SQLite file, if it is one
    changeset_name: str = ""  # the changeset's name in the scenario
    session_factory: sessionmaker[Session] | None = None
    plan_id: str = ""
    changeset_id: str = ""
    pattern_id: str = ""
    earlier: list[ChangeEntry] = field(default_factory=list)
    cluster: Any = None  # tools/pg_cluster.py's Cluster, for a server of its own
    account: pwd.struct_passwd | None = None  # the account that runs that server

    @property
    def made(self) -> sessionmaker[Session]:
        assert self.session_factory is not None, "the fault database was never opened"
        return self.session_factory

    @property
    def engine(self) -> Engine:
        bound: Engine = self.made.kw["bind"]
        return bound


def fault(context: Context, changeset: str | None = None) -> FaultDatabase:
    """The scenario's fault database (``changeset``: the name the scenario gave its changeset)."""
    database: FaultDatabase = context.fault
    assert changeset in (None, database.changeset_name), (changeset, database.changeset_name)
    return database


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
    return env


def _entries(database: FaultDatabase, count: int, kilobytes: int, prefix: str) -> list[ChangeEntry]:
    return [
        ChangeEntry(
            changeset_id=database.changeset_id,
            plan_id=database.plan_id,
            path=f"{prefix}/{index:05d}.txt",
            operation=ChangeOperation.CREATE,
            after_hash=f"{index:064x}",
            diff=f"+{prefix} {index} " + "x" * (kilobytes * 1024),
            insertions=1,
        )
        for index in range(count)
    ]


def _seed(
    context: Context,
    database: FaultDatabase,
    name: str,
    plan: str,
    count: int,
    kilobytes: int,
    pattern_id: str,
    seen: int,
) -> None:
    store = SqliteChangeSetStore(database.made)
    database.plan_id = plan
    database.changeset_name = name
    database.changeset_id = store.start(plan).changeset_id
    database.earlier = _entries(database, count, kilobytes, "earlier")
    assert store.record_many(database.earlier) == count
    ErrorPatternRepository(database.made).create(
        ErrorPattern(pattern_id=pattern_id, pattern="ImportError", frequency=seen)
    )
    database.pattern_id = pattern_id
    context.fault = database


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database or ""
    return Path(database.removeprefix("file:").split("?", 1)[0])


@given(
    'the scenario database holds changeset "{name}" of plan "{plan}" with {count:d} entries of {kb:d} KB and error pattern "{pattern_id}" seen {seen:d} times'
)
def step_seed_scenario(
    context: Context, name: str, plan: str, count: int, kb: int, pattern_id: str, seen: int
) -> None:
    parsed = make_url(context.url)
    path = _sqlite_path(context.url) if parsed.get_backend_name() == "sqlite" else None
    assert path is None or parsed.database, "the scenario database must outlive a connection"
    database = FaultDatabase(context.url, path=path, session_factory=factory(context))
    _seed(context, database, name, plan, count, kb, pattern_id, seen)


@given(
    'a SQLite file of its own holds changeset "{name}" of plan "{plan}" with {count:d} entries of {kb:d} KB and error pattern "{pattern_id}" seen {seen:d} times'
)
def step_seed_sqlite(
    context: Context, name: str, plan: str, count: int, kb: int, pattern_id: str, seen: int
) -> None:
    path = context.tmp / "fault" / "agents.db"
    url = f"sqlite:///{path}"
    made = create_session_factory(url)
    context.cleanups.append(made.kw["bind"].dispose)
    _seed(
        context,
        FaultDatabase(url, path=path, session_factory=made),
        name,
        plan,
        count,
        kb,
        pattern_id,
        seen,
    )


@given("a SQLite file of its own that holds text, not a database")
def step_not_a_database(context: Context) -> None:
    path = context.tmp / "fault" / "notes.db"
    path.parent.mkdir(parents=True)
    context.original_bytes = ("These are my notes, not a database.\n" * 200).encode()
    path.write_bytes(context.original_bytes)
    context.fault = FaultDatabase(f"sqlite:///{path}", path=path)


@given('the sandbox of plan "{plan}" has a checkpoint')
def step_sandbox_checkpoint(context: Context, plan: str) -> None:
    sandbox = context.tmp / "sandbox"
    (sandbox / "src").mkdir(parents=True)
    (sandbox / "README.md").write_text("# sandbox\n")
    (sandbox / "src" / "app.py").write_text("print('hello')\n")
    context.sandbox = sandbox
    database = fault(context)
    service = CheckpointService(CheckpointRepository(database.made))
    context.first_checkpoint = service.create_workspace_snapshot(plan, str(sandbox), "decision-0")


# --- the calls a fault is tried on ------------------------------------------------------


def _call(context: Context, name: str, made: sessionmaker[Session]) -> Callable[[], object]:
    """The named public call against the fault database through ``made``."""
    database = fault(context)
    store = SqliteChangeSetStore(made)
    patterns = ErrorPatternRepository(made)
    service = CheckpointService(CheckpointRepository(made))
    context.call_counter = getattr(context, "call_counter", 0) + 1
    tag = context.call_tag = f"call{context.call_counter}"

    def snapshot() -> object:
        (context.sandbox / "src" / f"{tag}.py").write_text(f"# {tag}\n")
        return service.create_workspace_snapshot(database.plan_id, str(context.sandbox), tag)

    calls: dict[str, Callable[[], object]] = {
        "start": lambda: store.start(database.plan_id),
        "record": lambda: store.record(_entries(database, 1, 1, tag)[0]),
        "record_many": lambda: store.record_many(_entries(database, 3, 1, tag)),
        "record_invocation": lambda: store.record_invocation(
            ToolInvocation(
                plan_id=database.plan_id,
                changeset_id=database.changeset_id,
                tool_name="write_file",
                arguments={"path": f"{tag}.txt"},
            )
        ),
        "record_occurrence": lambda: patterns.record_occurrence(database.pattern_id),
        "create error pattern": lambda: patterns.create(ErrorPattern(pattern=f"Error{tag}")),
        "delete_for_plan": lambda: store.delete_for_plan(database.plan_id),
        "get": lambda: store.get(database.changeset_id),
        "create_workspace_snapshot": snapshot,
    }
    return calls[name]


def _check_own_error(error: BaseException | None, what: str) -> DatabaseError:
    """The error is the library's DatabaseError, with the driver's error as its cause."""
    assert isinstance(error, DatabaseError), f"{what}: expected DatabaseError, got {error!r}"
    assert not isinstance(error, sqlite3.Error | sa_exc.SQLAlchemyError), f"{what}: {error!r}"
    cause = error.__cause__
    assert isinstance(cause, sa_exc.DBAPIError), f"{what}: cause is {cause!r}"
    assert str(error).strip() and "\n" not in str(error).strip(), f"{what}: {error!s}"
    return error


@contextlib.contextmanager
def _counting_connects(engine: Engine) -> Iterator[list[int]]:
    """Counts the DB-API connection attempts ``engine`` makes meanwhile."""
    counter = [0]

    def counted(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "do_connect", counted)
    try:
        yield counter
    finally:
        event.remove(engine, "do_connect", counted)


# --- a lock held by another process -----------------------------------------------------

_LOCK_HOLDER = r"""
import sys, time
kind, where, table, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if kind == "sqlite":
    import sqlite3
    connection = sqlite3.connect(where, isolation_level=None, timeout=10)
    connection.execute("BEGIN EXCLUSIVE")  # the write lock, held from here to COMMIT
    connection.execute(f"DELETE FROM {table} WHERE 1 = 0")
    print("locked", flush=True)
    time.sleep(seconds)
    connection.execute("COMMIT")
    connection.close()
else:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    engine = create_engine(where, poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("SET lock_timeout = '10s'"))
        connection.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        print("locked", flush=True)
        time.sleep(seconds)
        connection.commit()
print("released", flush=True)
"""


@when('another process holds a lock on table "{table}" for {seconds:d} seconds while I call {call}')
def step_locked_call(context: Context, table: str, seconds: int, call: str) -> None:
    database = fault(context)
    action = _call(context, call, database.made)
    kind, where = ("sqlite", str(database.path)) if database.path else ("postgresql", database.url)
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, kind, where, table, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    context.cleanups.append(holder.kill)
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], 60)
    line = holder.stdout.readline().strip() if ready else ""
    if line != "locked":
        holder.kill()
        _, errors = holder.communicate()
        raise AssertionError(f"the lock holder never got the lock: {line!r}\n{errors}")
    started = time.monotonic()
    attempt(context, action)
    context.waited = time.monotonic() - started
    output, errors = holder.communicate(timeout=60)
    assert holder.returncode == 0 and output.strip() == "released", (output, errors)
    context.call = call


@then("the call succeeded after waiting at least {seconds:f} seconds")
def step_waited(context: Context, seconds: float) -> None:
    assert context.error is None, f"{context.call} failed: {context.error!r}"
    assert context.waited >= seconds, (
        f"{context.call} took {context.waited:.2f} s: it did not wait for the lock"
    )


@then("what {call} wrote reads back through a new connection")
def step_reads_back(context: Context, call: str) -> None:
    database = fault(context)
    fresh = create_session_factory(database.url, migrate=False)
    try:
        result: Any = context.result
        if call == "record":
            changeset = SqliteChangeSetStore(fresh).get(database.changeset_id)
            assert changeset is not None
            assert changeset.entries == [*database.earlier, result], len(changeset.entries)
        elif call == "record_occurrence":
            pattern = ErrorPatternRepository(fresh).get(database.pattern_id)
            assert pattern is not None and pattern.frequency == result.frequency, pattern
            assert pattern.frequency == 4, pattern.frequency
        else:
            service = CheckpointService(CheckpointRepository(fresh))
            assert service.get_checkpoint(result.checkpoint_id) == result
            listed = service.list_checkpoints(database.plan_id)
            assert [c.checkpoint_id for c in listed] == [
                context.first_checkpoint.checkpoint_id,
                result.checkpoint_id,
            ], listed
            changed = [f"src/{context.call_tag}.py"]
            assert result.metadata.extra["diff_paths"] == changed, result.metadata
            assert service.verify_checkpoint(result.checkpoint_id)
    finally:
        fresh.kw["bind"].dispose()


# --- a PostgreSQL server of its own, stopped and started -------------------------------


def _pg_cluster() -> ModuleType:
    """tools/pg_cluster.py (the tools folder is not a package)."""
    loaded = sys.modules.get("pg_cluster")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("pg_cluster", _ROOT / "tools" / "pg_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_cluster"] = module
    spec.loader.exec_module(module)
    return module


def _pg_ctl(database: FaultDatabase, *args: str) -> None:
    cluster = database.cluster
    command = [str(cluster.bin_dir / "pg_ctl"), *args]
    if database.account is not None:  # PostgreSQL refuses to run as root
        command = ["runuser", "-u", database.account.pw_name, "--", *command]
    completed = subprocess.run(
        command,
        cwd=cluster.root,  # a folder the server's account may enter
        env={key: value for key, value in os.environ.items() if not key.startswith("PG")},
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (command, completed.stdout, completed.stderr)


@given(
    'a PostgreSQL server of its own holds changeset "{name}" of plan "{plan}" with {count:d} entries of {kb:d} KB and error pattern "{pattern_id}" seen {seen:d} times'
)
def step_seed_own_server(
    context: Context, name: str, plan: str, count: int, kb: int, pattern_id: str, seen: int
) -> None:
    pg_cluster = _pg_cluster()
    account = pwd.getpwnam(pg_cluster.SERVICE_ACCOUNT) if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="cleveragents-pg-fault-"))
    cluster = pg_cluster.Cluster(pg_cluster.find_bin_dir(), root, account)

    def stop_cluster() -> None:
        with contextlib.suppress(pg_cluster.ClusterError):
            cluster.stop()  # also deletes its folder

    context.cleanups.append(stop_cluster)
    cluster.start()
    # The harness turns synchronous_commit off for speed; a server stopped at once would
    # then lose transactions it had reported committed. This test needs them to survive.
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text("ALTER SYSTEM SET synchronous_commit = on"))
        connection.execute(text("SELECT pg_reload_conf()"))
    admin.dispose()
    made = create_session_factory(cluster.url)
    context.cleanups.append(made.kw["bind"].dispose)
    database = FaultDatabase(cluster.url, session_factory=made, cluster=cluster, account=account)
    _seed(context, database, name, plan, count, kb, pattern_id, seen)


@when("the PostgreSQL server of its own stops at once")
def step_stop_server(context: Context) -> None:
    database = fault(context)
    _pg_ctl(database, "stop", "--pgdata", str(database.cluster.data_dir), "--mode", "immediate")


@when("the PostgreSQL server of its own starts again")
def step_start_server(context: Context) -> None:
    database = fault(context)
    cluster = database.cluster
    _pg_ctl(
        database,
        "start",
        "--pgdata",
        str(cluster.data_dir),
        "--log",
        str(cluster.log_file),
        "--wait",
        "-o",
        f"-p {cluster.port}",
    )


@then(
    "each of these calls fails with a DatabaseError of the library's own within {limit:d} seconds, after bounded retries"
)
def step_calls_fail_bounded(context: Context, limit: int) -> None:
    database = fault(context)
    for row in table_rows(context):
        action = _call(context, row["call"], database.made)
        with _counting_connects(database.engine) as connects:
            started = time.monotonic()
            attempt(context, action)
            took = time.monotonic() - started
        _check_own_error(context.error, row["call"])
        assert took < limit, f"{row['call']} took {took:.1f} s to fail"
        assert 1 < connects[0] <= _MAX_ATTEMPTS, (
            f"{row['call']}: {connects[0]} connection attempts, expected 2..{_MAX_ATTEMPTS}"
        )


@then("each of these calls succeeds")
def step_calls_succeed(context: Context) -> None:
    database = fault(context)
    for row in table_rows(context):
        attempt(context, _call(context, row["call"], database.made))
        assert context.error is None, f"{row['call']} failed: {context.error!r}"


# --- what the fault left behind --------------------------------------------------------


@contextlib.contextmanager
def _fresh(database: FaultDatabase) -> Iterator[sessionmaker[Session]]:
    made = create_session_factory(database.url, migrate=False)
    try:
        yield made
    finally:
        made.kw["bind"].dispose()


@then('changeset "{name}" of the fault database holds its earlier entries and {more:d} more')
def step_earlier_entries(context: Context, name: str, more: int) -> None:
    database = fault(context, name)
    with _fresh(database) as made:
        changeset = SqliteChangeSetStore(made).get(database.changeset_id)
    assert changeset is not None, "the changeset is gone"
    earlier = len(database.earlier)
    assert changeset.entries[:earlier] == database.earlier, "the earlier entries changed"
    assert len(changeset.entries) == earlier + more, (len(changeset.entries), earlier, more)


@then('error pattern "{pattern_id}" of the fault database was seen {seen:d} times')
def step_pattern_seen(context: Context, pattern_id: str, seen: int) -> None:
    with _fresh(fault(context)) as made:
        pattern = ErrorPatternRepository(made).get(pattern_id)
    assert pattern is not None and pattern.frequency == seen, pattern


@then("the SQLite file passes an integrity check")
def step_integrity(context: Context) -> None:
    path = fault(context).path
    assert path is not None, "not a SQLite file"
    connection = sqlite3.connect(path)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    assert result == [("ok",)], result


# --- a full disk -----------------------------------------------------------------------


@given("the SQLite file may grow by no more than {pages:d} pages")
def step_page_limit(context: Context, pages: int) -> None:
    engine = fault(context).engine
    with engine.connect() as connection:
        used = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
    limit = used + pages

    def limited(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA max_page_count = {limit}")
        finally:
            cursor.close()

    def unlimited() -> None:
        if event.contains(engine, "checkout", limited):
            event.remove(engine, "checkout", limited)

    event.listen(engine, "checkout", limited)
    context.page_limit = limited
    context.cleanups.append(unlimited)


@when("the SQLite file may grow again")
def step_page_limit_lifted(context: Context) -> None:
    engine = fault(context).engine
    if event.contains(engine, "checkout", context.page_limit):
        event.remove(engine, "checkout", context.page_limit)
    engine.dispose()  # max_page_count belongs to a connection: start with new ones


@when(
    'I try to record a batch of {count:d} entries of {kb:d} KB into changeset "{name}" of the fault database'
)
def step_try_big_batch(context: Context, count: int, kb: int, name: str) -> None:
    database = fault(context, name)
    context.batch = _entries(database, count, kb, "batch")
    attempt(context, lambda: SqliteChangeSetStore(database.made).record_many(context.batch))


@when("I record the same batch again")
def step_batch_again(context: Context) -> None:
    written = SqliteChangeSetStore(fault(context).made).record_many(context.batch)
    assert written == len(context.batch), written


@then("the error is the library's own, says \"{words}\", and has the driver's error as its cause")
def step_own_error_says(context: Context, words: str) -> None:
    error = _check_own_error(context.error, "the call")
    assert words in str(error), str(error)


# --- RLIMIT_FSIZE: a process that may not write past a file size ------------------------

_LIMITED = r"""
import errno, json, os, resource, signal, sys
limit, probe = int(sys.argv[1]), sys.argv[2]


def limit_file_size():
    # Without SIG_IGN, SIGXFSZ would kill the process: the write must fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        with open(probe, "wb") as handle:
            handle.write(b"x" * (limit + 4096))
    except OSError as exc:
        return exc.errno == errno.EFBIG
    return False
"""

_LIMITED_RECORD = (
    _LIMITED
    + r"""
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.errors import DatabaseError
from cleveragents.infrastructure.database.session import create_session_factory

url, changeset_id, plan_id, count, kilobytes = sys.argv[3:8]
store = SqliteChangeSetStore(create_session_factory(url))
batch = [
    ChangeEntry(changeset_id=changeset_id, plan_id=plan_id, path=f"limited/{i:05d}.txt",
                operation="create", after_hash=f"{i:064x}", diff="x" * (int(kilobytes) * 1024))
    for i in range(int(count))
]
report = {"limited": limit_file_size(), "error": None}
try:
    store.record_many(batch)
except DatabaseError as exc:
    cause = exc.__cause__
    report.update(error=[c.__name__ for c in type(exc).__mro__], message=str(exc),
                  cause=type(cause).__module__ + "." + type(cause).__name__,
                  orig=type(getattr(cause, "orig", None)).__module__)
print(json.dumps(report))
"""
)

_LIMITED_CLI = (
    _LIMITED
    + r"""
from cleveragents.cli.app import main

if not limit_file_size():
    sys.exit(99)
sys.exit(main(sys.argv[3:]))
"""
)


def _checkpoint_wal(database: FaultDatabase) -> None:
    """Close the library's connections and fold the WAL into the file, emptying it."""
    database.engine.dispose()
    assert database.path is not None
    connection = sqlite3.connect(database.path)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    assert busy == 0, "the WAL could not be checkpointed"


def _run_limited(context: Context, code: str, kilobytes: int, *args: str) -> Any:
    database = fault(context)
    _checkpoint_wal(database)
    probe = context.tmp / "probe.bin"
    return subprocess.run(
        [sys.executable, "-c", code, str(kilobytes * 1024), str(probe), *args],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=_CHILD_TIMEOUT,
        check=False,
    )


@when(
    'a process that may write no file beyond {limit:d} KB records a batch of {count:d} entries of {kb:d} KB into changeset "{name}" of the fault database'
)
def step_limited_record(context: Context, limit: int, count: int, kb: int, name: str) -> None:
    database = fault(context, name)
    completed = _run_limited(
        context,
        _LIMITED_RECORD,
        limit,
        database.url,
        database.changeset_id,
        database.plan_id,
        str(count),
        str(kb),
    )
    assert completed.returncode == 0, (
        f"the limited process died ({completed.returncode}):\n{completed.stderr}"
    )
    context.limited = json.loads(completed.stdout.strip().splitlines()[-1])
    context.limited_count = count


@then(
    "that process could not write past {limit:d} KB, was not killed, and got a DatabaseError of the library's own with the driver's error as its cause"
)
def step_limited_outcome(context: Context, limit: int) -> None:
    report = context.limited
    assert report["limited"], "the file size limit did not take effect in the child"
    assert report["error"] is not None, "record_many succeeded past the file size limit"
    assert "DatabaseError" in report["error"], report
    assert report["cause"].startswith("sqlalchemy.exc."), report
    assert report["orig"] == "sqlite3", report
    assert f"record {context.limited_count} entries failed" in report["message"], report
    assert "disk" in report["message"], report


@when('I run "{line}" in a process that may write no file beyond {limit:d} KB')
def step_limited_cli(context: Context, line: str, limit: int) -> None:
    database = fault(context)
    completed = _run_limited(
        context, _LIMITED_CLI, limit, "--database-url", database.url, *line.split()
    )
    assert completed.returncode != 99, "the file size limit did not take effect in the child"
    context.exit_code = completed.returncode
    context.stdout, context.stderr = completed.stdout, completed.stderr


# --- the command line in a new process -------------------------------------------------


def _run_cli(context: Context, url: str, line: str) -> None:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "cleveragents", "--database-url", url, *line.split()],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=_CHILD_TIMEOUT,
        check=False,
    )
    context.cli_seconds = time.monotonic() - started
    context.exit_code = completed.returncode
    context.stdout, context.stderr = completed.stdout, completed.stderr


def _run_cli_in_process(context: Context, url: str, line: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        context.exit_code = main(["--database-url", url, *line.split()])
    context.cli_seconds = time.monotonic() - started
    context.stdout, context.stderr = stdout.getvalue(), stderr.getvalue()


@when('I run "{line}" in a new process on the fault database')
def step_cli_fault(context: Context, line: str) -> None:
    _run_cli(context, fault(context).url, line)


@when('I run "{line}" on the fault database')
def step_cli_fault_in_process(context: Context, line: str) -> None:
    _run_cli_in_process(context, fault(context).url, line)


@when('I run "{line}" on the read-only database')
def step_cli_read_only(context: Context, line: str) -> None:
    _run_cli_in_process(context, context.read_only_url, line)


@then("the command took less than {seconds:d} seconds")
def step_cli_time(context: Context, seconds: int) -> None:
    assert context.cli_seconds < seconds, f"the command took {context.cli_seconds:.1f} s"


@then("stderr names the SQLite file")
def step_stderr_names_file(context: Context) -> None:
    assert str(fault(context).path) in context.stderr, context.stderr


# --- a read-only database --------------------------------------------------------------


def _read_only_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{_sqlite_path(url)}?mode=ro&uri=true"
    # PostgreSQL's analogue: every transaction of the connection is read-only.
    read_only = parsed.update_query_dict({"options": "-c default_transaction_read_only=on"})
    return read_only.render_as_string(hide_password=False)


@when("I open the fault database read-only")
def step_open_read_only(context: Context) -> None:
    context.read_only_url = _read_only_url(fault(context).url)
    made = create_session_factory(context.read_only_url, migrate=False)
    context.cleanups.append(made.kw["bind"].dispose)
    context.read_only = made


@then(
    'reading through the read-only database gives changeset "{name}" with its earlier entries and error pattern "{pattern_id}" seen {seen:d} times'
)
def step_read_only_reads(context: Context, name: str, pattern_id: str, seen: int) -> None:
    database = fault(context, name)
    changeset = SqliteChangeSetStore(context.read_only).get(database.changeset_id)
    assert changeset is not None and changeset.entries == database.earlier
    pattern = ErrorPatternRepository(context.read_only).get(pattern_id)
    assert pattern is not None and pattern.frequency == seen, pattern
    listed = CheckpointService(CheckpointRepository(context.read_only)).list_checkpoints(
        database.plan_id
    )
    assert [c.checkpoint_id for c in listed] == [context.first_checkpoint.checkpoint_id]


@then(
    "through the read-only database each of these calls fails with a DatabaseError of the library's own"
)
def step_read_only_writes(context: Context) -> None:
    for row in table_rows(context):
        attempt(context, _call(context, row["call"], context.read_only))
        _check_own_error(context.error, row["call"])


# --- a corrupt file --------------------------------------------------------------------


@when("garbage is written over the first {count:d} bytes of the SQLite file")
def step_garbage(context: Context, count: int) -> None:
    database = fault(context)
    assert database.path is not None
    # Fold the WAL into the file first, so that the damaged header is all there is; the
    # library's engine stays open, as in a process that opened the database earlier.
    connection = sqlite3.connect(database.path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    with database.path.open("r+b") as handle:
        handle.write(bytes(range(7, 256)) * (count // 249) + b"\xff" * (count % 249))


@then(
    "opening the SQLite file, migrating or not, raises a DatabaseError of the library's own naming the file"
)
def step_open_corrupt(context: Context) -> None:
    database = fault(context)
    for migrate in (True, False):
        attempt(context, functools.partial(create_session_factory, database.url, migrate=migrate))
        error = _check_own_error(context.error, f"open (migrate={migrate})")
        assert str(database.path) in str(error), str(error)


@then(
    "a call through the session factory opened before the damage raises a DatabaseError of the library's own naming the file"
)
def step_open_process_corrupt(context: Context) -> None:
    database = fault(context)
    for name in ("get", "record"):
        attempt(context, _call(context, name, database.made))
        error = _check_own_error(context.error, name)
        assert str(database.path) in str(error), str(error)


@then("the SQLite file still holds the same text")
def step_same_text(context: Context) -> None:
    path = fault(context).path
    assert path is not None and path.read_bytes() == context.original_bytes
