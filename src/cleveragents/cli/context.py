"""What every command shares: the global options, the database, and the CLI's own errors.

This module is imported by every command module, so it imports only typer and the
standard library at module level: ``--help`` and ``--version`` never load the
database layer. The database is opened on first use, through ``cleveragents.open``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from cleveragents.cli.logs import LogRouting
from cleveragents.cli.output import write_text

if TYPE_CHECKING:
    from cleveragents.database import Database

EXIT_OK = 0
EXIT_OPERATIONAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3

MISSING_DATABASE_ADVICE = (
    "check the database URL, or create the database with `cleveragents db upgrade`"
)


class CliError(Exception):
    """A failure the command line reports as one ``error:`` line and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_OPERATIONAL) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFoundError(CliError):
    """A plan, changeset or checkpoint that does not exist (exit code 3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_NOT_FOUND)


@contextmanager
def _advice_for_a_missing_database() -> Iterator[None]:
    from cleveragents.infrastructure.database.errors import MissingDatabaseError

    try:
        yield
    except MissingDatabaseError as exc:
        raise CliError(f"{exc}: {MISSING_DATABASE_ADVICE}") from exc


@dataclass
class CliState:
    """The global options, filled in by the root callback and read by every command."""

    database_url: str | None = None
    debug: bool = False
    logs: LogRouting | None = field(default=None, repr=False)
    _databases: list[Database] = field(default_factory=list, repr=False)

    def enable_debug(self) -> None:
        """``--debug``: debug logs and tracebacks on stderr."""
        self.debug = True
        if self.logs is not None:
            self.logs.enable_debug()

    def resolved_database_url(self) -> str:
        """``--database-url``, else ``$CLEVERAGENTS_DATABASE_URL``, else the default file."""
        from cleveragents.infrastructure.database.engine import default_database_url

        return self.database_url if self.database_url is not None else default_database_url()

    def existing_database_url(self) -> str:
        """The database URL, refusing a SQLite file that does not exist (nothing is created)."""
        from cleveragents.infrastructure.database.engine import require_existing_database

        url = self.resolved_database_url()
        with _advice_for_a_missing_database():
            require_existing_database(url)
        return url

    def database(self, *, create: bool = False) -> Database:
        """The database, migrated to the newest schema; closed when the command ends.

        Only a command that writes by nature (``demo``) passes ``create=True``: for
        every other command a SQLite file that does not exist is an error, so that
        a mistyped URL never creates an empty database.
        """
        import cleveragents

        with _advice_for_a_missing_database():
            opened = cleveragents.open(self.resolved_database_url(), create=create)
        self._databases.append(opened)
        return opened

    def close(self) -> None:
        """Close every database the command opened."""
        while self._databases:
            self._databases.pop().close()


def state_of(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (a default one when run without ``main``)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def checked_id(value: str | None) -> str | None:
    """Typer callback: refuse an unusable id while parsing, before the database is opened."""
    if value is None:
        return None
    from cleveragents.domain.models.core._types import require_id

    try:
        return require_id(value, "id")
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("id: ")) from None


def require_command(ctx: typer.Context) -> None:
    """For a command group run alone: print its help, then fail as a usage error."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        write_text(ctx.get_help())
        raise CliError("missing command (see the list above)", EXIT_USAGE)
