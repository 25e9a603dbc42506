"""``cleveragents plan``: a plan's recorded changes (status, diff) and their cleanup."""

from __future__ import annotations

from typing import Annotated

import typer

from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.cli.context import checked_id, state_of
from cleveragents.cli.output import FormatOption, resolve_format, write_text
from cleveragents.cli.plan_views import load_diff, load_status, render_diff, render_status
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore

plan_app = typer.Typer(help="A plan's recorded changes: status, diffs and cleanup.")

PlanIdArgument = Annotated[
    str, typer.Argument(metavar="PLAN_ID", help="The plan's id.", callback=checked_id)
]


@plan_app.command("status")
def status_command(ctx: typer.Context, plan_id: PlanIdArgument, fmt: FormatOption = None) -> None:
    """Show the plan's changesets with their summaries, tool invocations and checkpoints."""
    output = resolve_format(fmt)
    factory = state_of(ctx).session_factory()
    render_status(load_status(factory, plan_id), output)


@plan_app.command("diff")
def diff_command(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    changeset: Annotated[
        str | None,
        typer.Option(
            "--changeset",
            metavar="ID",
            help="Only the entries of this changeset.",
            callback=checked_id,
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            metavar="GLOB",
            help="Only entries whose path (or a rename's old path) matches this fnmatch glob.",
        ),
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Show the recorded unified diffs, in recording order."""
    output = resolve_format(fmt)
    factory = state_of(ctx).session_factory()
    render_diff(load_diff(factory, plan_id, changeset_id=changeset, path_glob=path), output)


@plan_app.command("cleanup")
def cleanup_command(ctx: typer.Context, plan_id: PlanIdArgument) -> None:
    """Delete the plan's changesets, entries and tool invocations; print how many records."""
    factory = state_of(ctx).session_factory()
    deleted = PlanApplyService(SqliteChangeSetStore(factory)).cleanup_changeset(plan_id)
    write_text(str(deleted))
