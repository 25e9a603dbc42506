"""Steps for deltas between versions: the stored bytes read raw with SQL, and the zlib formats.

The oracle for every stored form is the format itself, decoded here by hand: a
delta is 0x01, its base's raw sha256, its depth (one byte), then a zstd frame; a
zlib delta (written before zstd) is 0x00 and its base's raw sha256, then a zlib
stream with the base's bytes as preset dictionary.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, repository, service
from restore_steps import _tree_hash, files_of
from sqlalchemy import text
from support.world import attempt, factory

from cleveragents.domain.models.core.checkpoint import Checkpoint, SnapshotContent
from cleveragents.infrastructure.database.object_codec import pack_object

_HEAD = "SELECT object_hash, substr(data, 1, 34) FROM checkpoint_objects"
_PLAN = "plan-1"


def _source(size: int) -> str:
    lines: list[str] = []
    n = 0
    while sum(map(len, lines)) < size:
        lines.append(f"def function_{n}(value):\n    return value * {n} + {n * 7 % 13}\n\n")
        n += 1
    return "".join(lines)


def _snapshot(context: Context, decision: str) -> None:
    taken = service(context).create_workspace_snapshot(_PLAN, str(context.sandbox), decision)
    checkpoints(context).append(taken)
    if not hasattr(context, "snapshotted"):
        context.snapshotted = {}
    context.snapshotted[taken.checkpoint_id] = files_of(context.sandbox)


def _edit_one_line(path: Path, turn: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    at = (turn * 37 + 5) % len(lines)
    lines[at] = f"    return value  # edited in turn {turn}{'!' * (turn % 3)}\n"
    path.write_text("".join(lines))


def _heads(context: Context) -> dict[str, bytes]:
    """Each stored object's first 34 bytes, read raw."""
    with factory(context)() as session:
        return {bytes(key).hex(): bytes(head) for key, head in session.execute(text(_HEAD))}


def _content_hash(context: Context, rel: str, number: int) -> str:
    checkpoint_id = checkpoints(context)[number - 1].checkpoint_id
    entries = {e.path: e for e in repository(context).manifest(checkpoint_id) or []}
    return entries[rel].sha256


def _stored(context: Context, digest: str) -> bytes:
    with factory(context)() as session:
        data = session.execute(
            text("SELECT data FROM checkpoint_objects WHERE object_hash = :h"),
            {"h": bytes.fromhex(digest)},
        ).scalar_one()
    return bytes(data)


def _write_raw(context: Context, rows: dict[str, bytes]) -> None:
    with factory(context)() as session, session.begin():
        for digest, data in rows.items():
            session.execute(
                text("UPDATE checkpoint_objects SET data = :d WHERE object_hash = :h"),
                {"d": data, "h": bytes.fromhex(digest)},
            )


def _base_of(head: bytes) -> str | None:
    return head[1:33].hex() if head[:1] in (b"\x00", b"\x01") else None


def _depths(heads: dict[str, bytes]) -> dict[str, int]:
    """Each object's chain length, following the bases named in the raw bytes."""
    depths: dict[str, int] = {}
    for digest in heads:
        depth, at = 0, digest
        while (base := _base_of(heads[at])) is not None:
            depth, at = depth + 1, base
            assert depth <= len(heads), f"{digest} is in a cycle of deltas"
        depths[digest] = depth
    return depths


@given('a sandbox holding a {size:d} KB source file "{big}" and "{small}"')
def step_sandbox_with_source(context: Context, size: int, big: str, small: str) -> None:
    context.sandbox = context.tmp / "sandbox"
    for rel, content in ((big, _source(size * 1000)), (small, "# project\n")):
        path = context.sandbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@given('the sandbox is snapshotted for plan "plan-1"')
def step_snapshot_remembering(context: Context) -> None:
    _snapshot(context, "d1")


@when('"{rel}" has one line edited and is snapshotted {count:d} more times')
def step_edit_and_snapshot(context: Context, rel: str, count: int) -> None:
    for _ in range(count):
        turn = len(checkpoints(context))
        _edit_one_line(context.sandbox / rel, turn)
        _snapshot(context, f"edit-{turn}")


@when('"{rel}" is moved to "{target}" with one line edited and snapshotted')
def step_move_and_snapshot(context: Context, rel: str, target: str) -> None:
    destination = context.sandbox / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    (context.sandbox / rel).rename(destination)
    _edit_one_line(destination, 1)
    _snapshot(context, "moved")


@then(
    'the stored content of "{rel}" in checkpoint {number:d} is a delta of '
    "its content in checkpoint {base:d}"
)
def step_delta_of_same_path(context: Context, rel: str, number: int, base: int) -> None:
    step_delta_of(context, rel, number, rel, base)


@then(
    'the stored content of "{rel}" in checkpoint {number:d} is a delta of '
    'the content of "{other}" in checkpoint {base:d}'
)
def step_delta_of(context: Context, rel: str, number: int, other: str, base: int) -> None:
    head = _heads(context)[_content_hash(context, rel, number)]
    assert head[:1] == b"\x01", f"stored whole (first byte {head[:1].hex()})"
    assert head[1:33].hex() == _content_hash(context, other, base), "a delta of another object"


