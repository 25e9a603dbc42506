"""``cleveragents errors``: the error memory (list, match a text against it, statistics).

Like every command module, this one imports only typer and the standard library at
module level; what a command needs (the database, the views) is imported when it runs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cleveragents.cli.context import state_of
from cleveragents.cli.groups import LightGroup
from cleveragents.cli.output import FormatOption, resolve_format

errors_app = typer.Typer(
    cls=LightGroup, help="Recurring error patterns: list, match and statistics."
)

LimitOption = Annotated[
    int | None,
    typer.Option("--limit", metavar="N", min=0, help="Show at most N patterns."),
]


@errors_app.command("list")
def list_command(
    ctx: typer.Context,
    fmt: FormatOption = None,
    limit: LimitOption = None,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", min=0, help="Skip the first N patterns.")
    ] = 0,
) -> None:
    """List the stored patterns, most frequent first (then most recently seen)."""
    from cleveragents.cli.errors_views import render_patterns

    output = resolve_format(fmt)
    repository = state_of(ctx).database().errors
    render_patterns(repository.list_all(limit=limit, offset=offset), output)


@errors_app.command("match")
def match_command(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT", help="The error text (a message or a traceback); '-' reads stdin."
        ),
    ],
    fmt: FormatOption = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=0, help="Show at most N matches.")
    ] = 10,
) -> None:
    """The stored patterns that match TEXT, best first; prints nothing when none does."""
    from cleveragents.cli.errors_views import render_patterns

    output = resolve_format(fmt)
    context = sys.stdin.read() if text == "-" else text
    repository = state_of(ctx).database().errors
    scored = repository.match_scored(context, limit)
    render_patterns([pattern for pattern, _ in scored], output, [score for _, score in scored])


@errors_app.command("stats")
def stats_command(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """Totals, patterns per category and the most frequent patterns."""
    from cleveragents.cli.errors_views import render_statistics

    output = resolve_format(fmt)
    repository = state_of(ctx).database().errors
    render_statistics(repository.statistics(), output)
