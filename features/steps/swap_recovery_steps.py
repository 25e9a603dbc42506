"""Steps for what a restore that died mid-way leaves, and the operations that repair it.

A restore is made to die like a SIGKILL at a chosen instant: in a forked child, one
``os`` function is replaced by one that calls ``os._exit`` (no ``finally`` runs, no
cleanup) on its Nth call that changes the sandbox (calls inside the staging folder,
such as the journal's own rename, are not counted). The parent then runs the next
operation on the folder and checks what that operation found there once it had
recovered it (the old tree or the new one, never a mix), and what it left.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from checkpoint_steps import service
from sandbox_repair_steps import Repair, assert_state, repair
from support import parse_types  # noqa: F401  (registers {nth:Ordinal})
from support.sandbox_states import (
    OWN_PREFIX,
    exact_tree,
    own_folders,
    tree_difference,
    which_state,
)
from support.world import factory

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.workspace.file_swap import (
    COMMITTED,
    JOURNAL,
    NEW_PREFIX,
    OLD_RESTORE_PREFIX,
    STAGED,
    STAGING_PREFIX,
)

_FORK = multiprocessing.get_context("fork")
_DIED = 137  # what a child that "was killed" exits with


# --- dying like a kill, in a forked child ----------------------------------------------------


def _changes_sandbox(prefix: str, argument: object) -> bool:
    """True for a path strictly inside the sandbox and outside every staging folder."""
    if not isinstance(argument, str | bytes | os.PathLike):
        return False
    path = os.fsdecode(argument)
    return path.startswith(prefix) and f"/{OWN_PREFIX}" not in path


def _die_at(sandbox: Path, function: str, nth: int) -> None:
    """Make ``os.<function>`` exit like a kill, before its ``nth`` call that changes the sandbox.

    Calls with ``dir_fd`` (how ``shutil.rmtree`` clears a staging folder) are not counted.
    """
    real = getattr(os, function)
    prefix = f"{sandbox}/"
    calls = 0

    def dying(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if kwargs.get("dir_fd") is None and any(_changes_sandbox(prefix, a) for a in args[:2]):
            calls += 1
            if calls == nth:
                os._exit(_DIED)  # no finally, no cleanup: what a kill leaves behind
        return real(*args, **kwargs)

    setattr(os, function, dying)


def _die_at_commit(*, before: bool) -> None:
    """Exit like a kill just before (or right after) the commit marker gets its name."""
    real = os.replace

    def replace(source: Any, target: Any, **kwargs: Any) -> None:
        committing = os.fsdecode(source).endswith(f"/{COMMITTED}.partial")
        if committing and before:
            os._exit(_DIED)
        real(source, target, **kwargs)
        if committing:
            os._exit(_DIED)

    os.replace = replace


def _die_mid_journal() -> None:
    """Exit like a kill once half of the swap journal is written."""
    real = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        if b'"steps":' in bytes(data[:32]):  # the swap journal
            real(fd, data[: len(data) // 2])
            os._exit(_DIED)
        return real(fd, data)

    os.write = write


def _die_at_fstat(nth: int) -> None:
    """Exit like a kill once the ``nth`` staged file is written (staging is under way)."""
    real = os.fstat
    calls = 0

    def fstat(fd: int) -> os.stat_result:
        nonlocal calls
        calls += 1
        if calls == nth:
            os._exit(_DIED)
        return real(fd)

    os.fstat = fstat


def _die_renaming_new_staging() -> None:
    """Exit like a kill just before the new staging folder gets its working name."""
    real = os.rename

    def rename(source: Any, target: Any, **kwargs: Any) -> None:
        if f"/{NEW_PREFIX}" in os.fsdecode(source):
            os._exit(_DIED)
        real(source, target, **kwargs)

    os.rename = rename


def _in_child(context: Context, prepare: Callable[[], None], work: Callable[[], object]) -> None:
    """Run ``prepare`` then ``work`` in a forked child, which must die (exit 137) in ``work``."""

    def run() -> None:
        if context.backend != "sqlite-memory":
            # The parent's pooled connections stay its own; an in-memory database
            # exists only in the connection the child inherited, so it keeps that one.
            factory(context).kw["bind"].dispose(close=False)
        prepare()
        work()

    process = _FORK.Process(target=run)
    process.start()
    process.join(120)
    assert process.exitcode == _DIED, f"the child did not die where it should: {process.exitcode}"


def _restore_in_child(context: Context, name: str, prepare: Callable[[], None]) -> None:
    checkpoint_id = context.state_checkpoints[name]

    def work() -> None:
        # A service of its own: the parent's watches its sandbox through an inotify
        # descriptor that the fork shares, and a read here would take its events.
        restores = CheckpointService(CheckpointRepository(factory(context)), watch=False)
        restores.restore_workspace(checkpoint_id, context.sandbox)

    context.tree_before_kill = exact_tree(context.sandbox)
    _in_child(context, prepare, work)


@given('a restore of checkpoint "{name}" into the sandbox dies at its {nth:Ordinal} os.{function}')
def step_restore_dies_at(context: Context, name: str, nth: int, function: str) -> None:
    _restore_in_child(context, name, lambda: _die_at(context.sandbox, function, nth))


@given('a restore of checkpoint "{name}" into the sandbox dies right after its commit marker')
def step_restore_dies_committed(context: Context, name: str) -> None:
    _restore_in_child(context, name, lambda: _die_at_commit(before=False))


@given('a restore of checkpoint "{name}" into the sandbox dies just before its commit marker')
def step_restore_dies_uncommitted(context: Context, name: str) -> None:
    _restore_in_child(context, name, lambda: _die_at_commit(before=True))


@given('a restore of checkpoint "{name}" into the sandbox dies halfway through its journal')
def step_restore_dies_mid_journal(context: Context, name: str) -> None:
    _restore_in_child(context, name, _die_mid_journal)


@given(
    'a restore of checkpoint "{name}" into the sandbox dies while staging its {nth:Ordinal} file'
)
def step_restore_dies_staging(context: Context, name: str, nth: int) -> None:
    _restore_in_child(context, name, lambda: _die_at_fstat(nth))


@given('a restore of checkpoint "{name}" into the sandbox dies while making its staging folder')
def step_restore_dies_making_staging(context: Context, name: str) -> None:
    _restore_in_child(context, name, _die_renaming_new_staging)


@when("a recovery of the sandbox dies at its {nth:Ordinal} os.{function}")
def step_recovery_dies(context: Context, nth: int, function: str) -> None:
    def work() -> None:
        PlanApplyService(store(context)).recover(context.sandbox)

    _in_child(context, lambda: _die_at(context.sandbox, function, nth), work)


@given('the sandbox\'s folder "{rel}" has mode {mode}')
def step_folder_mode(context: Context, rel: str, mode: str) -> None:
    folder = context.sandbox / rel
    folder.chmod(int(mode, 8))
    assert folder.is_dir() and folder.stat().st_mode & 0o7777 == int(mode, 8)


@given("I remember the sandbox exactly as it is")
def step_remember_exactly(context: Context) -> None:
    context.remembered_tree = exact_tree(context.sandbox)


# --- what an older version left --------------------------------------------------------------

# An old-format journal (before version 2): per path, where its original went and where
# its new content came from, and the folders the swap made (see file_swap._steps_of).
_OLD_SWAPS = [  # path, and whether it is written (True) or deleted (False)
    ("d0/f0.txt", True),
    ("d1/extra-a0.txt", False),
    ("only-b/deep/b0.txt", True),
]
_OLD_FOLDERS = ["only-b", "only-b/deep"]


def _old_staging(context: Context) -> Path:
    return Path(tempfile.mkdtemp(prefix=OLD_RESTORE_PREFIX, dir=context.sandbox))


def _content_in_b(context: Context, rel: str) -> bytes:
    restored = context.tmp / "state-b"
    if not restored.exists():
        service(context).restore_workspace(context.state_checkpoints["B"], restored)
    return (restored / rel).read_bytes()


@given("the sandbox holds a staging folder of an older version's restore, without a journal")
def step_old_staging_bare(context: Context) -> None:
    context.tree_before_kill = exact_tree(context.sandbox)
    staging = _old_staging(context)
    (staging / "new").mkdir()
    for index, (rel, written) in enumerate(_OLD_SWAPS):
        if written:
            (staging / "new" / str(index)).write_bytes(_content_in_b(context, rel))


@given(
    "the sandbox holds a staging folder of an older version's restore, "
    "whose old-format journal has {done:d} of its {total:d} swaps done"
)
def step_old_staging_journal(context: Context, done: int, total: int) -> None:
    assert total == len(_OLD_SWAPS)
    context.tree_before_kill = exact_tree(context.sandbox)
    staging = _old_staging(context)
    (staging / "new").mkdir()
    (staging / "backup").mkdir()
    steps = []
    for index, (rel, written) in enumerate(_OLD_SWAPS):
        staged = f"new/{index}" if written else None
        if staged is not None:
            (staging / staged).write_bytes(_content_in_b(context, rel))
        had_original = os.path.lexists(context.sandbox / rel)
        steps.append(
            {
                "path": rel,
                "backup": f"backup/{index}",
                "staged": staged,
                "had_original": had_original,
            }
        )
    journal = {"steps": steps, "folders": _OLD_FOLDERS}
    (staging / JOURNAL).write_text(json.dumps(journal))
    # What the old swap did before it was killed: every folder, then path by path.
    for folder in _OLD_FOLDERS:
        (context.sandbox / folder).mkdir()
    for step in steps[:done]:
        where = context.sandbox / step["path"]
        if step["had_original"]:
            where.replace(staging / step["backup"])
        if step["staged"] is not None:
            (staging / step["staged"]).replace(where)


@given(
    "the sandbox holds a staging folder of an earlier restore, "
    "whose version-2 journal has {done:d} of its {total:d} steps done"
)
def step_v2_staging_journal(context: Context, done: int, total: int) -> None:
    # Version 2 listed each step as an object and staged every file before its journal.
    context.tree_before_kill = exact_tree(context.sandbox)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=context.sandbox))
    (staging / "new").mkdir()
    (staging / "backup").mkdir()
    steps: list[dict[str, object]] = []
    for index, (rel, _written) in enumerate(_OLD_SWAPS):
        if os.path.lexists(context.sandbox / rel):
            steps.append({"kind": "out", "path": rel, "staged": f"backup/{index}"})
    steps += [{"kind": "mkdir", "path": folder} for folder in _OLD_FOLDERS]
    for index, (rel, written) in enumerate(_OLD_SWAPS):
        if written:
            (staging / "new" / str(index)).write_bytes(_content_in_b(context, rel))
            steps.append({"kind": "in", "path": rel, "staged": f"new/{index}"})
    assert total == len(steps), f"the journal has {len(steps)} steps"
    (staging / JOURNAL).write_text(json.dumps({"version": 2, "steps": steps}))
    for step in steps[:done]:
        where = context.sandbox / str(step["path"])
        if step["kind"] == "out":
            where.replace(staging / str(step["staged"]))
        elif step["kind"] == "mkdir":
            where.mkdir()
        else:
            (staging / str(step["staged"])).replace(where)


# --- checks ----------------------------------------------------------------------------------


@then("the sandbox holds one staging folder, with {what}")
def step_one_staging(context: Context, what: str) -> None:
    names = own_folders(context.sandbox)
    assert len(names) == 1, names
    held = {p.name for p in (context.sandbox / names[0]).iterdir()}
    expected: dict[str, tuple[set[str], set[str]]] = {  # present, absent
        "a journal and no commit marker": ({JOURNAL}, {COMMITTED}),
        "a journal and a commit marker": ({JOURNAL, COMMITTED}, set()),
        "a journal and no staged marker": ({JOURNAL}, {STAGED, COMMITTED}),
        "half a journal only": ({f"{JOURNAL}.partial"}, {JOURNAL, COMMITTED}),
        "no journal": (set(), {JOURNAL, f"{JOURNAL}.partial", COMMITTED}),
    }
    present, absent = expected[what]
    assert present <= held and not (absent & held), (names[0], sorted(held))


@then('outside it the sandbox is exactly "{name}"')
def step_outside_exactly(context: Context, name: str) -> None:
    assert_state(context, name)


@then(
    "apart from the files staged beside their paths and the new folders made for them, "
    'the sandbox is exactly "{name}"'
)
def step_apart_from_staged(context: Context, name: str) -> None:
    found = exact_tree(context.sandbox)
    staged = [p for p in found if p.rpartition("/")[2].startswith(NEW_PREFIX)]
    assert staged, "nothing was staged beside its path"
    for path in staged:
        del found[path]
    # The journal's early folders: "mkdir" rows made before staging (see file_swap).
    (staging,) = [p for p in context.sandbox.iterdir() if p.name.startswith(STAGING_PREFIX)]
    rows = json.loads((staging / JOURNAL).read_text())["steps"]
    early = {row[1] for row in rows if row[0] == "mkdir" and row[5]}
    assert early, "the journal lists no folder made before staging"
    for path in early:
        assert found.pop(path)[0] == "dir", path
    assert found == context.state_trees[name], tree_difference(found, context.state_trees[name])


@then("outside it the sandbox is neither A nor B: some steps were taken")
def step_outside_mixed(context: Context) -> None:
    found = exact_tree(context.sandbox)
    assert which_state(found, context.state_trees) == "mixed"
    assert found != context.tree_before_kill


@when("the next {operation} runs on the sandbox")
def step_next_operation(context: Context, operation: str) -> None:
    context.repair = repair(context, operation, "after-the-kill")


@then('it found the sandbox exactly at "{name}", and neither listed nor stored a staging path')
def step_found(context: Context, name: str) -> None:
    made: Repair = context.repair
    assert made.own_before, "no staging folder was there to recover"
    assert made.found == name, made
    assert not made.listed_own and not made.stored_own, made
    if made.operation == "recovery":  # it says it undid steps exactly when it did
        assert bool(made.undone) == (made.found != made.before), made


@then('the sandbox is exactly "{after}" with no staging folder left')
def step_left(context: Context, after: str) -> None:
    made: Repair = context.repair
    assert made.own_after == [], made
    assert made.after == after, (made, after)


@then("the sandbox is exactly as remembered with no staging folder left")
def step_as_remembered(context: Context) -> None:
    assert own_folders(context.sandbox) == []
    found = exact_tree(context.sandbox)
    assert found == context.remembered_tree, tree_difference(found, context.remembered_tree)
