"""Steps for small new files packed against a shared dictionary (checkpoint_dictionaries.feature).

The oracle is the stored format, read raw with SQL and decoded with the zstandard
library itself: a dictionary is an object of kind ``dict`` stored as a whole zstd
frame; a file packed against it is 0x01, the dictionary's raw sha256, depth 1, then
a zstd frame whose dictionary is the dictionary's bytes.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import zstandard
from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import repository, service
from delta_steps import _snapshot, _stored, _write_raw
from restore_steps import files_of
from sqlalchemy import text
from support.world import factory

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database import checkpoint_repository
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.object_codec import pack_object

_HEADER = b"cleveragents: a dictionary shared by small files\n"
_ZSTD = b"\x28\xb5\x2f\xfd"


def _lines(seed: str) -> list[str]:
    rng = random.Random(seed)
    words = ["value", "result", "config", "items", "path", "entry", "count", "name", "data"]
    return [
        f"    {rng.choice(words)}_{n} = {rng.choice(words)}.get({rng.choice(words)!r}, {n})\n"
        for n in range(200)
    ]


def _write_files(context: Context, count: int, folder: str, root: Path | None = None) -> None:
    pool = _lines("shared pool")
    rng = random.Random(folder)
    for n in range(count):
        path = (root or context.sandbox) / folder / f"mod_{n:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = rng.choices(pool, k=rng.randint(30, 90))
        path.write_text(f'"""{folder}mod_{n:02d}: generated."""\n' + "".join(body))


def _sandbox_files(context: Context) -> dict[str, bytes]:
    return {
        path.relative_to(context.sandbox).as_posix(): path.read_bytes()
        for path in sorted(context.sandbox.rglob("*"))
        if path.is_file()
    }


def _dictionaries(context: Context) -> dict[str, bytes]:
    """Each stored dictionary's hash and stored bytes, read raw."""
    with factory(context)() as session:
        rows = session.execute(
            text("SELECT object_hash, data FROM checkpoint_objects WHERE kind = 'dict'")
        ).all()
    return {bytes(key).hex(): bytes(data) for key, data in rows}


def _whole(stored: bytes) -> bytes:
    assert stored[:4] == _ZSTD, f"not a whole zstd frame: {stored[:4].hex()}"
    with zstandard.ZstdDecompressor().stream_reader(stored) as reader:
        return reader.read()


@given("a sandbox of {count:d} small source files that share their lines")
def step_small_sources(context: Context, count: int) -> None:
    context.sandbox = context.tmp / "sandbox"
    _write_files(context, count, "src/")


@given('a sandbox of {count:d} small source files that share their lines, in "{folder}"')
def step_small_sources_in(context: Context, count: int, folder: str) -> None:
    _write_files(context, count, folder)


@when('{count:d} small source files are added in "{folder}" and the sandbox is snapshotted')
def step_add_small_sources(context: Context, count: int, folder: str) -> None:
    _write_files(context, count, folder)
    _snapshot(context, f"add-{folder}")


@when('the sandbox is snapshotted for plan "plan-1"')
def step_snapshot_again(context: Context) -> None:
    _snapshot(context, "again")


@when('every file but "{rel}" is deleted and the sandbox is snapshotted')
def step_keep_one(context: Context, rel: str) -> None:
    for path in _sandbox_files(context):
        if path != rel:
            (context.sandbox / path).unlink()
    _snapshot(context, "kept-one")


@when("the checkpoint service is started again on the same database")
def step_start_again(context: Context) -> None:
    # What a new process has: the database, and nothing remembered of any plan.
    context.checkpoint_repository = CheckpointRepository(factory(context))
    context.checkpoint_service = CheckpointService(context.checkpoint_repository)


@when(
    '{count:d} small source files in "{folder}" are snapshotted for plan "{plan}" '
    "in a sandbox of its own"
)
def step_own_sandbox(context: Context, count: int, folder: str, plan: str) -> None:
    root = context.tmp / f"sandbox-{plan}"
    _write_files(context, count, folder, root)
    service(context).create_workspace_snapshot(plan, str(root), f"{plan}-{folder}")


@then('every file of plan "{plan}" is stored whole')
def step_plan_whole(context: Context, plan: str) -> None:
    root = context.tmp / f"sandbox-{plan}"
    files = [path for path in sorted(root.rglob("*")) if path.is_file()]
    assert len(files) > 3, files
    for path in files:
        stored = _stored(context, hashlib.sha256(path.read_bytes()).hexdigest())
        assert stored[:4] == _ZSTD, (path, stored[:4].hex())


@when("every file is deleted and the sandbox is snapshotted")
def step_delete_all(context: Context) -> None:
    for path in _sandbox_files(context):
        (context.sandbox / path).unlink()
    _snapshot(context, "emptied")


@when(
    '{count:d} small source files are added in "{folder}" and snapshotted, while plan "{plan}" '
    "is pruned keeping {kept:d} after they are packed"
)
def step_add_while_pruned(context: Context, count: int, folder: str, plan: str, kept: int) -> None:
    _write_files(context, count, folder)
    pack_first = checkpoint_repository.compress

    def packed_then_pruned(*args: Any, **kwargs: Any) -> Any:
        packed = pack_first(*args, **kwargs)
        assert any(form.data[:1] == b"\x01" for form in packed), "nothing packed against a base"
        service(context).prune(plan, kept)  # collects the dictionary they are deltas of
        return packed

    checkpoint_repository.compress = packed_then_pruned
    try:
        _snapshot(context, f"add-{folder}-raced")
    finally:
        checkpoint_repository.compress = pack_first


