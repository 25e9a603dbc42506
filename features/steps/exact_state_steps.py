"""Steps proving that a checkpoint gives back every path exactly (issue 11, item 1).

The oracles never ask the code under test: trees are read with ``os.lstat`` and
``os.readlink`` on bytes, the expected state is a ``cp -a`` copy taken when the
snapshot was taken (or ``git archive`` of the same state), and diff hashes are
recomputed by hand from the documented canonical form.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, repository, service, step_snapshot
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from restore_steps import _checkpoint
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, table_rows

from cleveragents.application.services.checkpoint_service import CheckpointService, RestoreResult

# kind ("file", "symlink", "dir" or "other"), content or link target, permission bits
Entry = tuple[str, bytes, int | None]
Tree = dict[str, Entry]

# The documented hash of an empty folder: the sha256 of its empty tree, "[]".
_EMPTY_FOLDER_SHA256 = hashlib.sha256(b"[]").hexdigest()


def read_link(path: Path) -> bytes:
    """A symlink's target exactly as the kernel keeps it (``Path.readlink`` normalises it)."""
    return os.readlink(os.fsencode(path))


def exact_tree(root: Path, *, skip: frozenset[str] = frozenset()) -> Tree:
    """Every path below ``root`` as the kernel reports it, symlinks never followed.

    Files carry their bytes and ``mode & 0o7777``, symlinks their target bytes.
    Folders carry their kind only: a snapshot records no permission bits for a
    folder (a restore makes it as the umask says). ``skip`` names top-level
    entries to leave out (``.git``).
    """
    found: Tree = {}
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for child in folder.iterdir():
            if not prefix and child.name in skip:
                continue
            rel = f"{prefix}{child.name}"
            info = child.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("symlink", read_link(child), None)
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", b"", None)
                pending.append((child, f"{rel}/"))
            elif stat.S_ISREG(info.st_mode):
                found[rel] = ("file", child.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                found[rel] = ("other", b"", None)
    return found


def _shown(entry: Entry) -> str:
    kind, data, mode = entry
    if kind == "file":
        return f"file {data[:40]!r} mode {mode:04o}" if mode is not None else "file"
    return f"{kind} {data!r}" if kind == "symlink" else kind


def assert_same_tree(found: Tree, expected: Tree) -> None:
    """Fail with every path that differs, what is there and what should be."""
    differences = [
        f"{path}: {_shown(found[path]) if path in found else 'missing'}"
        f" (expected {_shown(expected[path]) if path in expected else 'nothing'})"
        for path in sorted(found.keys() | expected.keys())
        if found.get(path) != expected.get(path)
    ]
    assert not differences, "\n".join(differences)


def shown_paths(tree: Tree) -> dict[str, list[str | int | None]]:
    """The snapshot entries of a tree as the documented canonical rows, by shown path.

    A file is ``[path, sha256, "file", mode]``, a symlink ``[path, sha256 of its
    target, "symlink", null]`` and an empty folder ``[path/, sha256 of "[]", "dir",
    null]``; folders that hold anything are no entry of their own.
    """
    holders = {path.rpartition("/")[0] for path in tree}
    rows: dict[str, list[str | int | None]] = {}
    for path, (kind, data, mode) in tree.items():
        if kind == "dir":
            if path not in holders:
                rows[f"{path}/"] = [f"{path}/", _EMPTY_FOLDER_SHA256, "dir", None]
        else:
            rows[path] = [path, hashlib.sha256(data).hexdigest(), kind, mode]
    return rows


def documented_hash(rows: list[list[str | int | None]]) -> str:
    """The documented ``diff_hash``: sha256 of the compact JSON of the rows sorted by path."""
    ordered = sorted(rows, key=lambda row: str(row[0]))
    canonical = json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def expected_diff(before: Tree, after: Tree) -> tuple[list[str], str]:
    """(diff_paths, diff_hash) that a snapshot of ``after`` must have after one of ``before``."""
    old, new = shown_paths(before), shown_paths(after)
    changed = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    rows = [new.get(path, [path, None]) for path in changed]
    return changed, documented_hash(rows)


def copy_exactly(source: Path, destination: Path) -> None:
    """``cp -a``: content, permission bits and symlink targets as they are."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--", str(source), str(destination)], check=True)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the body under ``mask``, then put the process's umask back."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def clear_path(path: Path) -> None:
    """Remove whatever is at ``path`` (a folder with everything in it), if anything."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _decoded(text: str) -> bytes:
    r"""A table cell as bytes: UTF-8, with backslash escapes (``\xff``, ``\t``) decoded."""
    decoded: bytes = codecs.escape_decode(text.encode())[0]
    return decoded


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _copies(context: Context) -> dict[str, Tree]:
    if not hasattr(context, "copies"):
        context.copies = {}
    copies: dict[str, Tree] = context.copies
    return copies


# --- building the sandbox ----------------------------------------------------------------


@given("an empty sandbox")
def step_empty_sandbox(context: Context) -> None:
    context.sandbox = context.tmp / "sandbox"
    context.sandbox.mkdir()


@given("the sandbox holds these symlinks")
def step_symlinks(context: Context) -> None:
    context.link_targets = {}
    for row in table_rows(context):
        link = context.sandbox / row["link"]
        link.parent.mkdir(parents=True, exist_ok=True)
        target = _decoded(row["target"])
        link.symlink_to(os.fsdecode(target))
        context.link_targets[row["link"]] = target


@given("the sandbox holds these files")
def step_files_with_modes(context: Context) -> None:
    for row in table_rows(context):
        path = context.sandbox / row["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_decoded(row["content"]))
        mode = int(row["mode"], 8)
        path.chmod(mode)
        # A bit the kernel refused for this user would make the copy prove nothing.
        assert stat.S_IMODE(path.lstat().st_mode) == mode, (row, os.geteuid())


@given('the sandbox holds the empty folders "{paths}"')
def step_empty_folders(context: Context, paths: str) -> None:
    for rel in _split(paths):
        (context.sandbox / rel).mkdir(parents=True)


def _file(mode: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(b"file\n")
        path.chmod(mode)

    return make


def _symlink(target: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.symlink_to(target)

    return make


def _folder_with_files(path: Path) -> None:
    (path / "sub").mkdir(parents=True)
    (path / "in.txt").write_bytes(b"in\n")
    (path / "sub" / "deep.txt").write_bytes(b"deep\n")


def _nothing(path: Path) -> None:
    assert not path.exists() and not path.is_symlink(), path


# What "x" can be in the transition scenarios (the sandbox also holds target.txt and real/).
_STATES: dict[str, Callable[[Path], None]] = {
    "nothing": _nothing,
    "a file": _file(0o640),
    "an executable file": _file(0o755),
    'a symlink to "target.txt"': _symlink("target.txt"),
    'a symlink to "./target.txt"': _symlink("./target.txt"),
    'a symlink to "real/"': _symlink("real/"),
    'a symlink to "real"': _symlink("real"),
    "a folder with files": _folder_with_files,
    "an empty folder": Path.mkdir,
}


@given('"{rel}" in the sandbox is {state}')
def step_path_state(context: Context, rel: str, state: str) -> None:
    path = context.sandbox / rel
    clear_path(path)
    _STATES[state](path)


@when("I empty the sandbox")
def step_empty(context: Context) -> None:
    for child in list(context.sandbox.iterdir()):
        clear_path(child)


@when('I re-point the symlink "{rel}" to "{target}"')
def step_repoint(context: Context, rel: str, target: str) -> None:
    path = context.sandbox / rel
    path.unlink()
    path.symlink_to(target)


@when("every file of the sandbox is set to mode {mode}")
def step_chmod_all(context: Context, mode: str) -> None:
    for rel, (kind, _, _) in exact_tree(context.sandbox).items():
        if kind == "file":
            (context.sandbox / rel).chmod(int(mode, 8))


@when('the file "{rel}" of the sandbox is set to mode {mode}')
def step_chmod(context: Context, rel: str, mode: str) -> None:
    (context.sandbox / rel).chmod(int(mode, 8))


@when('I remove the folders "{paths}" from the sandbox')
def step_remove_folders(context: Context, paths: str) -> None:
    for rel in _split(paths):
        shutil.rmtree(context.sandbox / rel)


@given('I copy the sandbox with cp -a as "{name}"')
@when('I copy the sandbox with cp -a as "{name}"')
def step_copy(context: Context, name: str) -> None:
    copy = context.tmp / "copies" / name
    copy_exactly(context.sandbox, copy)
    _copies(context)[name] = exact_tree(copy)


# --- restoring -----------------------------------------------------------------------------


@when("I restore checkpoint {number} into the sandbox under umask {mask}")
def step_restore_umask(context: Context, number: str, mask: str) -> None:
    with umask(int(mask, 8)):
        context.result = service(context).restore_workspace(
            _checkpoint(context, number), context.sandbox
        )


@when("I restore checkpoint {number} into a fresh folder under umask {mask}")
def step_fresh_umask(context: Context, number: str, mask: str) -> None:
    context.fresh = Path(tempfile.mkdtemp(dir=context.tmp, prefix="fresh-")) / "target"
    with umask(int(mask, 8)):
        service(context).restore_workspace(_checkpoint(context, number), context.fresh)


def _dry_then_real(context: Context, number: str, *, remove_untracked: bool) -> None:
    checkpoint_id = _checkpoint(context, number)
    svc = service(context)
    context.tree_before_dry_run = exact_tree(context.sandbox)
    context.dry = svc.restore_workspace(
        checkpoint_id, context.sandbox, dry_run=True, remove_untracked=remove_untracked
    )
    context.tree_after_dry_run = exact_tree(context.sandbox)
    context.result = svc.restore_workspace(
        checkpoint_id, context.sandbox, remove_untracked=remove_untracked
    )


@when("I dry-run and then restore checkpoint {number:d} into the sandbox")
def step_dry_then_real(context: Context, number: int) -> None:
    _dry_then_real(context, str(number), remove_untracked=False)


@when("I dry-run and then restore checkpoint {number:d} into the sandbox removing untracked files")
def step_dry_then_real_untracked(context: Context, number: int) -> None:
    _dry_then_real(context, str(number), remove_untracked=True)


_HOW: dict[str, dict[str, bool]] = {
    "keeping untracked files": {},
    "removing untracked files": {"remove_untracked": True},
    "as a dry run": {"dry_run": True},
}


@when("I try to restore checkpoint {number:d} into the sandbox {how}")
def step_try_restore_how(context: Context, number: int, how: str) -> None:
    checkpoint_id = _checkpoint(context, str(number))
    options = _HOW[how]
    attempt(
        context,
        lambda: service(context).restore_workspace(checkpoint_id, context.sandbox, **options),
    )


# --- checking ------------------------------------------------------------------------------


@then('the sandbox is exactly the copy "{name}"')
def step_sandbox_is_copy(context: Context, name: str) -> None:
    assert_same_tree(exact_tree(context.sandbox), _copies(context)[name])


@then('the fresh folder is exactly the copy "{name}"')
def step_fresh_is_copy(context: Context, name: str) -> None:
    assert_same_tree(exact_tree(context.fresh), _copies(context)[name])


@then('the fresh folder holds exactly "{paths:Text}"')
def step_fresh_holds(context: Context, paths: str) -> None:
    found = sorted(shown_paths(exact_tree(context.fresh)))
    assert found == _split(paths), found


@then("every symlink of the table reads back its exact target in the {where}")
def step_targets(context: Context, where: str) -> None:
    root = context.sandbox if where == "sandbox" else context.fresh
    assert context.link_targets
    for rel, target in context.link_targets.items():
        assert read_link(root / rel) == target, (rel, read_link(root / rel), target)


@then('the symlink "{rel}" in the sandbox reads "{target}"')
def step_link_reads(context: Context, rel: str, target: str) -> None:
    assert read_link(context.sandbox / rel) == target.encode(), read_link(context.sandbox / rel)


@then('the file "{rel}" in the sandbox has mode {mode} and content "{content}"')
def step_file_is(context: Context, rel: str, mode: str, content: str) -> None:
    kind, data, bits = exact_tree(context.sandbox)[rel]
    assert (kind, data, bits) == ("file", content.encode(), int(mode, 8)), (kind, data, bits)


@then("the diff hash is the documented hash of the sandbox's changed paths")
def step_documented_hash(context: Context) -> None:
    latest = checkpoints(context)[-1]
    now = shown_paths(exact_tree(context.sandbox))
    rows = [now.get(shown, [shown, None]) for shown in latest.metadata.extra["diff_paths"]]
    assert latest.metadata.extra["diff_hash"] == documented_hash(rows), rows


@then("the last two checkpoints have different diff hashes")
def step_different_hashes(context: Context) -> None:
    last, before = checkpoints(context)[-1], checkpoints(context)[-2]
    assert last.metadata.extra["diff_hash"] != before.metadata.extra["diff_hash"]


@then("the dry run left the sandbox as it was")
def step_dry_run_untouched(context: Context) -> None:
    assert context.dry.dry_run
    assert_same_tree(context.tree_after_dry_run, context.tree_before_dry_run)


@then("the restore did what the dry run reported")
def step_dry_run_matches(context: Context) -> None:
    dry: RestoreResult = context.dry
    real: RestoreResult = context.result
    assert not real.dry_run
    assert (dry.written, dry.removed, dry.skipped) == (real.written, real.removed, real.skipped), (
        dry,
        real,
    )


@then('the error names the symlink "{rel}" of the sandbox')
def step_error_names(context: Context, rel: str) -> None:
    message = str(context.error)
    assert str(context.sandbox / rel) in message and "symlink" in message, message


# --- a property: random operations between snapshots -----------------------------------

_PATHS = ("a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "e/f/g")
_TARGETS = (b"d/", b"./d", b"d//a", b"../outside/", b"/abs/x", "a b/ü".encode(), b"a", b"e/")
_AS_ROOT = os.geteuid() == 0  # setuid, setgid and sticky bits stick for root everywhere
_MODES = (0o600, 0o644, 0o700, 0o755) + ((0o4755, 0o2750, 0o1700) if _AS_ROOT else ())

_OPERATION = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(_PATHS), st.binary(max_size=12)),
    st.tuples(st.just("chmod"), st.sampled_from(_PATHS), st.sampled_from(_MODES)),
    st.tuples(st.just("link"), st.sampled_from(_PATHS), st.sampled_from(_TARGETS)),
    st.tuples(st.just("retarget"), st.sampled_from(_PATHS), st.sampled_from(_TARGETS)),
    st.tuples(
        st.sampled_from(["delete", "mkdir", "rmdir", "rmtree", "to folder", "to file"]),
        st.sampled_from(_PATHS),
        st.none(),
    ),
    st.tuples(st.just("restore"), st.just(""), st.integers(min_value=0, max_value=10)),
)


# Where every example starts, so that each holds every kind of path at least once: the
# random operations then change it (the first snapshot records it as it is).
_START: tuple[tuple[str, str, Any], ...] = (
    ("write", "a", b"private"),
    ("chmod", "a", 0o600),
    ("write", "d/a", b"#!/bin/sh\n"),
    ("chmod", "d/a", 0o4755 if _AS_ROOT else 0o755),
    ("link", "b", b"d/"),
    ("link", "d/b", b"./a"),
    ("mkdir", "d/e", None),
    ("write", "e/f/g", b""),
)


def _parents(root: Path, rel: str) -> None:
    """Make the folders above ``rel``, replacing a file or symlink in the way."""
    here = root
    for part in rel.split("/")[:-1]:
        here = here / part
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            here.unlink()
        if not here.exists():
            here.mkdir()


def _operate(root: Path, action: str, rel: str, value: Any) -> None:
    """One operation an agent's tools could make; never through a symlinked folder."""
    path = root / rel
    if action in ("write", "link", "mkdir", "to folder", "to file"):
        _parents(root, rel)
    is_link = path.is_symlink()
    is_file = path.is_file() and not is_link
    is_folder = path.is_dir() and not is_link
    if action == "write":
        if is_folder or is_link:
            clear_path(path)
        path.write_bytes(value)
    elif action == "chmod" and is_file:
        path.chmod(value)
    elif action == "link" or (action == "retarget" and is_link):
        clear_path(path)
        path.symlink_to(os.fsdecode(value))
    elif action == "delete" and (is_file or is_link):
        path.unlink()
    elif action == "mkdir" and not path.exists() and not is_link:
        path.mkdir()
    elif action == "rmdir" and is_folder and not any(path.iterdir()):
        path.rmdir()
    elif action == "rmtree" and is_folder:
        shutil.rmtree(path)
    elif action == "to folder" and is_file:
        path.unlink()
        path.mkdir()
        (path / "inside").write_bytes(b"was a file")
    elif action == "to file" and is_folder:
        shutil.rmtree(path)
        path.write_bytes(b"was a folder")


def _check_exactly(
    svc: CheckpointService, checkpoint_id: str, target: Path, copy: Tree, *, untracked: bool = False
) -> None:
    svc.restore_workspace(checkpoint_id, target, remove_untracked=untracked)
    assert_same_tree(exact_tree(target), copy)


@then(
    "for random sequences of operations between snapshots every checkpoint restores exactly, in place and fresh"
)
def step_exact_property(context: Context) -> None:
    examples = {"count": 0}

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @hypothesis_given(
        st.lists(st.lists(_OPERATION, min_size=1, max_size=6), min_size=1, max_size=4),
        st.randoms(use_true_random=False),
    )
    def check(batches: list[list[tuple[str, str, Any]]], order: random.Random) -> None:
        examples["count"] += 1
        plan = f"property-{examples['count']}"
        work = Path(tempfile.mkdtemp(dir=context.tmp))
        sandbox = work / "sandbox"
        sandbox.mkdir()
        svc = CheckpointService(repository(context))
        taken: list[tuple[str, Tree]] = []
        try:
            previous: Tree = {}
            for batch in [list(_START), *batches]:
                for action, rel, value in batch:
                    if action == "restore":
                        if taken:
                            checkpoint_id, copy = taken[value % len(taken)]
                            # What this batch made is in no snapshot yet: it goes too.
                            _check_exactly(svc, checkpoint_id, sandbox, copy, untracked=True)
                    else:
                        _operate(sandbox, action, rel, value)
                made = svc.create_workspace_snapshot(plan, str(sandbox), f"d{len(taken)}")
                copy_exactly(sandbox, work / f"copy-{len(taken)}")
                state = exact_tree(work / f"copy-{len(taken)}")
                paths, digest = expected_diff(previous, state)
                assert made.metadata.extra["diff_paths"] == paths, (
                    made.metadata.extra["diff_paths"],
                    paths,
                )
                assert made.metadata.extra["diff_hash"] == digest
                taken.append((made.checkpoint_id, state))
                previous = state
            for index in order.sample(range(len(taken)), len(taken)):
                checkpoint_id, copy = taken[index]
                _check_exactly(svc, checkpoint_id, sandbox, copy)
                _check_exactly(svc, checkpoint_id, work / f"fresh-{index}", copy)
                assert svc.verify_checkpoint(checkpoint_id)
        finally:
            svc.close()
            shutil.rmtree(work)

    check()
    assert examples["count"] > 0


# --- git as an oracle --------------------------------------------------------------------

_GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def _git(context: Context, *args: str) -> bytes:
    """Run git in the sandbox with no global or system configuration."""
    completed = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=context.sandbox,
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        check=True,
    )
    return completed.stdout


@given("a git repository as the sandbox")
def step_git_sandbox(context: Context) -> None:
    step_empty_sandbox(context)
    _git(context, "init", "-q")


@when("I commit and snapshot these states of the sandbox")
def step_commit_states(context: Context) -> None:
    states: dict[str, list[dict[str, str]]] = {}
    for row in table_rows(context):
        states.setdefault(row["state"], []).append(row)
    context.commits = []
    for state, rows in states.items():
        for child in list(context.sandbox.iterdir()):
            if child.name != ".git":
                clear_path(child)
        for row in rows:
            path = context.sandbox / row["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            content = row["content"].replace("\\n", "\n")
            if row["kind"] == "link":
                path.symlink_to(content)
            else:
                path.write_text(content)
                path.chmod(int(row["mode"], 8))
        _git(context, "add", "-A")
        _git(context, "commit", "-q", "-m", f"state {state}")
        context.commits.append(_git(context, "rev-parse", "HEAD").decode().strip())
        step_snapshot(context, "plan-git", f"state-{state}")


def _as_git_keeps_it(tree: Tree) -> dict[str, tuple[str, bytes, bool | None]]:
    """A tree as git records it: content or target, and for a file its executable bit only."""
    return {
        path: (kind, data, None if mode is None else bool(mode & 0o111))
        for path, (kind, data, mode) in tree.items()
    }


def _archive(context: Context, commit: str) -> dict[str, tuple[str, bytes, bool | None]]:
    out = Path(tempfile.mkdtemp(dir=context.tmp, prefix="archive-"))
    tar = _git(context, "archive", "--format=tar", commit)
    subprocess.run(["tar", "-x", "-C", str(out)], input=tar, check=True)
    extracted = _as_git_keeps_it(exact_tree(out))
    assert extracted, f"git archive of {commit} is empty"
    return extracted


@then("each checkpoint restored into a fresh folder matches git archive of its commit")
def step_fresh_like_git(context: Context) -> None:
    assert len(context.commits) == len(checkpoints(context))
    for commit, checkpoint in zip(context.commits, checkpoints(context), strict=True):
        fresh = Path(tempfile.mkdtemp(dir=context.tmp, prefix="fresh-")) / "target"
        service(context).restore_workspace(checkpoint.checkpoint_id, fresh)
        restored = _as_git_keeps_it(exact_tree(fresh))
        assert restored == _archive(context, commit), commit


@then("each checkpoint restored in place into the repository matches git archive of its commit")
def step_in_place_like_git(context: Context) -> None:
    pairs = list(zip(context.commits, checkpoints(context), strict=True))
    for commit, checkpoint in [*reversed(pairs), *pairs]:
        service(context).restore_workspace(checkpoint.checkpoint_id, context.sandbox)
        restored = _as_git_keeps_it(exact_tree(context.sandbox, skip=frozenset({".git"})))
        assert restored == _archive(context, commit), commit
        # git itself finds the work tree equal to that commit: nothing modified or deleted
        # (content, executable bit, symlink targets) and nothing it does not have.
        _git(context, "read-tree", commit)
        differing = _git(context, "diff", "--name-status") + _git(context, "ls-files", "--others")
        assert differing == b"", differing.decode(errors="replace")
