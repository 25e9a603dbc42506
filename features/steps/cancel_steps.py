"""Steps for cancelled plans: the tombstone, late writers and writers racing a cancel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from apply_steps import service
from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from support.world import attempt, factory, real_id, run_python, sha

from cleveragents.cli.app import exit_code_for
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    ToolInvocationRepository,
)
from cleveragents.infrastructure.database.errors import PlanCancelledError


def _entry(changeset_id: str, plan: str, path: str) -> ChangeEntry:
    return ChangeEntry(
        changeset_id=changeset_id,
        plan_id=plan,
        path=path,
        operation="create",
        after_hash=sha(path),
    )


@then('plan "{plan}" is cancelled')
def step_is_cancelled(context: Context, plan: str) -> None:
    assert store(context).is_cancelled(plan) is True


@then('plan "{plan}" is not cancelled')
def step_is_not_cancelled(context: Context, plan: str) -> None:
    assert store(context).is_cancelled(plan) is False


@when('I clean up the artifacts of plan "{plan}"')
def step_cleanup(context: Context, plan: str) -> None:
    context.result = service(context).cleanup_changeset(plan)


@when('a late writer tries to {action} for plan "{plan}"')
def step_late_writer(context: Context, action: str, plan: str) -> None:
    changeset_id = real_id(context, "A")
    entries = ChangeSetEntryRepository(factory(context))
    invocations = ToolInvocationRepository(factory(context))
    late = store(context)

    def invocation(changeset: str | None) -> ToolInvocation:
        return ToolInvocation(plan_id=plan, changeset_id=changeset, tool_name="late_tool")

    actions: dict[str, Any] = {
        "start a changeset": lambda: late.start(plan),
        "record an entry into the old changeset": lambda: late.record(
            _entry(changeset_id, plan, "late.txt")
        ),
        "record a batch into the old changeset": lambda: late.record_many(
            [_entry(changeset_id, plan, f"late{i}.txt") for i in range(3)]
        ),
        "record a tool invocation into the changeset": lambda: late.record_invocation(
            invocation(changeset_id)
        ),
        "record a tool invocation without a changeset": lambda: late.record_invocation(
            invocation(None)
        ),
        "save an entry with the entry repository": lambda: entries.save_entry(
            _entry(changeset_id, plan, "late.txt")
        ),
        "save a batch with the entry repository": lambda: entries.save_entries(
            [_entry(changeset_id, plan, f"late{i}.txt") for i in range(3)]
        ),
        "save a tool invocation with its repository": lambda: invocations.save_invocation(
            invocation(None)
        ),
    }
    attempt(context, actions[action])


@then("the error says the plan was cancelled")
def step_error_says_cancelled(context: Context) -> None:
    assert "cancelled" in str(context.error), context.error


@then('nothing of plan "{plan}" is stored')
def step_nothing_stored(context: Context, plan: str) -> None:
    assert store(context).get_for_plan(plan) == []
    assert ChangeSetEntryRepository(factory(context)).get_entries_for_plan(plan) == []
    assert ToolInvocationRepository(factory(context)).get_invocations_for_plan(plan) == []


@then('changeset "{name}" can be recorded into for plan "{plan}"')
def step_can_record(context: Context, name: str, plan: str) -> None:
    changeset_id = real_id(context, name)
    store(context).record(_entry(changeset_id, plan, "again.txt"))
    changeset = store(context).get(changeset_id)
    assert changeset is not None
    assert [entry.path for entry in changeset.entries] == ["again.txt"]


@then("a PlanCancelledError ends a command with exit code {code:d}")
def step_cli_exit_code(context: Context, code: int) -> None:
    assert exit_code_for(PlanCancelledError("plan p was cancelled")) == code


_LATE_STARTER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.errors import PlanCancelledError
url, plan = sys.argv[1:3]
try:
    SqliteChangeSetStore(create_session_factory(url)).start(plan)
    print(json.dumps("started"))
except PlanCancelledError as exc:
    print(json.dumps(type(exc).__name__))
"""


@then('a new process trying to start a changeset for plan "{plan}" gets {error_name}')
def step_new_process_refused(context: Context, plan: str, error_name: str) -> None:
    assert run_python(_LATE_STARTER, context.url, plan) == error_name


# Each writer starts changesets and records into them until the plan is refused.
# A record that committed before the cancel is deleted by it; one that comes after
# is refused. If any write slipped in between (checked, then committed after the
# cancel), its rows would survive: the scenario checks that none do.
_RACING_WRITER = """
import json, sys, time
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.infrastructure.database.errors import PlanCancelledError
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
url, plan, worker, ready = sys.argv[1:5]
store = SqliteChangeSetStore(create_session_factory(url))
writes = 0
deadline = time.monotonic() + 60
try:
    while time.monotonic() < deadline:
        changeset = store.start(plan)
        for i in range(5):
            store.record(ChangeEntry(changeset_id=changeset.changeset_id, plan_id=plan,
                                     path=f"w{worker}/{writes}.txt", operation="create",
                                     after_hash=f"{writes:064x}"))
            store.record_invocation(ToolInvocation(plan_id=plan, changeset_id=None,
                                                   tool_name="step"))
            writes += 1
            if writes == 1:
                open(ready, "a").close()  # this writer is going: the cancel may come
    print(json.dumps({"stopped": False, "writes": writes}))
except PlanCancelledError:
    print(json.dumps({"stopped": True, "writes": writes}))
"""


@when('{workers:d} processes keep recording for plan "{plan}" while it is cancelled')
def step_racing_writers(context: Context, workers: int, plan: str) -> None:
    import time

    readies = [context.tmp / f"ready-{w}" for w in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        futures = [
            pool.submit(run_python, _RACING_WRITER, context.url, plan, str(w), str(readies[w]))
            for w in range(workers)
        ]
        deadline = time.monotonic() + 60
        while not all(ready.exists() for ready in readies) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # every writer has written: let them keep going a little
        context.cancel_count = service(context).cancel(plan)
        context.racers = [future.result() for future in futures]


@then("every writer was stopped by PlanCancelledError")
def step_writers_stopped(context: Context) -> None:
    assert all(racer["stopped"] for racer in context.racers), context.racers
    assert all(racer["writes"] > 0 for racer in context.racers), context.racers
    assert context.cancel_count > 0, context.cancel_count


@given('I cancel plan "{plan}"')
def step_given_cancel(context: Context, plan: str) -> None:
    context.result = service(context).cancel(plan)
