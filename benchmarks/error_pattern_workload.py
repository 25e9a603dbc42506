"""The error-pattern workload shared by the asv suite and ``compare_errors.py``.

Patterns look like what an agent's error memory collects: exception names
(``ModuleNotFoundError``, and plausible made-up ones such as
``LedgerShardTimeoutError``), messages with a variable part (``No module named
'billing_export'``, ``connection refused by queue-07.internal:5672``) and error
codes (``ORA-04031``). Each has 3 to 6 keywords: one or two words of its own text,
the others drawn from a vocabulary of real traceback words (weighted like a
natural language: a few are common) and of generated identifiers. The context
matched against them is a real ~2 KB traceback (a ``KeyError`` handled by an
import that fails with ``ModuleNotFoundError``, through Django and importlib).

Everything is generated from a seed: ``error_patterns(n)`` always returns the
same ``n`` patterns, and the first ``m`` of them are ``error_patterns(m)``.
Databases of ``n`` patterns are written with raw ``sqlite3`` into the library's
schema, with exactly the rows ``ErrorPatternRepository.create`` writes (the
same terms, from the repository's own ``pattern_terms``); :func:`check_loader`
proves it by comparing both tables byte for byte. They are cached in the temp
folder like the changeset table.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from ulid import ULID

from benchmarks.workload import bulk_load, cache_dir, create_schema, sqlite_timestamp
from cleveragents.domain.models.core.error_pattern import WORD, ErrorPattern, camel_parts
from cleveragents.infrastructure.database.error_pattern_repository import (
    ErrorPatternRepository,
    TermKind,
    pattern_terms,
)
from cleveragents.infrastructure.database.migrations import head_revision
from cleveragents.infrastructure.database.session import create_session_factory

# Bump when the generated data changes, so stale cached databases are not reused.
ERROR_WORKLOAD_VERSION: Final = 1
SEED: Final = 20241130

PATTERN_COLUMNS: Final = (
    "pattern_id",
    "pattern",
    "pattern_folded",
    "keywords",
    "frequency",
    "first_seen",
    "last_seen",
    "category",
    "resolution",
    "pattern_metadata",
)
INSERT_PATTERN_SQL: Final = (
    f"INSERT INTO error_patterns ({', '.join(PATTERN_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in PATTERN_COLUMNS)})"
)
INSERT_TERM_SQL: Final = "INSERT INTO error_pattern_terms (kind, term, pattern_id) VALUES (?, ?, ?)"
KEYWORD_KIND: Final = int(TermKind.KEYWORD)


@dataclass(frozen=True)
class ErrorScale:
    """How big the error-pattern benchmarks are."""

    name: str
    patterns: int  # stored patterns that match_context searches
    statistics_sizes: tuple[int, int]  # stores whose statistics() are compared
    ops: int  # timed calls of each fast path (match, raw select, record) per side
    scans: int  # timed brute-force scans (each reads every pattern in Python)


ERROR_SCALES: Final = {
    "small": ErrorScale("small", patterns=2_000, statistics_sizes=(500, 2_000), ops=60, scans=3),
    "full": ErrorScale(
        "full", patterns=100_000, statistics_sizes=(10_000, 100_000), ops=400, scans=3
    ),
}


def error_scale_named(name: str) -> ErrorScale:
    """The scale called ``name`` (``ValueError`` for an unknown one)."""
    try:
        return ERROR_SCALES[name]
    except KeyError:
        raise ValueError(
            f"unknown scale {name!r}; expected one of {sorted(ERROR_SCALES)}"
        ) from None


# --- the context: a real traceback ----------------------------------------------------------

SITE: Final = "/srv/billing/.venv/lib/python3.11/site-packages"
TRACEBACK: Final = f"""\
Traceback (most recent call last):
  File "/srv/billing/billing/db/backends.py", line 27, in get_backend
    backend_path = BACKENDS[settings.DATABASE_ENGINE]
                   ~~~~~~~~^^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 'postgresql_pool'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/billing/manage.py", line 22, in <module>
    main()
  File "/srv/billing/manage.py", line 18, in main
    execute_from_command_line(sys.argv)
  File "{SITE}/django/core/management/__init__.py", line 442, in execute_from_command_line
    utility.execute()
  File "{SITE}/django/core/management/__init__.py", line 416, in execute
    django.setup()
  File "{SITE}/django/__init__.py", line 24, in setup
    apps.populate(settings.INSTALLED_APPS)
  File "{SITE}/django/apps/registry.py", line 116, in populate
    app_config.import_models()
  File "{SITE}/django/apps/config.py", line 269, in import_models
    self.models_module = import_module(models_module_name)
                         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1147, in _find_and_load_unlocked
  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/srv/billing/invoices/models.py", line 9, in <module>
    from billing.db.backends import connection_pool
  File "/srv/billing/billing/db/backends.py", line 31, in <module>
    pool = get_backend().connect(timeout=settings.DATABASE_TIMEOUT)
           ^^^^^^^^^^^^^
  File "/srv/billing/billing/db/backends.py", line 29, in get_backend
    import psycopg_pool
