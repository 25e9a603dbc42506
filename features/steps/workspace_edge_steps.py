"""Steps for features/workspace_edges.feature: odd rules files, refused excludes, large files."""

from __future__ import annotations

import ast
import subprocess

from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import repository

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.workspace_restore import RestoreResult

_GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


@given("the sandbox is a git work tree")
def step_git_work_tree(context: Context) -> None:
    subprocess.run(["git", "init", "-q", str(context.sandbox)], env=_GIT_ENV, check=True)
    assert (context.sandbox / ".git").is_dir()


@given('the sandbox\'s "{rel}" holds the bytes "{literal}"')
def step_holds_bytes(context: Context, rel: str, literal: str) -> None:
    data = ast.literal_eval(f'b"{literal}"')
    path = context.sandbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert path.read_bytes() == data


@when("I try to make a checkpoint service excluding {pattern}")
def step_try_service(context: Context, pattern: str) -> None:
    excludes = [ast.literal_eval(pattern)]
    try:
        CheckpointService(repository(context), excludes=excludes)
    except ValueError as exc:
        context.refusal = exc
    else:
        context.refusal = None


@then('it is refused with a ValueError naming "{message}"')
def step_refused(context: Context, message: str) -> None:
    assert isinstance(context.refusal, ValueError), context.refusal
    assert message in str(context.refusal), context.refusal


@then('the restore skipped "{paths}"')
def step_skipped(context: Context, paths: str) -> None:
    result: RestoreResult = context.result
    assert result.skipped == [p.strip() for p in paths.split(",")], result
