"""Steps for restoring, verifying and pruning checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

from behave import given, step, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, repository, service, step_snapshot
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, factory

from cleveragents.application.services.checkpoint_service import CheckpointService, RestoreResult
from cleveragents.domain.models.core.checkpoint import SnapshotContent
from cleveragents.infrastructure.database.models import CheckpointModel, CheckpointObjectModel


def files_of(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every file and symlink under ``root`` (folders are not tracked): kind, bytes, mode."""
    found: dict[str, tuple[str, bytes, int]] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.fsencode(path.readlink()), 0)
            else:
                found[rel] = ("file", path.read_bytes(), path.stat().st_mode & 0o111)
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = Path(dirpath) / name
            if path.is_symlink():
                found[path.relative_to(root).as_posix()] = ("link", os.fsencode(path.readlink()), 0)
    return found


def _checkpoint(context: Context, number: str) -> str:
    return checkpoints(context)[int(number) - 1].checkpoint_id if number.isdigit() else number


@step('I remember the sandbox tree as "{name}"')
def step_remember(context: Context, name: str) -> None:
    if not hasattr(context, "trees"):
        context.trees = {}
    context.trees[name] = files_of(context.sandbox)


@when("I restore checkpoint {number} into the sandbox")
def step_restore(context: Context, number: str) -> None:
    context.result = service(context).restore_workspace(
        _checkpoint(context, number), context.sandbox
    )


@when("I restore checkpoint {number} into the sandbox removing untracked files")
def step_restore_untracked(context: Context, number: str) -> None:
    context.result = service(context).restore_workspace(
        _checkpoint(context, number), context.sandbox, remove_untracked=True
    )


@when("I restore checkpoint {number} into the sandbox as a dry run")
def step_restore_dry(context: Context, number: str) -> None:
    context.result = service(context).restore_workspace(
        _checkpoint(context, number), context.sandbox, dry_run=True
    )


@when("I try to restore checkpoint {name} into the sandbox")
def step_try_restore(context: Context, name: str) -> None:
    checkpoint_id = _checkpoint(context, name.strip('"'))
    attempt(context, lambda: service(context).restore_workspace(checkpoint_id, context.sandbox))


@when("I try to restore checkpoint {number} into a new folder")
def step_try_restore_new(context: Context, number: str) -> None:
    context.new_folder = context.tmp / "never-made" / "target"
    checkpoint_id = _checkpoint(context, number)
    attempt(context, lambda: service(context).restore_workspace(checkpoint_id, context.new_folder))


@then("the new folder does not exist")
def step_new_folder_gone(context: Context) -> None:
    assert not context.new_folder.exists()


@when("I restore checkpoint {number} into a fresh folder")
def step_restore_fresh(context: Context, number: str) -> None:
    context.fresh = context.tmp / f"fresh-{number}"
    service(context).restore_workspace(_checkpoint(context, number), context.fresh)


@then('the sandbox tree equals "{name}"')
def step_sandbox_equals(context: Context, name: str) -> None:
    found = files_of(context.sandbox)
    assert found == context.trees[name], sorted(
        set(found.items()) ^ set(context.trees[name].items())
    )


@then('the fresh folder tree equals "{name}"')
def step_fresh_equals(context: Context, name: str) -> None:
    assert files_of(context.fresh) == context.trees[name]


def _split(text_value: str) -> list[str]:
    return [part.strip() for part in text_value.split(",") if part.strip()]


@then('the restore wrote "{written:Text}" and removed "{removed:Text}"')
def step_restore_result(context: Context, written: str, removed: str) -> None:
    result: RestoreResult = context.result
    assert result.written == _split(written) and result.removed == _split(removed), result
    assert not result.dry_run


@then('the restore would write "{written:Text}" and remove "{removed:Text}"')
def step_restore_would(context: Context, written: str, removed: str) -> None:
    result: RestoreResult = context.result
    assert result.dry_run
    assert result.written == _split(written) and result.removed == _split(removed), result


@then('the sandbox has no folder "{rel}" left')
def step_no_folder(context: Context, rel: str) -> None:
    assert not (context.sandbox / rel).exists()


@given('the user adds "{rel}" to the sandbox')
def step_user_adds(context: Context, rel: str) -> None:
    path = context.sandbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("mine")


@then('the sandbox still holds "{rel}"')
def step_still_holds(context: Context, rel: str) -> None:
    assert (context.sandbox / rel).exists()


@step("checkpoint {number} verifies")
def step_verifies(context: Context, number: str) -> None:
    assert service(context).verify_checkpoint(_checkpoint(context, number)) is True


@then("checkpoint {number} does not verify")
def step_not_verifies(context: Context, number: str) -> None:
    assert service(context).verify_checkpoint(_checkpoint(context, number)) is False