@when('"{rel}" is deleted and the sandbox is snapshotted')
def step_delete_one(context: Context, rel: str) -> None:
    (context.sandbox / rel).unlink()
    _snapshot(context, "kept-none")


@then("one dictionary is stored, whole, starting with its header and at most {most:d} bytes")
def step_one_dictionary(context: Context, most: int) -> None:
    found = _dictionaries(context)
    assert len(found) == 1, sorted(found)
    ((digest, stored),) = found.items()
    content = _whole(stored)
    assert content.startswith(_HEADER), content[:60]
    assert len(content) <= most, len(content)
    assert hashlib.sha256(content).hexdigest() == digest


@then("{count:d} dictionary is stored")
@then("{count:d} dictionaries are stored")
def step_dictionaries(context: Context, count: int) -> None:
    assert len(_dictionaries(context)) == count, sorted(_dictionaries(context))


@then("every file of the sandbox is stored as a delta of {which}, 1 deep")
def step_members(context: Context, which: str) -> None:
    _members_of(context, which, "")


@then('every file of "{folder}" is stored as a delta of {which}, 1 deep')
def step_members_in(context: Context, folder: str, which: str) -> None:
    _members_of(context, which, folder)


def _members_of(context: Context, which: str, folder: str) -> None:
    dictionaries = _dictionaries(context)
    if which == "the dictionary":
        assert len(dictionaries) == 1, sorted(dictionaries)
    contents = {digest: _whole(stored) for digest, stored in dictionaries.items()}
    files = {rel: data for rel, data in _sandbox_files(context).items() if rel.startswith(folder)}
    assert files, f"no file in {folder!r}"
    for rel, data in files.items():
        stored = _stored(context, hashlib.sha256(data).hexdigest())
        base = stored[1:33].hex()
        assert stored[:1] == b"\x01" and base in contents and stored[33] == 1, (rel, stored[:34])
        reader = zstandard.ZstdDecompressor(
            dict_data=zstandard.ZstdCompressionDict(
                contents[base], dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
        )
        assert reader.decompress(stored[34:]) == data, rel


@then("the files and the dictionary take less than {percent:d}% of the files' bytes stored alone")
def step_smaller(context: Context, percent: int) -> None:
    files = _sandbox_files(context).values()
    shared = sum(len(_stored(context, hashlib.sha256(data).hexdigest())) for data in files)
    shared += sum(map(len, _dictionaries(context).values()))
    alone = sum(len(pack_object(data)) for data in files)
    assert shared * 100 < alone * percent, (shared, alone)


@when("the stored dictionary is damaged in its zstd frame")
def step_damage_dictionary(context: Context) -> None:
    ((digest, data),) = _dictionaries(context).items()
    middle = len(data) // 2
    damaged = data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16])
    _write_raw(context, {digest: damaged + data[middle + 16 :]})


@when("the stored dictionary is replaced by other content")
def step_replace_dictionary(context: Context) -> None:
    ((digest, _),) = _dictionaries(context).items()
    # Text that new files share much of: packed against it, they would be small deltas.
    _write_raw(context, {digest: pack_object(_HEADER + "".join(_lines("shared pool")).encode())})


@when(
    'the last {count:d} of those files are snapshotted for plan "{plan}", by a writer that '
    "found none of them stored before its write"
)
def step_racing_writer(context: Context, count: int, plan: str) -> None:
    other = context.tmp / "other-sandbox"
    for rel, data in list(_sandbox_files(context).items())[-count:]:
        path = other / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    found_first = checkpoint_repository.stored_and_bases

    def nothing_stored(*args: Any, **kwargs: Any) -> tuple[set[str], Any]:
        return set(), found_first(*args, **kwargs)[1]

    checkpoint_repository.stored_and_bases = nothing_stored
    try:
        taken = service(context).create_workspace_snapshot(plan, str(other), "raced")
    finally:
        checkpoint_repository.stored_and_bases = found_first
    fresh = context.tmp / "fresh-raced"
    service(context).restore_workspace(taken.checkpoint_id, fresh)
    assert files_of(fresh) == files_of(other)
    assert service(context).verify_checkpoint(taken.checkpoint_id)


@given("a sandbox of {count:d} files of {size:d} random bytes each")
def step_random_files(context: Context, count: int, size: int) -> None:
    context.sandbox = context.tmp / "sandbox"
    rng = random.Random(size)
    for n in range(count):
        path = context.sandbox / "media" / f"noise_{n:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


@then('the files of "{folder}" in a dictionary are deltas of it and the others are stored whole')
def step_sampled_or_whole(context: Context, folder: str) -> None:
    samples = {digest: _whole(stored) for digest, stored in _dictionaries(context).items()}
    forms = {"delta": 0, "whole": 0}
    for rel, data in _sandbox_files(context).items():
        if not rel.startswith(folder):
            continue
        form = _stored(context, hashlib.sha256(data).hexdigest())
        holding = [digest for digest, sample in samples.items() if data in sample]
        if holding:
            assert form[:1] == b"\x01" and form[1:33].hex() in holding, rel
            forms["delta"] += 1
        else:
            assert form[:4] == _ZSTD, (rel, form[:4])
            forms["whole"] += 1
    assert forms["delta"] and forms["whole"], forms


@then("a stored file's hash finds its content, and the same hash in uppercase finds nothing")
def step_uppercase_lookup(context: Context) -> None:
    data = next(iter(_sandbox_files(context).values()))
    digest = hashlib.sha256(data).hexdigest()
    found = dict(repository(context).read_blobs([digest.upper(), digest, "not-hex"]))
    assert found == {digest: data}, sorted(found)
