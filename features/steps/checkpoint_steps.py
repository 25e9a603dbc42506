"""Steps for checkpoints: snapshots, the spy on the repository, restore, verify, prune."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from behave import given, step, then, when
from behave.runner import Context
from sqlalchemy import text
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import factory, run_python, table_rows

from cleveragents.application.services.checkpoint_service import (
    CheckpointService,
    diff_canonical_bytes,
)
from cleveragents.domain.models.core.checkpoint import Checkpoint, FileKind, SnapshotContent
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.workspace import scanner


class SpyRepository:
    """Wraps the real repository and records every call made to it."""

    WRITES = ("create", "update", "delete_for_plan", "prune")

    def __init__(self, inner: CheckpointRepository) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.created: list[Checkpoint] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if name == "create":
                checkpoint = args[0]
                self.created.append(checkpoint.model_copy(deep=True))
            self.calls.append((name, args))
            return target(*args, **kwargs)

        return recorded


def repository(context: Context) -> CheckpointRepository:
    if getattr(context, "checkpoint_repository", None) is None:
        context.checkpoint_repository = CheckpointRepository(factory(context))
    made: CheckpointRepository = context.checkpoint_repository
    return made


def service(context: Context) -> CheckpointService:
    if getattr(context, "checkpoint_service", None) is None:
        context.checkpoint_service = CheckpointService(repository(context))
    made: CheckpointService = context.checkpoint_service
    return made


def checkpoints(context: Context) -> list[Checkpoint]:
    if not hasattr(context, "taken"):
        context.taken = []
    taken: list[Checkpoint] = context.taken
    return taken


@given("a checkpoint service")
def step_checkpoint_service(context: Context) -> None:
    service(context)


@given('a checkpoint service excluding "{globs}" with a size limit of {limit:d} bytes')
def step_configured_service(context: Context, globs: str, limit: int) -> None:
    excludes = [g.strip() for g in globs.split(",")]
    context.checkpoint_service = CheckpointService(
        repository(context), excludes=excludes, size_limit=limit
    )


@given("a sandbox holding")
def step_sandbox_holding(context: Context) -> None:
    context.sandbox = context.tmp / "sandbox"
    for row in table_rows(context):
        path = context.sandbox / row["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(row["content"])


@given("the repository is wrapped by a spy")
def step_spy(context: Context) -> None:
    context.spy = SpyRepository(repository(context))
    context.checkpoint_service = CheckpointService(context.spy)  # the spy quacks like a store


@given('I snapshot the sandbox for plan "{plan}" before decision "{decision}"')
@when('I snapshot the sandbox for plan "{plan}" before decision "{decision}"')
def step_snapshot(context: Context, plan: str, decision: str) -> None:
    taken = service(context).create_workspace_snapshot(plan, str(context.sandbox), decision)
    checkpoints(context).append(taken)


@then("the spy saw exactly {count:d} write call and it was create")
def step_spy_writes(context: Context, count: int) -> None:
    writes = [name for name, _ in context.spy.calls if name in SpyRepository.WRITES]
    assert writes == ["create"] * count, context.spy.calls


@then("the checkpoint passed to create already had diff_paths, diff_based and diff_hash")
def step_spy_metadata(context: Context) -> None:
    extra = context.spy.created[0].metadata.extra
    assert {"diff_paths", "diff_based", "diff_hash"} <= set(extra), extra
    create_args = next(args for name, args in context.spy.calls if name == "create")
    assert isinstance(create_args[1], SnapshotContent)


@then("the checkpoint returned is the one passed to create, unchanged")
def step_spy_unchanged(context: Context) -> None:
    returned = checkpoints(context)[-1]
    assert returned == context.spy.created[0]
    stored = repository(context).get(returned.checkpoint_id)
    assert stored == returned, (stored, returned)


@step('I change "{rel}" to "{content}"')
def step_change(context: Context, rel: str, content: str) -> None:
    path = context.sandbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


@step('I delete "{rel}"')
def step_delete(context: Context, rel: str) -> None:
    (context.sandbox / rel).unlink()


@step('I make "{rel}" executable')
def step_executable(context: Context, rel: str) -> None:
    (context.sandbox / rel).chmod(0o755)


_READER = """
import json, sys
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
repo = CheckpointRepository(create_session_factory(sys.argv[1]))
print(json.dumps([c.model_dump(mode="json") for c in repo.list_for_plan(sys.argv[2])]))
"""


@then("a new process reads both checkpoints with the same diff metadata")
def step_restart(context: Context) -> None:
    read = run_python(_READER, context.url, checkpoints(context)[0].plan_id)
    assert read == [c.model_dump(mode="json") for c in checkpoints(context)], read
    assert read[1]["metadata"]["extra"]["diff_paths"] == ["src/main.py"]


@then('the diff paths are "{paths:Text}"')
def step_diff_paths(context: Context, paths: str) -> None:
    found = checkpoints(context)[-1].metadata.extra["diff_paths"]
    assert found == [p.strip() for p in paths.split(",") if p.strip()], found


@then("diff_based is true")
def step_diff_based(context: Context) -> None:
    assert checkpoints(context)[-1].metadata.extra["diff_based"] is True


@then("the diff hash is the sha256 of the canonical diff")
def step_diff_hash(context: Context) -> None:
    latest = checkpoints(context)[-1]
    stored_diff = repository(context).diff(latest.checkpoint_id)
    expected = hashlib.sha256(diff_canonical_bytes(stored_diff)).hexdigest()
    assert latest.metadata.extra["diff_hash"] == expected
    # The documented form, recomputed by hand from the files themselves:
    # [path, sha256, kind, mode] per path there, sorted by path.
    rows = sorted(
        [
            p.relative_to(context.sandbox).as_posix(),
            hashlib.sha256(p.read_bytes()).hexdigest(),
            "file",
            stat.S_IMODE(p.lstat().st_mode),
        ]
        for p in context.sandbox.rglob("*")
        if p.is_file() and not p.is_symlink() and ".git" not in p.parts
    )
    by_hand = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    assert latest.metadata.extra["diff_hash"] == hashlib.sha256(by_hand).hexdigest()


@then("the checkpoint's parent is the previous checkpoint")
def step_parent(context: Context) -> None:
    taken = checkpoints(context)
    assert taken[-1].parent_id == taken[-2].checkpoint_id


@then("the last two checkpoints have the same diff hash")
def step_same_hash(context: Context) -> None:
    last, before = checkpoints(context)[-1], checkpoints(context)[-2]
    assert last.metadata.extra["diff_hash"] == before.metadata.extra["diff_hash"]


@when('I rewrite "{rel}" with same-size content keeping its timestamps')
def step_same_size(context: Context, rel: str) -> None:
    path = context.sandbox / rel
    before = path.stat()
    path.write_text(path.read_text().upper().replace(".", ","))
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@given("the sandbox's files are older than the last snapshot")
def step_older(context: Context) -> None:
    time.sleep((scanner.RACY_WINDOW_NS * 2) / 1e9)


def snapshot_probing(
    context: Context, plan: str, name: str, record: Callable[[tuple[Any, ...]], None]
) -> None:
    """Snapshot while ``record`` sees the arguments of every call to ``scanner.<name>``."""
    original = getattr(scanner, name)

    def probe(*args: Any) -> Any:
        record(args)
        return original(*args)

    setattr(scanner, name, probe)  # a probe for this snapshot, restored below
    try:
        step_snapshot(context, plan, f"probed-{name}")
    finally:
        setattr(scanner, name, original)


@when('I snapshot the sandbox for plan "{plan}" while counting file reads')
def step_snapshot_counting(context: Context, plan: str) -> None:
    context.read_paths = []
    snapshot_probing(
        context,
        plan,
        "read_content",
        lambda args: context.read_paths.append(
            Path(args[0]).relative_to(context.sandbox).as_posix()
        ),
    )


@then('only "{rel}" was read')
def step_only_read(context: Context, rel: str) -> None:
    assert context.read_paths == [rel], context.read_paths


@then("every file of the sandbox was read")
def step_all_read(context: Context) -> None:
    from restore_steps import files_of

    expected = sorted(p for p in files_of(context.sandbox) if not p.startswith(".git/"))
    assert sorted(context.read_paths) == expected, context.read_paths


@when('another checkpoint service snapshots the sandbox for plan "{plan}" before decision "{d}"')
def step_other_service_snapshot(context: Context, plan: str, d: str) -> None:
    other = CheckpointService(CheckpointRepository(factory(context)))
    checkpoints(context).append(other.create_workspace_snapshot(plan, str(context.sandbox), d))


@given('the stored stat cache of plan "{plan}" is overwritten with "{data}"')
def step_garble_stat_cache(context: Context, plan: str, data: str) -> None:
    with factory(context).begin() as session:
        changed = session.execute(
            text("UPDATE checkpoint_stat_cache SET data = :data WHERE plan_id = :plan"),
            {"data": zlib.compress(data.encode()), "plan": plan},
        )
        assert changed.rowcount == 1, changed.rowcount


def _stored_stat_cache(context: Context, plan: str) -> tuple[str, int, bytes]:
    with factory(context).begin() as session:
        rows = session.execute(
            text(
                "SELECT checkpoint_id, scan_started_ns, data FROM checkpoint_stat_cache "
                "WHERE plan_id = :plan"
            ),
            {"plan": plan},
        ).all()
    assert len(rows) == 1, rows
    return str(rows[0][0]), int(rows[0][1]), bytes(rows[0][2])


@given('I remember the stored stat cache of plan "{plan}"')
def step_remember_stat_cache(context: Context, plan: str) -> None:
    context.remembered_stat_cache = _stored_stat_cache(context, plan)


@then('the stored stat cache of plan "{plan}" is the one remembered')
def step_same_stat_cache(context: Context, plan: str) -> None:
    assert _stored_stat_cache(context, plan) == context.remembered_stat_cache


@given("a new checkpoint service")
def step_new_service(context: Context) -> None:
    context.checkpoint_service = CheckpointService(repository(context))


@given("I note the number of stored objects")
def step_note_objects(context: Context) -> None:
    context.objects_before = repository(context).object_count()


@then("no new blob was stored")
def step_no_new(context: Context) -> None:
    assert repository(context).object_count() == context.objects_before
    context.objects_before = repository(context).object_count()


@then("exactly {count:d} new blob was stored")
def step_new_blobs(context: Context, count: int) -> None:
    # One new blob, plus the trees on its path (src/ and the root) that changed with it.
    grown = repository(context).object_count() - context.objects_before
    assert grown == count + 2, grown


@given('the sandbox also holds "{log}", "{build}" and a 100-byte "{big}"')
def step_extra_files(context: Context, log: str, build: str, big: str) -> None:
    for rel, data in ((log, b"log"), (build, b"bin"), (big, b"x" * 100)):
        path = context.sandbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@given('the sandbox holds a symlink "{name}" to "{target}"')
def step_symlink(context: Context, name: str, target: str) -> None:
    (context.sandbox / name).symlink_to(target)


@given("the sandbox holds a file whose name is not valid UTF-8")
def step_bad_name(context: Context) -> None:
    name = os.fsdecode(b"bad-\xff.txt")  # surrogate-escaped, as os.scandir would show it
    (context.sandbox / name).write_bytes(b"undecodable")


@then('"{link}" is recorded as a symlink and "{big}" as a large file')
def step_kinds(context: Context, link: str, big: str) -> None:
    entries = {
        e.path: e for e in repository(context).manifest(checkpoints(context)[-1].checkpoint_id)
    }
    assert entries[link].kind is FileKind.SYMLINK
    assert entries[link].sha256 == hashlib.sha256(b"src/main.py").hexdigest()
    assert entries[big].kind is FileKind.LARGE and entries[big].size == 100


@step('I create a manual checkpoint for plan "{plan}" with description "{text}"')
def step_manual(context: Context, plan: str, text: str) -> None:
    made = service(context).create_checkpoint(plan, str(context.sandbox), description=text)
    checkpoints(context).append(made)


@then("the plan lists {count:d} checkpoints oldest first")
def step_listed(context: Context, count: int) -> None:
    plan = checkpoints(context)[-1].plan_id
    listed = service(context).list_checkpoints(plan)
    assert [c.checkpoint_id for c in listed] == [c.checkpoint_id for c in checkpoints(context)]
    assert len(listed) == count


@then('the latest checkpoint of plan "{plan}" is the manual one')
def step_latest(context: Context, plan: str) -> None:
    latest = repository(context).latest_for_plan(plan)
    assert latest is not None and latest.checkpoint_type == "manual"
    assert latest.metadata.description == "before refactor"
    assert service(context).get_checkpoint(latest.checkpoint_id) == latest


@given(
    'a prune of plan "{plan}" will run right after the next snapshot reads its baseline {source}'
)
def step_racing_prune(context: Context, plan: str, source: str) -> None:
    inner = repository(context)
    # The service decides on its baseline in one of these reads: the plan's latest
    # checkpoint (is the scan it kept in memory still current?) or the stat cache.
    if source == "kept in memory":
        name = "latest_for_plan"
    else:
        assert source == "from the database", source
        name = "stat_cache"
        context.checkpoint_service = CheckpointService(inner)  # nothing in memory yet
    original = getattr(inner, name)
    fired = {"done": False}

    def read_then_prune(plan_id: str) -> Any:
        found = original(plan_id)
        if not fired["done"]:
            fired["done"] = True
            inner.prune(plan, 0)  # what a concurrent process could do at this moment
        return found

    setattr(inner, name, read_then_prune)  # a race injected for this scenario
    context.cleanups.append(lambda: setattr(inner, name, original))
    context.raced = fired


@then("the last checkpoint verifies and restores into a fresh folder like the sandbox")
def step_verifies_restores(context: Context) -> None:
    from restore_steps import files_of

    assert context.raced["done"], "the injected prune never ran"
    latest = checkpoints(context)[-1]
    assert service(context).verify_checkpoint(latest.checkpoint_id)
    fresh = context.tmp / "fresh-raced"
    service(context).restore_workspace(latest.checkpoint_id, fresh)
    expected = {p: v for p, v in files_of(context.sandbox).items() if not p.startswith(".git/")}
    assert files_of(fresh) == expected, (files_of(fresh), expected)


@then("every checkpoint's manifest read in columns equals its manifest, in path order")
def step_packed_manifest(context: Context) -> None:
    store = repository(context)
    kinds: set[FileKind] = set()
    without = 0
    for checkpoint in checkpoints(context):
        listed = store.manifest(checkpoint.checkpoint_id)
        packed = store.packed_manifest(checkpoint.checkpoint_id)
        if listed is None:  # a checkpoint without a snapshot
            assert packed is None
            without += 1
            continue
        assert packed is not None
        assert list(packed) == [entry.path for entry in listed] == sorted(packed)
        assert [packed[entry.path] for entry in listed] == listed
        kinds |= {entry.kind for entry in listed}
    assert {FileKind.FILE, FileKind.SYMLINK, FileKind.DIR} <= kinds, kinds
    assert without == 1, without
