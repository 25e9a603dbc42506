"""Steps for PlanApplyService: sandbox, target, apply, cancel and cleanup."""

from __future__ import annotations

import difflib
import hashlib
import multiprocessing
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.links import make_link, read_link
from support.world import attempt, factory, table_rows

from cleveragents.application.services.plan_apply_service import (
    STAGING_PREFIX,
    ApplyResult,
    PlanApplyService,
)
from cleveragents.domain.models.core.change import ChangeEntry, EntryKind, ToolInvocation


def snapshot(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry under ``root``, exactly: kind, content (a symlink's target bytes as
    ``os.readlink`` returns them) and permission bits (``st_mode & 0o7777``)."""
    found: dict[str, tuple[str, bytes, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", read_link(path), 0)
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", b"", stat.S_IMODE(info.st_mode))
            else:
                found[rel] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
    return found


def service(context: Context) -> PlanApplyService:
    return PlanApplyService(store(context))


def _content(text: str) -> bytes:
    return text.replace("\\n", "\n").encode()


@given("a target folder holding")
def step_target(context: Context) -> None:
    context.target = context.tmp / "target"
    context.target.mkdir()
    for row in table_rows(context):
        path = context.target / row["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_content(row["content"]))
        if row.get("mode"):
            path.chmod(int(row["mode"], 8))
    context.before = snapshot(context.target)


@given("a sandbox copied from the target")
def step_sandbox(context: Context) -> None:
    context.sandbox = context.tmp / "sandbox"
    shutil.copytree(context.target, context.sandbox, symlinks=True)


def _sha(path: Path) -> str:
    """The hash an entry records for ``path``: its content, or a symlink's target bytes."""
    if path.is_symlink():
        return hashlib.sha256(read_link(path)).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text(path: Path) -> str:
    return path.read_text() if path.is_file() and not path.is_symlink() else ""


@dataclass
class AgentStep:
    """What one agent step recorded: its changeset, entries and tool invocations."""

    changeset_id: str | None
    entries: list[ChangeEntry] = field(default_factory=list)
    invocations: list[ToolInvocation] = field(default_factory=list)


def agent_steps(context: Context) -> list[AgentStep]:
    """Every agent step of the scenario so far, in recording order."""
    if not hasattr(context, "agent_steps"):
        context.agent_steps = []
    steps: list[AgentStep] = context.agent_steps
    return steps


def record_agent_step(context: Context, plan: str, rows: list[dict[str, str]]) -> AgentStep:
    """Make each row's change in the sandbox and record it (an entry and its tool call).

    Columns: ``operation``, ``path``, ``content`` (a symlink's target when ``kind`` is
    ``symlink``), optional ``old_path`` (rename), ``mode`` (the sandbox file's new
    permission bits) and ``before_mode``/``after_mode`` (what the entry records), octal.
    """
    changeset = store(context).start(plan)
    done = AgentStep(changeset.changeset_id)
    for row in rows:
        operation, rel = row["operation"], row["path"]
        kind = EntryKind(row.get("kind") or "file")
        path = context.sandbox / rel
        fields: dict[str, Any] = {
            "changeset_id": changeset.changeset_id,
            "plan_id": plan,
            "kind": kind,
        }
        for name in ("before_mode", "after_mode"):
            if row.get(name):
                fields[name] = int(row[name], 8)
        old_text = ""
        if operation == "rename":
            old = context.sandbox / row["old_path"]
            fields["old_path"] = row["old_path"]
            fields["before_hash"] = _sha(old)
            old.unlink()
        elif operation in ("modify", "delete"):
            fields["before_hash"] = _sha(path)
            old_text = _text(path)
        if operation == "delete":
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind is EntryKind.SYMLINK:
                if os.path.lexists(path):
                    path.unlink()
                make_link(row["content"], path)
            else:
                if path.is_symlink():
                    path.unlink()
                path.write_bytes(_content(row["content"]))
                if row.get("mode"):
                    path.chmod(int(row["mode"], 8))
            fields["after_hash"] = _sha(path)
        diff = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                _text(path).splitlines(keepends=True),
                f"a/{rel}",
                f"b/{rel}",
            )
        )
        entry = store(context).record(
            ChangeEntry(path=rel, operation=operation, diff=diff, **fields)
        )
        invocation = store(context).record_invocation(
            ToolInvocation(
                plan_id=plan,
                changeset_id=changeset.changeset_id,
                tool_name="write_file",
                arguments={"path": rel},
                change_ids=[entry.entry_id],
            )
        )
        done.entries.append(entry)
        done.invocations.append(invocation)
    agent_steps(context).append(done)
    return done


@given('the agent records in the sandbox for plan "{plan}"')
def step_agent_records(context: Context, plan: str) -> None:
    record_agent_step(context, plan, table_rows(context))


@given('the sandbox file "{rel}" is changed to "{content}" behind the plan\'s back')
def step_sandbox_tamper(context: Context, rel: str, content: str) -> None:
    (context.sandbox / rel).write_bytes(_content(content))


@given('the target file "{rel}" is changed to "{content}"')
def step_target_change(context: Context, rel: str, content: str) -> None:
    (context.target / rel).write_bytes(_content(content))
    context.before = snapshot(context.target)


@given('the sandbox file "{rel}" is replaced by a folder')
def step_sandbox_folder(context: Context, rel: str) -> None:
    path = context.sandbox / rel
    path.unlink()
    path.mkdir()


@given('the sandbox file "{rel}" is removed')
def step_sandbox_removed(context: Context, rel: str) -> None:
    (context.sandbox / rel).unlink()


@given("an outside folder")
def step_outside(context: Context) -> None:
    context.outside = context.tmp / "outside"
    context.outside.mkdir()