ModuleNotFoundError: No module named 'psycopg_pool'
"""

# --- vocabularies ----------------------------------------------------------------------------

# Words that occur in tracebacks and error messages, most common first (drawn with
# Zipf-like weights, so a few of them are keywords of many patterns).
REAL_WORDS: Final = (
    "module", "import", "connection", "timeout", "refused", "file", "found", "key", "value",
    "type", "attribute", "permission", "denied", "database", "query", "request", "response",
    "socket", "server", "client", "settings", "config", "path", "directory", "missing",
    "invalid", "failed", "unexpected", "argument", "object", "none", "index", "range", "json",
    "decode", "encode", "unicode", "utf", "codec", "byte", "http", "https", "ssl", "certificate",
    "verify", "handshake", "host", "port", "dns", "resolve", "network", "unreachable", "reset",
    "peer", "broken", "pipe", "memory", "recursion", "depth", "overflow", "division", "zero",
    "assertion", "runtime", "thread", "lock", "deadlock", "transaction", "rollback", "commit",
    "integrity", "constraint", "unique", "foreign", "duplicate", "relation", "column", "table",
    "schema", "migration", "operational", "programming", "interface", "cursor", "pool",
    "exhausted", "retry", "retries", "exceeded", "max", "limit", "rate", "quota", "token",
    "expired", "auth", "authentication", "unauthorized", "forbidden", "credentials", "secret",
    "session", "cookie", "csrf", "cache", "redis", "celery", "worker", "queue", "broker",
    "amqp", "kafka", "topic", "partition", "offset", "consumer", "producer", "django", "flask",
    "fastapi", "starlette", "uvicorn", "gunicorn", "wsgi", "asgi", "asyncio", "await",
    "coroutine", "event", "loop", "cancelled", "future", "task", "executor", "subprocess",
    "process", "signal", "killed", "exit", "status", "code", "command", "shell", "environment",
    "variable", "sqlalchemy", "psycopg", "psycopg2", "postgres", "postgresql", "mysql",
    "sqlite", "sqlite3", "mongo", "pymongo", "boto3", "botocore", "aws", "bucket", "s3",
    "requests", "urllib3", "aiohttp", "httpx", "numpy", "pandas", "scipy", "torch", "cuda",
    "gpu", "tensor", "shape", "dtype", "array", "dataframe", "series", "pydantic",
    "validation", "field", "required", "extra", "forbidden_extra", "yaml", "toml", "parse",
    "parser", "syntax", "indentation", "token_error", "line", "frame", "stack", "traceback",
    "recent", "call", "last", "most", "during", "handling", "another", "occurred", "above",
    "raise", "raised", "exception", "from", "cause", "context", "frozen", "bootstrap",
    "external", "load", "loader", "spec", "finder", "package", "namespace", "pip", "install",
    "wheel", "setuptools", "version", "incompatible", "deprecated", "removed", "backend",
    "engine", "driver", "dialect", "pool_size", "overflow_timeout", "manage", "management",
    "execute", "utility", "populate", "registry", "apps", "models", "model", "installed",
    "get", "set", "main", "setup", "app", "self", "name", "level", "bootstrap_external",
    "disk", "space", "quota_exceeded", "readonly", "read", "write", "open", "close", "closed",
    "stream", "buffer", "eof", "encoding", "charset", "locale", "timezone", "datetime",
    "naive", "aware", "utc", "format", "strptime", "iso", "float", "int", "str", "list",
    "dict", "tuple", "iterable", "callable", "subscriptable", "hashable", "len", "append",
    "keys", "items", "mapping", "sequence", "generator", "iterator", "stop", "iteration",
    "not", "no", "such", "named", "cannot", "could", "unable", "has", "have", "object_has",
    "by", "for", "with", "after", "while", "waiting", "seconds",
)  # fmt: skip

# Parts of exception names, CamelCase (their folded forms are words of REAL_WORDS or not).
CAMEL_PARTS: Final = (
    "Module", "Not", "Found", "Key", "Value", "Type", "Attribute", "Index", "Lookup", "Name",
    "Import", "Connection", "Refused", "Reset", "Aborted", "Timeout", "Permission", "File",
    "Exists", "Broken", "Pipe", "Memory", "Recursion", "Overflow", "Unicode", "Decode",
    "Encode", "Assertion", "Runtime", "Operational", "Integrity", "Programming", "Database",
    "Interface", "Http", "SSL", "Certificate", "Verification", "Read", "Write", "Proxy",
    "Max", "Retry", "Chunked", "Encoding", "Invalid", "Schema", "Validation", "Json", "Yaml",
    "Parse", "Config", "Missing", "Improperly", "Configured", "Does", "Exist", "Multiple",
    "Objects", "Returned", "Suspicious", "Operation", "Client", "Server", "Gateway", "Token",
    "Expired", "Auth", "Session", "Cache", "Queue", "Broker", "Worker", "Task", "Cancelled",
    "Deadlock", "Lock", "Serialization", "Storage", "Bucket", "Credential", "Quota", "Rate",
    "Limit", "Protocol", "Handshake", "Stream", "Buffer", "Channel", "Cursor", "Pool",
    "Exhausted", "Transaction", "Migration", "Plugin", "Driver", "Dialect", "Codec",
)  # fmt: skip
EXCEPTION_SUFFIXES: Final = ("Error", "Error", "Error", "Exception", "Warning", "Failure")

REAL_EXCEPTIONS: Final = (
    "ImportError", "ModuleNotFoundError", "KeyError", "ValueError", "TypeError",
    "AttributeError", "IndexError", "LookupError", "NameError", "UnboundLocalError",
    "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError", "TimeoutError",
    "PermissionError", "FileNotFoundError", "FileExistsError", "IsADirectoryError",
    "BrokenPipeError", "MemoryError", "RecursionError", "OverflowError", "ZeroDivisionError",
    "UnicodeDecodeError", "UnicodeEncodeError", "AssertionError", "RuntimeError",
    "NotImplementedError", "StopIteration", "OSError", "JSONDecodeError", "SSLError",
    "SSLCertVerificationError", "OperationalError", "IntegrityError", "ProgrammingError",
    "DatabaseError", "InterfaceError", "ImproperlyConfigured", "ObjectDoesNotExist",
    "MultipleObjectsReturned", "ValidationError", "HTTPError", "ReadTimeout", "ConnectTimeout",
    "MaxRetryError", "ProxyError", "ChunkedEncodingError", "CancelledError",
    "CalledProcessError", "YAMLError", "TemplateDoesNotExist", "NoReverseMatch",
)  # fmt: skip

# Real messages; several occur in TRACEBACK.
REAL_MESSAGES: Final = (
    "No module named",
    "No module named 'psycopg_pool'",
    "cannot import name",
    "most recent call last",
    "During handling of the above exception",
    "connection refused by peer",
    "Connection reset by peer",
    "Name or service not known",
    "Temporary failure in name resolution",
    "certificate verify failed: unable to get local issuer certificate",
    "database is locked",
    "could not connect to server: Connection refused",
    "server closed the connection unexpectedly",
    "FATAL: remaining connection slots are reserved",
    "QueuePool limit of size 5 overflow 10 reached",
    "Max retries exceeded with url",
    "list index out of range",
    "dictionary changed size during iteration",
    "maximum recursion depth exceeded",
    "division by zero",
    "object is not subscriptable",
    "object has no attribute",
    "got an unexpected keyword argument",
    "missing 1 required positional argument",
    "Expecting value: line 1 column 1 (char 0)",
    "'utf-8' codec can't decode byte",
    "No space left on device",
    "Permission denied",
    "Too many open files",
    "Broken pipe",
    "Killed",
    "Out of memory: Killed process",
    "CUDA out of memory",
    "Apps aren't loaded yet.",
    "Requested setting INSTALLED_APPS, but settings are not configured",
    "relation does not exist",
    "duplicate key value violates unique constraint",
    "current transaction is aborted",
    "Task was destroyed but it is pending!",
    "Event loop is closed",
)

NOUNS: Final = (
    "user", "order", "invoice", "ledger", "cache", "session", "token", "payload", "report",
    "shard", "tenant", "billing", "export", "import", "ingest", "sync", "audit", "payment",
    "refund", "customer", "account", "catalog", "product", "price", "stock", "shipment",
    "carrier", "webhook", "event", "metric", "trace", "span", "alert", "notification", "email",
    "sms", "template", "document", "upload", "thumbnail", "image", "video", "search", "index",
    "vector", "embedding", "model", "feature", "flag", "experiment", "cohort", "segment",
)  # fmt: skip
ROLES: Final = (
    "handler", "service", "client", "loader", "parser", "manager", "adapter", "job", "task",
    "store", "view", "serializer", "worker", "pool", "router", "mapper", "builder", "cache",
    "gateway", "proxy", "backend", "consumer", "producer", "scheduler", "validator", "writer",
)  # fmt: skip
HOSTS: Final = ("db", "queue", "cache", "api", "auth", "search", "worker", "redis", "kafka")
CODE_PREFIXES: Final = ("ORA", "PG", "ERR", "E", "HTTP", "SQLSTATE", "EAI", "CURLE", "WSAE")
CATEGORIES: Final = (
    "import", "network", "database", "filesystem", "permission", "timeout", "validation",
    "runtime", "memory", "http", "config", "dependency",
)  # fmt: skip
RESOLUTIONS: Final = (
    "pip install the missing package and pin it in requirements.txt",
    "retry with exponential backoff (max 5 attempts)",
    "raise the pool size or close sessions in a finally block",
    "check the service is up: systemctl status {noun}-{role}",
    "set {NOUN}_{ROLE}_URL in the environment",
    "run the pending migrations before starting the worker",
    "free disk space under /var/lib and rotate the logs",
    "refresh the credentials and re-run the task",
)
# Never chosen as keywords: they would tie every pattern to every traceback.
STOP_WORDS: Final = frozenset(
    ("error", "exception", "warning", "failure", "the", "a", "an", "of", "to", "in", "is", "on")
)
REAL_KEYWORD_SHARE: Final = 0.08
GENERATED_WORDS: Final = 30_000
SYLLABLES: Final = (
    "ba", "ko", "ri", "zen", "tal", "mor", "vex", "lu", "qua", "dri", "sol", "fen", "gar",
    "pli", "nox", "tra", "vel", "cor", "min", "dax", "rho", "syn", "tek", "ul", "ora", "pex",
)  # fmt: skip


@functools.cache
def generated_words() -> tuple[str, ...]:
    """Plausible identifiers that our traceback does not contain (``order_mapper_17``)."""
    rng = random.Random(SEED + 1)
    words: dict[str, None] = {}
    while len(words) < GENERATED_WORDS:
        shape = rng.random()
        if shape < 0.5:
            word = f"{rng.choice(NOUNS)}_{rng.choice(ROLES)}_{rng.randint(0, 99)}"
        elif shape < 0.8:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        else:
            word = f"{rng.choice(NOUNS)}{rng.choice(SYLLABLES)}{rng.randint(2, 999)}"
        words.setdefault(word)
    return tuple(words)


@functools.cache
def _real_weights() -> list[float]:
    # Zipf-like: the n-th word of REAL_WORDS is drawn in proportion to 1 / (n + 25).
    return list(itertools.accumulate(1 / (n + 25) for n in range(len(REAL_WORDS))))


# --- patterns ----------------------------------------------------------------------------------


def _identifier(rng: random.Random) -> str:
    return f"{rng.choice(NOUNS)}_{rng.choice(ROLES)}"


def _camel(word: str) -> str:
    return "".join(part.title() for part in word.split("_"))


def _exception_name(rng: random.Random) -> str:
    parts = [rng.choice(CAMEL_PARTS) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        parts.insert(0, _camel(rng.choice(NOUNS)))
    if rng.random() < 0.4:
        parts.append(rng.choice(("Limit", "Conflict", "Mismatch", "Unavailable")))
    return "".join(parts) + rng.choice(EXCEPTION_SUFFIXES)


def _message(rng: random.Random) -> str:
    ident = _identifier(rng)
    other = _identifier(rng)
    number = rng.randint(1, 9_999)
    host = f"{rng.choice(HOSTS)}-{rng.randint(1, 40):02d}.internal:{rng.randint(1024, 65535)}"
    shape = rng.randrange(18)
    templates = {
        0: lambda: f"No module named '{ident}'",
        1: lambda: f"connection refused by {host}",
        2: lambda: f"'{_camel(ident)}' object has no attribute '{other}'",
        3: lambda: f"{ident}() got an unexpected keyword argument '{other}'",
        4: lambda: f"could not connect to server at {host}: {rng.choice(('timeout', 'reset'))}",
        5: lambda: f"[Errno 13] Permission denied: '/var/lib/{ident}/{other}.lock'",
        6: lambda: f"timed out after {number} ms waiting for {ident}",
        7: lambda: f'relation "{ident}" does not exist',
        8: lambda: f'duplicate key value violates unique constraint "{ident}_{other}_key"',
        9: lambda: f"KeyError: '{ident}.{other}'",
        10: lambda: f"cannot import name '{_camel(other)}' from '{ident}'",
        11: lambda: f"Max retries exceeded with url: /api/v{number % 3 + 1}/{ident}/{number}",
        12: lambda: f"maximum recursion depth exceeded while calling {ident}.{other}",
        13: lambda: f"{_exception_name(rng)}: {ident} {rng.choice(('failed', 'is closed'))}",
        14: lambda: f"{ident} queue is full ({number} pending)",
        15: lambda: f"expected {ident} to be {other}, got None",
        16: lambda: f"unsupported operand type(s) for +: '{ident}' and '{other}'",
        17: lambda: f"[Errno 2] No such file or directory: '/srv/{ident}/{other}.yaml'",
    }
    return templates[shape]()


def _code(rng: random.Random) -> str:
    prefix = rng.choice(CODE_PREFIXES)
    code = rng.randint(0, 99_999)
    if rng.random() < 0.5:
        return f"{prefix}-{code:05d}"
    return f"{prefix}{code} {rng.choice(('in', 'at', 'via', 'for', 'on'))} {_identifier(rng)}"


def _pattern_text(rng: random.Random, n: int) -> str:
    fixed = (*REAL_EXCEPTIONS, *REAL_MESSAGES)
    if n < len(fixed):
        return fixed[n]
    shape = rng.random()
    if shape < 0.35:
        return _exception_name(rng)
    if shape < 0.85:
        return _message(rng)
    return _code(rng)


def _keywords(rng: random.Random, text: str) -> list[str]:
    own = [
        word
        for word in dict.fromkeys(
            part.casefold() for part in _text_words(text) if not part.isdigit()
        )
        if len(word) > 2 and word not in STOP_WORDS
    ]
    wanted = rng.randint(3, 6)
    # Half the time the most specific word of its own text (the longest), then drawn ones.
    keywords = dict.fromkeys(sorted(own, key=len, reverse=True)[: rng.randint(0, 1)])
    while len(keywords) < wanted:
        if rng.random() < REAL_KEYWORD_SHARE:
            word = rng.choices(REAL_WORDS, cum_weights=_real_weights())[0]
        else:
            word = rng.choice(generated_words())
        if word not in STOP_WORDS:
            keywords.setdefault(word)
    return list(keywords)


def _text_words(text: str) -> list[str]:
    """The words of ``text``, CamelCase words split into their parts."""
    words = []
    for match in WORD.finditer(text):
        parts = camel_parts(match.group())
        words.extend(parts or [match.group()])
    return words


def _pattern_id(rng: random.Random, when: datetime) -> str:
    millis = int(when.timestamp() * 1000)
    return str(ULID.from_int((millis << 80) | rng.getrandbits(80)))


EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)


def _generate(rng: random.Random, n: int, seen: set[str]) -> ErrorPattern:
    text = _pattern_text(rng, n)
    while text.casefold() in seen:
        text = _pattern_text(rng, n + 1_000_000)
    seen.add(text.casefold())
    last_seen = EPOCH + timedelta(seconds=rng.uniform(0, 300 * 86_400))
    first_seen = last_seen - timedelta(seconds=rng.uniform(0, 200 * 86_400))
    frequency = min(10_000, int(rng.paretovariate(1.1)))
    noun, role = rng.choice(NOUNS), rng.choice(ROLES)
    resolution = None
    if rng.random() < 0.4:
        resolution = rng.choice(RESOLUTIONS).format(
            noun=noun, role=role, NOUN=noun.upper(), ROLE=role.upper()
        )
    return ErrorPattern(
        pattern_id=_pattern_id(rng, first_seen),
        pattern=text,
        keywords=_keywords(rng, text),
        frequency=frequency,
        first_seen=first_seen,
        last_seen=last_seen,
        category=rng.choice(CATEGORIES) if rng.random() < 0.8 else None,
        resolution=resolution,
        metadata={"tool": f"{noun}_{role}", "attempts": rng.randint(1, 5), "agent": "coder"},
    )


@functools.cache
def _all_patterns(count: int) -> tuple[ErrorPattern, ...]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    return tuple(_generate(rng, n, seen) for n in range(count))


def error_patterns(count: int) -> list[ErrorPattern]:
    """The first ``count`` patterns of the seeded sequence (validated models, distinct texts)."""
    return list(_all_patterns(count))


def extra_patterns(count: int, start: int) -> list[ErrorPattern]:
    """``count`` further patterns (new ids and texts) for benchmarks that create them."""
    rng = random.Random(SEED + 2 + start)
    seen: set[str] = set()
    return [_generate(rng, 10_000_000 + n, seen) for n in range(count)]


# --- raw sqlite3 rows that equal the repository's ------------------------------------------------


def pattern_row(pattern: ErrorPattern) -> tuple[object, ...]:
    """The ``error_patterns`` row ``ErrorPatternRepository.create`` writes for ``pattern``."""
    return (
        pattern.pattern_id,
        pattern.pattern,
        pattern.pattern.casefold(),
        json.dumps(pattern.keywords),
        pattern.frequency,
        sqlite_timestamp(pattern.first_seen or pattern.last_seen),
        sqlite_timestamp(pattern.last_seen),
        pattern.category,
        pattern.resolution,
        json.dumps(pattern.metadata),
    )


def term_rows(pattern: ErrorPattern) -> Iterator[tuple[int, str, str]]:
    """Its ``error_pattern_terms`` rows, from the repository's own ``pattern_terms``."""
    for kind, term in dict.fromkeys(pattern_terms(pattern)):
        yield int(kind), term, pattern.pattern_id