@then('the tree of "{folder}" in checkpoint {number:d} is stored whole')
def step_tree_whole(context: Context, folder: str, number: int) -> None:
    head = _heads(context)[_tree_hash(context, str(number), folder)]
    assert head[:4] == b"\x28\xb5\x2f\xfd", f"not a whole zstd frame: {head[:4].hex()}"


@then('the stored content of "{rel}" in checkpoint {number:d} is stored whole')
def step_stored_whole(context: Context, rel: str, number: int) -> None:
    head = _heads(context)[_content_hash(context, rel, number)]
    assert head[:4] == b"\x28\xb5\x2f\xfd", f"not a whole zstd frame: {head[:4].hex()}"


@then('the delta of "{rel}" in checkpoint {number:d} is smaller than a tenth of the file')
def step_delta_small(context: Context, rel: str, number: int) -> None:
    stored = _stored(context, _content_hash(context, rel, number))
    size = len(context.snapshotted[checkpoints(context)[number - 1].checkpoint_id][rel][1])
    assert len(stored) < size / 10, (len(stored), size)


@then("every checkpoint verifies and restores into a fresh folder exactly as it was snapshotted")
def step_all_restore(context: Context) -> None:
    remaining = service(context).list_checkpoints(_PLAN)
    assert remaining, "no checkpoint left to check"
    for n, checkpoint in enumerate(remaining):
        assert service(context).verify_checkpoint(checkpoint.checkpoint_id), n
        fresh = context.tmp / f"fresh-{len(checkpoints(context))}-{n}"
        service(context).restore_workspace(checkpoint.checkpoint_id, fresh)
        assert files_of(fresh) == context.snapshotted[checkpoint.checkpoint_id], n


@then("the bases of every stored delta are stored")
def step_bases_stored(context: Context) -> None:
    heads = _heads(context)
    bases = {base for head in heads.values() if (base := _base_of(head)) is not None}
    assert bases, "no delta is stored"
    assert bases <= heads.keys(), sorted(bases - heads.keys())


@when('the stored content of "{rel}" in checkpoint {number:d} is damaged in its zstd frame')
def step_damage_frame(context: Context, rel: str, number: int) -> None:
    digest = _content_hash(context, rel, number)
    data = _stored(context, digest)
    assert data[:4] == b"\x28\xb5\x2f\xfd", "not stored whole"
    middle = len(data) // 2
    damaged = data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16])
    _write_raw(context, {digest: damaged + data[middle + 16 :]})


@when('the stored content of "{rel}" in checkpoint {number:d} is replaced by other content')
def step_replace_content(context: Context, rel: str, number: int) -> None:
    digest = _content_hash(context, rel, number)
    _write_raw(context, {digest: pack_object(_source(20_000).replace("value", "other").encode())})


@then(
    "every stored delta chain, followed with SQL, is at most {limit:d} deep "
    "and some are deeper than {least:d}"
)
def step_chain_bound(context: Context, limit: int, least: int) -> None:
    deepest = max(_depths(_heads(context)).values())
    assert least < deepest <= limit, deepest


@then("every delta's recorded depth is its chain's length")
def step_recorded_depth(context: Context) -> None:
    heads = _heads(context)
    depths = _depths(heads)
    recorded = {d: head[33] for d, head in heads.items() if head[:1] == b"\x01"}
    assert recorded, "no delta is stored"
    assert all(recorded[d] == depths[d] for d in recorded), recorded


@when(
    'every stored object is rewritten in the zlib format, "{rel}" of checkpoint {number:d} '
    "as a zlib delta"
)
def step_rewrite_zlib(context: Context, rel: str, number: int) -> None:
    heads = _heads(context)
    content = dict(repository(context).read_blobs(heads))
    assert set(content) == set(heads)
    target, base = _content_hash(context, rel, number), _content_hash(context, rel, number - 1)
    rows = {digest: zlib.compress(data, 6) for digest, data in content.items()}
    packer = zlib.compressobj(6, zdict=content[base])
    delta = packer.compress(content[target]) + packer.flush()
    rows[target] = b"\x00" + bytes.fromhex(base) + delta
    assert len(rows[target]) < len(zlib.compress(content[target])) / 4
    _write_raw(context, rows)


@then("every stored object starts like a zlib stream or the zlib delta mark")
def step_all_zlib(context: Context) -> None:
    heads = _heads(context)
    assert {head[:1] for head in heads.values()} == {b"\x78", b"\x00"}, heads


_HINTS: dict[str, Any] = {
    "a list": ["0" * 64],
    "a hash mapped to a number": {"0" * 64: 5},
    'a hash mapped to "not-hex"': {"0" * 64: "not-hex"},
}


@when("I try to create a checkpoint whose content's delta_bases is {hints}")
def step_bad_hints(context: Context, hints: str) -> None:
    content = SnapshotContent(manifest=[], diff=[], delta_bases=_HINTS[hints])
    checkpoint = Checkpoint(plan_id="plan-x", sandbox_ref=str(context.sandbox))
    attempt(context, lambda: repository(context).create(checkpoint, content))
