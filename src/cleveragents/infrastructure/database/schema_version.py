"""The schema revision this version of cleveragents writes, checked without Alembic.

Every process of a runtime and every command of the CLI opens a database that is,
nearly always, at this revision already. Finding that out is one read of
``alembic_version`` on a plain connection: no Alembic import (a good part of a
command's start-up) and no migration lock, which on SQLite is the write lock, so
that opening a database never waits behind a writer. Any other answer goes
through :mod:`.migrations`, under its lock.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, inspect, text

# The head of alembic/versions; a scenario checks that the two agree.
HEAD_REVISION: Final = "0009"
_VERSION_TABLE: Final = "alembic_version"


def is_at_head(engine: Engine) -> bool:
    """Whether the database behind ``engine`` is at :data:`HEAD_REVISION` (False when it
    has no revision yet, or another one)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION_TABLE):
            return False
        versions = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).all()
        connection.rollback()
    return [version for (version,) in versions] == [HEAD_REVISION]
