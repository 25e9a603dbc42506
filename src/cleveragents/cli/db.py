"""``cleveragents db``: Alembic migrations of the configured database, and vacuum.

``upgrade``, ``downgrade`` and ``current`` print the database's revision afterwards
(``none`` when unmigrated). Only ``upgrade`` creates a database that does not
exist; the other commands refuse a missing SQLite file.

``db vacuum --format json`` prints ``{"database": URL, "bytes_freed": N}`` (the
URL with its password masked; yaml: the same keys); plain prints ``N`` alone.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cleveragents.cli.context import state_of
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.output import (
    FormatOption,
    OutputFormat,
    resolve_format,
    stdout_console,
    write_document,
    write_text,
)

db_app = typer.Typer(cls=LightGroup, help="The database: schema migrations and vacuum.")


def _print_revision(url: str) -> None:
    from cleveragents.infrastructure.database import migrations

    write_text(migrations.current_revision(url) or "none")


@db_app.command("upgrade")
def upgrade_command(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(metavar="REV", help="Target revision (default: head).")
    ] = "head",
) -> None:
    """Upgrade the schema to REV (creating the database if needed); print the revision."""
    from cleveragents.infrastructure.database import migrations

    url = state_of(ctx).resolved_database_url()
    migrations.upgrade(url, revision)
    _print_revision(url)


@db_app.command("downgrade")
def downgrade_command(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(metavar="REV", help="Target revision ('base' drops every table).")
    ],
) -> None:
    """Downgrade the schema to REV and print the revision reached."""
    from cleveragents.infrastructure.database import migrations

    url = state_of(ctx).existing_database_url()
    migrations.downgrade(url, revision)
    _print_revision(url)


@db_app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Print the schema's revision, or ``none`` when the database is not migrated."""
    _print_revision(state_of(ctx).existing_database_url())


@db_app.command("vacuum")
def vacuum_command(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """Give the space of deleted records back to the file system; print how many bytes."""
    output = resolve_format(fmt)
    database = state_of(ctx).database()
    freed = database.vacuum()
    if output.is_document:
        write_document({"database": database.url, "bytes_freed": freed}, output)
    elif output is OutputFormat.RICH:
        stdout_console().print(f"{database.url}: {freed} bytes given back to the file system")
    else:
        write_text(str(freed))