def load(path: Path, patterns: Sequence[ErrorPattern]) -> None:
    """Write ``patterns`` into the library database at ``path`` with raw ``sqlite3``."""
    with bulk_load(path) as connection:
        connection.executemany(INSERT_PATTERN_SQL, (pattern_row(p) for p in patterns))
        connection.executemany(INSERT_TERM_SQL, (row for p in patterns for row in term_rows(p)))


def table_contents(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every row of both error-pattern tables, in key order."""
    connection = sqlite3.connect(path)
    try:
        patterns = connection.execute(
            f"SELECT {', '.join(PATTERN_COLUMNS)} FROM error_patterns ORDER BY pattern_id"
        ).fetchall()
        terms = connection.execute(
            "SELECT kind, term, pattern_id FROM error_pattern_terms ORDER BY kind, term, pattern_id"
        ).fetchall()
    finally:
        connection.close()
    return patterns, terms


def check_loader(folder: Path, count: int = 300) -> None:
    """``load`` writes byte-identical rows to ``create``, or the benchmarks would be wrong."""
    sample = error_patterns(count)
    created = folder / "loader-check-created.db"
    loaded = folder / "loader-check-loaded.db"
    factory = create_session_factory(f"sqlite:///{created}")
    try:
        repository = ErrorPatternRepository(factory)
        for pattern in sample:
            repository.create(pattern)
    finally:
        factory.kw["bind"].dispose()
    create_schema(loaded)
    load(loaded, sample)
    if table_contents(created) != table_contents(loaded):
        raise SystemExit("the bulk loader's rows differ from ErrorPatternRepository.create's")
    for path in (created, loaded):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def pattern_database(count: int) -> Path:
    """A database of the first ``count`` patterns, built on first use and cached."""
    name = f"error-patterns-{count}-rev{head_revision()}-v{ERROR_WORKLOAD_VERSION}.db"
    path = cache_dir() / name
    if not path.exists():
        building = path.with_name(f"{path.name}.{os.getpid()}.building")
        building.unlink(missing_ok=True)
        began = time.perf_counter()
        patterns = error_patterns(count)
        create_schema(building)
        load(building, patterns)
        building.replace(path)
        print(f"built {path} ({count:,} patterns) in {time.perf_counter() - began:.1f}s")
    return path
