"""Alembic, programmatically: upgrade, downgrade, current revision and version checks.

The revisions live in ``alembic/`` at the top of the repository and are shipped in
the wheel as ``cleveragents/_alembic``, so migrations work from an installed wheel.
Migrations run in one transaction under a lock (SQLite's write lock, a PostgreSQL
advisory lock), so several processes starting at once migrate exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from cleveragents.infrastructure.database.engine import WRITE_OPTION, create_database_engine
from cleveragents.infrastructure.database.errors import DatabaseError, mask_url, translate

# An arbitrary constant: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY: Final = 0x636C6576


def script_location() -> Path:
    """The folder of ``env.py`` and ``versions/``: the packaged copy, else the source tree."""
    packaged = Path(str(resources.files("cleveragents"))) / "_alembic"
    if (packaged / "env.py").is_file():
        return packaged
    source_tree = Path(__file__).resolve().parents[4] / "alembic"
    if (source_tree / "env.py").is_file():
        return source_tree
    raise DatabaseError("the Alembic migrations are missing from this installation")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def known_revisions() -> set[str]:
    """Every revision this version of cleveragents ships."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def head_revision() -> str:
    """The newest revision this version ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise DatabaseError("no Alembic revision found")
    return head


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction holding the migration lock; commits on success."""
    with engine.connect() as plain:
        connection = plain.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            yield connection


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_schema_version(engine: Engine) -> None:
    """Refuse a database migrated by a newer cleveragents (a revision we do not know)."""
    with engine.connect() as connection:
        current = _revision_of(connection)
        connection.rollback()
    _refuse_unknown(current, engine)


def _refuse_unknown(current: str | None, engine: Engine) -> None:
    if current is not None and current not in known_revisions():
        raise DatabaseError(
            f"database {mask_url(engine.url.render_as_string(hide_password=True))} is at "
            f"revision {current}, which this version of cleveragents does not know "
            f"(its newest is {head_revision()}); upgrade cleveragents"
        )


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` under the migration lock."""
    _run(engine, "upgrade", revision)


def _run(engine: Engine, direction: str, revision: str) -> None:
    if not isinstance(revision, str) or not revision.strip():
        raise ValueError("revision must be a non-empty string")
    url = mask_url(engine.url.render_as_string(hide_password=True))
    try:
        with migration_connection(engine) as connection:
            _refuse_unknown(_revision_of(connection), engine)
            config = alembic_config()
            config.attributes["connection"] = connection
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except DatabaseError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"migrate database {url}") from exc
    except (CommandError, RevisionError) as exc:
        raise ValueError(f"cannot {direction} database {url} to {revision!r}: {exc}") from exc


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (default: the newest)."""
    engine = create_database_engine(url)
    try:
        upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``base`` drops every table)."""
    engine = create_database_engine(url)
    try:
        _run(engine, "downgrade", revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The Alembic revision of the database at ``url``, or None when it is not migrated."""
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            return _revision_of(connection)
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"read the revision of {mask_url(url)}") from exc
    finally:
        engine.dispose()