def _blob_of(context: Context, rel: str) -> str:
    entries = {
        e.path: e for e in repository(context).manifest(checkpoints(context)[0].checkpoint_id)
    }
    return entries[rel].sha256


def _set_object(context: Context, digest: str, data: bytes) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            update(CheckpointObjectModel)
            .where(CheckpointObjectModel.object_hash == digest)
            .values(data=data)
        )


@when('the stored content of "{rel}" is corrupted')
def step_corrupt(context: Context, rel: str) -> None:
    _set_object(context, _blob_of(context, rel), zlib.compress(b"# not the project"))


@when('the stored bytes of "{rel}" are garbled')
def step_garble(context: Context, rel: str) -> None:
    _set_object(context, _blob_of(context, rel), b"\x00garbled")


@when("the stored diff hash of checkpoint {number} is tampered with")
def step_tamper(context: Context, number: str) -> None:
    checkpoint_id = _checkpoint(context, number)
    with factory(context)() as session, session.begin():
        metadata = session.execute(
            select(CheckpointModel.checkpoint_metadata).where(
                CheckpointModel.checkpoint_id == checkpoint_id
            )
        ).scalar_one()
        metadata["extra"]["diff_hash"] = "0" * 64
        session.execute(
            update(CheckpointModel)
            .where(CheckpointModel.checkpoint_id == checkpoint_id)
            .values(checkpoint_metadata=metadata)
        )


@given("an outside folder for the restore")
def step_outside(context: Context) -> None:
    context.outside = context.tmp / "outside"
    context.outside.mkdir()


@given('the sandbox\'s "{rel}" is replaced by a symlink to the outside folder')
def step_replace_symlink(context: Context, rel: str) -> None:
    shutil.rmtree(context.sandbox / rel)
    (context.sandbox / rel).symlink_to(context.outside, target_is_directory=True)


@then("the outside folder is still empty")
def step_outside_empty(context: Context) -> None:
    assert list(context.outside.iterdir()) == []


@given('the sandbox\'s "{rel}" is a folder holding "{name}"')
def step_folder_in_way(context: Context, rel: str, name: str) -> None:
    path = context.sandbox / rel
    if path.exists():
        path.unlink()
    path.mkdir()
    (path / name).write_text("keep")


@when('I prune plan "{plan}" keeping {count:d}')
def step_prune(context: Context, plan: str, count: int) -> None:
    context.pruned = service(context).prune(plan, count)


@when('I delete the checkpoints of plan "{plan}"')
def step_delete_plan(context: Context, plan: str) -> None:
    context.pruned = repository(context).delete_for_plan(plan)


@then("{count:d} checkpoint was pruned")
@then("{count:d} checkpoints were pruned")
def step_pruned(context: Context, count: int) -> None:
    assert context.pruned == count, context.pruned


@then("the plan lists checkpoints {first:d} and {second:d}")
def step_lists(context: Context, first: int, second: int) -> None:
    plan = checkpoints(context)[0].plan_id
    listed = [c.checkpoint_id for c in service(context).list_checkpoints(plan)]
    taken = checkpoints(context)
    assert listed == [taken[first - 1].checkpoint_id, taken[second - 1].checkpoint_id]


@then("checkpoint 3's parent is checkpoint 2 and checkpoint 2's parent is gone")
def step_parents(context: Context) -> None:
    taken = checkpoints(context)
    assert repository(context).get(taken[2].checkpoint_id).parent_id == taken[1].checkpoint_id
    parent = taken[1].parent_id
    assert parent is not None and service(context).get_checkpoint(parent) is None


@then("every remaining checkpoint verifies")
def step_all_verify(context: Context) -> None:
    plan = checkpoints(context)[0].plan_id
    for checkpoint in service(context).list_checkpoints(plan):
        assert service(context).verify_checkpoint(checkpoint.checkpoint_id)


@then('restoring checkpoint {number} into a fresh folder gives "{name}"')
def step_restore_gives(context: Context, number: str, name: str) -> None:
    step_restore_fresh(context, number)
    step_fresh_equals(context, name)


@then('plan "{plan}"\'s checkpoint still restores into a fresh folder as "{name}"')
def step_other_plan(context: Context, plan: str, name: str) -> None:
    only = service(context).list_checkpoints(plan)
    assert len(only) == 1
    context.fresh = context.tmp / "fresh-other"
    service(context).restore_workspace(only[0].checkpoint_id, context.fresh)
    step_fresh_equals(context, name)


def stored_objects(context: Context) -> dict[str, bytes]:
    """Every stored object's hash and stored (compressed) bytes, read raw."""
    with factory(context)() as session:
        rows = session.execute(text("SELECT object_hash, data FROM checkpoint_objects")).all()
    return {bytes(key).hex(): bytes(data) for key, data in rows}


