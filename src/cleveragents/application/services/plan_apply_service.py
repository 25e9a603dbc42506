"""Applying a plan's recorded changes to a target tree, and cleaning up after it.

``apply`` is all or nothing: every check (paths, before/after hashes, sandbox
content) runs before the target is touched, new content is staged next to the
target, and the swap runs under a journal (:mod:`..workspace.file_swap`): a
failure while swapping rolls back every step taken, and so does the next
``apply`` (or :meth:`PlanApplyService.recover`) after a process was killed mid-swap.
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation, ChangeSetStore
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.workspace.file_swap import (
    STAGING_PREFIX,
    FileSwap,
    locked_staging,
    recover_interrupted,
)
from cleveragents.infrastructure.workspace.safe_paths import (
    existing_directory,
    regular_file_hash,
    resolve_under,
    sha256_file,
)

_log = get_logger(__name__)

__all__ = ["STAGING_PREFIX", "ApplyError", "ApplyResult", "PlanApplyService"]


class ApplyError(Exception):
    """Applying a plan failed; the target was left exactly as it was."""


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` changed in the target: every list sorted."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)


_ABSENT = None  # a path's state when no file is there


class _Plan:
    """The target's state per path, simulated entry by entry before anything is written."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.original: dict[str, str | None] = {}
        self.state: dict[str, str | None] = {}

    def current(self, path: str) -> str | None:
        if path not in self.state:
            try:
                found = regular_file_hash(resolve_under(self.target, path))
            except OSError as exc:
                raise ApplyError(f"cannot read {path} in the target: {exc}") from exc
            self.original[path] = found
            self.state[path] = found
        return self.state[path]

    def expect(self, path: str, wanted: str | None, entry: ChangeEntry) -> None:
        found = self.current(path)
        if found != wanted:
            raise ApplyError(
                f"{entry.operation.value} of {path} (entry {entry.entry_id}): the target "
                f"holds {found or 'no file'}, expected {wanted or 'no file'}"
            )

    def play(self, entry: ChangeEntry) -> None:
        if entry.operation is ChangeOperation.CREATE:
            self.expect(entry.path, _ABSENT, entry)
        elif entry.operation is ChangeOperation.RENAME:
            assert entry.old_path is not None  # the model requires it for a rename
            self.expect(entry.old_path, entry.before_hash, entry)
            self.state[entry.old_path] = _ABSENT
            self.expect(entry.path, _ABSENT, entry)
        else:
            self.expect(entry.path, entry.before_hash, entry)
        self.state[entry.path] = entry.after_hash

    def changed_paths(self) -> dict[str, str | None]:
        return {p: h for p, h in self.state.items() if h != self.original[p]}


class PlanApplyService:
    """Promotes a plan's recorded changes and cleans up its changeset artifacts."""

    def __init__(self, changeset_store: ChangeSetStore) -> None:
        if changeset_store is None:
            raise ValueError("changeset_store is required (got None)")
        self._store = changeset_store

    def cleanup_changeset(self, plan_id: str) -> int:
        """Delete every changeset artifact of the plan; returns the records deleted."""
        key = valid_id(plan_id, "plan_id")
        deleted = self._store.delete_for_plan(key)
        _log.info("changeset.cleanup", plan_id=key, deleted=deleted)
        return deleted

    def cancel(self, plan_id: str) -> int:
        """The cancel path of a plan: its artifacts are deleted and the plan tombstoned.

        In the same transaction as the deletion, the store records that the plan was
        cancelled: a record arriving later (a slow agent step) raises
        ``PlanCancelledError`` instead of resurrecting the plan. A cleanup after a
        failed ``apply`` writes no tombstone. Returns the records deleted.
        """
        key = valid_id(plan_id, "plan_id")
        deleted = self._store.cancel_plan(key)
        _log.info("plan.cancelled", plan_id=key, deleted=deleted)
        return deleted

    def recover(self, target_dir: str | Path) -> list[str]:
        """Undo what an ``apply`` killed mid-swap left in ``target_dir``.

        Every abandoned staging folder (``.cleveragents-apply-*``, its lock not held
        by a live process) is rolled back from its journal: backups go back, new
        files and the folders the swap made are removed. An apply that completed
        its swap is left applied. Returns the staging folders that were undone.
        ``apply`` does this first for its own target.
        """
        return self._recover(existing_directory(target_dir, "target_dir").resolve())

    def _recover(self, target: Path) -> list[str]:
        undone = recover_interrupted(target)
        if undone:
            _log.warning("plan.apply_recovered", target=str(target), undone=undone)
        return undone

    def apply(self, plan_id: str, sandbox_dir: str | Path, target_dir: str | Path) -> ApplyResult:
        """Promote the plan's changes from ``sandbox_dir`` to ``target_dir``, all or nothing.

        On any failure the target is left as it was, the plan's artifacts are
        cleaned up and :class:`ApplyError` is raised.
        """
        key = valid_id(plan_id, "plan_id")
        sandbox = existing_directory(sandbox_dir, "sandbox_dir").resolve()
        target = existing_directory(target_dir, "target_dir").resolve()
        self._recover(target)
        entries = [e for cs in self._store.get_for_plan(key) for e in cs.entries]
        if not entries:
            raise RecordNotFoundError(f"cannot apply plan {key}: it has no recorded changes")
        try:
            result = _apply_entries(entries, sandbox, target)
        except (ApplyError, OSError, ValueError) as exc:
            self.cleanup_changeset(key)
            _log.warning("plan.apply_failed", plan_id=key, reason=str(exc))
            if isinstance(exc, ApplyError):
                raise
            raise ApplyError(f"cannot apply plan {key}: {exc}") from exc
        _log.info("plan.applied", plan_id=key, written=len(result.written))
        return result


def _apply_entries(entries: list[ChangeEntry], sandbox: Path, target: Path) -> ApplyResult:
    plan = _Plan(target)
    for entry in entries:
        plan.play(entry)
    changes = plan.changed_paths()
    with locked_staging(target) as staging:
        staged = {
            path: _stage(sandbox, path, wanted, staging / "new" / str(index))
            for index, (path, wanted) in enumerate(sorted(changes.items()))
            if wanted is not None
        }
        FileSwap(target, staging).run([(path, staged.get(path)) for path in sorted(changes)])
    renamed = sorted(
        (e.old_path, e.path)
        for e in entries
        if e.operation is ChangeOperation.RENAME and e.old_path
    )
    moved = {old for old, _ in renamed} | {new for _, new in renamed}
    return ApplyResult(
        written=sorted(p for p, h in changes.items() if h is not None and p not in moved),
        deleted=sorted(p for p, h in changes.items() if h is None and p not in moved),
        renamed=renamed,
    )


def _stage(sandbox: Path, path: str, wanted: str, destination: Path) -> Path:
    """Copy the sandbox's file to ``destination`` after checking its hash."""
    source = resolve_under(sandbox, path)
    mode = source.lstat().st_mode
    if not stat.S_ISREG(mode):
        raise ApplyError(f"{path} in the sandbox is not a regular file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination, follow_symlinks=False)
    destination.chmod(stat.S_IMODE(mode))
    found = sha256_file(destination)
    if found != wanted:
        raise ApplyError(f"{path} in the sandbox has hash {found}, the plan recorded {wanted}")
    return destination