@given('the target holds a symlink "{name}" to the outside folder')
def step_symlink(context: Context, name: str) -> None:
    (context.target / name).symlink_to(context.outside, target_is_directory=True)
    (context.sandbox / name).mkdir()
    context.before = snapshot(context.target)


@given("the file system fails on the {nth:d}th file move")
def step_fail_on_move(context: Context, nth: int) -> None:
    original = os.replace
    calls = {"n": 0}

    def failing_replace(source: Any, target: Any, **kwargs: Any) -> None:
        if not os.fspath(source).endswith(".partial"):  # the journal's own rename is not a move
            calls["n"] += 1
            if calls["n"] == nth:
                raise OSError(28, "No space left on device (injected)")
        original(source, target, **kwargs)

    os.replace = failing_replace  # a test seam, restored after the scenario
    context.cleanups.append(lambda: setattr(os, "replace", original))


_KILLED = 137


def _apply_killed_at_journal(context: Context, plan: str) -> None:
    """In a forked child: apply, and die like SIGKILL once half the journal is written."""
    factory(context).kw["bind"].dispose(close=False)  # the parent's connections stay its own
    real_write = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        if b'"steps":' in bytes(data[:32]):  # the swap journal
            real_write(fd, data[: len(data) // 2])
            os._exit(_KILLED)  # no finally, no cleanup: what a kill leaves behind
        return real_write(fd, data)

    os.write = write
    service(context).apply(plan, context.sandbox, context.target)


@when('an apply of plan "{plan}" is killed halfway through writing its swap journal')
def step_apply_killed_at_journal(context: Context, plan: str) -> None:
    process = multiprocessing.get_context("fork").Process(
        target=_apply_killed_at_journal, args=(context, plan)
    )
    process.start()
    process.join(60)
    assert process.exitcode == _KILLED, process.exitcode


@then("the target holds an abandoned staging folder and no other change")
def step_abandoned_staging(context: Context) -> None:
    found = snapshot(context.target)
    staged = {rel for rel in found if rel.split("/")[0].startswith(STAGING_PREFIX)}
    assert staged, sorted(found)
    rest = {rel: value for rel, value in found.items() if rel not in staged}
    assert rest == context.before, sorted(set(rest) ^ set(context.before))


@given('the target holds a folder "{rel}"')
def step_target_folder(context: Context, rel: str) -> None:
    (context.target / rel).mkdir(parents=True)
    context.before = snapshot(context.target)


@when('I try to apply plan "{plan}" from a sandbox given as a number')
def step_apply_number(context: Context, plan: str) -> None:
    attempt(context, lambda: service(context).apply(plan, 42, context.target))


@when('I apply plan "{plan}"')
def step_apply(context: Context, plan: str) -> None:
    context.result = service(context).apply(plan, context.sandbox, context.target)


@when('I try to apply plan "{plan}"')
def step_try_apply(context: Context, plan: str) -> None:
    attempt(context, lambda: service(context).apply(plan, context.sandbox, context.target))


@when('I try to apply plan "{plan}" from a sandbox that does not exist')
def step_apply_missing_sandbox(context: Context, plan: str) -> None:
    missing = context.tmp / "missing"
    attempt(context, lambda: service(context).apply(plan, missing, context.target))


@then("the target tree equals the sandbox tree")
def step_trees_equal(context: Context) -> None:
    target, sandbox = snapshot(context.target), snapshot(context.sandbox)
    assert target == sandbox, sorted(set(target.items()) ^ set(sandbox.items()))


@then(
    'the apply result lists written "{written:Text}", deleted "{deleted:Text}", renamed "{renamed:Text}"'
)
def step_apply_result(context: Context, written: str, deleted: str, renamed: str) -> None:
    result: ApplyResult = context.result

    def split(text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    assert result.written == split(written), result
    assert result.deleted == split(deleted), result
    pairs = [tuple(part.split(" -> ")) for part in split(renamed)]
    assert result.renamed == pairs, result


@then('the target file "{rel}" has mode {mode}')
def step_mode(context: Context, rel: str, mode: str) -> None:
    found = stat.S_IMODE(os.lstat(context.target / rel).st_mode)
    assert found == int(mode, 8), oct(found)


@then("the target tree is exactly as before")
def step_target_unchanged(context: Context) -> None:
    after = snapshot(context.target)
    assert after == context.before, sorted(set(after) ^ set(context.before))


@then("the outside folder is empty")
def step_outside_empty(context: Context) -> None:
    assert list(context.outside.iterdir()) == []


@then('plan "{plan}" has no changeset artifacts left')
def step_no_artifacts(context: Context, plan: str) -> None:
    assert store(context).get_for_plan(plan) == []
    assert store(context).delete_for_plan(plan) == 0


@when('I cancel plan "{plan}"')
def step_cancel(context: Context, plan: str) -> None:
    context.result = service(context).cancel(plan)


@then("the cleanup count is {count:d}")
def step_cleanup_count(context: Context, count: int) -> None:
    assert context.result == count, context.result


@then('cleaning up plan "{plan}" again counts 0')
def step_cleanup_again(context: Context, plan: str) -> None:
    assert service(context).cleanup_changeset(plan) == 0


@when("I try to clean up plan {value}")
def step_try_cleanup(context: Context, value: str) -> None:
    values: dict[str, Any] = {"empty": "", "blank": "  ", "None": None, "too long": "p" * 65}
    attempt(context, lambda: service(context).cleanup_changeset(values[value]))


@when("I try to build a PlanApplyService without a store")
def step_service_without_store(context: Context) -> None:
    attempt(context, lambda: PlanApplyService(None))