def reachable_objects(
    context: Context, roots: list[str], raw: dict[str, bytes] | None = None
) -> set[str]:
    """The objects ``roots`` reach: trees, what they list (not large files), delta bases."""
    raw = stored_objects(context) if raw is None else raw
    reachable: set[str] = set()
    pending = list(roots)
    objects = dict(repository(context).read_blobs(raw))
    while pending:
        digest = pending.pop()
        reachable.add(digest)
        for _name, kind, child, _size, _exec in json.loads(objects[digest]):
            if kind == "tree":
                pending.append(child)
            elif kind != "large":
                reachable.add(child)
    # An object stored as a delta (a mark byte, 0x00 for zlib or 0x01 for zstd, then its
    # base's raw sha256) needs its base, and the base its own.
    deltas = (b"\x00", b"\x01")
    bases = [d for d in reachable if raw[d][:1] in deltas]
    while bases:
        base = raw[bases.pop()][1:33].hex()
        reachable.add(base)
        if raw[base][:1] in deltas:
            bases.append(base)
    return reachable


@then("no stored object is unreachable")
def step_no_garbage(context: Context) -> None:
    raw = stored_objects(context)
    with factory(context)() as session:
        roots = [
            r for r in session.execute(text("SELECT root_tree FROM checkpoints")).scalars() if r
        ]
    stored = set(raw)
    reachable = reachable_objects(context, roots, raw)
    assert stored == reachable, sorted(stored - reachable)


def _bad_call(context: Context, call: str) -> Any:
    svc = service(context)
    calls: dict[str, Any] = {
        "a snapshot of a missing folder": lambda: svc.create_workspace_snapshot(
            "p", str(context.tmp / "missing"), "d"
        ),
        "a snapshot with an empty plan id": lambda: svc.create_workspace_snapshot(
            "", str(context.sandbox), "d"
        ),
        "a snapshot with an empty decision id": lambda: svc.create_workspace_snapshot(
            "p", str(context.sandbox), " "
        ),
        "a prune keeping -1": lambda: svc.prune("plan-1", -1),
        'a prune keeping "two"': lambda: svc.prune("plan-1", "two"),
        "a restore into a file": lambda: svc.restore_workspace(
            checkpoints(context)[0].checkpoint_id, context.sandbox / "src" / "main.py"
        ),
        "a restore into a number": lambda: svc.restore_workspace(
            checkpoints(context)[0].checkpoint_id, 7
        ),
        "a verify of an unknown checkpoint": lambda: svc.verify_checkpoint("nope"),
        "a size limit of -5": lambda: CheckpointService(repository(context), size_limit=-5),
        "excludes given as one string": lambda: CheckpointService(
            repository(context), excludes="*.log"
        ),
        'watch given as "yes"': lambda: CheckpointService(repository(context), watch="yes"),
        "a repository create of a string": lambda: repository(context).create("checkpoint"),
        "a repository create with bad content": lambda: repository(context).create(
            checkpoints(context)[0], content="manifest"
        ),
        "a repository manifest of an unknown id": lambda: repository(context).manifest("nope"),
        "a repository create whose manifest is a string": lambda: repository(context).create(
            checkpoints(context)[0], SnapshotContent(manifest="src/main.py", diff=[])
        ),
        "a repository create whose diff holds a string": lambda: repository(context).create(
            checkpoints(context)[0], SnapshotContent(manifest=[], diff=["src/main.py"])
        ),
        "a repository create whose blobs are a list": lambda: repository(context).create(
            checkpoints(context)[0], SnapshotContent(manifest=[], diff=[], blobs=[])
        ),
        "a repository create whose blob is text": lambda: repository(context).create(
            checkpoints(context)[0],
            SnapshotContent(manifest=[], diff=[], blobs={"a" * 64: "text"}),
        ),
        "a repository create whose stat cache is text": lambda: repository(context).create(
            checkpoints(context)[0], SnapshotContent(manifest=[], diff=[], stat_cache="x")
        ),
    }
    return calls[call]()


@when("I try to call the checkpoint service with {call}")
def step_bad_call(context: Context, call: str) -> None:
    attempt(context, lambda: _bad_call(context, call))


_FILES = ["a.txt", "b.txt", "dir/c.txt", "dir/sub/d.bin", "e.sh"]
_EDIT = st.tuples(
    st.sampled_from(["write", "delete", "chmod"]),
    st.sampled_from(_FILES),
    st.binary(max_size=64),
)


