"""Steps for PlanRollbackService: the agent loop, safety checkpoints, marks, undo and refusals.

Every record an agent step makes is kept in ``agent_steps`` (see ``apply_steps``), in
recording order; a checkpoint taken by a step here remembers how many steps came
before it and the sandbox's exact tree, so "recorded after the checkpoint" and "the
sandbox as it was" are known to the scenario without asking the code under test.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apply_steps import AgentStep, agent_steps, record_agent_step, snapshot
from behave import given, step, then, when
from behave.runner import Context
from changeset_steps import store
from checkpoint_steps import checkpoints, repository, step_configured_service
from checkpoint_steps import service as checkpoint_service
from sqlalchemy import text
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.links import make_link
from support.world import attempt, factory, make_entry, real_id, run_python, table_rows

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_rollback_service import (
    PlanRollbackService,
    RollbackResult,
)
from cleveragents.domain.models.core._types import utc_now
from cleveragents.domain.models.core.change import ToolInvocation
from cleveragents.infrastructure.database.changeset_repository import (
    SqliteChangeSetStore,
    ToolInvocationRepository,
)
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory

Tree = dict[str, tuple[str, bytes, int]]
Marks = dict[str, str | None]  # record id -> rolled_back_by


@dataclass(frozen=True)
class Taken:
    """A checkpoint the scenario took (or a rollback's safety checkpoint)."""

    checkpoint_id: str
    tree: Tree  # the sandbox, exactly, when it was taken
    steps: int  # how many agent steps had recorded by then


def rollback_service(context: Context) -> PlanRollbackService:
    if getattr(context, "rollback_service", None) is None:
        context.rollback_service = PlanRollbackService(store(context), checkpoint_service(context))
    made: PlanRollbackService = context.rollback_service
    return made


def taken(context: Context) -> dict[str, Taken]:
    if not hasattr(context, "named_checkpoints"):
        context.named_checkpoints = {}
    named: dict[str, Taken] = context.named_checkpoints
    return named


def labelled(context: Context) -> dict[str, AgentStep]:
    if not hasattr(context, "step_labels"):
        context.step_labels = {}
    labels: dict[str, AgentStep] = context.step_labels
    return labels


def _names(text_value: str) -> list[str]:
    return [part.strip() for part in text_value.split(",") if part.strip()]


def _checkpoint_id(context: Context, name: str) -> str:
    known = taken(context).get(name)
    return known.checkpoint_id if known else name


def _label(context: Context, label: str, done: AgentStep) -> None:
    assert label not in labelled(context), f"step label {label!r} used twice"
    labelled(context)[label] = done


# --- making the sandbox and the record ---------------------------------------------------


@given("a rollback service")
def step_rollback_service(context: Context) -> None:
    rollback_service(context)


@step("the sandbox gets, without a record")
def step_sandbox_gets(context: Context) -> None:
    """Changes no entry records: ``file``, ``symlink``, ``folder``, ``chmod``, ``remove``."""
    for row in table_rows(context):
        kind, path = row["kind"], context.sandbox / row["path"]
        if kind == "remove":
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
            continue
        if kind == "chmod":
            path.chmod(int(row["mode"], 8))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "folder":
            path.mkdir()
        elif kind == "symlink":
            make_link(row["content"], path)
        else:
            path.write_bytes(row["content"].replace("\\n", "\n").encode())
            if row.get("mode"):
                path.chmod(int(row["mode"], 8))


@step('the agent records step "{label}" in the sandbox for plan "{plan}"')
def step_agent_step(context: Context, label: str, plan: str) -> None:
    _label(context, label, record_agent_step(context, plan, table_rows(context)))


@step('I take checkpoint "{name}" of plan "{plan}"')
def step_take_checkpoint(context: Context, name: str, plan: str) -> None:
    made = checkpoint_service(context).create_workspace_snapshot(plan, str(context.sandbox), name)
    assert name not in taken(context), f"checkpoint name {name!r} used twice"
    taken(context)[name] = Taken(
        made.checkpoint_id, snapshot(context.sandbox), len(agent_steps(context))
    )


_MOMENT = re.compile(r'(?:(a minute before|at) checkpoint "([^"]+)"\'s time|(an hour from now))')


def _moment(context: Context, said: str) -> datetime:
    match = _MOMENT.fullmatch(said)
    assert match is not None, f"unknown moment {said!r}"
    if match.group(3):
        return utc_now() + timedelta(hours=1)
    stored = checkpoint_service(context).get_checkpoint(_checkpoint_id(context, match.group(2)))
    assert stored is not None
    shift = timedelta(minutes=1) if match.group(1) == "a minute before" else timedelta(0)
    return stored.created_at - shift


@step('I record entry "{label}" into "{name}" for plan "{plan}" created {moment}')
def step_record_entry_at(context: Context, label: str, name: str, plan: str, moment: str) -> None:
    entry = make_entry(context, name, plan, {"path": f"{label}.txt", "operation": "create"})
    entry.created_at = _moment(context, moment)
    done = AgentStep(entry.changeset_id, entries=[store(context).record(entry)])
    agent_steps(context).append(done)
    _label(context, label, done)


@step('I record a tool call "{label}" into "{name}" for plan "{plan}" started {moment}')
def step_record_call_at(context: Context, label: str, name: str, plan: str, moment: str) -> None:
    call = ToolInvocation(
        plan_id=plan,
        changeset_id=real_id(context, name),
        tool_name="read_file",
        started_at=_moment(context, moment),
    )
    done = AgentStep(call.changeset_id, invocations=[store(context).record_invocation(call)])
    agent_steps(context).append(done)
    _label(context, label, done)


@step('I record a failing tool call "{label}" without a changeset for plan "{plan}"')
def step_record_call_alone(context: Context, label: str, plan: str) -> None:
    call = ToolInvocation(
        plan_id=plan, tool_name="run_tests", error="AssertionError: 3 tests failed"
    )
    done = AgentStep(None, invocations=[store(context).record_invocation(call)])
    agent_steps(context).append(done)
    _label(context, label, done)


@then('by their clocks "{labels}" are no later than checkpoint "{name}" and "{later}" is later')
def step_clocks(context: Context, labels: str, name: str, later: str) -> None:
    """The premise of the clock scenario, read back: the timestamps say the opposite order."""
    stored = checkpoint_service(context).get_checkpoint(_checkpoint_id(context, name))
    assert stored is not None
    changesets = store(context).get_for_plan(stored.plan_id)
    stamps = {e.entry_id: e.created_at for c in changesets for e in c.entries}
    stamps |= {i.invocation_id: i.started_at for c in changesets for i in c.invocations}

    def stamps_of(label: str) -> list[datetime]:
        done = labelled(context)[label]
        return [stamps[e.entry_id] for e in done.entries] + [
            stamps[i.invocation_id] for i in done.invocations
        ]

    for label in _names(labels):
        assert stamps_of(label) and all(t <= stored.created_at for t in stamps_of(label)), label
    assert all(t > stored.created_at for t in stamps_of(later)), later


@when('I summarize the changeset of step "{label}"')
def step_summarize_step(context: Context, label: str) -> None:
    changeset_id = labelled(context)[label].changeset_id
    assert changeset_id is not None, label
    context.summary = store(context).summarize(changeset_id)


# --- rolling back -------------------------------------------------------------------------


def _keep_safety(context: Context, safety: str, result: RollbackResult, before: Tree) -> None:
    assert result.safety_checkpoint_id is not None, result
    assert safety not in taken(context), f"checkpoint name {safety!r} used twice"
    taken(context)[safety] = Taken(result.safety_checkpoint_id, before, len(agent_steps(context)))


@step(
    'I roll plan "{plan}" back to checkpoint "{name}" keeping the safety checkpoint as "{safety}"'
)
def step_roll_back(context: Context, plan: str, name: str, safety: str) -> None:
    before = snapshot(context.sandbox)
    context.rollback = rollback_service(context).rollback(
        plan, _checkpoint_id(context, name), context.sandbox
    )
    _keep_safety(context, safety, context.rollback, before)


@when('I roll plan "{plan}" back to checkpoint "{name}" as a dry run')
def step_roll_back_dry(context: Context, plan: str, name: str) -> None:
    context.dry_run = rollback_service(context).rollback(
        plan, _checkpoint_id(context, name), context.sandbox, dry_run=True
    )
    context.rollback = context.dry_run


@when('I try to roll plan "{plan}" back to checkpoint "{name}"')
def step_try_roll_back(context: Context, plan: str, name: str) -> None:
    checkpoint_id = _checkpoint_id(context, name)
    attempt(
        context, lambda: rollback_service(context).rollback(plan, checkpoint_id, context.sandbox)
    )


@when('I try to roll plan "{plan}" back to the manual checkpoint')
def step_try_roll_back_manual(context: Context, plan: str) -> None:
    manual = checkpoints(context)[-1]
    assert manual.checkpoint_type == "manual", manual
    attempt(
        context,
        lambda: rollback_service(context).rollback(plan, manual.checkpoint_id, context.sandbox),
    )


@given(
    'a rollback service whose checkpoint service excludes "{globs}" with a size limit of {limit:d} bytes'
)
def step_configured_rollback(context: Context, globs: str, limit: int) -> None:
    step_configured_service(context, globs, limit)
    context.rollback_service = None


def _own_store(context: Context) -> SqliteChangeSetStore:
    """A changeset store on a SQLite file of its own, whatever the scenario's backend."""
    own = create_session_factory(f"sqlite:///{context.tmp / 'own.db'}")
    context.cleanups.append(own.kw["bind"].dispose)
    return SqliteChangeSetStore(own)


def _build(context: Context, parts: str) -> PlanRollbackService:
    nothing: Any = None  # wrong on purpose: the constructor must refuse it
    a_repository: Any = repository(context)
    builds: dict[str, Any] = {
        "a checkpoint service on its own in-memory database": lambda: PlanRollbackService(
            store(context), CheckpointService()
        ),
        "a changeset store on a database of its own": lambda: PlanRollbackService(
            _own_store(context), checkpoint_service(context)
        ),
        "no changeset store": lambda: PlanRollbackService(nothing, checkpoint_service(context)),
        "a checkpoint repository instead of a service": lambda: PlanRollbackService(
            store(context), a_repository
        ),
    }
    built: PlanRollbackService = builds[parts]()
    return built


@when("I try to build a rollback service with {parts}")
def step_try_build(context: Context, parts: str) -> None:
    attempt(context, lambda: _build(context, parts))


@when('I try to roll plan "{plan}" back with {call}')
def step_try_bad_call(context: Context, plan: str, call: str) -> None:
    first = next(iter(taken(context).values())).checkpoint_id
    calls: dict[str, Any] = {
        "an empty plan id": lambda: rollback_service(context).rollback("", first, context.sandbox),
        "an empty checkpoint id": lambda: rollback_service(context).rollback(
            plan, " ", context.sandbox
        ),
        "a sandbox that does not exist": lambda: rollback_service(context).rollback(
            plan, first, context.tmp / "no-such-sandbox"
        ),
        "a file as the sandbox": lambda: rollback_service(context).rollback(
            plan, first, context.sandbox / "src" / "main.py"
        ),
    }
    attempt(context, calls[call])


# --- what the store says ------------------------------------------------------------------


def read_marks(context: Context, plan: str) -> tuple[Marks, Marks]:
    """(entries, invocations) of the plan with their ``rolled_back_by``, read back.

    ``get_for_plan`` and ``get`` of each changeset must agree; invocations without a
    changeset are read through the invocation repository.
    """
    entries: Marks = {}
    for changeset in store(context).get_for_plan(plan):
        again = store(context).get(changeset.changeset_id)
        assert again is not None and again.entries == changeset.entries
        assert again.invocations == changeset.invocations
        entries.update((e.entry_id, e.rolled_back_by) for e in changeset.entries)
    calls = ToolInvocationRepository(factory(context)).get_invocations_for_plan(plan)
    invocations: Marks = {call.invocation_id: call.rolled_back_by for call in calls}
    return entries, invocations


def _recorded(steps: list[AgentStep], plan: str) -> tuple[list[str], list[str]]:
    entries = [e.entry_id for s in steps for e in s.entries if e.plan_id == plan]
    calls = [i.invocation_id for s in steps for i in s.invocations if i.plan_id == plan]
    return entries, calls


def _expect_split(
    context: Context, plan: str, name: str, safety: str, found: tuple[Marks, Marks]
) -> None:
    """Records of steps after checkpoint ``name`` marked by ``safety``; the others live."""
    steps = agent_steps(context)
    cut = taken(context)[name].steps
    mark = taken(context)[safety].checkpoint_id
    before_entries, before_calls = _recorded(steps[:cut], plan)
    after_entries, after_calls = _recorded(steps[cut:], plan)
    assert after_entries or after_calls, "nothing was recorded after the checkpoint"
    expected_entries: Marks = dict.fromkeys(before_entries) | dict.fromkeys(after_entries, mark)
    expected_calls: Marks = dict.fromkeys(before_calls) | dict.fromkeys(after_calls, mark)
    entries, calls = found
    assert entries == expected_entries, (entries, expected_entries)
    assert calls == expected_calls, (calls, expected_calls)


@then(
    'every record made after checkpoint "{name}" is marked by "{safety}" and every record before it is live'
)
def step_split(context: Context, name: str, safety: str) -> None:
    plan = _plan_of(context, name)
    _expect_split(context, plan, name, safety, read_marks(context, plan))


def _plan_of(context: Context, name: str) -> str:
    stored = checkpoint_service(context).get_checkpoint(_checkpoint_id(context, name))
    assert stored is not None, name
    return stored.plan_id


@then('the live records of plan "{plan}" are exactly those of steps "{labels:Text}"')
def step_live_exactly(context: Context, plan: str, labels: str) -> None:
    entries, calls = read_marks(context, plan)
    everything = _recorded(agent_steps(context), plan)
    assert sorted(entries) == sorted(everything[0]), "get_for_plan lost or gained entries"
    assert sorted(calls) == sorted(everything[1]), "the plan's invocations changed"
    wanted = _recorded([labelled(context)[label] for label in _names(labels)], plan)
    live_entries = {i for i, mark in entries.items() if mark is None}
    live_calls = {i for i, mark in calls.items() if mark is None}
    assert live_entries == set(wanted[0]), (live_entries, wanted[0])
    assert live_calls == set(wanted[1]), (live_calls, wanted[1])


@then('the records of steps "{labels}" are marked by "{safety}"')
def step_marked_by(context: Context, labels: str, safety: str) -> None:
    mark = taken(context)[safety].checkpoint_id
    entries, calls = read_marks(context, _plan_of(context, safety))
    for label in _names(labels):
        done = labelled(context)[label]
        assert done.entries or done.invocations, label
        for entry in done.entries:
            assert entries[entry.entry_id] == mark, (label, entries[entry.entry_id], mark)
        for call in done.invocations:
            assert calls[call.invocation_id] == mark, (label, calls[call.invocation_id], mark)


@then('the rollback went back to "{name}" writing "{written:Text}" and removing "{removed:Text}"')
def step_rollback_paths(context: Context, name: str, written: str, removed: str) -> None:
    result: RollbackResult = context.rollback
    assert result.checkpoint_id == taken(context)[name].checkpoint_id, result
    assert result.written == _names(written), result.written
    assert result.removed == _names(removed), result.removed


@then("the rollback marked {entries:d} entries and {calls:d} tool invocations")
def step_rollback_counts(context: Context, entries: int, calls: int) -> None:
    result: RollbackResult = context.rollback
    assert (result.rolled_back_entries, result.rolled_back_invocations) == (entries, calls), result
    assert result.dry_run is False and result.safety_checkpoint_id is not None, result
    # The counts are the records that now carry this rollback's mark, read back.
    plan = _plan_of(context, result.checkpoint_id)
    found_entries, found_calls = read_marks(context, plan)
    mark = result.safety_checkpoint_id
    assert sum(1 for m in found_entries.values() if m == mark) == entries
    assert sum(1 for m in found_calls.values() if m == mark) == calls


# --- checkpoints and trees ----------------------------------------------------------------


@then(
    'checkpoint "{safety}" is the newest checkpoint of plan "{plan}", of type "{kind}", whose parent is "{parent}"'
)
def step_safety_checkpoint(
    context: Context, safety: str, plan: str, kind: str, parent: str
) -> None:
    safety_id = taken(context)[safety].checkpoint_id
    assert context.rollback.safety_checkpoint_id == safety_id
    listed = checkpoint_service(context).list_checkpoints(plan)
    assert listed[-1].checkpoint_id == safety_id, [c.checkpoint_id for c in listed]
    stored = listed[-1]
    assert stored.checkpoint_type == kind, stored
    assert stored.plan_id == plan, stored
    assert stored.parent_id == taken(context)[parent].checkpoint_id, stored


@then(
    'restoring checkpoint "{name}" into a fresh folder gives the sandbox as it was just before the rollback'
)
def step_safety_restores(context: Context, name: str) -> None:
    fresh = context.tmp / f"fresh-{name}"
    checkpoint_service(context).restore_workspace(taken(context)[name].checkpoint_id, fresh)
    found, wanted = snapshot(fresh), taken(context)[name].tree
    assert found == wanted, sorted(set(found.items()) ^ set(wanted.items()))


@then('the sandbox tree is exactly checkpoint "{name}"\'s')
def step_sandbox_is(context: Context, name: str) -> None:
    found, wanted = snapshot(context.sandbox), taken(context)[name].tree
    assert found == wanted, sorted(set(found.items()) ^ set(wanted.items()))


@then('the sandbox has no "{paths}"')
def step_sandbox_lacks(context: Context, paths: str) -> None:
    for rel in _names(paths):
        assert not os.path.lexists(context.sandbox / rel), rel


@then("every checkpoint taken restores into a fresh folder exactly as it was taken")
def step_all_restore(context: Context) -> None:
    for name, each in taken(context).items():
        fresh = context.tmp / f"every-{len(name)}-{each.checkpoint_id}"
        checkpoint_service(context).restore_workspace(each.checkpoint_id, fresh)
        found = snapshot(fresh)
        assert found == each.tree, (name, sorted(set(found.items()) ^ set(each.tree.items())))


@then('the target holds the sandbox\'s "{paths:Text}" and is otherwise as before')
def step_target_holds_sandbox(context: Context, paths: str) -> None:
    wanted = _names(paths)
    target, sandbox = snapshot(context.target), snapshot(context.sandbox)
    for rel in wanted:
        assert target.get(rel) == sandbox.get(rel), (rel, target.get(rel), sandbox.get(rel))
    # The folders above the paths may be new; everything else is as it was.
    above = {rel.rsplit("/", depth)[0] for rel in wanted for depth in range(1, rel.count("/") + 1)}
    rest = {rel: v for rel, v in target.items() if rel not in wanted and rel not in above}
    before = {rel: v for rel, v in context.before.items() if rel not in wanted and rel not in above}
    assert rest == before, sorted(set(rest.items()) ^ set(before.items()))


# --- dry runs -----------------------------------------------------------------------------


def _plan_state(context: Context, plan: str) -> dict[str, Any]:
    with factory(context)() as session:
        rollbacks = session.execute(text("SELECT count(*) FROM plan_rollbacks")).scalar_one()
    return {
        "tree": snapshot(context.sandbox),
        "stat": {
            rel: (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
            for rel, info in _lstats(context.sandbox).items()
        },
        "checkpoints": [
            c.checkpoint_id for c in checkpoint_service(context).list_checkpoints(plan)
        ],
        "marks": read_marks(context, plan),
        "rollbacks": int(rollbacks),
    }


def _lstats(root: Path) -> dict[str, os.stat_result]:
    found: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[path.relative_to(root).as_posix()] = os.lstat(path)
    return found


@step('I note the state of plan "{plan}"')
def step_note_state(context: Context, plan: str) -> None:
    context.noted = _plan_state(context, plan)


@then('plan "{plan}" is exactly as noted')
def step_as_noted(context: Context, plan: str) -> None:
    now = _plan_state(context, plan)
    for key, value in context.noted.items():
        assert now[key] == value, (key, now[key], value)


@then(
    'the dry run would go back to "{name}" writing "{written:Text}" and removing "{removed:Text}", marking {entries:d} entries and {calls:d} tool invocations'
)
def step_dry_run_report(
    context: Context, name: str, written: str, removed: str, entries: int, calls: int
) -> None:
    result: RollbackResult = context.dry_run
    assert result.dry_run is True and result.safety_checkpoint_id is None, result
    assert result.checkpoint_id == taken(context)[name].checkpoint_id, result
    assert result.written == _names(written), result.written
    assert result.removed == _names(removed), result.removed
    assert (result.rolled_back_entries, result.rolled_back_invocations) == (entries, calls), result


@then("the dry run reported exactly what the rollback did")
def step_dry_run_matches(context: Context) -> None:
    dry, real = asdict(context.dry_run), asdict(context.rollback)
    assert real["dry_run"] is False and real["safety_checkpoint_id"] is not None, real
    for key in (
        "checkpoint_id",
        "written",
        "removed",
        "rolled_back_entries",
        "rolled_back_invocations",
    ):
        assert dry[key] == real[key], (key, dry[key], real[key])


# --- other processes ----------------------------------------------------------------------

_ROLLER = """
import dataclasses, json, sys
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_rollback_service import PlanRollbackService
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory
url, plan, checkpoint_id, sandbox = sys.argv[1:5]
factory = create_session_factory(url)
service = PlanRollbackService(
    SqliteChangeSetStore(factory), CheckpointService(CheckpointRepository(factory))
)
print(json.dumps(dataclasses.asdict(service.rollback(plan, checkpoint_id, sandbox))))
"""

_MARK_READER = """
import json, sys
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository, ToolInvocationRepository,
)
from cleveragents.infrastructure.database.session import create_session_factory
url, plan = sys.argv[1:3]
factory = create_session_factory(url)
entries = ChangeSetEntryRepository(factory).get_entries_for_plan(plan)
calls = ToolInvocationRepository(factory).get_invocations_for_plan(plan)
print(json.dumps([
    {e.entry_id: e.rolled_back_by for e in entries},
    {c.invocation_id: c.rolled_back_by for c in calls},
]))
"""


@when(
    'a new process rolls plan "{plan}" back to checkpoint "{name}" keeping the safety checkpoint as "{safety}"'
)
def step_process_rolls_back(context: Context, plan: str, name: str, safety: str) -> None:
    before = snapshot(context.sandbox)
    fields = run_python(
        _ROLLER, context.url, plan, _checkpoint_id(context, name), str(context.sandbox)
    )
    context.rollback = RollbackResult(**fields)
    _keep_safety(context, safety, context.rollback, before)


@when('a third process reads the marks of plan "{plan}"')
def step_process_reads_marks(context: Context, plan: str) -> None:
    entries, calls = run_python(_MARK_READER, context.url, plan)
    context.marks_read = (entries, calls)


@then(
    'the third process saw every record made after checkpoint "{name}" marked by "{safety}" and every record before it live'
)
def step_process_saw(context: Context, name: str, safety: str) -> None:
    _expect_split(context, _plan_of(context, name), name, safety, context.marks_read)


@when(
    'a store and a checkpoint service on separate session factories of one database roll plan "{plan}" back to checkpoint "{name}" keeping the safety checkpoint as "{safety}"'
)
def step_separate_factories(context: Context, plan: str, name: str, safety: str) -> None:
    other = create_session_factory(context.url)
    context.cleanups.append(other.kw["bind"].dispose)
    service = PlanRollbackService(
        SqliteChangeSetStore(factory(context)), CheckpointService(CheckpointRepository(other))
    )
    before = snapshot(context.sandbox)
    context.rollback = service.rollback(plan, _checkpoint_id(context, name), context.sandbox)
    _keep_safety(context, safety, context.rollback, before)
