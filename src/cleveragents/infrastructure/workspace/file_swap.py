"""Changing a tree all or nothing, even across a crash: a journal of undoable steps.

Both ``apply`` and ``restore_workspace`` change a tree this way. Before anything
is written, the whole list of steps is written to a journal in a staging folder
inside the tree (fsynced under a temporary name, then renamed, so a journal is
whole or absent). A step is one of:

- ``chmod``: a file's permission bits, old and new;
- ``out``: a path (file, symlink or empty folder) renamed into the staging
  folder (``backup/N``);
- ``rmdir``: a folder left empty by the steps before it, with its mode;
- ``mkdir``: a new folder. One where nothing stands yet (``beside``) is made
  first, before anything is staged, so that the files going into it can be
  staged beside their destinations;
- ``in``: a staged file or symlink renamed into place. It is staged beside its
  destination under a temporary name (``.cleveragents-new-<token>-N``, see
  ``domain.workspace.beside_name``), or in the staging folder (``new/N``) when its
  folder only comes with the swap's own steps (it replaces a file, say).

Then the early folders are made, the new content is staged, a ``staged`` marker
written, and the other steps run:
each a ``rename``, ``mkdir``, ``rmdir`` or ``chmod`` within one file system, so at
any instant each path is in a state the journal can tell apart. Once every step
is done a ``committed`` marker is written.

:func:`recover` turns any staging folder back into "as before": without the
``staged`` marker it only removes what was staged and the early folders; without the ``committed``
marker it undoes the steps taken, newest first (each undo checks what is there,
so a recovery that is itself killed can run again); with it, the change is
complete and only the staging folder goes. A running swap holds an exclusive
``flock`` on its staging folder's lock file, so recovery never touches the swap
of a live process. Snapshots never store a staging folder or a staged file (the
scanner skips their names).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cleveragents._pacing import paced
from cleveragents.domain.workspace import (
    NEW_PREFIX,
    OLD_RESTORE_PREFIX,
    OWN_PREFIXES,
    STAGING_PREFIX,
    STEP_ORDER,
    Step,
    StepKind,
    beside_name,
    place_beside,
    staged_at,
    staging_token,
)
from cleveragents.infrastructure.workspace.safe_paths import write_all

# The step and staging names live in the domain (the application builds steps); they
# are still importable from here.
__all__ = [
    "COMMITTED",
    "JOURNAL",
    "LOCK",
    "NEW_PREFIX",
    "OLD_RESTORE_PREFIX",
    "OWN_PREFIXES",
    "STAGED",
    "STAGING_PREFIX",
    "STEP_ORDER",
    "Step",
    "StepKind",
    "beside_name",
    "locked_staging",
    "place_beside",
    "recover",
    "recover_interrupted",
    "run_steps",
    "staging_token",
]

JOURNAL = "journal.json"
STAGED = "staged"  # every file is staged: from here on, steps may have run
COMMITTED = "committed"
LOCK = "lock"
_JOURNAL_PIECE = 1024  # steps encoded at once


def _fsync_write(path: Path, pieces: Iterable[bytes]) -> None:
    """Write ``path`` whole or not at all: a kill mid-write leaves only ``*.partial``."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for piece in pieces:
            write_all(fd, piece)
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


def run_steps(
    target: Path,
    staging: Path,
    steps: Sequence[Step],
    stage: Callable[[], object] | None = None,
) -> None:
    """Journal ``steps``, stage their files (``stage``), then run them in order.

    On any error, every step taken is undone and every staged file removed. Paths
    must have been checked by the caller (no symlinked folder on the way). The
    journal is written first, so what ``stage`` writes beside the destinations is
    known to a recovery; a ``staged`` marker then tells it that steps may have run.
    """
    (staging / "backup").mkdir(exist_ok=True)
    _fsync_write(staging / JOURNAL, _journal(steps))
    prefix = os.fspath(target)
    room = os.fspath(staging)
    try:
        for step in steps:
            if step.kind == "mkdir" and step.beside:
                os.mkdir(f"{prefix}/{step.path}")
        if stage is not None:
            stage()
        (staging / STAGED).touch()
        for step in paced(steps):
            where = f"{prefix}/{step.path}"
            if step.kind == "mkdir" and step.beside:
                continue  # made before staging
            if step.kind == "chmod":
                os.chmod(where, step.mode)
            elif step.kind == "out":
                os.replace(where, f"{room}/{step.staged}")
            elif step.kind == "rmdir":
                os.rmdir(where)
            elif step.kind == "mkdir":
                os.mkdir(where)
            else:
                os.replace(_source(step, prefix, room), where)
    except BaseException:
        recover(staging, target)
        raise
    _fsync_write(staging / COMMITTED, ())


def _journal(steps: Sequence[Step]) -> Iterator[bytes]:
    """``json.dumps({"version": 3, "steps": rows})``, a row per step, encoded a piece
    at a time: the journal of a 20,000-file restore is never held whole."""
    yield b'{"version": 3, "steps": ['
    for start in range(0, len(steps), _JOURNAL_PIECE):
        rows = [
            [step.kind, step.path, step.staged, step.mode, step.old_mode, step.beside]
            for step in steps[start : start + _JOURNAL_PIECE]
        ]
        yield (", " if start else "").encode() + json.dumps(rows)[1:-1].encode()
    yield b"]}"


def _source(step: Step, target: str, room: str) -> str:
    """Where an "in" step's staged file is."""
    return staged_at(step, target, room)


def _undo(step: Step, target: str, room: str) -> bool:
    """Undo ``step`` if it was taken; True when something changed."""
    where = f"{target}/{step.path}"
    if step.kind == "in":
        source = _source(step, target, room)
        if os.path.lexists(source):  # staged and never moved in
            if step.beside:
                os.unlink(source)
            return False
        if not os.path.lexists(where) or (os.path.isdir(where) and not os.path.islink(where)):
            return False  # nothing there, or a folder: what an "in" step places is never one
        os.unlink(where)
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
    """The journal's steps, from any version's journal.

    Version 3 lists each step as a row; version 2 as an object (and staged every
    file before its journal); a journal from before version 2 listed swaps per path.
    """
    if journal.get("version") == 3:
        return [Step(*raw) for raw in journal["steps"]]
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
        journal = json.loads(journal_path.read_text())
        steps = _steps_of(journal)
        prefix, room = os.fspath(target), os.fspath(staging)
        # Before a version-3 journal's ``staged`` marker no step ran but the folders
        # made for staging: what was staged beside the destinations goes, then those
        # folders. (Earlier versions staged before their journal.)
        if journal.get("version") == 3 and not (staging / STAGED).exists():
            for step in steps:
                source = _source(step, prefix, room)
                if step.kind == "in" and step.beside and os.path.lexists(source):
                    os.unlink(source)
            steps = [step for step in steps if step.kind == "mkdir" and step.beside]
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
