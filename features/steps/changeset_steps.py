"""Steps for the changeset store and its repositories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from behave import given, then, when
from behave.runner import Context
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import (
    TRANSACTION_CONTROL,
    attempt,
    factory,
    ids,
    make_entry,
    real_id,
    run_python,
    table_rows,
    watching_sql,
)

from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeSetSummary,
    SpecChangeSet,
    ToolInvocation,
)
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    SqliteChangeSetStore,
    ToolInvocationRepository,
)


def store(context: Context) -> SqliteChangeSetStore:
    if getattr(context, "store", None) is None:
        context.store = SqliteChangeSetStore(factory(context))
    made: SqliteChangeSetStore = context.store
    return made


def recorded(context: Context) -> list[Any]:
    if not hasattr(context, "recorded"):
        context.recorded = []
        context.invocations = []
    items: list[Any] = context.recorded
    return items


def remember_invocation(context: Context, invocation: ToolInvocation) -> None:
    recorded(context)
    context.invocations.append(invocation)


@given("a changeset store")
def step_store(context: Context) -> None:
    store(context)


class _CountingSession(Session):
    """Counts, in its class's ``opened`` list, how many sessions were made."""

    opened: list[int]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.opened[0] += 1


@given("a changeset store on a session factory made as {made}")
def step_custom_factory(context: Context, made: str) -> None:
    engine = factory(context).kw["bind"]
    opened = [0]
    context.sessions_opened = lambda: opened[0]
    if made == "a function returning sessions":

        def sessions() -> Session:
            opened[0] += 1
            return Session(bind=engine, expire_on_commit=False)

        context.store = SqliteChangeSetStore(sessions)
    else:
        counting = type("CountingSession", (_CountingSession,), {"opened": opened})
        context.store = SqliteChangeSetStore(
            sessionmaker(bind=engine, expire_on_commit=False, class_=counting)
        )


@then("that session factory made {count:d} sessions")
def step_custom_sessions(context: Context, count: int) -> None:
    assert context.sessions_opened() == count, context.sessions_opened()


@given('a started changeset "{name}" for plan "{plan}"')
@when('I start a changeset "{name}" for plan "{plan}"')
def step_start(context: Context, name: str, plan: str) -> None:
    changeset = store(context).start(plan)
    ids(context)[name] = changeset.changeset_id


@then(
    'changeset "{name}" reads back for plan "{plan}" with {entries:d} entries and {calls:d} invocations'
)
def step_reads_back_empty(context: Context, name: str, plan: str, entries: int, calls: int) -> None:
    changeset = store(context).get(real_id(context, name))
    assert isinstance(changeset, SpecChangeSet)
    assert changeset.plan_id == plan
    assert changeset.created_at.tzinfo is not None
    assert len(changeset.entries) == entries and len(changeset.invocations) == calls


@given('I record into "{name}" for plan "{plan}"')
@when('I record into "{name}" for plan "{plan}"')
def step_record_table(context: Context, name: str, plan: str) -> None:
    for row in table_rows(context):
        entry = store(context).record(make_entry(context, name, plan, row))
        recorded(context).append(entry)


@then('changeset "{name}" reads back exactly the recorded entries')
def step_entries_exact(context: Context, name: str) -> None:
    changeset = store(context).get(real_id(context, name))
    assert changeset is not None
    assert changeset.entries == recorded(context), (changeset.entries, recorded(context))


@then('changeset "{name}" reads back exactly the recorded invocations')
def step_invocations_exact(context: Context, name: str) -> None:
    changeset = store(context).get(real_id(context, name))
    assert changeset is not None
    assert changeset.invocations == context.invocations
    dumped = [i.model_dump(mode="json") for i in changeset.invocations]
    assert dumped == [i.model_dump(mode="json") for i in context.invocations]


def _invocation(
    context: Context, tool: str, name: str | None, plan: str, **extra: Any
) -> ToolInvocation:
    return ToolInvocation(
        plan_id=plan,
        changeset_id=real_id(context, name) if name else None,
        tool_name=tool,
        arguments={"path": "src/main.py", "mode": "w"},
        result={"bytes": 42},
        duration_ms=12.5,
        change_ids=["e1"],
        resource_refs=["file://src/main.py"],
        provider_metadata={"provider": "test"},
        **extra,
    )


