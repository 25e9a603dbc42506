"""Steps that run the command line in-process, in a new process and on a terminal."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from behave import given, then, when
from behave.runner import Context
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.placeholders import fill
from support.terminal import read_terminal
from support.world import factory

import cleveragents
from cleveragents.cli.app import main
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository

_SRC = str(Path(__file__).resolve().parents[2] / "src")


def _args(context: Context, line: str) -> list[str]:
    return shlex.split(fill(context, line))


def _run_in_process(context: Context, args: list[str]) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        context.exit_code = main(args)
    context.stdout, context.stderr = stdout.getvalue(), stderr.getvalue()


@given("a demo plan recorded in the scenario database")
def step_demo_plan(context: Context) -> None:
    factory(context)  # migrate (and, for memory databases, keep) the scenario database
    _run_in_process(context, ["--database-url", context.url, "demo"])
    assert context.exit_code == 0, context.stderr
    found = re.search(r"^plan: (\S+)$", context.stdout, re.M)
    assert found is not None, context.stdout
    context.plan_id = found.group(1)
    taken = CheckpointRepository(factory(context)).list_for_plan(context.plan_id)
    context.cli_values = {
        "first_checkpoint": taken[0].checkpoint_id,
        "last_checkpoint": taken[-1].checkpoint_id,
    }


@when('I run the command line with "{line}"')
def step_run(context: Context, line: str) -> None:
    _run_in_process(context, _args(context, line))


@when('I run the command line with "{line}" on the scenario database')
def step_run_db(context: Context, line: str) -> None:
    _run_in_process(context, ["--database-url", context.url, *_args(context, line)])


@then("the exit code is {code:d}")
def step_exit_code(context: Context, code: int) -> None:
    assert context.exit_code == code, (context.exit_code, context.stderr)


@then("stderr shows a traceback")
def step_traceback(context: Context) -> None:
    assert "Traceback (most recent call last)" in context.stderr, context.stderr


@then('the last line of stderr starts with "{prefix}"')
def step_last_line(context: Context, prefix: str) -> None:
    assert context.stderr.strip().splitlines()[-1].startswith(prefix), context.stderr


@then('stderr does not contain "{text}"')
def step_stderr_lacks(context: Context, text: str) -> None:
    assert text not in context.stderr, context.stderr


@then('stderr contains "{text}"')
def step_stderr_has(context: Context, text: str) -> None:
    assert text in context.stderr, context.stderr


@then("stdout is valid JSON")
def step_stdout_json(context: Context) -> None:
    document = json.loads(context.stdout)
    assert document["plan_id"] == context.plan_id


@then('stderr is exactly one line starting with "{prefix}"')
def step_one_line(context: Context, prefix: str) -> None:
    prefix = fill(context, prefix)
    lines = context.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), context.stderr


def _run_on_terminal(context: Context, args: list[str]) -> str:
    """Run the command with stdout on a pseudo-terminal; returns what it printed."""
    leader, follower = os.openpty()
    env = {**os.environ, "PYTHONPATH": _SRC, "COLUMNS": "120", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cleveragents", "--database-url", context.url, *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    written = read_terminal(leader)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written.decode(errors="replace"))


@when('I run "{line}" on a terminal on the scenario database')
def step_terminal(context: Context, line: str) -> None:
    factory(context)
    context.terminal = _run_on_terminal(context, _args(context, line))
    found = re.search(r"plan: (\S+)", context.terminal)
    if found:
        context.plan_id = found.group(1)
    # The demo leaves its sandbox and restored copy for the user; the scenario must not.
    for kept in re.finditer(r"the (?:sandbox|restored copy) is kept in (\S+)", context.terminal):
        context.add_cleanup(shutil.rmtree, kept.group(1), ignore_errors=True)


@then('the terminal output contains "{first}" and "{second}"')
def step_terminal_has(context: Context, first: str, second: str) -> None:
    assert first in context.terminal and second in context.terminal, context.terminal[-2000:]


@when('I run "python -m cleveragents {argument}" in a new process')
def step_module(context: Context, argument: str) -> None:
    env = {**os.environ, "PYTHONPATH": _SRC}
    context.completed = subprocess.run(
        [sys.executable, "-m", "cleveragents", argument],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@then("the process prints the package version")
def step_version(context: Context) -> None:
    assert context.completed.returncode == 0, context.completed.stderr
    assert cleveragents.__version__ in context.completed.stdout, context.completed.stdout


@then("the process exits with {code:d}")
def step_process_exit(context: Context, code: int) -> None:
    assert context.completed.returncode == code, context.completed


def _failure(kind: str) -> BaseException:
    from pydantic import BaseModel, ValidationError

    from cleveragents.infrastructure.database.errors import DatabaseError, RecordNotFoundError

    class _Probe(BaseModel):
        path: int

    if kind == "missing record":
        return RecordNotFoundError("no such checkpoint c1")
    if kind == "database failure":
        return DatabaseError("read plan p1 failed: disk I/O error\nsecond line")
    if kind == "bad value":
        return ValueError("plan_id must not be empty")
    if kind == "validation error":
        try:
            _Probe(path="x")
        except ValidationError as exc:
            return exc
    return RuntimeError("boom")


@when("the command line reports a {kind}")
def step_report(context: Context, kind: str) -> None:
    from cleveragents.cli.app import error_message, exit_code_for

    failure = _failure(kind)
    context.reported = (exit_code_for(failure), error_message(failure))


@then("the reported exit code is {code:d}")
def step_reported_code(context: Context, code: int) -> None:
    assert context.reported[0] == code, context.reported


@then('the reported message is one line containing "{text}"')
def step_reported_message(context: Context, text: str) -> None:
    message = context.reported[1]
    assert text in message and "\n" not in message, message


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        return self._fd


@when('I run "{line}" with a stdout that is closed by its reader')
def step_broken_pipe(context: Context, line: str) -> None:
    fd = os.open(os.devnull, os.O_WRONLY)
    stderr = io.StringIO()
    saved = sys.stdout
    try:
        sys.stdout = _ClosedPipe(fd)
        with contextlib.redirect_stderr(stderr):
            context.exit_code = main(["--database-url", context.url, *_args(context, line)])
    finally:
        sys.stdout = saved
        os.close(fd)
    context.stderr = stderr.getvalue()


@then("stderr is empty")
def step_stderr_empty(context: Context) -> None:
    assert context.stderr == "", context.stderr


@given('the plan views fail with "RuntimeError: {message}"')
def step_views_fail(context: Context, message: str) -> None:
    from cleveragents.cli import plan_views

    original = plan_views.load_status

    def failing(*args: object, **kwargs: object) -> object:
        raise RuntimeError(message)

    plan_views.load_status = failing  # a fault injected for this scenario only
    context.cleanups.append(lambda: setattr(plan_views, "load_status", original))
