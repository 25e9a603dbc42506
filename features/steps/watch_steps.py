"""Steps for the sandbox watcher: which snapshots walk, and that they match a full walk."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from behave import given, step, then, when
from behave.runner import Context
from checkpoint_steps import (
    checkpoints,
    repository,
    service,
    snapshot_probing,
    step_snapshot,
)
from hypothesis import HealthCheck, example, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from support import parse_types  # noqa: F401  (registers {name:Text})

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.checkpoint import (
    EMPTY_TREE_SHA256,
    DiffEntry,
    FileKind,
    ManifestEntry,
    SnapshotContent,
)
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory
from cleveragents.infrastructure.database.tree_codec import TreeIndex
from cleveragents.infrastructure.workspace import scanner
from cleveragents.infrastructure.workspace import watcher as watcher_module


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _change(sandbox: Path, change: str) -> None:
    """Make one of the changes the outline names, with ordinary file system calls."""
    words = change.split()
    if change == "move the sandbox away and back":
        away = sandbox.rename(sandbox.with_name(f"{sandbox.name}.away"))
        away.rename(sandbox)
    elif change.startswith("write "):
        _write(sandbox / words[1], f"changed {words[1]}\n")
    elif change.startswith("delete the folder "):
        shutil.rmtree(sandbox / words[3])
    elif change.startswith("delete "):
        (sandbox / words[1]).unlink()
    elif change.startswith("make ") and change.endswith(" executable"):
        path = sandbox / words[1]
        path.chmod(path.stat().st_mode | 0o111)
    elif change.startswith("rename the folder "):
        (sandbox / words[3]).rename(sandbox / words[5])
    elif change.startswith("rename "):
        (sandbox / words[1]).rename(sandbox / words[3])
    elif change.startswith("link "):  # link PATH to TARGET: PATH becomes a symlink
        (sandbox / words[1]).unlink()
        (sandbox / words[1]).symlink_to(words[3])
    elif change == "create a\\b.txt":
        (sandbox / "a\\b.txt").write_text("backslash\n")
    elif change == "create a file with a name not in UTF-8":
        (Path(os.fsdecode(os.fsencode(sandbox) + b"/src/bad-\xff.txt"))).write_text("x\n")
    elif change == "create a folder with a name not in UTF-8":
        folder = Path(os.fsdecode(os.fsencode(sandbox) + b"/bad-\xfe"))
        _write(folder / "inside.txt", "x\n")
    elif change == "replace the folder docs by a link to src":
        shutil.rmtree(sandbox / "docs")
        (sandbox / "docs").symlink_to("src")
    elif change.startswith("create "):  # create A and B
        _write(sandbox / words[1], "a\n")
        _write(sandbox / words[3], "b\n")
    elif change.startswith("replace the folder "):
        shutil.rmtree(sandbox / words[3])
        _write(sandbox / words[3], "now a file\n")
    elif change.startswith("replace ") and change.endswith(" by a folder"):
        (sandbox / words[1]).unlink()
        _write(sandbox / words[1] / "x.md", "inside\n")
    else:
        raise AssertionError(f"unknown change {change!r}")


@step('I make the change "{change}" in the sandbox')
def step_change(context: Context, change: str) -> None:
    _change(context.sandbox, change)


@when('I snapshot the sandbox for plan "{plan}" while recording the walks')
def step_snapshot_walks(context: Context, plan: str) -> None:
    context.walks = []
    snapshot_probing(context, plan, "walk", lambda args: context.walks.append(args[0][0]))


@then("the snapshot walked nothing")
def step_walked_nothing(context: Context) -> None:
    assert context.walks == [], context.walks


@then("the snapshot walked the whole sandbox")
def step_walked_all(context: Context) -> None:
    assert context.walks == [""], context.walks


@then('the snapshot walked "{folder}"')
def step_walked_folder(context: Context, folder: str) -> None:
    assert context.walks == [f"{folder}/"], context.walks


def _full_walk(root: Path) -> list[ManifestEntry]:
    found = scanner.scan(root, scanner.ScanSettings())
    return sorted((f.entry for f in found.files.values()), key=lambda e: e.path)


@then("the last snapshot lists what a full walk of the sandbox finds")
def step_matches_full_walk(context: Context) -> None:
    stored = repository(context).manifest(checkpoints(context)[-1].checkpoint_id)
    assert stored == _full_walk(context.sandbox)


@when('I create more files in "{folder}" than the kernel\'s inotify queue holds events')
def step_overflow(context: Context, folder: str) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    target = context.sandbox / folder  # watched already: each new file is an event
    for number in range(limit + 64):
        (target / f"{number}.txt").write_bytes(b"")


@given('the sandbox\'s "{rel}" is a hard link of a file outside it')
def step_hard_link(context: Context, rel: str) -> None:
    context.outside = context.tmp / "outside.txt"
    context.outside.write_text("first\n")
    os.link(context.outside, context.sandbox / rel)


@when("the file outside the sandbox is rewritten through its own name")
def step_rewrite_outside(context: Context) -> None:
    with context.outside.open("a") as handle:
        handle.write("second\n")


@given("the sandbox was written a while ago")
def step_written_a_while_ago(context: Context) -> None:
    time.sleep((scanner.RACY_WINDOW_NS * 2) / 1e9)  # no file is racily clean any more


@given("a checkpoint service that does not watch")
def step_unwatched(context: Context) -> None:
    context.checkpoint_service = CheckpointService(repository(context), watch=False)


@given("the next checkpoint write fails")
def step_write_fails(context: Context) -> None:
    store = repository(context)

    def failing(*args: Any, **kwargs: Any) -> Any:
        vars(store).pop("create")  # once: the instance attribute hides the method till then
        raise OSError("injected: the database is unavailable")

    vars(store)["create"] = failing


@when('I try to snapshot the sandbox for plan "{plan}"')
def step_try_snapshot(context: Context, plan: str) -> None:
    try:
        step_snapshot(context, plan, "failing")
    except OSError as exc:
        context.error = exc
    else:
        raise AssertionError("the snapshot should have failed")
    assert "injected" in str(context.error)


@when("the checkpoint service is closed")
def step_close(context: Context) -> None:
    service(context).close()


@step('plan "{plan}" is pruned to its last checkpoint')
def step_pruned_to_last(context: Context, plan: str) -> None:
    assert service(context).prune(plan, 1) >= 1


@then('only "{paths:Text}" were read')
def step_only_these_read(context: Context, paths: str) -> None:
    expected = sorted(p.strip() for p in paths.split(","))
    assert sorted(context.read_paths) == expected, context.read_paths


_NAMES = ["a.txt", "b.sh", "d/c.txt", "d/e/f.txt", "g/h.txt"]
_OPERATION = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(_NAMES), st.binary(max_size=32)),
    st.tuples(st.sampled_from(["delete", "chmod", "mkdir"]), st.sampled_from(_NAMES)),
    st.tuples(st.just("rmtree"), st.sampled_from(["d", "d/e", "g"])),
    st.tuples(st.just("move"), st.sampled_from([*_NAMES, "d", "g"]), st.sampled_from(_NAMES)),
    st.tuples(st.just("symlink"), st.sampled_from(_NAMES), st.sampled_from(["a.txt", "../x"])),
)


def _apply(sandbox: Path, operation: tuple[Any, ...]) -> None:
    """One random file system change; ones that do not apply here are errors, ignored."""
    action, rel = operation[0], operation[1]
    path = sandbox / rel
    try:
        if action == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(operation[2])
        elif action == "delete":
            path.unlink()
        elif action == "chmod" and not path.is_symlink():
            path.chmod(path.stat().st_mode ^ 0o111)
        elif action == "mkdir":
            path.mkdir(parents=True)
        elif action == "rmtree":
            shutil.rmtree(path)
        elif action == "move":
            target = sandbox / operation[2]
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
        elif action == "symlink":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(operation[2])
    except OSError:
        pass  # e.g. deleting what is not there: the tree is simply not changed


@then("for random changes between snapshots every snapshot lists what a full walk finds")
def step_watch_property(context: Context) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @hypothesis_given(st.lists(st.lists(_OPERATION, max_size=6), min_size=1, max_size=6))
    # An empty folder's entry goes when a folder appears in it; the index must still
    # find that folder below when the whole tree is removed.
    @example([[("move", "a.txt", "d/e/f.txt")], [("mkdir", "d/e/f.txt")], [("rmtree", "d")]])
    def check(rounds: list[list[tuple[Any, ...]]]) -> None:
        work = Path(tempfile.mkdtemp(dir=context.tmp))
        sandbox = work / "sandbox"
        sandbox.mkdir()
        store = CheckpointRepository(create_session_factory("sqlite://"))
        svc = CheckpointService(store)
        before: dict[str, ManifestEntry] = {}
        try:
            for number, operations in enumerate(rounds):
                for operation in operations:
                    _apply(sandbox, operation)
                made = svc.create_workspace_snapshot("plan", str(sandbox), f"d{number}")
                walked = _full_walk(sandbox)
                assert store.manifest(made.checkpoint_id) == walked
                # Keyed as diff_paths shows them: an empty folder "d/" is not a file "d".
                now = {e.shown_path: e for e in walked}
                changed = sorted(
                    p for p in before.keys() | now.keys() if before.get(p) != now.get(p)
                )
                assert made.metadata.extra["diff_paths"] == changed, (changed, made.metadata)
                before = now
        finally:
            svc.close()
            shutil.rmtree(work)

    check()


_PATHS = ["a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "d/e/f/g", "x", "x/y"]
_SHAPES = st.sampled_from(["file", "executable", "symlink", "empty folder"])
_MANIFEST = st.dictionaries(
    st.sampled_from(_PATHS), st.tuples(st.binary(max_size=4), _SHAPES), max_size=6
)


def _manifest(drawn: dict[str, tuple[bytes, str]]) -> list[ManifestEntry]:
    """A valid manifest: a path that is a folder of another one is left out.

    ("d" is a file in one manifest and a folder, empty or not, in another: the
    diff turns one into the other.)
    """
    paths = [p for p in sorted(drawn) if not any(q.startswith(f"{p}/") for q in drawn)]
    entries = []
    for p in paths:
        data, shape = drawn[p]
        if shape == "empty folder":
            entry = ManifestEntry(
                path=p, kind=FileKind.DIR, sha256=EMPTY_TREE_SHA256, size=0, mode=0
            )
        else:
            kind = FileKind.SYMLINK if shape == "symlink" else FileKind.FILE
            mode = {"file": 0o644, "executable": 0o755, "symlink": 0}[shape]
            digest = hashlib.sha256(data).hexdigest()
            entry = ManifestEntry(path=p, kind=kind, sha256=digest, size=len(data), mode=mode)
        entries.append(entry)
    return entries


def _manifest_diff(old: list[ManifestEntry], new: list[ManifestEntry]) -> list[DiffEntry]:
    """The diff from ``old`` to ``new``, built by comparing every path of both."""
    before = {e.shown_path: e for e in old}
    after = {e.shown_path: e for e in new}
    return [
        DiffEntry.of(after[p]) if p in after else DiffEntry.gone(before[p])
        for p in sorted(before.keys() | after.keys())
        if before.get(p) != after.get(p)
    ]


@then("for random manifests, updating a tree index by the diff gives the trees built anew")
def step_tree_index_property(context: Context) -> None:
    @settings(max_examples=300, deadline=None)
    @hypothesis_given(_MANIFEST, _MANIFEST, st.booleans(), st.integers(min_value=0))
    def check(first: dict[str, Any], second: dict[str, Any], lie: bool, left_out: int) -> None:
        old, new = _manifest(first), _manifest(second)
        index, _ = TreeIndex.of(old)
        diff = _manifest_diff(old, new)
        if lie and diff:  # a diff that misses a change must not be trusted
            del diff[left_out % len(diff)]
        trees = index.update(SnapshotContent(manifest=new, diff=diff))
        fresh, fresh_trees = TreeIndex.of(new)
        if trees is None:
            assert lie, "a true diff was refused"
            return
        assert index.root == fresh.root
        assert set(trees) <= set(fresh_trees)
        assert {tree[0] for tree in index.trees.values()} == set(fresh_trees)

    check()


def _kernel_refuses(context: Context, call: str, code: int) -> None:
    """Make libc's ``call`` fail with ``code`` for this scenario, as an exhausted kernel would."""
    calls = watcher_module._inotify()
    assert calls is not None, "inotify is not available here"
    original = getattr(calls, call)

    def refuse(*args: Any) -> int:
        ctypes.set_errno(code)
        return -1

    setattr(calls, call, refuse)  # restored after the scenario
    context.cleanups.append(lambda: setattr(calls, call, original))


