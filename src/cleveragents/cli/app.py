"""The ``cleveragents`` command: global options, command groups, errors and exit codes.

Exit codes: 0 success; 1 operational error (any ``DatabaseError``: unreachable or
corrupt database, unknown URL scheme, failed integrity check); 2 usage error
(unknown option, missing argument, invalid id, revision or format); 3 not found.
On an error, stderr holds exactly one line beginning ``error:`` (with ``--debug``,
the traceback and the debug logs come first).

Startup stays fast (``--help`` and ``--version`` well under a quarter of a second):
the command modules import only typer and the standard library at module level;
the database layer, pydantic models and rich rendering load inside the commands.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from cleveragents import __version__
from cleveragents.cli.checkpoint import checkpoint_app
from cleveragents.cli.context import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_OPERATIONAL,
    EXIT_USAGE,
    CliError,
    CliState,
    require_command,
    state_of,
)
from cleveragents.cli.db import db_app
from cleveragents.cli.demo import demo_command
from cleveragents.cli.errors import errors_app
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.logs import LogRouting
from cleveragents.cli.plan import plan_app
from cleveragents.domain.errors import DatabaseError, RecordNotFoundError

app = typer.Typer(
    cls=LightGroup,
    name="cleveragents",
    help="Changesets, tool invocations, checkpoints, error patterns and migrations "
    "of the agent runtime.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(plan_app, name="plan")
app.add_typer(checkpoint_app, name="checkpoint")
app.add_typer(errors_app, name="errors")
app.add_typer(db_app, name="db")
app.command("demo")(demo_command)


@plan_app.callback(invoke_without_command=True)
def _plan_group(ctx: typer.Context) -> None:
    """Plans: list, status, diffs, rollback, cleanup and delete."""
    require_command(ctx)


@checkpoint_app.callback(invoke_without_command=True)
def _checkpoint_group(ctx: typer.Context) -> None:
    """A plan's checkpoints: list, show, diff, restore, verify and prune."""
    require_command(ctx)


@errors_app.callback(invoke_without_command=True)
def _errors_group(ctx: typer.Context) -> None:
    """Recurring error patterns: list, match and statistics."""
    require_command(ctx)


@db_app.callback(invoke_without_command=True)
def _db_group(ctx: typer.Context) -> None:
    """The database: schema migrations and vacuum."""
    require_command(ctx)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cleveragents {__version__}")
        raise typer.Exit()


def _checked_url(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("the database URL must not be empty")
    return value


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            callback=_checked_url,
            help="Database URL (default: $CLEVERAGENTS_DATABASE_URL, else a SQLite file "
            "under $XDG_DATA_HOME/cleveragents).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show debug logs and tracebacks on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Changesets, tool invocations, checkpoints, error patterns and migrations."""
    state = state_of(ctx)
    state.database_url = database_url
    if debug:
        state.enable_debug()
    require_command(ctx)


def error_message(exc: BaseException) -> str:
    """The exception as one line of text (pydantic errors as ``field: problem; ...``)."""
    validation = _validation_errors(exc)
    if validation is not None:
        text = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" if error["loc"] else error["msg"]
            for error in validation
        )
    elif isinstance(exc, typer.TyperException):
        text = exc.format_message()
    else:
        text = str(exc)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _validation_errors(exc: BaseException) -> list[Any] | None:
    """The errors of a pydantic ``ValidationError``, else None.

    pydantic is not imported for that: a process that never loaded it cannot have
    raised one (``--help`` and usage errors stay fast).
    """
    if "pydantic" not in sys.modules:
        return None
    from pydantic import ValidationError

    return list(exc.errors()) if isinstance(exc, ValidationError) else None


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception that ended a command."""
    if isinstance(exc, CliError | typer.TyperException):
        return exc.exit_code
    if isinstance(exc, RecordNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, DatabaseError):
        return EXIT_OPERATIONAL
    if isinstance(exc, ValueError):  # pydantic's ValidationError included
        return EXIT_USAGE
    return EXIT_OPERATIONAL


def _exit_status(code: object) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_OPERATIONAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    logs = LogRouting()
    state = CliState(logs=logs)
    logs.start()
    status = EXIT_OK
    try:
        result = app(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="cleveragents",
            standalone_mode=False,
            obj=state,
        )
        status = result if isinstance(result, int) else EXIT_OK
        sys.stdout.flush()
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except typer.Abort:
        status = _report(state, "aborted", EXIT_OPERATIONAL, None)
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, like other tools.
        _silence_stdout()
        status = EXIT_OPERATIONAL
    except Exception as exc:
        message = error_message(exc) or type(exc).__name__
        known = isinstance(
            exc, CliError | typer.TyperException | DatabaseError | ValueError | OSError
        )
        if not known:
            message = f"unexpected {type(exc).__name__}: {message}"
        status = _report(state, message, exit_code_for(exc), exc)
    finally:
        state.close()
        logs.finish(succeeded=status == EXIT_OK)
    return status


def _report(state: CliState, message: str, code: int, exc: BaseException | None) -> int:
    if exc is not None and state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return code


def _silence_stdout() -> None:
    # Python would otherwise report the failed final flush of stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        return