@given('I record a tool invocation "{tool}" into "{name}" for plan "{plan}"')
@when('I record a tool invocation "{tool}" into "{name}" for plan "{plan}"')
def step_record_invocation(context: Context, tool: str, name: str, plan: str) -> None:
    remember_invocation(
        context, store(context).record_invocation(_invocation(context, tool, name, plan))
    )


@given('I record a failing tool invocation "{tool}" into "{name}" for plan "{plan}"')
def step_record_failing(context: Context, tool: str, name: str, plan: str) -> None:
    invocation = _invocation(context, tool, name, plan, error="ImportError: No module named 'foo'")
    remember_invocation(context, store(context).record_invocation(invocation))


@when('I try to record a tool invocation "{tool}" into "{name}" for plan "{plan}"')
def step_try_invocation(context: Context, tool: str, name: str, plan: str) -> None:
    attempt(
        context, lambda: store(context).record_invocation(_invocation(context, tool, name, plan))
    )


@when('I record a tool invocation into "{name}" for plan "{plan}" with JSON')
def step_invocation_json(context: Context, name: str, plan: str) -> None:
    fields = json.loads(context.text)
    invocation = ToolInvocation(
        plan_id=plan, changeset_id=real_id(context, name), tool_name="json", **fields
    )
    remember_invocation(context, store(context).record_invocation(invocation))


@then('getting changeset "{changeset_id}" gives None')
def step_get_none(context: Context, changeset_id: str) -> None:
    assert store(context).get(changeset_id) is None


@then('the changesets of plan "{plan}" are "{names:Text}"')
def step_changesets_of_plan(context: Context, plan: str, names: str) -> None:
    wanted = [real_id(context, n.strip()) for n in names.split(",") if n.strip()]
    found = [c.changeset_id for c in store(context).get_for_plan(plan)]
    assert found == wanted, (found, wanted)


@then('changeset "{name}" of plan "{plan}" holds the entry for "{path}"')
def step_changeset_holds(context: Context, name: str, plan: str, path: str) -> None:
    by_id = {c.changeset_id: c for c in store(context).get_for_plan(plan)}
    assert [e.path for e in by_id[real_id(context, name)].entries] == [path]


@when('I read the entries of plan "{plan}" twice')
def step_read_twice(context: Context, plan: str) -> None:
    context.reads = [
        [entry for changeset in store(context).get_for_plan(plan) for entry in changeset.entries]
        for _ in range(2)
    ]


@when('I set the path of the first entry of the first read to "{path}"')
def step_set_path(context: Context, path: str) -> None:
    context.reads[0][0].path = path


def every_field_set(entry: ChangeEntry) -> bool:
    return entry.model_fields_set == set(ChangeEntry.model_fields) and set(
        entry.model_dump(exclude_unset=True)
    ) == set(ChangeEntry.model_fields)


@then('the first entry of the first read has path "{path}" and every field set')
def step_first_changed(context: Context, path: str) -> None:
    entry = context.reads[0][0]
    assert entry.path == path and every_field_set(entry), (entry.path, entry.model_fields_set)


@then("the other entries of both reads are as recorded, every field set")
def step_others_unchanged(context: Context) -> None:
    first, second = context.reads
    assert [e.path for e in first[1:]] == ["b.txt"], [e.path for e in first]
    assert [e.path for e in second] == ["a.txt", "b.txt"], [e.path for e in second]
    assert all(every_field_set(e) for e in first + second)
    assert second == recorded(context), (second, recorded(context))


@then('setting the path of the second entry of the first read to "{path}" raises ValidationError')
def step_invalid_assignment(context: Context, path: str) -> None:
    entry = context.reads[0][1]
    try:
        entry.path = path
    except ValidationError:
        assert entry.path == "b.txt", entry.path
    else:
        raise AssertionError(f"assigning {path!r} was accepted")


@then("emptying the fields set of the first read's entries leaves the second read's whole")
def step_reads_share_nothing(context: Context) -> None:
    context.reads[0][0].model_fields_set.clear()
    assert all(every_field_set(e) for e in context.reads[1])


@when('I summarize changeset "{name}"')
def step_summarize(context: Context, name: str) -> None:
    context.summary = store(context).summarize(real_id(context, name))


