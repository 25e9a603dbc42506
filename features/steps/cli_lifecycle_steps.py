"""Steps for the command line's plan lifecycle commands and its rule for missing databases.

``plan list``, ``plan delete``, ``checkpoint diff`` and ``db vacuum`` run in-process
like the other command line scenarios; a command that only reads must refuse a
SQLite file that does not exist without creating it or its folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml
from behave import given, then, when
from behave.runner import Context
from cli_steps import _SRC, _args, _run_in_process
from database_file_steps import file_url
from support.placeholders import fill
from support.world import factory

import cleveragents
from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.errors import mask_url

# --- databases that do not exist -------------------------------------------------------


@when('I run the command line with "{line}" on a SQLite file in a folder that does not exist')
def step_run_missing(context: Context, line: str) -> None:
    context.missing = context.tmp / f"nothing-{uuid.uuid4().hex[:8]}" / "cleveragents.db"
    _run_in_process(context, ["--database-url", file_url(context.missing), *_args(context, line)])


@when('I run the command line with "{line}" on the URL {url}')
def step_run_url(context: Context, line: str, url: str) -> None:
    _run_in_process(context, ["--database-url", fill(context, url), *_args(context, line)])


@then('stderr is one error line naming the missing file and "{advice}"')
def step_missing_error(context: Context, advice: str) -> None:
    lines = context.stderr.splitlines()
    assert len(lines) == 1, context.stderr
    assert lines[0].startswith(f"error: database file {context.missing} does not exist"), lines
    assert advice in lines[0], lines
    assert context.stdout == "", context.stdout


@then("neither the file nor its folder exists")
def step_nothing_created(context: Context) -> None:
    assert not context.missing.parent.exists(), sorted(context.tmp.iterdir())


@when(
    'I run the command line with "{line}" on the file\'s URL with three slashes, '
    "from the scenario folder"
)
def step_run_relative(context: Context, line: str) -> None:
    meant = context.tmp / "plans.db"
    url = f"sqlite:///{str(meant).lstrip('/')}"  # four slashes were meant
    context.missing = context.tmp / str(meant).lstrip("/")
    here = Path.cwd()
    os.chdir(context.tmp)
    try:
        _run_in_process(context, ["--database-url", url, *_args(context, line)])
    finally:
        os.chdir(here)


@then('the scenario folder holds only "{name}"')
def step_folder_holds(context: Context, name: str) -> None:
    found = sorted(path.name for path in context.tmp.iterdir())
    assert all(each.startswith(name) for each in found), found


@then("the file exists at the head revision")
def step_file_at_head(context: Context) -> None:
    assert context.missing.is_file(), context.stderr
    assert migrations.current_revision(file_url(context.missing)) == migrations.head_revision()


# --- what the commands print -------------------------------------------------------------


@then('stdout is the JSON document "{document}"')
def step_stdout_document(context: Context, document: str) -> None:
    assert json.loads(context.stdout) == json.loads(document), context.stdout


@then("stdout is empty")
def step_stdout_empty(context: Context) -> None:
    assert context.stdout == "", context.stdout


@then('stdout contains "{text}"')
def step_stdout_contains(context: Context, text: str) -> None:
    assert fill(context, text) in context.stdout, context.stdout


@then('stdout has the lines "{lines}"')
def step_stdout_lines(context: Context, lines: str) -> None:
    shown = context.stdout.splitlines()
    for line in fill(context, lines).split("|"):
        assert line in shown, (line, context.stdout)


@then("stdout is a vacuum report of the scenario database")
def step_vacuum_report(context: Context) -> None:
    report = json.loads(context.stdout)
    assert list(report) == ["database", "bytes_freed"], report
    assert report["database"] == mask_url(context.url), report
    assert isinstance(report["bytes_freed"], int) and report["bytes_freed"] >= 0, report


@then("stdout is a whole number of bytes")
def step_whole_number(context: Context) -> None:
    assert context.stdout.strip().isdigit(), context.stdout


@given('plan "{plan}" has an empty changeset in the scenario database')
def step_empty_changeset(context: Context, plan: str) -> None:
    SqliteChangeSetStore(factory(context)).start(plan)


def _json(context: Context) -> object:
    assert context.exit_code == 0, context.stderr
    context.json_document = json.loads(context.stdout)
    return context.json_document


@then('the JSON plan list holds "{other}" and the demo plan with their counts')
def step_plan_list(context: Context, other: str) -> None:
    plans = _json(context)
    assert isinstance(plans, list)
    assert [plan["plan_id"] for plan in plans] == [other, context.plan_id], plans
    first, demo = plans
    assert (first["changesets"], first["entries"], first["checkpoints"]) == (1, 0, 0), first
    assert (demo["changesets"], demo["entries"], demo["checkpoints"]) == (1, 5, 9), demo
    assert demo["tool_invocations"] > 0 and demo["cancelled"] is False, demo
    assert demo["last_activity"].endswith("Z"), demo
    assert list(demo) == [
        "plan_id",
        "changesets",
        "entries",
        "tool_invocations",
        "checkpoints",
        "cancelled",
        "last_activity",
    ], demo


@then('the JSON plan list holds only "{plan}"')
def step_plan_list_only(context: Context, plan: str) -> None:
    plans = _json(context)
    assert isinstance(plans, list)
    assert [each["plan_id"] for each in plans] == [fill(context, plan)], plans


@given('plan "{plan}" is cancelled in the scenario database')
def step_cancelled_plan(context: Context, plan: str) -> None:
    factory(context)
    with cleveragents.open(context.url) as database:
        database.cancel_plan(plan)


@then('the JSON plan list holds only "{plan}", cancelled')
def step_plan_list_cancelled(context: Context, plan: str) -> None:
    step_plan_list_only(context, plan)
    (only,) = context.json_document
    assert only["cancelled"] is True and only["last_activity"].endswith("Z"), only


@then("the JSON plan list holds only the demo plan")
def step_plan_list_demo(context: Context) -> None:
    step_plan_list_only(context, "{plan}")


@then("stdout is the same document as the JSON {what}")
def step_same_document(context: Context, what: str) -> None:
    assert context.exit_code == 0, context.stderr
    assert yaml.safe_load(context.stdout) == context.json_document, context.stdout


@then("stdout is the deletion of the demo plan")
def step_demo_deletion(context: Context) -> None:
    deletion = _json(context)
    assert isinstance(deletion, dict)
    assert list(deletion) == [
        "plan_id",
        "entries",
        "tool_invocations",
        "changesets",
        "checkpoints",
    ], deletion
    assert deletion["plan_id"] == context.plan_id
    assert (deletion["entries"], deletion["changesets"], deletion["checkpoints"]) == (5, 1, 9)
    assert deletion["tool_invocations"] > 0, deletion


@then('stdout is the YAML deletion of "{plan}" with {count:d} changeset')
def step_yaml_deletion(context: Context, plan: str, count: int) -> None:
    assert context.exit_code == 0, context.stderr
    deletion = yaml.safe_load(context.stdout)
    assert deletion == {
        "plan_id": plan,
        "entries": 0,
        "tool_invocations": 0,
        "changesets": count,
        "checkpoints": 0,
    }, deletion


@then('the JSON checkpoint diff lists "{spec}"')
def step_checkpoint_diff(context: Context, spec: str) -> None:
    document = _json(context)
    assert isinstance(document, dict)
    assert list(document) == ["from_checkpoint_id", "to_checkpoint_id", "paths"], document
    shown = [f"{each['path']} {each['status']}" for each in document["paths"]]
    assert shown == [part.strip() for part in spec.split(",")], shown
    for each in document["paths"]:
        assert each["diff"].startswith(f"diff --git a/{each['path']} b/{each['path']}\n"), each
        assert each["binary"] is False and each["insertions"] + each["deletions"] > 0, each
        assert (each["old"] is None) == (each["status"] == "added"), each
        assert (each["new"] is None) == (each["status"] == "deleted"), each
        for side in (each["old"], each["new"]):
            assert side is None or set(side) == {"kind", "sha256", "size", "mode"}, side


@given("the demo plan has a checkpoint without a snapshot")
def step_bare_checkpoint(context: Context) -> None:
    with cleveragents.open(context.url) as database:
        made = database.checkpoints.create_checkpoint(context.plan_id, str(context.tmp))
    context.cli_values["bare_checkpoint"] = made.checkpoint_id


# --- what --help and --version load -------------------------------------------------------


@when('I run "python -m cleveragents {arguments}" in a new process, noting its imports')
def step_module_imports(context: Context, arguments: str) -> None:
    env = {**os.environ, "PYTHONPATH": _SRC}
    context.completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cleveragents", *arguments.split()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@then('the process imported none of "{names}"')
def step_imported_none(context: Context, names: str) -> None:
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in context.completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "cleveragents.cli.app" in imported, context.completed.stderr[-2000:]
    for name in (part.strip() for part in names.split(",")):
        loaded = sorted(m for m in imported if m == name or m.startswith(f"{name}."))
        assert not loaded, f"{name} was imported: {loaded[:5]}"