@given("the kernel has no inotify instance left")
def step_no_instance(context: Context) -> None:
    _kernel_refuses(context, "init1", errno.EMFILE)  # what max_user_instances gives


@given("the kernel refuses to add more inotify watches")
def step_no_watches(context: Context) -> None:
    _kernel_refuses(context, "add_watch", errno.ENOSPC)  # what max_user_watches gives


@given("the sandbox's file system is a network file system")
def step_network_fs(context: Context) -> None:
    calls = watcher_module._inotify()
    assert calls is not None, "inotify is not available here"
    buffer = ctypes.create_string_buffer(256)
    assert calls.statfs(os.fsencode(context.sandbox), buffer) == 0
    kind = ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF
    original = watcher_module._REMOTE_FILE_SYSTEMS
    watcher_module._REMOTE_FILE_SYSTEMS = frozenset({kind})  # restored after the scenario
    context.cleanups.append(lambda: setattr(watcher_module, "_REMOTE_FILE_SYSTEMS", original))
    assert not watcher_module.watchable(str(context.sandbox))


@given('I snapshot the sandbox for plans "plan-{first:d}" to "plan-{last:d}"')
def step_many_plans(context: Context, first: int, last: int) -> None:
    for number in range(first, last + 1):
        step_snapshot(context, f"plan-{number}", "d1")


@then("a watcher asked to watch a missing folder still reports the changes of the others")
def step_watch_missing(context: Context) -> None:
    watcher = watcher_module.TreeWatcher(str(context.sandbox))
    context.watcher = watcher
    watcher.watch("", str(context.sandbox))
    watcher.watch("gone/", str(context.sandbox / "gone"))
    watcher.watch("src/", str(context.sandbox / "src"))
    (context.sandbox / "src" / "new.py").write_text("new\n")
    changes = watcher.drain()
    assert changes is not None and changes.files == {"src/new.py"}, changes


@then("a closed watcher reports nothing it could vouch for")
def step_closed_watcher(context: Context) -> None:
    watcher = context.watcher
    watcher.close()
    assert watcher.closed
    watcher.watch("docs/", str(context.sandbox / "docs"))  # ignored once closed
    (context.sandbox / "docs" / "more.md").write_text("more\n")
    assert watcher.drain() is None
    watcher.close()  # twice is fine