@when('I try to summarize changeset "{name}"')
def step_try_summarize(context: Context, name: str) -> None:
    attempt(context, lambda: store(context).summarize(real_id(context, name)))


@then("the summary is")
def step_summary_is(context: Context) -> None:
    summary: ChangeSetSummary = context.summary
    for field, value in table_rows(context)[0].items():
        assert getattr(summary, field) == int(value), (field, getattr(summary, field), value)


@then('the summary paths are "{paths:Text}"')
def step_summary_paths(context: Context, paths: str) -> None:
    assert context.summary.paths == [p.strip() for p in paths.split(",") if p.strip()]
    assert context.summary.files_changed == len(context.summary.paths)


def _entries(context: Context, name: str, plan: str, count: int) -> list[ChangeEntry]:
    return [
        make_entry(context, name, plan, {"path": f"dir/file_{i:05d}.py", "operation": "create"})
        for i in range(count)
    ]


@when('I record {count:d} entries into "{name}" for plan "{plan}" with timestamps going backwards')
def step_record_backwards(context: Context, count: int, name: str, plan: str) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for i, entry in enumerate(_entries(context, name, plan, count)):
        entry.created_at = start - timedelta(minutes=i)
        recorded(context).append(store(context).record(entry))


@then('changeset "{name}" lists its entries in recording order')
def step_recording_order(context: Context, name: str) -> None:
    changeset = store(context).get(real_id(context, name))
    assert changeset is not None
    assert [e.entry_id for e in changeset.entries] == [e.entry_id for e in recorded(context)]


@given('{count:d} entries are recorded into "{name}" for plan "{plan}"')
@when('I record a batch of {count:d} entries into "{name}" for plan "{plan}"')
def step_record_batch(context: Context, count: int, name: str, plan: str) -> None:
    batch = _entries(context, name, plan, count)
    context.result = store(context).record_many(batch)
    recorded(context).extend(batch)


@then("the batch count is {count:d}")
def step_batch_count(context: Context, count: int) -> None:
    assert context.result == count, context.result


@when("I record an empty batch through {writer}")
def step_empty_batch(context: Context, writer: str) -> None:
    if writer == "the store's record_many":
        context.result = store(context).record_many([])
    else:
        context.result = entry_repository(context).save_entries([])


@when(
    'I try to record a batch into "{name}" for plan "{plan}" whose last entry names changeset "{other}"'
)
def step_batch_bad_last(context: Context, name: str, plan: str, other: str) -> None:
    batch = _entries(context, name, plan, 50)
    batch.append(make_entry(context, other, plan, {"path": "bad.txt", "operation": "create"}))
    attempt(context, lambda: store(context).record_many(batch))


@when('I try to record a batch into "{name}" for plan "{plan}" with the same entry id twice')
def step_batch_duplicate(context: Context, name: str, plan: str) -> None:
    batch = _entries(context, name, plan, 10)
    batch.append(batch[3].model_copy(update={"path": "again.txt"}))
    attempt(context, lambda: store(context).record_many(batch))


@when('I try to record a batch into "{name}" for plan "{plan}" containing entry id "{entry_id}"')
def step_batch_clash(context: Context, name: str, plan: str, entry_id: str) -> None:
    batch = _entries(context, name, plan, 10)
    batch.append(
        make_entry(
            context, name, plan, {"path": "x.txt", "operation": "create", "entry_id": entry_id}
        )
    )
    attempt(context, lambda: store(context).record_many(batch))


@when('I try to record an entry into changeset "{name}" for plan "{plan}"')
def step_try_record(context: Context, name: str, plan: str) -> None:
    entry = make_entry(context, name, plan, {"path": "a.txt", "operation": "create"})
    attempt(context, lambda: store(context).record(entry))


@when('I try to record into "{name}" for plan "{plan}" an entry with id "{entry_id}"')
def step_try_record_id(context: Context, name: str, plan: str, entry_id: str) -> None:
    entry = make_entry(
        context, name, plan, {"path": "b.txt", "operation": "create", "entry_id": entry_id}
    )
    attempt(context, lambda: store(context).record(entry))


