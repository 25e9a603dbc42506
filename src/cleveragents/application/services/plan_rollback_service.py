"""Rolling a plan back to one of its checkpoints: the sandbox and the record, together.

A rollback first takes a ``pre_rollback`` safety checkpoint of the sandbox as it
is (so it can be undone: roll back to that checkpoint), then resets the sandbox
exactly to the checkpoint, removing what the checkpoint lacks (ignored paths
stay, and so do files too large to have been stored), then marks every entry
and tool invocation recorded after the checkpoint as rolled back by the safety
checkpoint (``rolled_back_by``), in one transaction. Marked records stay for the
audit trail; ``summarize``, ``plan diff`` and ``apply`` leave them out.

Which records are "after" the checkpoint is decided by the database's own
numbering, not by clocks (see ``infrastructure.database.rollback_marks``).

A ``progress`` callback hears the ``scan`` and ``read`` stages of the check of
the sandbox, the safety snapshot's stages, the reset's, then ``records`` (see
:mod:`cleveragents.domain.progress`). Once the reset has changed the sandbox the
records must follow: what the callback raises from then on is raised once they
are marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from cleveragents._logging import get_logger
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.errors import RecordNotFoundError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.change import ChangeSetStore
from cleveragents.domain.progress import Progress, Stage, checked_progress
from cleveragents.infrastructure.database.session import SessionFactory, same_database

_log = get_logger(__name__)

ROLLBACK_CHECKPOINT_TYPE = "pre_rollback"


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did (or, with ``dry_run``, would do); the path lists are sorted."""

    checkpoint_id: str
    safety_checkpoint_id: str | None
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rolled_back_entries: int = 0
    rolled_back_invocations: int = 0
    dry_run: bool = False


class _Reports:
    """The rollback's callback: from the reset's last step on, it holds what the user's raises.

    The reset's last report (``swap`` done) comes once the sandbox is changed; from
    then on, an exception waits until :meth:`release`, after the records are marked.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._holding = False
        self._held: BaseException | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self._holding = self._holding or (stage == "swap" and done == total)
        if not self._holding:
            self._progress(stage, done, total)
            return
        try:
            self._progress(stage, done, total)
        except BaseException as exc:  # raised by release(), once the records are marked
            self._held = self._held or exc

    def hold(self) -> None:
        """The sandbox is reset (or was already at the checkpoint): hold from now on."""
        self._holding = True

    def release(self) -> None:
        """Raise what the callback raised while held."""
        if self._held is not None:
            raise self._held


def _factory_of(component: object, name: str) -> SessionFactory:
    factory: object = getattr(component, "session_factory", None)
    if not callable(factory):
        raise ValueError(f"cannot tell which database the {name} uses: it has no session_factory")
    return cast(SessionFactory, factory)


class PlanRollbackService:
    """Rolls a plan's sandbox and records back to one of its checkpoints."""

    def __init__(self, changeset_store: ChangeSetStore, checkpoints: CheckpointService) -> None:
        if changeset_store is None:
            raise ValueError("changeset_store is required (got None)")
        if not isinstance(checkpoints, CheckpointService):
            raise ValueError("checkpoints must be a CheckpointService")
        store_factory = _factory_of(changeset_store, "changeset store")
        checkpoint_factory = _factory_of(checkpoints.repository, "checkpoint service")
        if not same_database(store_factory, checkpoint_factory):
            raise ValueError(
                "the changeset store and the checkpoint service must use the same database"
            )
        self._store = changeset_store
        self._checkpoints = checkpoints

    def rollback(
        self,
        plan_id: str,
        checkpoint_id: str,
        sandbox_dir: str | Path,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RollbackResult:
        """Reset ``sandbox_dir`` to the checkpoint and roll back what was recorded after it.

        ``RecordNotFoundError`` for an unknown checkpoint, ``ValueError`` for a
        checkpoint of another plan; a dry run changes nothing and reports.
        """
        key = valid_id(plan_id, "plan_id")
        target_id = valid_id(checkpoint_id, "checkpoint_id")
        checked = checked_progress(progress)
        reports = _Reports(checked) if checked is not None else None
        files = self._checkpoints.workspace.files  # the sandbox is the checkpoints'
        sandbox = files.existing_directory(sandbox_dir, "sandbox_dir")
        checkpoint = self._checkpoints.get_checkpoint(target_id)
        if checkpoint is None:
            raise RecordNotFoundError(f"checkpoint {target_id} does not exist")
        if checkpoint.plan_id != key:
            raise ValueError(
                f"checkpoint {target_id} belongs to plan {checkpoint.plan_id}, not to {key}"
            )
        # Every refusal of the reset (no snapshot, a symlink or a folder in the way)
        # comes before the safety checkpoint is made: a refused rollback leaves nothing.
        preview = self._checkpoints.reset_workspace(
            target_id, sandbox, dry_run=True, progress=reports
        )
        if dry_run:
            entries, invocations = self._store.roll_back(key, target_id, None, dry_run=True)
            return RollbackResult(
                target_id, None, preview.written, preview.removed, entries, invocations, True
            )
        safety = self._checkpoints.create_workspace_snapshot(
            key,
            str(sandbox),
            target_id,
            description=f"before rolling back to checkpoint {target_id}",
            checkpoint_type=ROLLBACK_CHECKPOINT_TYPE,
            progress=reports,
        )
        restored = self._checkpoints.reset_workspace(target_id, sandbox, progress=reports)
        if reports is not None:
            reports.hold()
        records = Stage(reports, "records", 1)  # one transaction
        entries, invocations = self._store.roll_back(key, target_id, safety.checkpoint_id)
        records.finish()
        _log.info(
            "plan.rolled_back",
            plan_id=key,
            checkpoint_id=target_id,
            safety_checkpoint_id=safety.checkpoint_id,
            written=len(restored.written),
            removed=len(restored.removed),
            entries=entries,
            invocations=invocations,
        )
        if reports is not None:
            reports.release()
        return RollbackResult(
            target_id,
            safety.checkpoint_id,
            restored.written,
            restored.removed,
            entries,
            invocations,
            False,
        )
