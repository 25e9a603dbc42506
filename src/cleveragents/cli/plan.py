"""``cleveragents plan``: list plans, a plan's recorded changes (status, diff), rollback,
cleanup and deletion.

Like every command module, this one imports only typer and the standard library at
module level; what a command needs (the database, the views) is imported when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleveragents.cli.context import (
    EXIT_OPERATIONAL,
    EXIT_USAGE,
    CliError,
    NotFoundError,
    checked_id,
    state_of,
)
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.output import FormatOption, resolve_format, write_text

plan_app = typer.Typer(
    cls=LightGroup, help="Plans: list, status, diffs, rollback, cleanup and delete."
)

PlanIdArgument = Annotated[
    str, typer.Argument(metavar="PLAN_ID", help="The plan's id.", callback=checked_id)
]
CheckpointIdArgument = Annotated[
    str,
    typer.Argument(metavar="CHECKPOINT_ID", help="The checkpoint's id.", callback=checked_id),
]
PLAN_PAGE_LIMIT = 10_000


@plan_app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", metavar="N", min=1, max=PLAN_PAGE_LIMIT, help="Show at most N plans."
        ),
    ] = 100,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            metavar="PLAN_ID",
            help="Only the plans whose id sorts after PLAN_ID (the last one of a page).",
            callback=checked_id,
        ),
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """List the plans that have records, checkpoints or a cancellation, by id."""
    from cleveragents.cli.plan_list_views import render_plans

    output = resolve_format(fmt)
    plans = state_of(ctx).database().list_plans(limit=limit, after=after)
    render_plans(plans, output)


@plan_app.command("status")
def status_command(ctx: typer.Context, plan_id: PlanIdArgument, fmt: FormatOption = None) -> None:
    """Show the plan's changesets with their summaries, tool invocations and checkpoints."""
    from cleveragents.cli.plan_views import load_status, render_status

    output = resolve_format(fmt)
    render_status(load_status(state_of(ctx).database(), plan_id), output)


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
    from cleveragents.cli.plan_views import load_diff, render_diff

    output = resolve_format(fmt)
    database = state_of(ctx).database()
    render_diff(load_diff(database, plan_id, changeset_id=changeset, path_glob=path), output)


@plan_app.command("cleanup")
def cleanup_command(ctx: typer.Context, plan_id: PlanIdArgument) -> None:
    """Delete the plan's changesets, entries and tool invocations; print how many records."""
    from cleveragents.application.services.plan_apply_service import PlanApplyService

    database = state_of(ctx).database()
    write_text(str(PlanApplyService(database.changesets).cleanup_changeset(plan_id)))


@plan_app.command("delete")
def delete_command(ctx: typer.Context, plan_id: PlanIdArgument, fmt: FormatOption = None) -> None:
    """Delete everything of the plan (records, checkpoints, cancellation); print the counts.

    There is no prompt. An unknown plan exits with 3.
    """
    from cleveragents.cli.plan_list_views import render_deletion
    from cleveragents.domain.errors import RecordNotFoundError

    output = resolve_format(fmt)
    database = state_of(ctx).database()
    try:
        deletion = database.delete_plan(plan_id)
    except RecordNotFoundError as exc:
        raise NotFoundError(f"plan {plan_id} not found") from exc
    render_deletion(deletion, output)


@plan_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    checkpoint_id: CheckpointIdArgument,
    sandbox: Annotated[
        Path,
        typer.Option(
            "--sandbox",
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="The plan's sandbox folder, reset to the checkpoint.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; report what would change.")
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Reset the sandbox to a checkpoint of the plan and roll back what was recorded after it.

    A pre_rollback checkpoint of the sandbox is taken first: rolling back to it
    undoes the rollback. On a terminal, a rollback that runs longer than a second
    shows a progress bar on stderr (never with --format json or yaml).
    """
    from cleveragents.cli.checkpoint_views import load_checkpoint
    from cleveragents.cli.progress_bar import progress_bar
    from cleveragents.cli.rollback_views import RollbackReport, render_rollback

    output = resolve_format(fmt)
    database = state_of(ctx).database()
    checkpoint = load_checkpoint(database.checkpoints, checkpoint_id)
    if checkpoint.plan_id != plan_id:
        raise CliError(
            f"checkpoint {checkpoint_id} belongs to plan {checkpoint.plan_id}, not to {plan_id}",
            EXIT_USAGE,
        )
    try:
        with progress_bar(output) as progress:
            result = database.rollback(
                plan_id, checkpoint_id, sandbox, dry_run=dry_run, progress=progress
            )
    except ValueError as exc:
        # The arguments were checked already: what is refused now is the sandbox's
        # content (a symlink or a folder in the way), an operational failure.
        raise CliError(f"cannot roll back {sandbox}: {exc}", EXIT_OPERATIONAL) from exc
    render_rollback(RollbackReport(plan_id, sandbox.absolute(), result), output)
