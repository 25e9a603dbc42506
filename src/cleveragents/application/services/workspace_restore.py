"""Bringing a folder back to a checkpoint's snapshot, exactly, under a journal.

The steps are worked out first (the workspace's ``plan_restore``: every refusal happens
there, before anything is written), then every needed object is read from the
store, checked against its hash and staged, and only then are the steps run
under the journal of the workspace's file swap: a restore killed at any
instant is undone (or, once it committed, completed) by the next restore,
apply, rollback or snapshot of the folder.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents._pacing import paced
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    FileKind,
    ManifestEntry,
)
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.packed_hashes import WINDOW
from cleveragents.domain.progress import Progress, Stage
from cleveragents.domain.workspace import (
    ScannedFile,
    Step,
    place_beside,
    staged_at,
    staging_token,
    stat_key_of,
)
from cleveragents.domain.workspace_ports import SafeFiles, Workspace

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
    # Paths a checkpoint of the plan is known to hold already (its last snapshot's):
    # the plan's history is read only for the other paths the checkpoint lacks.
    known: frozenset[str] = frozenset()


def restore(
    repository: CheckpointStore,
    checkpoint: Checkpoint,
    target: Path,
    states: TreeStates,
    workspace: Workspace,
    *,
    remove_untracked: bool,
    dry_run: bool,
    keep_large: bool = False,
    progress: Progress | None = None,
    noting: bool = True,
) -> tuple[RestoreResult, Written]:
    """Restore ``checkpoint``'s snapshot into ``target`` (see ``CheckpointService``).

    Returns the result and what was written (see :func:`_written`; with ``noting``
    False, nothing: no one watches the folder to be told). What a killed
    restore or apply left in ``target`` must have been recovered before ``states``
    were read. ``keep_large`` keeps the files above the size limit that the
    checkpoint lacks, even with ``remove_untracked``: no snapshot could have stored
    them. ``progress`` hears the ``stage`` and ``swap`` stages: each report comes
    before the first step or after the last, so a report that raises leaves the
    folder as it was before the restore (undone with the steps) or as restored.
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
        known = {path for path in unwanted if path in states.known}
        unknown = [path for path in unwanted if path not in states.known]
        if unknown:
            known |= repository.known_paths(checkpoint.plan_id, among=unknown)
    plan = workspace.planner.plan_restore(
        target, wanted, current, known.__contains__, exists=exists
    )
    if dry_run:
        return RestoreResult(plan.written, plan.removed, plan.skipped, dry_run=True), {}
    target.mkdir(parents=True, exist_ok=True)
    if not plan.steps:
        return RestoreResult(plan.written, plan.removed, plan.skipped), {}
    stamps = _Stamps()
    swapping: list[Stage] = []
    try:
        swap = workspace.swap
        with swap.locked_staging(target) as staging:
            place_beside(plan.steps, staging_token(staging))
            steps = plan.steps
            ins = [step for step in steps if step.kind == "in"]

            def stage() -> None:
                written = Stage(progress, "stage", len(ins))
                kept = stamps if noting else None
                rooms = os.fspath(target), os.fspath(staging)
                _stage(repository, workspace.files, ins, wanted, rooms, written, kept)
                written.finish()
                # Still before the steps: a report that raises here is undone with them.
                swapping.append(Stage(progress, "swap", len(steps)))

            swap.run_steps(target, staging, steps, stage)
    except BaseException:
        if not exists:  # the steps were undone: leave no new folder behind either
            shutil.rmtree(target, ignore_errors=True)
        raise
    for done in swapping:  # committed, and the staging folder is gone
        done.finish()
    _log.info(
        "checkpoint.restored",
        checkpoint_id=checkpoint.checkpoint_id,
        written=len(plan.written),
        removed=len(plan.removed),
        partial=states.partial,
    )
    result = RestoreResult(plan.written, plan.removed, plan.skipped)
    return result, _written(target, steps, stamps, wanted) if noting else {}


# What a restore wrote, by path: the written file or symlink with the stat data it had
# right after, or None for a path it removed (or whose state it cannot vouch for).
Written = dict[str, ScannedFile | None]
_Stamp = tuple[int, int, int]  # inode, size, mtime_ns of a staged file


class _Stamps:
    """The stamp of each staged file, by the rank of its step among the "in" steps.

    Three arrays of machine integers: a dict of tuples by staged name took several
    times the room, on restores of tens of thousands of files.
    """

    def __init__(self) -> None:
        self._inodes = array("Q")
        self._sizes = array("q")
        self._times = array("q")

    def make_room(self, count: int) -> None:
        for column in (self._inodes, self._sizes, self._times):
            column.extend(itertools.repeat(0, count))

    def note(self, rank: int, stamp: _Stamp) -> None:
        self._inodes[rank], self._sizes[rank], self._times[rank] = stamp

    def __getitem__(self, rank: int) -> _Stamp:
        return self._inodes[rank], self._sizes[rank], self._times[rank]


