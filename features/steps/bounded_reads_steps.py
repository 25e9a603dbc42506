"""Steps for large stored objects read back a piece at a time (features/bounded_reads.feature)."""

from __future__ import annotations

import hashlib
import zlib

from behave import given, then, when
from behave.runner import Context
from bounded_content_steps import _inflate, _rows, _service
from sqlalchemy import event, text
from support.world import factory

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.content_objects import ContentLimits


@given(
    "a checkpoint service storing content in chunks of {chunk:d} bytes "
    "and reading {read:d} bytes at a time"
)
def step_reading_service(context: Context, chunk: int, read: int) -> None:
    limits = ContentLimits(chunk_size=chunk, read_bytes=read)
    context.bounded_repository = CheckpointRepository(factory(context), content_limits=limits)
    context.checkpoint_repository = context.bounded_repository
    _service(context)


def _digest(context: Context, rel: str) -> str:
    return hashlib.sha256((context.sandbox / rel).read_bytes()).hexdigest()


def _stored(context: Context, rel: str) -> bytes:
    rows = _rows(
        context,
        "SELECT data FROM checkpoint_objects WHERE object_hash = :digest",
        digest=bytes.fromhex(_digest(context, rel)),
    )
    assert len(rows) == 1, rows
    return bytes(rows[0][0])


def _store(context: Context, rel: str, data: bytes) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            text("UPDATE checkpoint_objects SET data = :data WHERE object_hash = :digest"),
            {"data": data, "digest": bytes.fromhex(_digest(context, rel))},
        )


@then(
    'the content of "{rel}" is read back from the store in {count:d} {noun} of at most '
    "{most:d} bytes"
)
def step_read_in_pieces(context: Context, rel: str, count: int, noun: str, most: int) -> None:
    digest = _digest(context, rel)
    found = list(context.bounded_repository.read_pieces([digest]))
    assert [name for name, _ in found] == [digest]
    pieces = list(found[0][1])
    assert len(pieces) == count, (len(pieces), count)
    assert all(len(piece) <= most for piece in pieces)
    assert b"".join(pieces) == (context.sandbox / rel).read_bytes()


def _overwrite(context: Context, rel: str, at: int, new: bytes) -> None:
    path = context.sandbox / rel
    data = bytearray(path.read_bytes())
    data[at : at + len(new)] = new
    path.write_bytes(bytes(data))


@when('"{rel}" changes in a few bytes')
def step_change_few(context: Context, rel: str) -> None:
    _overwrite(context, rel, 100, b"changed!")


@when('"{rel}" changes in a few more bytes')
def step_change_more(context: Context, rel: str) -> None:
    _overwrite(context, rel, 5000, b"more")


@then('the stored object of "{rel}" is a delta')
def step_is_delta(context: Context, rel: str) -> None:
    assert _stored(context, rel)[:1] == b"\x01"


@then('the stored object of "{rel}" is a delta of a dictionary')
def step_delta_of_dictionary(context: Context, rel: str) -> None:
    stored = _stored(context, rel)
    rows = _rows(
        context,
        "SELECT kind FROM checkpoint_objects WHERE object_hash = :digest",
        digest=stored[1:33],
    )
    assert stored[:1] == b"\x01" and rows == [("dict",)], (stored[:34], rows)


@then('the stored object of "{rel}" is a delta {depth:d} deep')
def step_delta_depth(context: Context, rel: str, depth: int) -> None:
    stored = _stored(context, rel)
    assert stored[:1] == b"\x01" and stored[33] == depth, stored[:34]


@when('the stored object of "{rel}" is stored again with zlib, as before zstd')
def step_store_zlib(context: Context, rel: str) -> None:
    data = _inflate(_stored(context, rel))
    _store(context, rel, zlib.compress(data, 6))


@when('the stored object of "{rel}" is damaged after its first bytes')
def step_damage_object(context: Context, rel: str) -> None:
    stored = _stored(context, rel)
    _store(context, rel, stored[:16] + bytes(len(stored) - 16))


@when('the base of the stored object of "{rel}" is deleted from the database')
def step_delete_base(context: Context, rel: str) -> None:
    base = _stored(context, rel)[1:33].hex()
    with factory(context)() as session, session.begin():
        gone = session.execute(
            text("DELETE FROM checkpoint_objects WHERE object_hash = :digest"),
            {"digest": bytes.fromhex(base)},
        )
        assert gone.rowcount == 1, base


@when("the stored contents are read back in batches of every length from {low:d} to {high:d}")
def step_read_every_length(context: Context, low: int, high: int) -> None:
    digests = sorted(
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in context.sandbox.rglob("*")
        if path.is_file()
    )
    assert len(digests) >= high, len(digests)
    statements: set[str] = set()

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.add(statement)

    engine = factory(context).kw["bind"]
    event.listen(engine, "before_cursor_execute", note)
    try:
        context.batches_read = [
            (
                digests[:length],
                sorted(
                    name for name, _ in context.bounded_repository.read_pieces(digests[:length])
                ),
            )
            for length in range(low, high + 1)
        ]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    context.statements_run = statements


@then("every batch came back whole")
def step_batches_whole(context: Context) -> None:
    for wanted, found in context.batches_read:
        assert found == wanted, (len(found), len(wanted))


@then("the reads ran at most {most:d} distinct statements")
def step_distinct_statements(context: Context, most: int) -> None:
    # An IN list's length makes a statement of its own, which the driver keeps prepared.
    assert len(context.statements_run) <= most, len(context.statements_run)


@when(
    'the content of "{rel}" is read a piece at a time and its stored object is deleted '
    "after the first piece"
)
def step_delete_while_read(context: Context, rel: str) -> None:
    digest = _digest(context, rel)
    [(name, pieces)] = list(context.bounded_repository.read_pieces([digest]))
    assert name == digest
    first = next(pieces)
    assert first == (context.sandbox / rel).read_bytes()[: len(first)]
    with factory(context)() as session, session.begin():
        session.execute(
            text("DELETE FROM checkpoint_objects WHERE object_hash = :digest"),
            {"digest": bytes.fromhex(digest)},
        )
    context.rest_of_pieces = pieces


@then("reading the rest of it raises IntegrityCheckError saying that it was removed")
def step_rest_removed(context: Context) -> None:
    try:
        list(context.rest_of_pieces)
    except IntegrityCheckError as exc:
        assert "removed while it was read" in str(exc), exc
        return
    raise AssertionError("the rest was read")
