"""Alembic environment: programmatic runs pass a connection; the ``alembic`` CLI a URL."""

from __future__ import annotations

from alembic import context

from cleveragents.infrastructure.database.migrations import migration_connection
from cleveragents.infrastructure.database.models import Base
from cleveragents.infrastructure.database.session import (
    create_database_engine,
    default_database_url,
)

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or default_database_url()
    context.configure(url=url, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a connection given by the caller, or one opened for the configured URL."""
    given = config.attributes.get("connection")
    if given is not None:
        _configure_and_run(given)
        return
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or default_database_url()
    )
    engine = create_database_engine(url)
    try:
        with migration_connection(engine) as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
