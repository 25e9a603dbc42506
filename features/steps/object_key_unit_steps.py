"""Unit steps for the object key type (models.Sha256Key) and a dictionary's size bound."""

from __future__ import annotations

import hashlib
import random

from behave import then, when
from behave.runner import Context
from sqlalchemy.dialects import postgresql, sqlite

from cleveragents.infrastructure.database.models import Sha256Key
from cleveragents.infrastructure.database.object_codec import unpack
from cleveragents.infrastructure.database.object_compression import (
    DICTIONARY,
    DICTIONARY_HEADER,
    compress,
)

_DIALECTS = (sqlite.dialect(), postgresql.dialect())


@then("a lowercase sha256 hex binds as its 32 raw bytes and reads back as the same hex")
def step_key_round_trip(context: Context) -> None:
    digest = hashlib.sha256(b"content").hexdigest()
    for dialect in _DIALECTS:
        raw = Sha256Key().process_bind_param(digest, dialect)
        assert raw == hashlib.sha256(b"content").digest(), raw
        assert Sha256Key().process_result_value(raw, dialect) == digest


@then("uppercase, short, long and non-hex keys bind as empty bytes, which no key is")
def step_key_malformed(context: Context) -> None:
    digest = hashlib.sha256(b"content").hexdigest()
    for value in (digest.upper(), digest[:10], digest + "00", "not-hex", "x" * 32, " " + digest):
        assert Sha256Key().process_bind_param(value, sqlite.dialect()) == b"", value


@then("no key binds and reads as no key")
def step_key_none(context: Context) -> None:
    for dialect in _DIALECTS:
        assert Sha256Key().process_bind_param(None, dialect) is None
        assert Sha256Key().process_result_value(None, dialect) is None


@when("{count:d} small new files alternating {large:d} and {small:d} bytes are compressed together")
def step_compress_alternating(context: Context, count: int, large: int, small: int) -> None:
    rng = random.Random(count)
    words = [f"name_{n} = value_{n * 3}\n".encode() for n in range(300)]
    items: dict[str, bytes] = {}
    for n in range(count):
        size = large if n % 2 == 0 else small
        data = b"".join(rng.choices(words, k=size // 10))[:size]
        items[hashlib.sha256(data).hexdigest()] = data
    context.items = items
    context.stored = compress(items, packable=set(items))


@then("one dictionary of at most {most:d} bytes is added, holding {count:d} of the sampled files")
def step_dictionary_bound(context: Context, most: int, count: int) -> None:
    added = [stored for stored in context.stored if stored.kind == DICTIONARY]
    assert len(added) == 1, added
    context.dictionary = added[0]
    content = unpack(added[0].digest, {added[0].digest: ("dict", added[0].data)}, {}, None)
    assert content.startswith(DICTIONARY_HEADER) and len(content) <= most, len(content)
    held = [data for data in context.items.values() if data in content]
    assert len(held) == count, len(held)
    assert len(content) == len(DICTIONARY_HEADER) + sum(map(len, held))


@then("every file is a delta of it and unpacks to its bytes")
def step_every_file_delta(context: Context) -> None:
    stored = {each.digest: ("blob", each.data) for each in context.stored}
    for digest, data in context.items.items():
        form = stored[digest][1]
        assert form[:1] == b"\x01" and form[1:33].hex() == context.dictionary.digest, digest
        assert unpack(digest, stored, {}, None) == data
