"""Steps for features/front_door.feature: ``cleveragents.open()`` and the top level."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack

from behave import given, then, when
from behave.runner import Context

import cleveragents
from cleveragents import ChangeEntry, ChangeOperation, DatabaseError

# CONTRACT 7.2: the top-level exports are exactly these names.
PINNED = {
    "open", "Database", "ChangeOperation", "EntryKind", "ChangeEntry", "ToolInvocation",
    "SpecChangeSet", "ChangeSetSummary", "ChangeSetStore", "Checkpoint",
    "CheckpointMetadata", "CheckpointStore", "ErrorPattern", "PlanInfo", "PlanDeletion",
    "CheckpointService", "PlanApplyService", "PlanRollbackService", "ApplyResult",
    "ApplyError", "RestoreResult", "RollbackResult", "DatabaseError",
    "DuplicateRecordError", "RecordNotFoundError", "IntegrityCheckError",
    "PlanCancelledError", "__version__",
}  # fmt: skip


@given("I open the test database through cleveragents.open()")
def step_open(context: Context) -> None:
    context.front = ExitStack()
    context.db = context.front.enter_context(cleveragents.open(context.url, watch=False))
    assert "open" in repr(context.db), repr(context.db)


@given('I start a changeset of plan "{plan}" through it')
def step_start(context: Context, plan: str) -> None:
    context.front_changeset = context.db.changesets.start(plan)


@when("its with block ends")
def step_end(context: Context) -> None:
    context.front.close()


def _refused(context: Context, call: object) -> None:
    assert callable(call)
    try:
        call()
    except DatabaseError as exc:
        assert "closed" in str(exc) and context.db.url in str(exc), exc
    else:
        raise AssertionError("a closed database was used without an error")


@then(
    "recording into the changeset through the store it handed out raises DatabaseError "
    "naming the database"
)
def step_record_refused(context: Context) -> None:
    changeset = context.front_changeset
    entry = ChangeEntry(
        changeset_id=changeset.changeset_id,
        plan_id=changeset.plan_id,
        path="a.txt",
        operation=ChangeOperation.CREATE,
        after_hash="0" * 64,
    )
    _refused(context, lambda: context.db.changesets.record(entry))


@then("listing plans through it raises DatabaseError naming the database")
def step_list_refused(context: Context) -> None:
    _refused(context, context.db.list_plans)


@then("closing it again is fine")
def step_close_again(context: Context) -> None:
    context.db.close()
    context.db.close()


@then("it describes itself as closed")
def step_repr_closed(context: Context) -> None:
    assert repr(context.db) == f"Database({context.db.url!r}, closed)", repr(context.db)


@then("the package's exports are exactly the pinned names")
def step_exports(context: Context) -> None:
    assert set(cleveragents.__all__) == PINNED, set(cleveragents.__all__) ^ PINNED
    assert sorted(dir(cleveragents)) == sorted(PINNED)


@then("every exported name can be read from the package")
def step_readable(context: Context) -> None:
    for name in cleveragents.__all__:
        assert getattr(cleveragents, name) is not None, name


@then("an unknown name is an AttributeError naming it")
def step_unknown(context: Context) -> None:
    try:
        cleveragents.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc), exc
    else:
        raise AssertionError("cleveragents.NoSuchThing did not raise")


@then("a new process importing cleveragents loads no SQLAlchemy")
def step_lazy(context: Context) -> None:
    code = "import sys, cleveragents; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out
