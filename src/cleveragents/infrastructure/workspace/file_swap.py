"""Changing a tree all or nothing, even across a crash: a journal of undoable steps.

Both ``apply`` and ``restore_workspace`` change a tree this way. New content is
first staged in a staging folder inside the tree (``new/N``). Before the first
path is touched, the whole list of steps is written to a journal there (fsynced
under a temporary name, then renamed, so a journal is whole or absent). A step is
one of:

- ``chmod``: a file's permission bits, old and new;
- ``out``: a path (file, symlink or empty folder) renamed into the staging
  folder (``backup/N``);
- ``rmdir``: a folder left empty by the steps before it, with its mode;
- ``mkdir``: a new folder;
- ``in``: a staged file or symlink renamed into place.

Every step is a ``rename``, ``mkdir``, ``rmdir`` or ``chmod`` within one file
system, so at any instant each path is in a state the journal can tell apart.
Once every step is done a ``committed`` marker is written.

:func:`recover` turns any staging folder back into "as before": without the
marker it undoes the steps taken, newest first (each undo checks what is there,
so a recovery that is itself killed can run again); with it, the change is
complete and only the staging folder goes. A running swap holds an exclusive
``flock`` on its staging folder's lock file, so recovery never touches the swap
of a live process. Snapshots never store a staging folder (the scanner skips
their names at the top of a tree).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cleveragents.infrastructure.workspace.safe_paths import write_all

STAGING_PREFIX = ".cleveragents-apply-"
NEW_PREFIX = ".cleveragents-new-"  # a staging folder being made: nothing was swapped yet
# Staging folders of restores made before restores were journaled: no steps to undo.
OLD_RESTORE_PREFIX = ".cleveragents-restore-"
# Every name a staging folder of ours has at the top of a tree: never workspace content.
OWN_PREFIXES = (STAGING_PREFIX, NEW_PREFIX, OLD_RESTORE_PREFIX)
JOURNAL = "journal.json"
COMMITTED = "committed"
LOCK = "lock"

StepKind = Literal["chmod", "out", "rmdir", "mkdir", "in"]
# The order in which a swap runs its steps: modes, removals, emptied folders (deepest
# first), new folders (outermost first), then new content.
STEP_ORDER: tuple[StepKind, ...] = ("chmod", "out", "rmdir", "mkdir", "in")


@dataclass(frozen=True)
class Step:
    """One undoable change of one path (see the module docstring)."""

    kind: StepKind
    path: str
    staged: str = ""  # "in": the staged file; "out": where the original goes
    mode: int = 0  # "chmod": the new bits; "rmdir": the folder's bits, to make it again
    old_mode: int = 0  # "chmod": the bits to put back


def _fsync_write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a kill mid-write leaves only ``*.partial``."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    partial.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@contextmanager
def locked_staging(target: Path) -> Iterator[Path]:
    """A new staging folder in ``target``, locked by this process until it is removed.

    It is made and locked as ``.cleveragents-new-*``, then renamed to
    ``.cleveragents-apply-*``: recovery never takes a folder another process is
    still making for an abandoned one. Staged content goes under ``new/``.
    """
    fresh = Path(tempfile.mkdtemp(prefix=NEW_PREFIX, dir=target))
    lock = os.open(fresh / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    staging = fresh.with_name(STAGING_PREFIX + fresh.name.removeprefix(NEW_PREFIX))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (fresh / "new").mkdir()
        fresh.rename(staging)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
        os.close(lock)


def run_steps(target: Path, staging: Path, steps: Sequence[Step]) -> None:
    """Journal ``steps``, then run them in order; on any error, undo every step taken.

    Paths must have been checked by the caller (no symlinked folder on the way);
    staged files must lie under ``staging``. Raises what failed, after the undo.
    """
    (staging / "backup").mkdir(exist_ok=True)
    journal = {"version": 2, "steps": [asdict(step) for step in steps]}
    _fsync_write(staging / JOURNAL, json.dumps(journal).encode())
    prefix = os.fspath(target)
    room = os.fspath(staging)
    try:
        for step in steps:
            where = f"{prefix}/{step.path}"
            if step.kind == "chmod":
                os.chmod(where, step.mode)
            elif step.kind == "out":
                os.replace(where, f"{room}/{step.staged}")
            elif step.kind == "rmdir":
                os.rmdir(where)
            elif step.kind == "mkdir":
                os.mkdir(where)
            else:
                os.replace(f"{room}/{step.staged}", where)
    except BaseException:
        recover(staging, target)
        raise
    _fsync_write(staging / COMMITTED, b"")


def _undo(step: Step, target: str, room: str) -> bool:
    """Undo ``step`` if it was taken; True when something changed."""
    where = f"{target}/{step.path}"
    if step.kind == "in":
        if os.path.lexists(f"{room}/{step.staged}") or not os.path.lexists(where):
            return False
        _remove_single(where)
        return True
    if step.kind == "mkdir":
        if not os.path.isdir(where) or os.path.islink(where) or os.listdir(where):
            return False
        os.rmdir(where)
        return True
    if step.kind == "rmdir":
        if os.path.lexists(where):
            # A recovery killed between its mkdir and its chmod left the folder
            # with the umask's bits: give it its own back.
            info = os.lstat(where)
            if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) == step.mode:
                return False
            os.chmod(where, step.mode)
            return True
        os.mkdir(where)
        os.chmod(where, step.mode)
        return True
    if step.kind == "out":
        backup = f"{room}/{step.staged}"
        if not os.path.lexists(backup):
            return False
        if os.path.lexists(where):
            _remove_single(where)
        os.rename(backup, where)
        return True
    try:
        info = os.lstat(where)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) == step.old_mode:
        return False
    os.chmod(where, step.old_mode)
    return True


def _remove_single(path: str) -> None:
    """Remove a file, symlink or empty folder (never a folder's content)."""
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    else:
        os.unlink(path)


def _steps_of(journal: dict[str, Any]) -> list[Step]:
    """The journal's steps; a journal from before version 2 listed swaps per path."""
    if journal.get("version") == 2:
        return [Step(**raw) for raw in journal["steps"]]
    steps = [Step("mkdir", folder) for folder in journal["folders"]]
    for raw in journal["steps"]:
        if raw["had_original"]:
            steps.append(Step("out", raw["path"], staged=raw["backup"]))
        if raw["staged"] is not None:
            steps.append(Step("in", raw["path"], staged=raw["staged"]))
    return steps


def recover(staging: Path, target: Path) -> bool:
    """Bring ``target`` back to before the swap of ``staging`` unless it committed.

    Returns True when steps were undone. The staging folder is removed either way.
    """
    undone = False
    journal_path = staging / JOURNAL
    if journal_path.exists() and not (staging / COMMITTED).exists():
        steps = _steps_of(json.loads(journal_path.read_text()))
        prefix, room = os.fspath(target), os.fspath(staging)
        for step in reversed(steps):
            undone = _undo(step, prefix, room) or undone
    shutil.rmtree(staging, ignore_errors=True)
    return undone


def recover_interrupted(target: Path) -> list[str]:
    """Recover every staging folder in ``target`` left by a process that died mid-swap.

    Staging folders whose lock is held by a live process are left alone. Returns
    the names of the folders whose swap was undone.
    """
    undone: list[str] = []
    found = [target / name for name in os.listdir(target) if name.startswith(OWN_PREFIXES)]
    for staging in sorted(found):
        if not staging.is_dir() or staging.is_symlink():
            continue
        try:
            fd = os.open(staging / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live swap owns it
            if recover(staging, target):
                undone.append(staging.name)
        finally:
            os.close(fd)
    return undone
