"""Checkpoints of a plan's sandbox: snapshots, verification and restore.

``create_workspace_snapshot`` computes everything (manifest, new content, the diff
metadata ``diff_paths``, ``diff_based``, ``diff_hash``) *before* the one
``repository.create`` call that persists it (:mod:`.snapshot_write`), and never
touches the checkpoint afterwards. ``diff_hash`` is the sha256 of
:func:`diff_canonical_bytes`. Snapshots, restores and verifications report their
progress to an optional callback (:mod:`cleveragents.domain.progress`). Restores and
resets are in :mod:`.checkpoint_restores`, which the service inherits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from cleveragents._logging import get_logger
from cleveragents.application.ports import default_workspace
from cleveragents.application.services.checkpoint_diff import CheckpointDiff, diff_checkpoints
from cleveragents.application.services.checkpoint_restores import CheckpointRestores
from cleveragents.application.services.checkpoint_verify import verify
from cleveragents.application.services.sandbox_memory import Remembered, SandboxMemory
from cleveragents.application.services.sandbox_states import stored_baseline
from cleveragents.application.services.snapshot_write import SnapshotDetails, persist
from cleveragents.application.services.workspace_restore import RestoreResult
from cleveragents.domain.errors import BaselineGoneError, SourceChangedError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.checkpoint import (
    Checkpoint,
    CheckpointMetadata,
    diff_canonical_bytes,
    diff_hash,
)
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.progress import Progress, checked_progress
from cleveragents.domain.retention import PruneReport, RetentionLimits
from cleveragents.domain.workspace import DEFAULT_SIZE_LIMIT, ScanSettings
from cleveragents.domain.workspace_ports import Watcher, Workspace

_log = get_logger(__name__)

__all__ = [
    "CheckpointService",
    "PruneReport",
    "RestoreResult",
    "RetentionLimits",
    "diff_canonical_bytes",
    "diff_hash",
]


class CheckpointService(CheckpointRestores):
    """Snapshots a plan's sandbox before each decision, and brings it back.

    A snapshot leaves out what git would ignore (with ``gitignore``: every
    ``.gitignore`` in the sandbox and ``.git/info/exclude``) and what the
    ``excludes`` patterns (gitignore syntax) match; ``.git`` always.
    """

    def __init__(
        self,
        repository: CheckpointStore | None = None,
        *,
        excludes: Sequence[str] = (),
        size_limit: int = DEFAULT_SIZE_LIMIT,
        watch: bool = True,
        gitignore: bool = True,
        workspace: Workspace | None = None,
    ) -> None:
        """``workspace``: the sandbox ports (default: the local file system's)."""
        if repository is None:
            # The one place the application layer builds infrastructure: the real
            # repository on an in-memory SQLite database, for the life of the process.
            from cleveragents.infrastructure.database.checkpoint_repository import (
                CheckpointRepository,
            )
            from cleveragents.infrastructure.database.session import create_session_factory

            repository = CheckpointRepository(create_session_factory("sqlite://"))
        if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 0:
            raise ValueError(f"size_limit must be an integer >= 0, got {size_limit!r}")
        workspace = workspace if workspace is not None else default_workspace()
        patterns = workspace.scanner.validate_excludes(excludes)
        if not isinstance(watch, bool):
            raise ValueError(f"watch must be True or False, got {watch!r}")
        if not isinstance(gitignore, bool):
            raise ValueError(f"gitignore must be True or False, got {gitignore!r}")
        self._repository = repository
        self._settings = ScanSettings(excludes=patterns, size_limit=size_limit, gitignore=gitignore)
        self._workspace = workspace
        self._memory = SandboxMemory(watch=watch, watching=self._workspace.watching)

    @property
    def repository(self) -> CheckpointStore:
        """The store this service keeps its checkpoints in."""
        return self._repository

    @property
    def workspace(self) -> Workspace:
        """The sandbox ports this service reads and writes folders through."""
        return self._workspace

    def close(self) -> None:
        """Stop watching sandboxes; the next snapshot of each plan walks its folder whole."""
        self._memory.close()

    def release(self, plan_id: str) -> None:
        """Forget what the service keeps of the plan (its last scan) and stop watching it."""
        self._memory.release(plan_id)

    # --- creating -------------------------------------------------------------------------

    def create_checkpoint(
        self,
        plan_id: str,
        sandbox_ref: str,
        *,
        checkpoint_type: str = "manual",
        decision_id: str | None = None,
        description: str | None = None,
        metadata: CheckpointMetadata | None = None,
    ) -> Checkpoint:
        """Record a checkpoint without a snapshot (the plan's previous one is its parent)."""
        key = valid_id(plan_id, "plan_id")
        if metadata is not None and not isinstance(metadata, CheckpointMetadata):
            raise ValueError(
                f"metadata must be a CheckpointMetadata, got {type(metadata).__name__}"
            )
        base = metadata or CheckpointMetadata()
        merged = base.model_copy(
            update={
                "decision_id": decision_id if decision_id is not None else base.decision_id,
                "description": description if description is not None else base.description,
            }
        )
        parent = self._repository.latest_for_plan(key)
        checkpoint = Checkpoint(
            plan_id=key,
            sandbox_ref=sandbox_ref,
            checkpoint_type=checkpoint_type,
            parent_id=parent.checkpoint_id if parent else None,
            metadata=CheckpointMetadata.model_validate(merged.model_dump()),
        )
        return self._repository.create(checkpoint)

    def create_workspace_snapshot(
        self,
        plan_id: str,
        sandbox_ref: str,
        decision_id: str,
        *,
        description: str | None = None,
        checkpoint_type: str = "pre_decision",
        progress: Progress | None = None,
    ) -> Checkpoint:
        """Snapshot the sandbox before a decision: ONE ``create`` call, diff metadata included.

        What a restore or apply killed in the sandbox left is undone (or completed)
        first, so the snapshot never stores it. ``progress`` hears the ``scan``,
        ``read`` and ``store`` stages (:mod:`cleveragents.domain.progress`).
        """
        key = valid_id(plan_id, "plan_id")
        valid_id(decision_id, "decision_id")
        progress = checked_progress(progress)
        root = self._workspace.files.existing_directory(sandbox_ref, "sandbox_ref")
        # Validated like any checkpoint's, before anything is read.
        Checkpoint(plan_id=key, sandbox_ref=str(root), checkpoint_type=checkpoint_type)
        self._workspace.swap.recover_interrupted(root)
        details = SnapshotDetails(key, root, decision_id, description, checkpoint_type)
        try:
            return self._snapshot(details, progress, reuse=True)
        except BaselineGoneError:
            # A concurrent prune removed what this snapshot reused: read everything again.
            return self._snapshot(details, progress, reuse=False)
        except SourceChangedError:
            # A file changed between its scan and its store: the next scan reads it anew.
            # A file rewritten on and on fails the second time too, and nothing is written.
            _log.info("checkpoint.snapshot_retry", plan_id=key, reason="content changed")
            return self._snapshot(details, progress, reuse=True)

    def _snapshot(
        self, details: SnapshotDetails, progress: Progress | None, *, reuse: bool
    ) -> Checkpoint:
        key, root = details.plan_id, details.root
        parent = self._repository.latest_for_plan(key)
        scanner = self._workspace.scanner
        watcher: Watcher | None = None
        try:
            remembered, watcher, changes = (
                self._memory.recall(key, root, parent) if reuse else (None, None, None)
            )
            previous = remembered.baseline if remembered is not None else None
            found = None
            if remembered is not None and watcher is not None and changes is not None:
                found = scanner.rescan(
                    root,
                    self._settings,
                    remembered.baseline.scan,
                    changes,
                    watcher,
                    trusted=remembered.trusted,
                    progress=progress,
                    in_place=True,  # the memory was taken out: this snapshot owns its scan
                )
            if found is None:
                if watcher is not None:
                    watcher.close()
                if reuse and previous is None:
                    previous = stored_baseline(self._repository, scanner, key, parent)
                watcher = self._memory.new_watcher(root)
                found = scanner.scan(
                    root,
                    self._settings,
                    previous.scan.files if previous else None,
                    previous.scan.started_ns if previous else 0,
                    watcher=watcher,
                    progress=progress,
                    previous_clean=previous.scan.clean if previous else None,
                )
            created, baseline = persist(
                self._repository,
                details,
                parent,
                previous,
                found,
                self._workspace.files,
                progress=progress,
            )
        except BaseException:
            if watcher is not None:  # what it reported is in no checkpoint: start over
                watcher.close()
            raise
        self._memory.remember(key, Remembered(str(root), baseline, watcher))
        return created

    # --- reading --------------------------------------------------------------------------

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or None."""
        return self._repository.get(checkpoint_id)

    def list_checkpoints(self, plan_id: str) -> list[Checkpoint]:
        """The plan's checkpoints, oldest first."""
        return self._repository.list_for_plan(plan_id)

    def diff_checkpoints(
        self, from_id: str, to_id: str, *, path_glob: str | None = None
    ) -> CheckpointDiff:
        """The unified diff of content from one checkpoint's snapshot to another's.

        Any two checkpoints, of one plan or two; see :mod:`.checkpoint_diff` for the
        format. ``RecordNotFoundError`` for an unknown checkpoint, ``ValueError`` for
        one without a workspace snapshot.
        """
        return diff_checkpoints(self._repository, from_id, to_id, path_glob=path_glob)

    def prune(
        self,
        plan_id: str,
        keep_last: int | None = None,
        *,
        older_than: timedelta | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Remove the plan's oldest checkpoints until every given limit holds; returns how many.

        ``keep_last``: keep the newest N (0 removes all); ``older_than``: remove those
        made longer ago; ``max_bytes``: the stored bytes only this plan's checkpoints
        reference. The last two never remove the newest; no limit is a ``ValueError``.
        """
        return self._repository.prune(
            plan_id, keep_last, older_than=older_than, max_bytes=max_bytes
        )

    def prune_report(
        self, plan_id: str, limits: RetentionLimits, *, dry_run: bool = False
    ) -> PruneReport:
        """:meth:`prune`, reporting the checkpoints and stored bytes removed (or, with
        ``dry_run``, that would be: nothing is written)."""
        return self._repository.prune_report(plan_id, limits, dry_run=dry_run)

    def prune_all(self, *, max_bytes: int, dry_run: bool = False) -> PruneReport:
        """Remove the oldest checkpoints of every plan, never a plan's newest, until the
        stored content of the whole database takes at most ``max_bytes``."""
        return self._repository.prune_all(max_bytes, dry_run=dry_run)

    def verify_checkpoint(self, checkpoint_id: str, *, progress: Progress | None = None) -> bool:
        """Re-read and re-hash every object the checkpoint needs, and recompute its diff hash.

        ``progress`` hears the ``verify`` stage (:mod:`cleveragents.domain.progress`).
        """
        progress = checked_progress(progress)
        key = self._header(checkpoint_id).checkpoint_id  # known, before anything is read
        # Its metadata (a first snapshot's lists every path) only once the content is checked.
        return verify(self._repository, key, lambda: self._require(key), progress=progress)
