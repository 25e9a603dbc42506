"""Steps for bounded snapshot content: batches, chunked large files, files changed mid-write."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard
from behave import given, then, when
from behave.runner import Context
from sqlalchemy import text
from support.world import factory

from cleveragents.application.ports import default_workspace
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.errors import IntegrityCheckError, SourceChangedError
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    ContentSource,
    ManifestEntry,
    SnapshotContent,
)
from cleveragents.domain.retention import RetentionLimits
from cleveragents.infrastructure.database import checkpoint_repository, content_objects
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.content_objects import ContentLimits
from cleveragents.infrastructure.workspace import scanner
from cleveragents.infrastructure.workspace.local import LocalFiles


def _rows(context: Context, sql: str, **values: Any) -> list[Any]:
    with factory(context)() as session:
        return list(session.execute(text(sql), values).all())


def _inflate(data: bytes) -> bytes:
    """An object's bytes, as the raw database holds them (these are never deltas): a
    zstd frame, read with the zstandard library itself."""
    with zstandard.ZstdDecompressor().stream_reader(bytes(data)) as reader:
        return reader.read()


def _patch(context: Context, owner: Any, name: str, value: Any) -> None:
    old = getattr(owner, name)
    setattr(owner, name, value)
    context.cleanups.append(lambda: setattr(owner, name, old))


def _service(context: Context, files: Any = None) -> CheckpointService:
    workspace = default_workspace()
    if files is not None:
        workspace = dataclasses.replace(workspace, files=files)
    store = getattr(context, "spy", None) or context.bounded_repository
    context.checkpoint_service = CheckpointService(store, watch=False, workspace=workspace)
    made: CheckpointService = context.checkpoint_service
    return made


@given(
    "a checkpoint service storing content in batches of {batch:d} bytes "
    "and chunks of {chunk:d} bytes"
)
def step_bounded_service(context: Context, batch: int, chunk: int) -> None:
    limits = ContentLimits(batch_bytes=batch, chunk_size=chunk, read_bytes=batch)
    context.bounded_repository = CheckpointRepository(factory(context), content_limits=limits)
    context.checkpoint_repository = context.bounded_repository
    _service(context)


@given('a sandbox of {count:d} files of random bytes and "{big}" of {size:d} random bytes')
def step_random_sandbox(context: Context, count: int, big: str, size: int) -> None:
    rng = random.Random(13)
    context.sandbox = context.tmp / "sandbox"
    for n in range(count):
        path = context.sandbox / f"f{n:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 900)))
    context.big_path = big
    target = context.sandbox / big
    target.parent.mkdir(parents=True, exist_ok=True)
    context.big = rng.randbytes(size)
    target.write_bytes(context.big)


@given('"{copy}" holds the same bytes as "{original}"')
def step_same_bytes(context: Context, copy: str, original: str) -> None:
    target = context.sandbox / copy
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((context.sandbox / original).read_bytes())


@given("the scan keeps no file content in memory")
def step_keep_nothing(context: Context) -> None:
    _patch(context, scanner, "KEEP_BYTES", 0)


class _Rewriting:
    """A file source that rewrites its file just before it is read again (``times`` times)."""

    def __init__(self, inner: ContentSource, path: Path, context: Context) -> None:
        self._inner = inner
        self._path = path
        self._context = context

    @property
    def size(self) -> int:
        return self._inner.size

    def pieces(self, size: int) -> Iterator[bytes]:
        if self._context.rewrites_left:
            self._context.rewrites_left -= 1
            self._context.rewritten += 1
            self._path.write_bytes(f"rewritten {self._context.rewritten}".encode())
        return self._inner.pieces(size)


class _Deleting(_Rewriting):
    """A file source whose file is deleted just before it is read again."""

    def pieces(self, size: int) -> Iterator[bytes]:
        self._path.unlink(missing_ok=True)
        return self._inner.pieces(size)


class _RewritingFiles(LocalFiles):
    def __init__(
        self, context: Context, relative: str, kind: type[_Rewriting] = _Rewriting
    ) -> None:
        self._context = context
        self._relative = relative
        self._kind = kind

    def source(self, path: str, size: int) -> ContentSource:
        made = super().source(path, size)
        if path.endswith(f"/{self._relative}"):
            return self._kind(made, Path(path), self._context)
        return made


@given('"{rel}" is deleted after its scan')
def step_deleted_after_scan(context: Context, rel: str) -> None:
    _service(context, _RewritingFiles(context, rel, _Deleting))


@then('the last checkpoint\'s manifest lacks "{gone}" and holds "{kept}"')
def step_manifest_lacks(context: Context, gone: str, kept: str) -> None:
    manifest = context.checkpoint_service.repository.manifest(_last(context).checkpoint_id)
    paths = {entry.path for entry in manifest or []}
    assert gone not in paths and kept in paths, sorted(paths)


@when('the chunk list of "{rel}" is overwritten with "{data}" in the database')
def step_damage_list(context: Context, rel: str, data: str) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            text("UPDATE checkpoint_objects SET data = :d WHERE object_hash = :h"),
            {"d": zlib.compress(data.encode()), "h": hashlib.sha256(context.big).digest()},
        )


@then('a repository with content limits "{limits}" is refused')
def step_bad_limits(context: Context, limits: str) -> None:
    try:
        wrong: Any = limits
        CheckpointRepository(factory(context), content_limits=wrong)
    except ValueError as exc:
        assert "content_limits" in str(exc)
    else:
        raise AssertionError("the limits were accepted")


@then('a checkpoint whose content maps a hash to "{value}" is refused')
def step_bad_source(context: Context, value: str) -> None:
    digest = hashlib.sha256(value.encode()).hexdigest()
    entry = ManifestEntry(path="x.bin", sha256=digest, size=len(value))
    wrong: Any = {digest: value}
    content = SnapshotContent(manifest=[entry], diff=[], sources=wrong)
    try:
        context.bounded_repository.create(
            Checkpoint(plan_id="plan-bad", sandbox_ref="/nowhere"), content
        )
    except ValueError as exc:
        assert "content.sources" in str(exc)
    else:
        raise AssertionError("the content was accepted")


@given('"{rel}" is rewritten after its scan, once')
def step_rewritten_once(context: Context, rel: str) -> None:
    context.rewrites_left, context.rewritten = 1, 0
    _service(context, _RewritingFiles(context, rel))


@given('"{rel}" is rewritten after every scan')
def step_rewritten_always(context: Context, rel: str) -> None:
    context.rewrites_left, context.rewritten = 1_000, 0
    _service(context, _RewritingFiles(context, rel))


@given("the write fails right after the last batch of content")
def step_fail_after_batches(context: Context) -> None:
    real = checkpoint_repository.write_sources

    def failing(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise OSError("the disk filled up after the last batch")

    _patch(context, checkpoint_repository, "write_sources", failing)


@when(
    'I snapshot the sandbox for plan "{plan}" before decision "{d}" counting the inserts of content'
)
def step_snapshot_counting_inserts(context: Context, plan: str, d: str) -> None:
    real = content_objects.insert_ignoring_existing
    context.inserts = 0

    def counting(session: Any, rows: list[dict[str, Any]]) -> None:
        context.inserts += 1
        real(session, rows)

    _patch(context, content_objects, "insert_ignoring_existing", counting)
    made = context.checkpoint_service.create_workspace_snapshot(plan, str(context.sandbox), d)
    context.taken = [*getattr(context, "taken", []), made]


@when('I attempt a snapshot of the sandbox for plan "{plan}"')
def step_try_snapshot(context: Context, plan: str) -> None:
    try:
        context.checkpoint_service.create_workspace_snapshot(plan, str(context.sandbox), "d1")
    except (SourceChangedError, OSError) as exc:
        context.error = exc
    else:
        raise AssertionError("the snapshot succeeded")


@then("the snapshot failed because content changed since its scan")
def step_failed_changed(context: Context) -> None:
    assert isinstance(context.error, SourceChangedError), repr(context.error)
    assert context.rewritten == 2, context.rewritten  # the first try and the one retry


@then("the database holds no checkpoint and no stored object")
def step_nothing_stored(context: Context) -> None:
    counts = _rows(
        context,
        "SELECT (SELECT COUNT(*) FROM checkpoints), (SELECT COUNT(*) FROM checkpoint_objects)",
    )
    assert tuple(counts[0]) == (0, 0), counts


@then("the content went in more than {count:d} inserts")
def step_inserts(context: Context, count: int) -> None:
    assert context.inserts > count, context.inserts


@then("the plan has {count:d} checkpoint")
def step_plan_count(context: Context, count: int) -> None:
    rows = _rows(context, "SELECT COUNT(*) FROM checkpoints")
    assert rows[0][0] == count, rows


def _object(context: Context, digest: str) -> tuple[str, bytes] | None:
    rows = _rows(
        context,
        "SELECT kind, data FROM checkpoint_objects WHERE object_hash = :h",
        h=bytes.fromhex(digest),
    )
    return (rows[0][0], _inflate(rows[0][1])) if rows else None


def _chunk_list(context: Context, digest: str) -> list[list[Any]]:
    found = _object(context, digest)
    assert found is not None, f"{digest} is not stored"
    kind, data = found
    assert kind == "chunks", kind
    listing: list[list[Any]] = json.loads(data)
    return listing


def _check_chunks(context: Context, data: bytes, count: int, most: int) -> None:
    listing = _chunk_list(context, hashlib.sha256(data).hexdigest())
    assert len(listing) == count, listing
    joined = b""
    for chunk, size in listing:
        stored = _object(context, chunk)
        assert stored is not None and stored[0] == "blob", chunk
        assert len(stored[1]) == size <= most, (size, most)
        joined += stored[1]
    assert joined == data


@then('"{rel}" is stored as a chunk list of {count:d} chunks of at most {most:d} bytes')
def step_stored_chunks(context: Context, rel: str, count: int, most: int) -> None:
    _check_chunks(context, (context.sandbox / rel).read_bytes(), count, most)


@then("every stored object's bytes match its hash")
def step_objects_match(context: Context) -> None:
    rows = _rows(context, "SELECT object_hash, kind, data FROM checkpoint_objects")
    assert rows
    for key, kind, data in rows:
        digest = bytes(key).hex()  # keys are the sha256's 32 raw bytes
        raw = _inflate(data)
        if kind == "chunks":
            pieces = [_object(context, chunk) for chunk, _ in json.loads(raw)]
            raw = b"".join(piece[1] for piece in pieces if piece is not None)
        assert hashlib.sha256(raw).hexdigest() == digest, (digest, kind)


def _last(context: Context) -> Checkpoint:
    rows = _rows(context, "SELECT checkpoint_id FROM checkpoints ORDER BY seq DESC LIMIT 1")
    made = context.checkpoint_service.get_checkpoint(rows[0][0])
    assert made is not None
    return made


@then("the last checkpoint verifies")
def step_verifies(context: Context) -> None:
    assert context.checkpoint_service.verify_checkpoint(_last(context).checkpoint_id) is True


@then("the last checkpoint does not verify")
def step_not_verifies(context: Context) -> None:
    assert context.checkpoint_service.verify_checkpoint(_last(context).checkpoint_id) is False


@when("I restore the last checkpoint into a new folder")
def step_restore_new(context: Context) -> None:
    context.restored = context.tmp / "restored"
    context.checkpoint_service.restore_workspace(_last(context).checkpoint_id, context.restored)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


@then("the new folder holds exactly the files of the sandbox")
def step_same_files(context: Context) -> None:
    assert _tree(context.restored) == _tree(context.sandbox)


def _chunk_of_big(context: Context) -> str:
    listing = _chunk_list(context, hashlib.sha256(context.big).hexdigest())
    return str(listing[len(listing) // 2][0])


@when('one chunk of "{rel}" is overwritten in the database')
def step_damage_chunk(context: Context, rel: str) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            text("UPDATE checkpoint_objects SET data = :d WHERE object_hash = :h"),
            {"d": zlib.compress(b"x" * 1024), "h": bytes.fromhex(_chunk_of_big(context))},
        )


@when('one chunk of "{rel}" is deleted from the database')
def step_delete_chunk(context: Context, rel: str) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            text("DELETE FROM checkpoint_objects WHERE object_hash = :h"),
            {"h": bytes.fromhex(_chunk_of_big(context))},
        )


@then(
    "restoring the last checkpoint into a new folder fails with an integrity error "
    "and leaves no folder"
)
def step_restore_fails(context: Context) -> None:
    target = context.tmp / "refused"
    try:
        context.checkpoint_service.restore_workspace(_last(context).checkpoint_id, target)
    except IntegrityCheckError:
        pass
    else:
        raise AssertionError("the restore succeeded")
    assert not target.exists()


@then('the manifest\'s hash of "{rel}" is the sha256 of its content now')
def step_manifest_hash(context: Context, rel: str) -> None:
    manifest = context.checkpoint_service.repository.manifest(_last(context).checkpoint_id)
    assert manifest is not None
    entry = {e.path: e for e in manifest}[rel]
    now = (context.sandbox / rel).read_bytes()
    assert context.rewritten == 1
    assert entry.sha256 == hashlib.sha256(now).hexdigest()


@when("a checkpoint is created directly with {size:d} bytes of content in memory")
def step_create_direct(context: Context, size: int) -> None:
    context.direct = random.Random(5).randbytes(size)
    digest = hashlib.sha256(context.direct).hexdigest()
    entry = ManifestEntry(path="data.bin", sha256=digest, size=size)
    checkpoint = Checkpoint(plan_id="plan-direct", sandbox_ref="/nowhere")
    context.bounded_repository.create(
        checkpoint, SnapshotContent(manifest=[entry], diff=[], blobs={digest: context.direct})
    )


@then("that content is stored as a chunk list of {count:d} chunks of at most {most:d} bytes")
def step_direct_chunks(context: Context, count: int, most: int) -> None:
    _check_chunks(context, context.direct, count, most)


@then("reading that content back gives the same bytes")
def step_direct_read(context: Context) -> None:
    digest = hashlib.sha256(context.direct).hexdigest()
    assert dict(context.bounded_repository.read_blobs([digest, "0" * 64])) == {
        digest: context.direct
    }


def _stored_bytes(context: Context) -> int:
    rows = _rows(context, "SELECT data FROM checkpoint_objects")
    return sum(len(bytes(row[0])) for row in rows)


@when('I measure the stored bytes and prune plan "{plan}" to {limit:d} stored byte')
def step_prune_bytes(context: Context, plan: str, limit: int) -> None:
    context.bytes_before = _stored_bytes(context)
    context.pruned = context.checkpoint_service.prune_report(plan, RetentionLimits(max_bytes=limit))


@then("the prune removed {count:d} checkpoint and freed exactly the stored bytes that went away")
def step_prune_freed(context: Context, count: int) -> None:
    assert context.pruned.count == count, context.pruned
    gone = context.bytes_before - _stored_bytes(context)
    assert gone > len(context.big) // 2  # the chunks of an incompressible file went
    assert context.pruned.bytes_freed == gone, (context.pruned.bytes_freed, gone)


@then("no chunk of the large file is stored any more")
def step_no_chunks(context: Context) -> None:
    rows = _rows(context, "SELECT COUNT(*) FROM checkpoint_objects WHERE kind = 'chunks'")
    assert rows[0][0] == 0, rows
    assert _object(context, hashlib.sha256(context.big[:1024]).hexdigest()) is None


@then("content limits of {name} {value:d} bytes are refused")
def step_limits_refused(context: Context, name: str, value: int) -> None:
    field = {"batch": "batch_bytes", "chunk size": "chunk_size"}[name]
    try:
        ContentLimits(**{field: value})
    except ValueError as exc:
        assert field in str(exc)
    else:
        raise AssertionError(f"{field}={value} was accepted")
