"""Fresh databases per scenario on each backend."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BACKENDS = ("sqlite-memory", "sqlite-file", "postgres")
POSTGRES_URL_ENV = "CLEVERAGENTS_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    """The PostgreSQL server URL; an AssertionError when it is not configured."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        raise AssertionError(
            f"{POSTGRES_URL_ENV} is not set: the PostgreSQL scenarios need a real server "
            "(nox -s postgres_tests starts a throwaway one)"
        )
    return url


@dataclass
class TestDatabase:
    url: str
    _drop_sql: str | None = field(default=None, repr=False)
    _admin_url: str | None = field(default=None, repr=False)

    def drop(self) -> None:
        """Remove the database (PostgreSQL); files go with the scenario's temp folder."""
        if self._drop_sql and self._admin_url:
            _run_autocommit(self._admin_url, self._drop_sql)


def _run_autocommit(admin_url: str, sql: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        with engine.connect() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def fresh_database(backend: str, tmp: Path) -> TestDatabase:
    """An empty database of ``backend`` for one scenario."""
    if backend == "sqlite-memory":
        return TestDatabase("sqlite://")
    if backend == "sqlite-file":
        return TestDatabase(f"sqlite:///{tmp / 'cleveragents.db'}")
    admin = postgres_admin_url()
    name = f"ca_test_{uuid.uuid4().hex[:16]}"
    _run_autocommit(admin, f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    return TestDatabase(
        url,
        _drop_sql=f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        _admin_url=admin,
    )
