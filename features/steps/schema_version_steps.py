"""Steps for opening a database at the schema's head without Alembic (schema_version)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from behave import given, then, when
from behave.runner import Context
from sqlalchemy.engine import make_url
from support.world import run_python

from cleveragents.infrastructure.database import migrations
from cleveragents.infrastructure.database.schema_version import HEAD_REVISION, is_at_head
from cleveragents.infrastructure.database.session import create_database_engine

# Opens the database as a runtime would, then says whether Alembic was imported and
# reads a table: the open is whole.
_OPENER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
factory = create_session_factory(sys.argv[1])
found = CheckpointRepository(factory).list_for_plan("p")
print(json.dumps({"alembic": "alembic" in sys.modules, "checkpoints": len(found)}))
"""
# A lock the open would wait for fails it after this long instead of hanging the run.
_LOCK_WAIT_MS = 15_000


def _engine(context: Context) -> Any:
    engine = create_database_engine(context.url)
    context.cleanups.append(engine.dispose)
    return engine


@then("the schema head known without Alembic is Alembic's head revision")
def step_head_agrees(context: Context) -> None:
    assert migrations.head_revision() == HEAD_REVISION, (HEAD_REVISION, migrations.head_revision())


@then("the database {is_or_not} at the schema head")
def step_at_head(context: Context, is_or_not: str) -> None:
    engine = getattr(context, "engine", None) or _engine(context)
    assert is_at_head(engine) is (is_or_not == "is"), is_or_not


@given("another connection holds the migration lock")
def step_hold_migration_lock(context: Context) -> None:
    stack = ExitStack()
    stack.enter_context(migrations.migration_connection(_engine(context)))
    context.cleanups.append(stack.close)


@when("a new process opens the database")
def step_process_opens(context: Context) -> None:
    url = make_url(context.url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"options": f"-c lock_timeout={_LOCK_WAIT_MS}"})
    context.opened = run_python(_OPENER, url.render_as_string(hide_password=False))


@then("it opened the database {how} Alembic")
def step_opened(context: Context, how: str) -> None:
    assert context.opened == {"alembic": how == "with", "checkpoints": 0}, context.opened
