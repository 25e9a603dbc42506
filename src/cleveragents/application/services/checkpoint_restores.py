"""Bringing a plan's sandbox back to a checkpoint: restore and reset.

The restore half of :class:`~.checkpoint_service.CheckpointService`, which
inherits it; the service's constructor sets the attributes declared below.
"""

from __future__ import annotations

import os
from pathlib import Path

from cleveragents.application.services.sandbox_memory import SandboxMemory
from cleveragents.application.services.sandbox_states import current_state, watched_states
from cleveragents.application.services.workspace_restore import (
    RestoreResult,
    TreeStates,
    restore,
)
from cleveragents.domain.errors import RecordNotFoundError
from cleveragents.domain.models.core.checkpoint import Checkpoint, CheckpointMetadata
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.progress import Progress, checked_progress
from cleveragents.domain.workspace import ScanSettings
from cleveragents.domain.workspace_ports import Workspace


class CheckpointRestores:
    """The restores of the checkpoint service, and the checkpoint lookups they share with it."""

    _repository: CheckpointStore  # where the checkpoints are (set by the service)
    _settings: ScanSettings  # what a scan of the sandbox leaves out (set by the service)
    _workspace: Workspace  # the sandbox ports (set by the service)
    _memory: SandboxMemory  # the last scan of each plan, and its watcher (set by the service)

    def _require(self, checkpoint_id: str) -> Checkpoint:
        checkpoint = self._repository.get(checkpoint_id)
        if checkpoint is None:
            raise RecordNotFoundError(f"checkpoint {checkpoint_id} does not exist")
        return checkpoint

    def _header(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint without its metadata: all a restore needs (the metadata of a
        first snapshot lists every path)."""
        return self._require(checkpoint_id).model_copy(update={"metadata": CheckpointMetadata()})

    def restore_workspace(
        self,
        checkpoint_id: str,
        target_dir: str | Path,
        *,
        remove_untracked: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RestoreResult:
        """Bring every path the plan's checkpoints know back to its state at the checkpoint.

        Content, permission bits, symlink targets and empty folders come back
        exactly. Paths no checkpoint of the plan knows stay unless
        ``remove_untracked``; ignored paths are never removed. Every refusal and
        every stored object's hash check happen before the first write; the writes
        run under a journal, so a restore killed at any instant is undone or
        completed by the next restore, apply or snapshot of the folder. ``progress``
        hears the ``scan``, ``read`` (in place), ``stage`` and ``swap`` stages.
        """
        progress = checked_progress(progress)
        checkpoint = self._header(checkpoint_id)
        if not isinstance(target_dir, str | os.PathLike):
            raise ValueError(f"target_dir must be a path, got {type(target_dir).__name__}")
        target = Path(target_dir)
        if target.exists() and not target.is_dir():
            raise ValueError(f"target_dir is not a directory: {target}")
        return self._restore(
            checkpoint, target, remove_untracked, dry_run, keep_large=False, progress=progress
        )

    def reset_workspace(
        self,
        checkpoint_id: str,
        target_dir: str | Path,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RestoreResult:
        """Restore the checkpoint and remove every path it lacks (what a rollback does).

        Like ``restore_workspace(..., remove_untracked=True)``, except that files
        above the size limit stay: no snapshot stored their content, so removing
        them could not be undone. Ignored paths are never removed.
        """
        progress = checked_progress(progress)
        checkpoint = self._header(checkpoint_id)
        target = self._workspace.files.existing_directory(target_dir, "target_dir")
        return self._restore(checkpoint, target, True, dry_run, keep_large=True, progress=progress)

    def _restore(
        self,
        checkpoint: Checkpoint,
        target: Path,
        remove_untracked: bool,
        dry_run: bool,
        *,
        keep_large: bool,
        progress: Progress | None,
    ) -> RestoreResult:
        exists = target.exists()
        if exists and not dry_run:
            # What a killed restore or apply left: undone first.
            self._workspace.swap.recover_interrupted(target)
        scanner = self._workspace.scanner
        states = (
            watched_states(
                self._repository,
                scanner,
                self._memory,
                self._settings,
                checkpoint,
                target,
                progress=progress,
            )
            if exists
            else None
        )
        if states is None:
            # Every entry of the checkpoint is held until the steps are run: in columns.
            wanted = self._repository.packed_manifest(checkpoint.checkpoint_id)
            if wanted is None:
                raise ValueError(
                    f"checkpoint {checkpoint.checkpoint_id} has no workspace snapshot to restore"
                )
            current, known = (
                current_state(
                    self._repository,
                    scanner,
                    self._memory,
                    self._settings,
                    checkpoint.plan_id,
                    target,
                    progress=progress,
                )
                if exists
                else ({}, frozenset[str]())
            )
            states = TreeStates(wanted, current, known=known)
        result, written = restore(
            self._repository,
            checkpoint,
            target,
            states,
            self._workspace,
            remove_untracked=remove_untracked,
            dry_run=dry_run,
            keep_large=keep_large,
            progress=progress,
            noting=self._memory.watches(checkpoint.plan_id, target),
        )
        if written:
            self._memory.note_restore(checkpoint.plan_id, target, written)
        return result
