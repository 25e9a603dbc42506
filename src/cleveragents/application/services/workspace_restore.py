"""Bringing a folder back to a checkpoint's snapshot, exactly, under a journal.

The steps are worked out first (:func:`plan_restore`: every refusal happens
there, before anything is written), then every needed object is read from the
store, checked against its hash and staged, and only then are the steps run
under the journal of :mod:`..workspace.file_swap`: a restore killed at any
instant is undone (or, once it committed, completed) by the next restore,
apply, rollback or snapshot of the folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    CheckpointStore,
    FileKind,
    ManifestEntry,
)
from cleveragents.infrastructure.workspace.file_swap import locked_staging, run_steps
from cleveragents.infrastructure.workspace.restore_plan import plan_restore
from cleveragents.infrastructure.workspace.safe_paths import make_link, write_all

_log = get_logger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore changed (or, with ``dry_run``, would change); every list sorted.

    Paths are workspace-relative; an empty folder's path ends with ``/``.
    """

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass(frozen=True)
class TreeStates:
    """The checkpoint's entries and the folder's, by path (ignored paths left out).

    With ``partial``, only the paths where the two may differ are given: every other
    path of the folder is known to be in the checkpoint's state already.
    """

    wanted: Mapping[str, ManifestEntry]
    current: Mapping[str, ManifestEntry]
    partial: bool = False


def restore(
    repository: CheckpointStore,
    checkpoint: Checkpoint,
    target: Path,
    states: TreeStates,
    *,
    remove_untracked: bool,
    dry_run: bool,
    keep_large: bool = False,
) -> RestoreResult:
    """Restore ``checkpoint``'s snapshot into ``target`` (see ``CheckpointService``).

    What a killed restore or apply left in ``target`` must have been recovered
    before ``states`` were read. ``keep_large`` keeps the files above the size
    limit that the checkpoint lacks, even with ``remove_untracked``: no snapshot
    could have stored them.
    """
    exists = target.exists()
    wanted, current = states.wanted, states.current
    unwanted = [path for path in current if path not in wanted]
    # Only a path the checkpoint lacks needs the plan's history: a fresh or matching
    # target skips reading it.
    if remove_untracked or not unwanted:
        known: set[str] = set(unwanted)
        if keep_large:
            known = {path for path in known if current[path].kind is not FileKind.LARGE}
    else:
        known = repository.known_paths(checkpoint.plan_id, among=unwanted)
    plan = plan_restore(target, wanted, current, known.__contains__, exists=exists)
    if dry_run:
        return RestoreResult(plan.written, plan.removed, plan.skipped, dry_run=True)
    target.mkdir(parents=True, exist_ok=True)
    if not plan.steps:
        return RestoreResult(plan.written, plan.removed, plan.skipped)
    try:
        with locked_staging(target) as staging:
            _stage(repository, plan.staged, staging)
            run_steps(target, staging, plan.steps)
    except BaseException:
        if not exists:  # the steps were undone: leave no new folder behind either
            shutil.rmtree(target, ignore_errors=True)
        raise
    _log.info(
        "checkpoint.restored",
        checkpoint_id=checkpoint.checkpoint_id,
        written=len(plan.written),
        removed=len(plan.removed),
        partial=states.partial,
    )
    return RestoreResult(plan.written, plan.removed, plan.skipped)


def _stage(repository: CheckpointStore, staged: Mapping[str, ManifestEntry], staging: Path) -> None:
    """Write every staged entry's content under ``staging`` after checking its hash."""
    by_hash: dict[str, list[str]] = {}
    for name, entry in staged.items():
        by_hash.setdefault(entry.sha256, []).append(name)
    room = os.fspath(staging)
    for digest, data in repository.read_blobs(by_hash):
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityCheckError(f"stored content {digest} does not match its hash")
        for name in by_hash.pop(digest):
            entry = staged[name]
            place = f"{room}/{name}"
            if entry.kind is FileKind.SYMLINK:
                make_link(data, place)
            else:
                write_new(place, data, entry.mode)
    if by_hash:
        missing = sorted(staged[name].path for names in by_hash.values() for name in names)
        raise IntegrityCheckError(f"stored content for {missing[0]} is missing")


def write_new(place: str, data: bytes, mode: int) -> None:
    """Create ``place`` holding ``data`` with exactly ``mode`` (whatever the umask)."""
    fd = os.open(place, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        write_all(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