@when('I record an entry into "{name}" for plan "{plan}" created at "{moment}"')
def step_record_at(context: Context, name: str, plan: str, moment: str) -> None:
    entry = make_entry(context, name, plan, {"path": "t.txt", "operation": "create"})
    entry.created_at = datetime.fromisoformat(moment)
    context.entry = store(context).record(entry)


@then('the entry reads back created at "{moment}"')
def step_entry_at(context: Context, moment: str) -> None:
    changeset = store(context).get(context.entry.changeset_id)
    assert changeset is not None
    found = changeset.entries[0].created_at
    assert found == datetime.fromisoformat(moment), found
    assert found.isoformat() == moment, found.isoformat()
    assert found.utcoffset() == timedelta(0)


@then('reading "{small}" and "{large}" issues the same number of statements')
def step_statement_counts(context: Context, small: str, large: str) -> None:
    engine = factory(context).kw["bind"]
    counts: dict[str, int] = {}
    for name in (small, large):
        with watching_sql(engine) as statements:
            changeset = store(context).get(real_id(context, name))
        assert changeset is not None
        queries = [s for s in statements if not s.upper().startswith(TRANSACTION_CONTROL)]
        counts[name] = len(queries)
    assert counts[small] == counts[large], counts
    # The header, its entries and its invocations.
    assert counts[large] == 3, counts


@when('I delete the changesets of plan "{plan}"')
def step_delete_plan(context: Context, plan: str) -> None:
    context.error = None
    context.result = store(context).delete_for_plan(plan)


_WRITER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
url, plan = sys.argv[1], sys.argv[2]
store = SqliteChangeSetStore(create_session_factory(url))
cs = store.start(plan)
store.record_many([ChangeEntry(changeset_id=cs.changeset_id, plan_id=plan, path=f"f{i}.py",
    operation="create", after_hash=f"{i:064x}", diff=f"+line {i}\\n", insertions=1,
    metadata={"i": i, "ü": [True, None]}) for i in range(5)])
store.record_invocation(ToolInvocation(plan_id=plan, changeset_id=cs.changeset_id,
    tool_name="run_tests", arguments={"k": "v"}, error="boom"))
print(json.dumps(store.get(cs.changeset_id).model_dump(mode="json")))
"""

_READER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.changeset_repository import SqliteChangeSetStore
url, plan = sys.argv[1], sys.argv[2]
store = SqliteChangeSetStore(create_session_factory(url))
found = store.get_for_plan(plan)
print(json.dumps({"changesets": [c.model_dump(mode="json") for c in found],
                  "summary": store.summarize(found[0].changeset_id).model_dump(mode="json")}))
"""


@when('a separate process records a changeset for plan "{plan}"')
def step_writer_process(context: Context, plan: str) -> None:
    context.written = run_python(_WRITER, context.url, plan)


@then('a new process reads the changeset of plan "{plan}" intact')
def step_reader_process(context: Context, plan: str) -> None:
    read = run_python(_READER, context.url, plan)
    assert read["changesets"] == [context.written], (read, context.written)
    assert read["summary"]["created"] == 5 and read["summary"]["failed_invocations"] == 1


# --- the lower-level repositories -----------------------------------------------------


def entry_repository(context: Context) -> ChangeSetEntryRepository:
    return ChangeSetEntryRepository(factory(context))


def invocation_repository(context: Context) -> ToolInvocationRepository:
    return ToolInvocationRepository(factory(context))


@given('the entry repository saves into "{name}" for plan "{plan}"')
@when('the entry repository saves into "{name}" for plan "{plan}"')
def step_repo_save(context: Context, name: str, plan: str) -> None:
    for row in table_rows(context):
        entry_repository(context).save_entry(make_entry(context, name, plan, row))


@when('the entry repository saves a batch into "{name}" for plan "{plan}"')
def step_repo_save_batch(context: Context, name: str, plan: str) -> None:
    batch = [make_entry(context, name, plan, row) for row in table_rows(context)]
    assert entry_repository(context).save_entries(batch) == len(batch)


@when('I try to have the entry repository save into "{name}" for plan "{plan}"')
def step_repo_try_save(context: Context, name: str, plan: str) -> None:
    entry = make_entry(context, name, plan, {"path": "a.txt", "operation": "create"})
    attempt(context, lambda: entry_repository(context).save_entry(entry))


