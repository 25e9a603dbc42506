"""Steps for the command line's progress bar: a command run with stderr on a pipe or a terminal.

The database is a SQLite file of the scenario's own, whatever the backend: the
rule checked is the command line's, and the command runs in a new process.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from behave import given, then, when
from behave.runner import Context
from support.placeholders import fill
from support.terminal import read_terminal

import cleveragents
from cleveragents.cli.progress_bar import SHOW_AFTER_ENV

_SRC = str(Path(__file__).resolve().parents[2] / "src")
_BAR = "━"  # what rich draws a bar with (on a UTF-8 stream)
_PLAN = "cli-progress-plan"


@given("a database file holding a checkpoint of a sandbox of {files:d} files")
def step_database_file(context: Context, files: int) -> None:
    context.progress_url = f"sqlite:///{context.tmp}/progress.db"
    sandbox = context.tmp / "cli-sandbox"
    for index in range(files):
        path = sandbox / f"d{index % 10}" / f"f{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {index}\n" * (1 + index % 40))
    with cleveragents.open(context.progress_url, create=True) as database:
        taken = database.checkpoints.create_workspace_snapshot(_PLAN, str(sandbox), "d1")
    for index in range(0, files, 7):  # something for a rollback to undo
        (sandbox / f"d{index % 10}" / f"f{index}.txt").write_text("changed\n")
    context.plan_id = _PLAN
    context.cli_values = {
        "checkpoint": taken.checkpoint_id,
        "fresh": str(context.tmp / "restored"),
        "sandbox": str(sandbox),
    }


@given("progress bars may appear at once")
def step_bar_at_once(context: Context) -> None:
    context.progress_env = {SHOW_AFTER_ENV: "0"}


def _environment(context: Context) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != SHOW_AFTER_ENV}
    env.update(PYTHONPATH=_SRC, COLUMNS="100", TERM="xterm", PYTHONIOENCODING="utf-8")
    env.update(getattr(context, "progress_env", {}))
    return env


def _command(context: Context, line: str) -> list[str]:
    arguments = shlex.split(fill(context, line))
    return [
        sys.executable,
        "-m",
        "cleveragents",
        "--database-url",
        context.progress_url,
        *arguments,
    ]


@when('I run "{line}" with stderr on a pipe')
def step_run_piped(context: Context, line: str) -> None:
    done = subprocess.run(
        _command(context, line), capture_output=True, env=_environment(context), check=False
    )
    context.progress_run = (done.returncode, done.stdout, done.stderr)
    context.stderr_on_terminal = False


@when('I run "{line}" with stderr on a terminal')
def step_run_on_terminal(context: Context, line: str) -> None:
    leader, follower = os.openpty()
    process = subprocess.Popen(
        _command(context, line),
        stdout=subprocess.PIPE,
        stderr=follower,
        env=_environment(context),
    )
    os.close(follower)
    written = read_terminal(leader)
    stdout, _ = process.communicate(timeout=60)
    context.progress_run = (process.returncode, stdout, written)
    context.stderr_on_terminal = True


@then("the command succeeded")
def step_succeeded(context: Context) -> None:
    code, stdout, stderr = context.progress_run
    assert code == 0, (code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


@then("stderr shows a progress bar")
def step_bar_shown(context: Context) -> None:
    stderr = context.progress_run[2].decode(errors="replace")
    assert _BAR in stderr, repr(stderr[-2000:])


@then("stderr does not show a progress bar")
def step_no_bar(context: Context) -> None:
    stderr = context.progress_run[2].decode(errors="replace")
    assert _BAR not in stderr and "\x1b[" not in stderr, repr(stderr[-2000:])
    if not context.stderr_on_terminal:  # a terminal turns each newline into "\r\n"
        assert "\r" not in stderr, repr(stderr[-2000:])
