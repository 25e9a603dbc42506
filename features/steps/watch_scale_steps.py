"""Steps for watched snapshots of a tree with many folders, against walks and against git."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import repository, service
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st
from watch_steps import _MANIFEST, _manifest, _manifest_diff

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    FileKind,
    IndexedManifest,
    ManifestEntry,
    SnapshotContent,
)
from cleveragents.domain.workspace import ScanManifest, ScannedFile
from cleveragents.infrastructure.database.tree_codec import TreeIndex
from cleveragents.infrastructure.workspace import scanner

_GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
_WATCHED, _WALKED = "plan-watched", "plan-walked"


def _git(context: Context, *args: str) -> bytes:
    """git on a shadow repository whose work tree is the sandbox."""
    return subprocess.run(
        ["git", f"--git-dir={context.tmp / 'shadow.git'}", f"--work-tree={context.sandbox}", *args],
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        check=True,
    ).stdout


@given("a sandbox of {files:d} files in {folders:d} folders")
def step_big_sandbox(context: Context, files: int, folders: int) -> None:
    context.sandbox = context.tmp / "sandbox"
    rng = random.Random(files * 31 + folders)
    places = [f"pkg_{n % 4}/mod_{n}" for n in range(folders)]
    for number in range(files):
        path = context.sandbox / places[number % folders] / f"file_{number:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(1, 200)))
    context.rng = rng


def _files(sandbox: Path) -> list[Path]:
    found = [Path(folder) / name for folder, _, names in os.walk(sandbox) for name in names]
    return sorted(p for p in found if not p.is_symlink())


def _round_of_changes(sandbox: Path, rng: random.Random, number: int) -> None:
    """Edits, deletions, new files and folders, a removed folder, modes and links."""
    files = _files(sandbox)
    for path in rng.sample(files, min(len(files), 12)):
        if not path.exists():
            continue
        choice = rng.randrange(6)
        if choice == 0:
            path.unlink()
        elif choice == 1:  # the same size, other bytes
            data = path.read_bytes()
            path.write_bytes(bytes(b ^ 0xFF for b in data))
        elif choice == 2:
            path.chmod(0o755)
        elif choice == 3:
            path.unlink()
            path.symlink_to(f"target-{number}")
        else:
            path.write_bytes(path.read_bytes() + f"round {number}\n".encode())
    fresh = sandbox / f"pkg_{number % 4}" / f"new_{number}" / "deeper"
    fresh.mkdir(parents=True)
    for n in range(3):
        (fresh / f"made_{n}.txt").write_text(f"new {number}/{n}\n")
    (fresh.parent / f"empty_{number}").mkdir()
    folders = sorted({p.parent for p in files if p.parent != sandbox})
    gone = folders[rng.randrange(len(folders))]
    if gone.exists():
        shutil.rmtree(gone)


@when("both a watching and a walking service snapshot the sandbox after each of {rounds:d} rounds")
def step_both_snapshot(context: Context, rounds: int) -> None:
    watching = service(context)
    walking = CheckpointService(repository(context), watch=False)
    context.cleanups.append(walking.close)
    walks: list[Path] = []
    rebuilt: list[int] = []
    real_scan, real_of = scanner.scan, TreeIndex.of

    def counting_scan(root: Path, *args: Any, **options: Any) -> Any:
        walks.append(Path(root))
        return real_scan(root, *args, **options)

    def counting_of(manifest: Any) -> Any:
        rebuilt.append(len(manifest))
        return real_of(manifest)

    scanner.scan = counting_scan  # the local workspace calls it by attribute
    setattr(TreeIndex, "of", staticmethod(counting_of))  # noqa: B010 (restored below)

    def restore() -> None:
        scanner.scan = real_scan
        setattr(TreeIndex, "of", real_of)  # noqa: B010

    context.cleanups.append(restore)
    pairs: list[tuple[Checkpoint, Checkpoint]] = []
    for number in range(rounds + 1):
        if number:
            _round_of_changes(context.sandbox, context.rng, number)
        made = [
            each.create_workspace_snapshot(plan, str(context.sandbox), f"d{number}")
            for each, plan in ((watching, _WATCHED), (walking, _WALKED))
        ]
        pairs.append((made[0], made[1]))
        if not number:
            del rebuilt[:]  # the first snapshot of each plan builds its index
    restore()
    context.pairs, context.walks, context.rebuilt = pairs, walks, rebuilt


@then("every watched snapshot has the manifest, diff paths and diff hash of the walked one")
def step_same_snapshots(context: Context) -> None:
    store = repository(context)
    for watched, walked in context.pairs:
        assert store.manifest(watched.checkpoint_id) == store.manifest(walked.checkpoint_id)
        for key in ("diff_paths", "diff_hash"):
            assert watched.metadata.extra[key] == walked.metadata.extra[key], key
        assert store.diff(watched.checkpoint_id) == store.diff(walked.checkpoint_id)
    assert len(context.pairs[-1][0].metadata.extra["diff_paths"]) > 0


@then("the watching service walked the sandbox only for its first snapshot")
def step_walked_once(context: Context) -> None:
    # The walking service walks every time; the watching one only for its first.
    assert len(context.walks) == len(context.pairs) + 1, len(context.walks)


@then("no snapshot after the first ones built its tree index anew")
def step_index_kept(context: Context) -> None:
    assert context.rebuilt == [], context.rebuilt


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@then("the last watched snapshot holds what git's write-tree of the sandbox holds")
def step_like_git(context: Context) -> None:
    _git(context, "init", "-q")
    _git(context, "add", "-A")
    tree = _git(context, "write-tree").decode().strip()
    listed: dict[str, tuple[str, str]] = {}
    for line in _git(context, "ls-tree", "-r", "-z", tree).split(b"\0"):
        if line:
            info, _, path = line.decode().partition("\t")
            mode, _, sha1 = info.split(" ")
            listed[path] = (mode, sha1)
    store = repository(context)
    manifest = store.manifest(context.pairs[-1][0].checkpoint_id) or []
    files = [e for e in manifest if e.kind is not FileKind.DIR]  # git keeps no empty folder
    blobs = dict(store.read_blobs(e.sha256 for e in files))
    ours = {e.path: (_git_mode(e), _git_blob(blobs[e.sha256])) for e in files}
    assert ours == listed, sorted(set(ours.items()) ^ set(listed.items()))[:5]


def _git_mode(entry: ManifestEntry) -> str:
    if entry.kind is FileKind.SYMLINK:
        return "120000"
    return "100755" if entry.mode & 0o100 else "100644"


# --- a scan's manifest ---------------------------------------------------------------------


def _scan_manifest(entries: list[ManifestEntry]) -> ScanManifest:
    files = {e.path: ScannedFile(e, (0, 0, 0, 0, 0)) for e in entries}
    return ScanManifest(files, sum(e.size for e in entries))


@then("a scan's manifest reads like the list of its entries")
def step_scan_manifest_list(context: Context) -> None:
    entries = _manifest({"a": (b"12", "file"), "d/b": (b"3", "executable"), "e": (b"", "symlink")})
    manifest = _scan_manifest(entries)
    assert isinstance(manifest, IndexedManifest)
    assert list(manifest) == entries and len(manifest) == 3
    assert manifest[1] == entries[1] and list(manifest[1:]) == entries[1:]
    assert manifest.entry("d/b") == entries[1] and manifest.entry("d") is None
    assert manifest.total_size == 3


@then("for random manifests, a scan's manifest updates a tree index as its whole list would")
def step_indexed_update_property(context: Context) -> None:
    @settings(max_examples=300, deadline=None)
    @hypothesis_given(_MANIFEST, _MANIFEST, st.booleans(), st.integers(min_value=0))
    def check(first: dict[str, Any], second: dict[str, Any], lie: bool, left_out: int) -> None:
        old, new = _manifest(first), _manifest(second)
        index, _ = TreeIndex.of(old)
        before = {e.shown_path: e for e in old}
        after = {e.shown_path: e for e in new}
        diff = _manifest_diff(old, new)
        dropped = diff.pop(left_out % len(diff)) if lie and diff else None
        trees = index.update(SnapshotContent(manifest=_scan_manifest(new), diff=diff))
        fresh, fresh_trees = TreeIndex.of(new)
        if trees is None:
            assert dropped is not None, "a true diff was refused"
            return
        if dropped is not None:
            # Trusted by count and size alone: only a change that keeps both goes unseen.
            old_entry, new_entry = before.get(dropped.shown_path), after.get(dropped.shown_path)
            assert old_entry is not None and new_entry is not None, dropped
            assert old_entry.size == new_entry.size, dropped
            return
        assert index.root == fresh.root
        assert index.total_size == fresh.total_size == sum(e.size for e in new)
        assert set(trees) <= set(fresh_trees)

    check()
