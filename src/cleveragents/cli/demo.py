"""``cleveragents demo``: a scripted agent session, recorded and then read back.

The story itself lives in :mod:`.demo_story`, imported when the command runs. The
demo is one of the two commands (with ``db upgrade``) that create the database
when it does not exist.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cleveragents.cli.context import state_of


def demo_command(
    ctx: typer.Context,
    keep_sandbox: Annotated[
        bool, typer.Option("--keep-sandbox", help="Keep the sandbox folder afterwards.")
    ] = False,
) -> None:
    """Record a scripted agent session, then show its plan status, diff and checkpoints."""
    from cleveragents.cli.demo_story import run_demo

    state = state_of(ctx)
    run_demo(state.database(create=True), state.database_url, keep_sandbox=keep_sandbox)