@then("for random edit sequences every checkpoint restores byte-identically")
def step_property(context: Context) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @hypothesis_given(st.lists(st.lists(_EDIT, min_size=1, max_size=6), min_size=1, max_size=5))
    def check(steps: list[list[tuple[str, str, bytes]]]) -> None:
        work = Path(tempfile.mkdtemp(dir=context.tmp))
        sandbox = work / "sandbox"
        sandbox.mkdir()
        svc = CheckpointService()  # its own in-memory database, the default
        taken: list[tuple[str, dict[str, tuple[str, bytes, int]]]] = []
        for edits in steps:
            for action, rel, data in edits:
                path = sandbox / rel
                if action == "write":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                elif action == "delete" and path.exists():
                    path.unlink()
                elif action == "chmod" and path.exists():
                    path.chmod(path.stat().st_mode ^ 0o111)
            made = svc.create_workspace_snapshot("plan", str(sandbox), f"d{len(taken)}")
            taken.append((made.checkpoint_id, files_of(sandbox)))
        for index, (checkpoint_id, tree) in enumerate(taken):
            fresh = work / f"fresh-{index}"
            svc.restore_workspace(checkpoint_id, fresh)
            assert files_of(fresh) == tree
            svc.restore_workspace(checkpoint_id, sandbox)
            assert files_of(sandbox) == tree
            assert svc.verify_checkpoint(checkpoint_id)
        shutil.rmtree(work)

    check()


def _tree_hash(context: Context, number: str, folder: str) -> str:
    """The hash of ``folder``'s tree in checkpoint ``number``, found from its root tree."""
    with factory(context)() as session:
        digest = str(
            session.execute(
                select(CheckpointModel.root_tree).where(
                    CheckpointModel.checkpoint_id == _checkpoint(context, number)
                )
            ).scalar_one()
        )
    for name in [part for part in folder.split("/") if part]:
        children = json.loads(dict(repository(context).read_blobs([digest]))[digest])
        digest = next(child[2] for child in children if child[0] == name and child[1] == "tree")
    return digest


def _stored_bytes(context: Context) -> dict[str, bytes]:
    with factory(context)() as session:
        rows = session.execute(
            select(CheckpointObjectModel.object_hash, CheckpointObjectModel.data)
        )
        return {digest: bytes(data) for digest, data in rows}


@then("checkpoint {number}'s \"{folder:Text}\" tree is stored as a delta of checkpoint {base}'s")
def step_stored_as_delta(context: Context, number: str, folder: str, base: str) -> None:
    data = _stored_bytes(context)[_tree_hash(context, number, folder)]
    assert data[:1] == b"\x01", data[:8]  # a zstd delta
    assert data[1:33].hex() == _tree_hash(context, base, folder)


@when('checkpoint {number}\'s "{folder}" tree is corrupted in the store')
def step_corrupt_tree(context: Context, number: str, folder: str) -> None:
    _set_object(context, _tree_hash(context, number, folder), zlib.compress(b"[]"))


@when('"{rel}" is changed and snapshotted {count:d} more times')
def step_many_snapshots(context: Context, rel: str, count: int) -> None:
    for turn in range(count):
        (context.sandbox / rel).write_text(f"print({turn})\n")
        step_snapshot(context, "plan-1", f"more-{turn}")


@then("every tree of the last checkpoint is at most {limit:d} deltas deep")
def step_chain_depth(context: Context, limit: int) -> None:
    stored = _stored_bytes(context)
    pending = [_tree_hash(context, str(len(checkpoints(context))), "")]
    deepest = 0
    while pending:
        digest = pending.pop()
        depth, at = 0, digest
        while stored[at][:1] in (b"\x00", b"\x01"):
            depth, at = depth + 1, stored[at][1:33].hex()
        deepest = max(deepest, depth)
        children = json.loads(dict(repository(context).read_blobs([digest]))[digest])
        pending += [child[2] for child in children if child[1] == "tree"]
    assert 0 < deepest <= limit, deepest


@when("the stored diff of checkpoint {number} is damaged")
def step_damage_diff(context: Context, number: str) -> None:
    with factory(context)() as session, session.begin():
        session.execute(
            update(CheckpointModel)
            .where(CheckpointModel.checkpoint_id == _checkpoint(context, number))
            .values(diff_data=b"not zlib")
        )


@then("reading the diff of checkpoint {number} fails with IntegrityCheckError")
def step_diff_fails(context: Context, number: str) -> None:
    attempt(context, lambda: repository(context).diff(_checkpoint(context, number)))
    assert type(context.error).__name__ == "IntegrityCheckError", context.error


@when('checkpoint {number}\'s "{folder}" tree is stored as {damage}')
def step_damage_delta(context: Context, number: str, folder: str, damage: str) -> None:
    digest = _tree_hash(context, number, folder)
    data = _stored_bytes(context)[digest]
    assert data[:1] == b"\x01", "the tree is not stored as a delta"
    damaged = {
        "a delta of itself": b"\x01" + bytes.fromhex(digest) + data[33:],
        "a delta cut short": data[:-6],
    }
    _set_object(context, digest, damaged[damage])
