"""Two states of a plan's sandbox, A and B, and the operations that repair the folder.

The Given steps snapshot the two states (see ``support.sandbox_states``) and record
what a whole restore from one to the other lists. :func:`repair` runs one of the
operations that must first recover what a killed restore left (a restore, a
reset, a rollback, a snapshot, an apply, or ``PlanApplyService.recover``) and
reports what it found in the folder and what it left there, for the scenarios of
``restore_recovery.feature`` and the kill cycles of ``crash_consistency.feature``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from behave import given
from behave.runner import Context
from changeset_steps import store
from checkpoint_steps import repository, service
from support.sandbox_states import (
    STATE_NAMES,
    Tree,
    build_state,
    exact_tree,
    lists_own_path,
    manifest_key,
    other,
    own_folders,
    tree_difference,
    which_state,
)
from support.world import factory, sha

from cleveragents.application.services.checkpoint_service import RestoreResult
from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.application.services.plan_rollback_service import PlanRollbackService
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.infrastructure.workspace.file_swap import COMMITTED, JOURNAL

_APPLIED = "applied.txt"  # the one file the apply plan of these scenarios creates
_APPLIED_SUFFIX = " plus the applied file"

# --- the two states --------------------------------------------------------------------------


@given(
    'a sandbox of plan "{plan}" of {files:d} files with checkpoints "A" and "B" '
    "that differ by every kind of step"
)
def step_two_states(context: Context, plan: str, files: int) -> None:
    """Snapshot state A, then state B; restore A and B once each, keeping what they listed."""
    factory(context)
    context.sandbox = context.tmp / "sandbox"
    context.sandbox_plan = plan
    snapshots = service(context)
    context.state_trees = {}
    context.state_checkpoints = {}
    context.state_manifests = {}
    for name in STATE_NAMES:
        build_state(context.sandbox, name, files)
        context.state_trees[name] = exact_tree(context.sandbox)
        taken = snapshots.create_workspace_snapshot(plan, str(context.sandbox), f"state-{name}")
        context.state_checkpoints[name] = taken.checkpoint_id
        stored = repository(context).manifest(taken.checkpoint_id) or []
        context.state_manifests[name] = manifest_key(stored)
    # What a whole restore into the other state lists: a restore right after a kill
    # lists exactly this (it found the old tree) or nothing (it found the new one).
    context.full_listings = {}
    for name in STATE_NAMES:
        result = snapshots.restore_workspace(context.state_checkpoints[name], context.sandbox)
        assert_state(context, name)
        assert result.written and result.removed, result
        context.full_listings[name] = (result.written, result.removed)
    context.sandbox_state = STATE_NAMES[-1]


def assert_state(context: Context, name: str) -> None:
    found = exact_tree(context.sandbox)
    expected = context.state_trees[name]
    assert found == expected, (name, tree_difference(found, expected)[:20])


@given('the sandbox is restored to "{name}"')
def step_restored_to(context: Context, name: str) -> None:
    service(context).restore_workspace(context.state_checkpoints[name], context.sandbox)
    assert_state(context, name)
    context.sandbox_state = name


@given('plan "{plan}" records creating "applied.txt" in a sandbox of its own')
def step_apply_plan(context: Context, plan: str) -> None:
    context.apply_plan = plan
    context.agent_sandbox = context.tmp / "agent"
    context.agent_sandbox.mkdir()
    (context.agent_sandbox / _APPLIED).write_text("applied\n")
    changeset = store(context).start(plan)
    store(context).record(
        ChangeEntry(
            changeset_id=changeset.changeset_id,
            plan_id=plan,
            path=_APPLIED,
            operation="create",
            after_hash=sha("applied\n"),
        )
    )


# --- the operations that repair the folder ---------------------------------------------------


@dataclass
class Repair:
    """What one operation found in the folder (once recovered) and what it left there."""

    operation: str
    before: str  # "A", "B" or "mixed": the folder (its staging folders aside) before it ran
    own_before: list[str]  # the staging folders there before it ran
    journaled: bool = False  # one of them held a journal and no commit marker: mid-swap
    found: str = "mixed"  # the state the operation saw, once it had recovered the folder
    after: str = "mixed"  # the state it left, e.g. "A" or "B plus the applied file"
    own_after: list[str] = field(default_factory=list)
    listed_own: bool = False  # a restore listed a staging path as written or removed
    stored_own: bool = False  # a snapshot stored a staging path
    undone: list[str] = field(default_factory=list)  # what a recovery said it undid


def _found_by_listing(context: Context, target: str, result: RestoreResult) -> str:
    """A restore to ``target`` lists nothing when it found ``target``, all when the other."""
    listing = (result.written, result.removed)
    if listing == ([], []):
        return target
    if listing == context.full_listings[target]:
        return other(target)
    return "mixed"


def _found_by_manifest(context: Context, checkpoint_id: str, made: Repair) -> str:
    """The state a snapshot stored; notes in ``made`` whether it stored a staging path."""
    stored = repository(context).manifest(checkpoint_id) or []
    made.stored_own = made.stored_own or lists_own_path(entry.path for entry in stored)
    key = manifest_key(stored)
    return next((n for n, m in context.state_manifests.items() if m == key), "mixed")


def _restore(context: Context, made: Repair, target: str) -> None:
    kind = made.operation.split(" ")[0]
    checkpoint_id = context.state_checkpoints[target]
    if kind == "restore":
        result = service(context).restore_workspace(checkpoint_id, context.sandbox)
    elif kind == "reset":
        result = service(context).reset_workspace(checkpoint_id, context.sandbox)
    else:
        rollbacks = PlanRollbackService(store(context), service(context))
        rolled = rollbacks.rollback(context.sandbox_plan, checkpoint_id, context.sandbox)
        assert rolled.safety_checkpoint_id is not None
        # The safety checkpoint is a snapshot of the folder as the rollback found it.
        safety = _found_by_manifest(context, rolled.safety_checkpoint_id, made)
        result = RestoreResult(rolled.written, rolled.removed)
        assert safety == _found_by_listing(context, target, result), (safety, rolled)
    made.found = _found_by_listing(context, target, result)
    made.listed_own = lists_own_path([*result.written, *result.removed])


def _snapshot(context: Context, made: Repair, decision: str) -> None:
    taken = service(context).create_workspace_snapshot(
        context.sandbox_plan, str(context.sandbox), decision
    )
    made.found = _found_by_manifest(context, taken.checkpoint_id, made)
    assert service(context).verify_checkpoint(taken.checkpoint_id)


def _recover(context: Context, made: Repair) -> None:
    made.undone = PlanApplyService(store(context)).recover(context.sandbox)
    made.found = which_state(exact_tree(context.sandbox), context.state_trees)


def _apply(context: Context, made: Repair) -> None:
    applying = PlanApplyService(store(context))
    applying.apply(context.apply_plan, context.agent_sandbox, context.sandbox)
    assert (context.sandbox / _APPLIED).read_text() == "applied\n"
    made.found = which_state(_without_applied(exact_tree(context.sandbox)), context.state_trees)


def repair(context: Context, operation: str, decision: str) -> Repair:
    """Run ``operation`` on the sandbox: 'restore of "A"', 'reset to "A"', 'rollback to
    "A"' (a restore of checkpoint A, a reset to it, a plan rollback to it), 'snapshot'
    (``decision`` names it), 'recovery' (``PlanApplyService.recover``) or 'apply' (of
    the plan that creates applied.txt)."""
    sandbox = context.sandbox
    before = exact_tree(sandbox, staged=False)  # what a swap staged is its own, like its folder
    made = Repair(operation, which_state(before, context.state_trees), own_folders(sandbox))
    made.journaled = any(
        (sandbox / name / JOURNAL).exists() and not (sandbox / name / COMMITTED).exists()
        for name in made.own_before
    )
    kind = operation.split(" ")[0]
    if kind in ("restore", "reset", "rollback"):
        _restore(context, made, operation.split('"')[1])
    elif kind == "snapshot":
        _snapshot(context, made, decision)
    elif kind == "recovery":
        _recover(context, made)
    else:
        assert kind == "apply", operation
        _apply(context, made)
    made.own_after = own_folders(sandbox)
    tree = exact_tree(sandbox)
    if kind == "apply":
        made.after = which_state(_without_applied(tree), context.state_trees) + _APPLIED_SUFFIX
    else:
        made.after = which_state(tree, context.state_trees)
    return made


def _without_applied(tree: Tree) -> Tree:
    return {path: value for path, value in tree.items() if path != _APPLIED}
