"""Swapping staged files into a tree, all or nothing, even across a crash.

Before the first file is touched, the whole plan of the swap is written to a
journal in the staging folder (fsynced under a temporary name, then renamed, so a
journal is whole or absent): per path, where its original goes
(``backup/N``), where its new content comes from (``new/N``), and which folders
the swap creates. Every step afterwards is a ``rename`` within one file system,
so at any instant each path is in a state the journal can tell apart. Once
every step is done a ``committed`` marker is written.

:func:`recover` turns any staging folder back into "as before": without the
marker it undoes the steps taken (restores backups, removes new files and the
folders the swap created); with it, the swap is complete and only the staging
folder goes. ``PlanApplyService`` calls it for a failed swap, and for the
leftovers of a process killed mid-apply (see :func:`recover_interrupted`).
A running swap holds an exclusive ``flock`` on its staging folder's lock file,
so recovery never touches the swap of a live process.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleveragents.infrastructure.workspace.safe_paths import SafeRoot, write_all

STAGING_PREFIX = ".cleveragents-apply-"
NEW_PREFIX = ".cleveragents-new-"  # a staging folder being made: nothing was swapped yet
JOURNAL = "journal.json"
COMMITTED = "committed"
LOCK = "lock"


@dataclass(frozen=True)
class _Step:
    path: str
    backup: str
    staged: str | None  # None: the path is deleted
    had_original: bool


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
    still making for an abandoned one.
    """
    fresh = Path(tempfile.mkdtemp(prefix=NEW_PREFIX, dir=target))
    lock = os.open(fresh / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    staging = fresh.with_name(STAGING_PREFIX + fresh.name.removeprefix(NEW_PREFIX))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fresh.rename(staging)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
        os.close(lock)


class FileSwap:
    """Moves staged files into a tree under a journal, so every step can be undone."""

    def __init__(self, target: Path, staging: Path) -> None:
        self.target = target
        self.staging = staging

    def run(self, changes: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> None:
        """Put each staged file (None: delete) at its path; on any error, undo everything.

        Staged files must lie inside the staging folder.
        """
        staging = os.fspath(self.staging)
        steps: list[_Step] = []
        folders: list[str] = []
        planned: set[str] = set()
        present: set[str] = {""}
        guard = SafeRoot(self.target)
        for index, (path, staged) in enumerate(changes):
            there = guard.locate(path)[1]
            if staged is not None:
                folders += self._missing_parents(path.rpartition("/")[0], planned, present)
            steps.append(
                _Step(
                    path=path,
                    backup=f"backup/{index}",
                    staged=None if staged is None else _inside(staging, os.fspath(staged)),
                    had_original=there,
                )
            )
        (self.staging / "backup").mkdir(exist_ok=True)
        journal = {"steps": [step.__dict__ for step in steps], "folders": folders}
        _fsync_write(self.staging / JOURNAL, json.dumps(journal).encode())
        try:
            for folder in folders:
                (self.target / folder).mkdir()
            guard = SafeRoot(self.target)  # checked again: the folders changed
            for step in steps:
                destination = guard.locate(step.path)[0]
                if step.had_original:
                    os.replace(destination, f"{staging}/{step.backup}")
                if step.staged is not None:
                    os.replace(f"{staging}/{step.staged}", destination)
        except BaseException:
            recover(self.staging, self.target)
            raise
        _fsync_write(self.staging / COMMITTED, b"")

    def _missing_parents(self, folder: str, planned: set[str], present: set[str]) -> list[str]:
        """The folders above a file that the swap must make, outermost first."""
        missing: list[str] = []
        while folder not in planned and folder not in present:
            if os.path.lexists(os.path.join(self.target, folder)):
                present.add(folder)
                break
            missing.append(folder)
            folder = folder.rpartition("/")[0]
        planned.update(missing)
        return list(reversed(missing))


def _inside(staging: str, staged: str) -> str:
    """``staged`` relative to ``staging`` (a POSIX path), which it must lie under."""
    if not staged.startswith(f"{staging}/"):
        raise ValueError(f"staged file {staged} is not inside the staging folder {staging}")
    return staged[len(staging) + 1 :]


def recover(staging: Path, target: Path) -> bool:
    """Bring ``target`` back to before the swap of ``staging`` unless it committed.

    Returns True when steps were undone. The staging folder is removed either way.
    """
    undone = False
    journal_path = staging / JOURNAL
    if journal_path.exists() and not (staging / COMMITTED).exists():
        journal: dict[str, Any] = json.loads(journal_path.read_text())
        for raw in reversed(journal["steps"]):
            step = _Step(**raw)
            destination = target.joinpath(*step.path.split("/"))
            backup = staging / step.backup
            moved_in = step.staged is not None and not os.path.lexists(staging / step.staged)
            if os.path.lexists(backup):
                if os.path.lexists(destination):
                    destination.unlink()
                backup.replace(destination)
                undone = True
            elif not step.had_original and moved_in and os.path.lexists(destination):
                destination.unlink()
                undone = True
        for folder in reversed(journal["folders"]):
            path = target.joinpath(*folder.split("/"))
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()
    shutil.rmtree(staging, ignore_errors=True)
    return undone


def recover_interrupted(target: Path) -> list[str]:
    """Recover every staging folder in ``target`` left by a process that died mid-swap.

    Staging folders whose lock is held by a live process are left alone. Returns
    the names of the folders whose swap was undone.
    """
    undone: list[str] = []
    found = [*target.glob(f"{STAGING_PREFIX}*"), *target.glob(f"{NEW_PREFIX}*")]
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
                continue  # a live apply owns it
            if recover(staging, target):
                undone.append(staging.name)
        finally:
            os.close(fd)
    return undone
