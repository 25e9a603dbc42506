"""``cleveragents checkpoint``: a plan's checkpoints (list, show, diff), restore, verify
and prune.

Like every command module, this one imports only typer and the standard library at
module level; what a command needs (the database, the views) is imported when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cleveragents.cli.context import EXIT_OPERATIONAL, EXIT_USAGE, CliError, checked_id, state_of
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.output import FormatOption, resolve_format, write_text

checkpoint_app = typer.Typer(
    cls=LightGroup, help="A plan's checkpoints: list, show, diff, restore, verify and prune."
)

PlanIdArgument = Annotated[
    str, typer.Argument(metavar="PLAN_ID", help="The plan's id.", callback=checked_id)
]
CheckpointIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The checkpoint's id.", callback=checked_id)
]


@checkpoint_app.command("list")
def list_command(ctx: typer.Context, plan_id: PlanIdArgument, fmt: FormatOption = None) -> None:
    """List the plan's checkpoints, oldest first."""
    from cleveragents.cli.checkpoint_views import load_checkpoints, render_list

    output = resolve_format(fmt)
    service = state_of(ctx).database().checkpoints
    render_list(plan_id, load_checkpoints(service, plan_id), output)


@checkpoint_app.command("show")
def show_command(
    ctx: typer.Context, checkpoint_id: CheckpointIdArgument, fmt: FormatOption = None
) -> None:
    """Show one checkpoint with its metadata (diff_paths, diff_based, diff_hash)."""
    from cleveragents.cli.checkpoint_views import load_checkpoint, render_checkpoint

    output = resolve_format(fmt)
    service = state_of(ctx).database().checkpoints
    render_checkpoint(load_checkpoint(service, checkpoint_id), output)


@checkpoint_app.command("diff")
def diff_command(
    ctx: typer.Context,
    from_id: Annotated[
        str,
        typer.Argument(
            metavar="FROM_ID", help="The checkpoint to compare from.", callback=checked_id
        ),
    ],
    to_id: Annotated[
        str,
        typer.Argument(metavar="TO_ID", help="The checkpoint to compare to.", callback=checked_id),
    ],
    path: Annotated[
        str | None,
        typer.Option("--path", metavar="GLOB", help="Only the paths that match this fnmatch glob."),
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Show a unified diff of content from one checkpoint's snapshot to another's."""
    from cleveragents.cli.checkpoint_diff_views import render_checkpoint_diff
    from cleveragents.cli.checkpoint_views import load_checkpoint

    output = resolve_format(fmt)
    service = state_of(ctx).database().checkpoints
    for checkpoint_id in (from_id, to_id):
        load_checkpoint(service, checkpoint_id)
    try:
        diff = service.diff_checkpoints(from_id, to_id, path_glob=path)
    except ValueError as exc:
        # The ids were checked while parsing: what is refused now is a checkpoint
        # without a workspace snapshot, which has no content to compare.
        raise CliError(str(exc), EXIT_OPERATIONAL) from exc
    render_checkpoint_diff(diff, output)


@checkpoint_app.command("restore")
def restore_command(
    ctx: typer.Context,
    checkpoint_id: CheckpointIdArgument,
    target: Annotated[
        Path,
        typer.Option(
            "--to",
            metavar="DIR",
            file_okay=False,
            help="The folder to restore into (created when missing).",
        ),
    ],
    remove_untracked: Annotated[
        bool,
        typer.Option(
            "--remove-untracked",
            help="Also remove files that no checkpoint of the plan ever saw.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; report what would change.")
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Bring DIR back to the state of the checkpoint; print what was written and removed.

    On a terminal, a restore that runs longer than a second shows a progress bar on
    stderr (never with --format json or yaml).
    """
    from cleveragents.cli.checkpoint_views import RestoreReport, load_checkpoint, render_restore
    from cleveragents.cli.progress_bar import progress_bar

    output = resolve_format(fmt)
    service = state_of(ctx).database().checkpoints
    checkpoint = load_checkpoint(service, checkpoint_id)
    try:
        with progress_bar(output) as progress:
            result = service.restore_workspace(
                checkpoint.checkpoint_id,
                target,
                remove_untracked=remove_untracked,
                dry_run=dry_run,
                progress=progress,
            )
    except ValueError as exc:
        # The arguments were checked while parsing: what is refused now is the folder's
        # content (a symlink or a folder in the way), an operational failure.
        raise CliError(f"cannot restore into {target}: {exc}", EXIT_OPERATIONAL) from exc
    render_restore(RestoreReport(checkpoint.checkpoint_id, target.absolute(), result), output)


@checkpoint_app.command("verify")
def verify_command(ctx: typer.Context, checkpoint_id: CheckpointIdArgument) -> None:
    """Re-hash every stored object the checkpoint needs and its diff; print ``ok``.

    On a terminal, a verification that runs longer than a second shows a progress
    bar on stderr.
    """
    from cleveragents.cli.checkpoint_views import load_checkpoint
    from cleveragents.cli.progress_bar import progress_bar

    service = state_of(ctx).database().checkpoints
    checkpoint = load_checkpoint(service, checkpoint_id)
    with progress_bar(None) as progress:
        verified = service.verify_checkpoint(checkpoint.checkpoint_id, progress=progress)
    if not verified:
        raise CliError(f"checkpoint {checkpoint_id} failed verification", EXIT_OPERATIONAL)
    write_text("ok")


@checkpoint_app.command("prune")
def prune_command(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    keep_last: Annotated[
        int | None,
        typer.Option(
            "--keep-last",
            "--keep",
            metavar="N",
            min=0,
            help="Keep the newest N checkpoints (0 removes every one).",
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Remove those made more than AGE ago (s, m, h, d or w: 7d, 12h).",
        ),
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Remove the oldest until the plan's own stored content takes at most SIZE "
            "(decimal: 2GB is 2*10^9 bytes).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Delete nothing; report what would be deleted.")
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Delete the plan's oldest checkpoints until every limit holds; print how many.

    --older-than and --max-size never delete the plan's newest checkpoint. The
    content only they used is deleted too, and a SQLite file shrinks.
    """
    from cleveragents.cli.prune_views import render_prune
    from cleveragents.domain.retention import RetentionLimits, parse_duration, parse_size

    try:
        age = None if older_than is None else parse_duration(older_than)
    except ValueError as exc:
        raise CliError(f"invalid --older-than: {exc}", EXIT_USAGE) from exc
    try:
        size = None if max_size is None else parse_size(max_size)
    except ValueError as exc:
        raise CliError(f"invalid --max-size: {exc}", EXIT_USAGE) from exc
    if keep_last is None and age is None and size is None:
        raise CliError(
            "give at least one of --keep-last N, --older-than AGE, --max-size SIZE", EXIT_USAGE
        )
    limits = RetentionLimits(keep_last=keep_last, older_than=age, max_bytes=size)
    output = resolve_format(fmt)
    service = state_of(ctx).database().checkpoints
    render_prune(service.prune_report(plan_id, limits, dry_run=dry_run), output)
