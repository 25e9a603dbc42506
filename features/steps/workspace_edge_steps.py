"""Steps for features/workspace_edges.feature: odd rules files, refused excludes, large files."""

from __future__ import annotations

import ast
import subprocess
from contextlib import ExitStack

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from checkpoint_steps import repository

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.application.services.workspace_restore import RestoreResult
from cleveragents.infrastructure.workspace.file_swap import locked_staging

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


@given("a live swap holds a staging folder in the sandbox")
def step_live_swap(context: Context) -> None:
    context.live_swap = ExitStack()
    context.live_staging = context.live_swap.enter_context(locked_staging(context.sandbox))
    assert context.live_staging.is_dir()


@given('the sandbox holds a file named "{name}"')
def step_odd_file(context: Context, name: str) -> None:
    (context.sandbox / name).write_text("not ours")
    context.odd_file = context.sandbox / name


@when("the sandbox is recovered")
def step_recovered(context: Context) -> None:
    context.recovered = PlanApplyService(store(context)).recover(context.sandbox)


@then("the recovery undid nothing")
def step_undid_nothing(context: Context) -> None:
    assert context.recovered == [], context.recovered


@then("the live swap's staging folder and the file are still there")
def step_still_there(context: Context) -> None:
    assert context.live_staging.is_dir() and context.odd_file.read_text() == "not ours"


@when("the live swap ends")
def step_swap_ends(context: Context) -> None:
    context.live_swap.close()


@then("the sandbox holds no staging folder, only the file with a staging name")
def step_no_staging(context: Context) -> None:
    own = sorted(p.name for p in context.sandbox.iterdir() if p.name.startswith(".cleveragents"))
    assert own == [context.odd_file.name], own