@then('the entry repository lists "{paths:Text}" for changeset "{name}"')
def step_repo_list_changeset(context: Context, paths: str, name: str) -> None:
    found = entry_repository(context).get_entries_for_changeset(real_id(context, name))
    assert [e.path for e in found] == [p.strip() for p in paths.split(",") if p.strip()]


@then('the entry repository lists "{paths:Text}" for plan "{plan}"')
def step_repo_list_plan(context: Context, paths: str, plan: str) -> None:
    found = entry_repository(context).get_entries_for_plan(plan)
    assert [e.path for e in found] == [p.strip() for p in paths.split(",") if p.strip()]


@when('the entry repository deletes the entries of changeset "{name}"')
def step_repo_delete_changeset(context: Context, name: str) -> None:
    context.error = None
    context.result = entry_repository(context).delete_for_changeset(real_id(context, name))


@when('the entry repository deletes the entries of plan "{plan}"')
def step_repo_delete_plan(context: Context, plan: str) -> None:
    context.error = None
    context.result = entry_repository(context).delete_for_plan(plan)


@given('the invocation repository saves "{tool}" into "{name}" for plan "{plan}"')
@when('the invocation repository saves "{tool}" into "{name}" for plan "{plan}"')
def step_inv_save(context: Context, tool: str, name: str, plan: str) -> None:
    saved = invocation_repository(context).save_invocation(_invocation(context, tool, name, plan))
    assert saved.tool_name == tool


@given('the invocation repository saves "{tool}" without a changeset for plan "{plan}"')
@when('the invocation repository saves "{tool}" without a changeset for plan "{plan}"')
def step_inv_save_free(context: Context, tool: str, plan: str) -> None:
    invocation_repository(context).save_invocation(_invocation(context, tool, None, plan))


@given('the invocation repository saves "{tool}" with id "{invocation_id}" for plan "{plan}"')
def step_inv_save_id(context: Context, tool: str, invocation_id: str, plan: str) -> None:
    invocation = _invocation(context, tool, None, plan, invocation_id=invocation_id)
    invocation_repository(context).save_invocation(invocation)


@when(
    'I try to have the invocation repository save "{tool}" with id "{invocation_id}" for plan "{plan}"'
)
def step_inv_try_save_id(context: Context, tool: str, invocation_id: str, plan: str) -> None:
    invocation = _invocation(context, tool, None, plan, invocation_id=invocation_id)
    attempt(context, lambda: invocation_repository(context).save_invocation(invocation))


@then('the invocation repository lists "{tools:Text}" for plan "{plan}"')
def step_inv_list_plan(context: Context, tools: str, plan: str) -> None:
    found = invocation_repository(context).get_invocations_for_plan(plan)
    assert [i.tool_name for i in found] == [t.strip() for t in tools.split(",") if t.strip()]


@then('the invocation repository lists "{tools:Text}" for changeset "{name}"')
def step_inv_list_changeset(context: Context, tools: str, name: str) -> None:
    found = invocation_repository(context).get_invocations_for_changeset(real_id(context, name))
    assert [i.tool_name for i in found] == [t.strip() for t in tools.split(",") if t.strip()]


@when('the invocation repository deletes the invocations of plan "{plan}"')
def step_inv_delete(context: Context, plan: str) -> None:
    context.error = None
    context.result = invocation_repository(context).delete_for_plan(plan)


_SPACING = {"nothing": "", "a space": " ", "a newline": "\n"}


@when(
    "another client stores the metadata of that entry as {json_text} "
    "with {before} before it and {after} after it"
)
def step_foreign_json(context: Context, json_text: str, before: str, after: str) -> None:
    engine = factory(context).kw["bind"]
    value = "CAST(:text AS JSON)" if engine.dialect.name == "postgresql" else ":text"
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE changeset_entries SET entry_metadata = {value} WHERE entry_id = :id"),
            {
                "text": f"{_SPACING[before]}{json_text}{_SPACING[after]}",
                "id": recorded(context)[-1].entry_id,
            },
        )


@then('changeset "{name}" holds that entry with metadata {metadata}')
def step_entry_metadata(context: Context, name: str, metadata: str) -> None:
    changeset = store(context).get(real_id(context, name))
    assert changeset is not None
    assert [entry.metadata for entry in changeset.entries] == [json.loads(metadata)]
