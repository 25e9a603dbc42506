"""``cleveragents plan``: a plan's recorded changes (status, diff), rollback and cleanup.

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
    checked_id,
    state_of,
)
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.output import FormatOption, resolve_format, write_text

plan_app = typer.Typer(
    cls=LightGroup, help="A plan's recorded changes: status, diffs, rollback and cleanup."
)

PlanIdArgument = Annotated[
    str, typer.Argument(metavar="PLAN_ID", help="The plan's id.", callback=checked_id)
]
CheckpointIdArgument = Annotated[
    str,
    typer.Argument(metavar="CHECKPOINT_ID", help="The checkpoint's id.", callback=checked_id),
]


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
    undoes the rollback.
    """
    from cleveragents.cli.checkpoint_views import load_checkpoint
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
        result = database.rollback(plan_id, checkpoint_id, sandbox, dry_run=dry_run)
    except ValueError as exc:
        # The arguments were checked already: what is refused now is the sandbox's
        # content (a symlink or a folder in the way), an operational failure.
        raise CliError(f"cannot roll back {sandbox}: {exc}", EXIT_OPERATIONAL) from exc
    render_rollback(RollbackReport(plan_id, sandbox.absolute(), result), output)
