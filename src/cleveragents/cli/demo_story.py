"""The demo's story: a scripted agent session, recorded and then read back.

An "agent" works on a tiny Python project in a temporary sandbox: it reads files,
changes them (two modifications, one creation, one deletion, one rename), and runs
the tests, which fail once on a missing dependency (matched against, and remembered
in, the error memory: ``demo_errors``). File changes are real; the
results of the non-file tools (tests, package installs) are scripted. Before each
step (decision) the sandbox is snapshotted through ``CheckpointService``. Everything
is recorded through the public APIs of one ``Database``, then ``plan status``,
``plan diff`` and the checkpoints (a restore that undoes the last file-changing step,
as a dry run on the sandbox and for real into a new folder, and its verification)
are printed by the commands' own renderers from what the database holds. Steps are
plain functions in ``DEMO_STEPS``: add one to extend the story.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.rule import Rule
from ulid import ULID

from cleveragents.cli import demo_project as project
from cleveragents.cli.demo_checkpoints import show_checkpoints, snapshot_before
from cleveragents.cli.demo_errors import remember_failure, show_match
from cleveragents.cli.demo_session import AgentSession
from cleveragents.cli.output import OutputFormat, resolve_format, stdout_console, write_text
from cleveragents.cli.plan_views import load_diff, load_status, render_diff, render_status
from cleveragents.database import Database
from cleveragents.infrastructure.database.errors import mask_url


@dataclass(frozen=True)
class DemoStep:
    """One step of the scripted session: a title and what the agent does."""

    title: str
    run: Callable[[AgentSession], None]


def _look_around(session: AgentSession) -> None:
    # A plan-level call, made before the agent settled on changes: in no changeset.
    session.tool(
        "list_files",
        {"path": ".", "recursive": True},
        {"files": [*sorted(project.INITIAL_FILES)]},
        duration_ms=3.2,
        resource_refs=["."],
        in_changeset=False,
    )
    for path in ("README.md", "app/util.py", "app/main.py"):
        session.read(path)


def _add_slugify(session: AgentSession) -> None:
    session.write("app/util.py", project.UTIL_WITH_SLUGIFY)


def _add_http_helper(session: AgentSession) -> None:
    session.write("app/http.py", project.HTTP_MODULE)


def _use_helpers(session: AgentSession) -> None:
    session.write("app/main.py", project.MAIN_WITH_URL)


def _drop_legacy(session: AgentSession) -> None:
    session.delete("app/legacy.py")


def _rename_tests(session: AgentSession) -> None:
    session.rename("tests/test_util.py", "tests/test_app.py", project.TEST_APP)


def _run_tests_failing(session: AgentSession) -> None:
    session.tool(
        "run_tests",
        {"command": "python -m pytest -q", "cwd": "."},
        {"exit_code": 2, "collected": 0, "errors": 1},
        error=project.missing_requests_traceback(session.sandbox),
        duration_ms=612.4,
        resource_refs=["tests/test_app.py"],
    )


def _install_requests(session: AgentSession) -> None:
    session.tool(
        "install_package",
        {"name": "requests", "version": ">=2.31"},
        {"installed": ["requests-2.32.3", "urllib3-2.2.2", "idna-3.7", "certifi-2024.7.4"]},
        duration_ms=4180.0,
        resource_refs=["requests"],
    )


def _run_tests_passing(session: AgentSession) -> None:
    session.tool(
        "run_tests",
        {"command": "python -m pytest -q", "cwd": "."},
        {"exit_code": 0, "passed": 3, "failed": 0, "output": "3 passed in 0.41s"},
        duration_ms=1377.9,
        resource_refs=["tests/test_app.py"],
    )


DEMO_STEPS: list[DemoStep] = [
    DemoStep("look around the project", _look_around),
    DemoStep("add slugify() to app/util.py", _add_slugify),
    DemoStep("add an HTTP helper in app/http.py", _add_http_helper),
    DemoStep("use both from app/main.py", _use_helpers),
    DemoStep("remove the unused legacy module", _drop_legacy),
    DemoStep("rename and extend the tests", _rename_tests),
    DemoStep("run the tests", _run_tests_failing),
    DemoStep("install the missing dependency", _install_requests),
    DemoStep("run the tests again", _run_tests_passing),
]


def run_demo(database: Database, database_url: str | None, *, keep_sandbox: bool) -> None:
    """Record the scripted session into ``database``, then show what it holds.

    ``database_url`` is the ``--database-url`` given, if any, for the commands
    printed at the end.
    """
    fmt = resolve_format(None)
    store = database.changesets
    checkpoints = database.checkpoints
    errors = database.errors
    plan_id = f"demo-{ULID()}"
    changeset = store.start(plan_id)
    sandbox = Path(tempfile.mkdtemp(prefix="cleveragents-demo-"))
    try:
        write_text(f"plan: {plan_id}")
        write_text(f"changeset: {changeset.changeset_id}")
        write_text(f"database: {database.url}")
        write_text(f"sandbox: {sandbox}")
        project.create(sandbox)
        failures: list[str] = []

        def on_failure(error_text: str) -> None:
            failures.append(error_text)
            remember_failure(errors, error_text, write_text)

        session = AgentSession(
            sandbox, store, plan_id, changeset.changeset_id, write_text, on_failure=on_failure
        )
        for number, step in enumerate(DEMO_STEPS, start=1):
            session.step = number
            write_text(f"step {number}: {step.title}")
            snapshot_before(checkpoints, plan_id, sandbox, number, step.title)
            step.run(session)

        _heading("plan status", fmt)
        render_status(load_status(database, plan_id), fmt)
        _heading("plan diff", fmt)
        render_diff(load_diff(database, plan_id), fmt)
        for error_text in failures:
            _heading("errors match: the failing tool call against the error memory", fmt)
            show_match(errors, error_text, fmt)
        # The dry run looks at the sandbox: before it is removed.
        restored = show_checkpoints(database, plan_id, sandbox, fmt, _heading, keep=keep_sandbox)
    finally:
        if not keep_sandbox:
            shutil.rmtree(sandbox, ignore_errors=True)

    _heading("look at it again from a new process", fmt)
    prefix = "cleveragents"
    if database_url is not None:
        prefix += f" --database-url {shlex.quote(mask_url(database_url))}"
    write_text(f"  {prefix} plan status {plan_id}")
    write_text(f"  {prefix} plan diff {plan_id} --path 'app/*'")
    write_text(f"  {prefix} plan status {plan_id} --format json")
    write_text(f"  {prefix} checkpoint list {plan_id}")
    if restored is not None:
        write_text(f"  {prefix} checkpoint show {restored.checkpoint_id}")
        write_text(f"  {prefix} checkpoint verify {restored.checkpoint_id}")
        write_text(
            f"  {prefix} checkpoint restore {restored.checkpoint_id} --to ./restored --dry-run"
        )
    write_text(f"  {prefix} errors match \"ModuleNotFoundError: No module named 'requests'\"")
    write_text(f"  {prefix} errors stats")
    write_text(f"  {prefix} plan cleanup {plan_id}")
    if keep_sandbox:
        write_text(f"the sandbox is kept in {sandbox}")


def _heading(title: str, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.RICH:
        stdout_console().print(Rule(title))
    else:
        write_text(f"\n== {title} ==")