def _written(
    target: Path,
    steps: Sequence[Step],
    stamps: _Stamps,
    wanted: Mapping[str, ManifestEntry],
) -> Written:
    """What the steps wrote, each file trusted only while it is still the one staged.

    A rename keeps a file's inode, size and mtime: a file whose stamp changed
    between staging and now was written by someone else meanwhile, and is left
    for the next scan to read.
    """
    written: Written = {}
    prefix = os.fspath(target)
    rank = -1  # of the step among the "in" steps
    for step in paced(steps):
        rank += step.kind == "in"
        if step.kind in ("out", "rmdir"):
            written[step.path] = None
        elif step.kind in ("in", "chmod"):
            try:
                info = os.lstat(f"{prefix}/{step.path}")
            except OSError:
                written[step.path] = None
                continue
            entry = wanted[step.path]
            if step.kind == "in":
                trusted = (info.st_ino, info.st_size, info.st_mtime_ns) == stamps[rank]
            else:
                trusted = stat.S_IMODE(info.st_mode) == step.mode
            written[step.path] = (
                ScannedFile(entry, stat_key_of(info), verified=True) if trusted else None
            )
    return written


def _stage(
    repository: CheckpointStore,
    files: SafeFiles,
    ins: Sequence[Step],
    wanted: Mapping[str, ManifestEntry],
    rooms: tuple[str, str],
    written: Stage,
    stamps: _Stamps | None,
) -> None:
    """Stage the wanted content of every "in" step after checking its hash.

    ``rooms``: the target's and the staging folder's paths. Notes each staged
    file's stamp (inode, size, mtime) by the rank of its step in ``ins`` in
    ``stamps`` unless it is None; ``written`` counts them.
    """
    if stamps is not None:
        stamps.make_room(len(ins))

    def put(rank: int, pieces: Iterable[bytes]) -> None:
        step = ins[rank]
        stamp = _put(files, wanted[step.path], staged_at(step, *rooms), pieces)
        if stamps is not None:
            stamps.note(rank, stamp)
        written.advance()

    # A window of steps at a time: what is held for the reads follows the window, not
    # the tree (a content in two windows is read twice).
    for start in range(0, len(ins), WINDOW):
        # One step (its rank in ``ins``) per content, and the few others with the same
        # content apart: a list per content would cost more than the step itself.
        first: dict[str, int] = {}
        more: dict[str, list[int]] = {}
        for rank in range(start, min(start + WINDOW, len(ins))):
            digest = wanted[ins[rank].path].sha256
            if first.setdefault(digest, rank) != rank:
                more.setdefault(digest, []).append(rank)
        _stage_window(repository, ins, first, more, put)


def _stage_window(
    repository: CheckpointStore,
    ins: Sequence[Step],
    first: dict[str, int],
    more: dict[str, list[int]],
    put: Callable[[int, Iterable[bytes]], None],
) -> None:
    """Read the content of ``first`` and ``more``'s steps and ``put`` each where it goes."""
    while first:
        again: dict[str, list[int]] = {}
        for digest, pieces in paced(repository.read_pieces(list(first))):
            rank = first.pop(digest)
            others = more.pop(digest, [])
            head = next(pieces, b"")
            second = next(pieces, None)
            if second is None:  # whole: every step is written from these bytes
                _check(digest, head)
                for each in (rank, *others):
                    put(each, (head,))
            else:
                # In pieces: written as they are read, never held whole; another step
                # with the same content reads it again.
                if others:
                    again[digest] = others
                put(rank, _checked(digest, itertools.chain((head, second), pieces)))
            # Let go before the next object is read: the store reads a whole batch then.
            del head, second, pieces
        if first:
            gone = (*first.values(), *(each for ranks in more.values() for each in ranks))
            missing = sorted(ins[each].path for each in gone)
            raise IntegrityCheckError(f"stored content for {missing[0]} is missing")
        first = {digest: ranks[0] for digest, ranks in again.items()}
        more = {digest: ranks[1:] for digest, ranks in again.items() if len(ranks) > 1}


def _put(files: SafeFiles, entry: ManifestEntry, place: str, pieces: Iterable[bytes]) -> _Stamp:
    if entry.kind is FileKind.SYMLINK:
        files.make_link(b"".join(pieces), place)
        info = os.lstat(place)
    else:
        info = files.write_pieces(place, pieces, entry.mode)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _check(digest: str, data: bytes) -> None:
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityCheckError(f"stored content {digest} does not match its hash")


def _checked(digest: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces``, then ``IntegrityCheckError`` if they were not ``digest`` (the staged
    file is removed with the rest of the staging)."""
    hashed = hashlib.sha256()
    for piece in pieces:
        hashed.update(piece)
        yield piece
    if hashed.hexdigest() != digest:
        raise IntegrityCheckError(f"stored content {digest} does not match its hash")
