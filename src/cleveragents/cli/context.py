"""What every command shares: the global options, the database, and the CLI's own errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cleveragents.cli.logs import LogRouting
from cleveragents.cli.output import write_text
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.infrastructure.database.session import (
    create_session_factory,
    default_database_url,
)

EXIT_OK = 0
EXIT_OPERATIONAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


class CliError(Exception):
    """A failure the command line reports as one ``error:`` line and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_OPERATIONAL) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFoundError(CliError):
    """A plan, changeset or checkpoint that does not exist (exit code 3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_NOT_FOUND)


@dataclass
class CliState:
    """The global options, filled in by the root callback and read by every command."""

    database_url: str | None = None
    debug: bool = False
    logs: LogRouting | None = field(default=None, repr=False)
    _factories: list[sessionmaker[Session]] = field(default_factory=list, repr=False)

    def enable_debug(self) -> None:
        """``--debug``: debug logs and tracebacks on stderr."""
        self.debug = True
        if self.logs is not None:
            self.logs.enable_debug()

    def resolved_database_url(self) -> str:
        """``--database-url``, else ``$CLEVERAGENTS_DATABASE_URL``, else the default file."""
        return self.database_url if self.database_url is not None else default_database_url()

    def session_factory(self) -> sessionmaker[Session]:
        """A session factory on the database, migrated to the newest schema first."""
        factory = create_session_factory(self.resolved_database_url())
        self._factories.append(factory)
        return factory

    def close(self) -> None:
        """Release the connections of every session factory handed out."""
        while self._factories:
            engine = self._factories.pop().kw.get("bind")
            if isinstance(engine, Engine):
                engine.dispose()


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
    try:
        return valid_id(value, "id")
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("id: ")) from None


def require_command(ctx: typer.Context) -> None:
    """For a command group run alone: print its help, then fail as a usage error."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        write_text(ctx.get_help())
        raise CliError("missing command (see the list above)", EXIT_USAGE)
