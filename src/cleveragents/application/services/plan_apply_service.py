"""Applying a plan's recorded changes to a target tree, and cleaning up after it.

``apply`` is all or nothing and can be retried: every check (paths, before and
after states, sandbox content) runs before the target is touched, a path whose
target already holds its final state counts as applied (so a second ``apply``
of an applied plan writes nothing and succeeds), new content is staged next to
the target, and the changes run under a journal (the workspace's file swap):
a failure rolls back every step taken, and so does the next ``apply`` (or
:meth:`PlanApplyService.recover`) after a process was killed mid-way.
Rolled-back entries are left out.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents.application.ports import default_workspace
from cleveragents.application.services.apply_plan import (
    ApplyError,
    ApplyPlan,
    Final,
    SandboxModes,
    Simulation,
    compare,
    simulate,
)
from cleveragents.domain.errors import RecordNotFoundError
from cleveragents.domain.models.core._types import require_id as valid_id
from cleveragents.domain.models.core.change import ChangeSetStore, EntryKind
from cleveragents.domain.workspace import (
    STAGING_PREFIX,
    STEP_ORDER,
    Step,
    place_beside,
    staged_at,
    staging_token,
)
from cleveragents.domain.workspace_ports import PathGuard, SafeFiles, Workspace

_log = get_logger(__name__)

__all__ = ["STAGING_PREFIX", "ApplyError", "ApplyResult", "PlanApplyService"]


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` changed in the target: every list sorted.

    ``already_applied`` lists paths whose target already held the plan's final
    state; ``modes`` paths whose permission bits alone were changed.
    """

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)


class PlanApplyService:
    """Promotes a plan's recorded changes and cleans up its changeset artifacts."""

    def __init__(
        self, changeset_store: ChangeSetStore, *, workspace: Workspace | None = None
    ) -> None:
        """``workspace``: the sandbox ports (default: the local file system's)."""
        if changeset_store is None:
            raise ValueError("changeset_store is required (got None)")
        self._store = changeset_store
        self._workspace = workspace if workspace is not None else default_workspace()

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
        """Undo what an ``apply`` or a restore killed mid-way left in ``target_dir``.

        Every abandoned staging folder (``.cleveragents-apply-*``, its lock not held
        by a live process) is rolled back from its journal: backups go back, new
        files and the folders the swap made are removed. A swap that committed is
        left done. Returns the staging folders that were undone. ``apply``,
        restores and snapshots do this first for their own folder.
        """
        target = self._workspace.files.existing_directory(target_dir, "target_dir")
        return self._recover(target.resolve())

    def _recover(self, target: Path) -> list[str]:
        undone = self._workspace.swap.recover_interrupted(target)
        if undone:
            _log.warning("plan.apply_recovered", target=str(target), undone=undone)
        return undone

    def apply(self, plan_id: str, sandbox_dir: str | Path, target_dir: str | Path) -> ApplyResult:
        """Promote the plan's live changes from ``sandbox_dir`` to ``target_dir``, all or nothing.

        Paths already in their final state are left alone (listed in
        ``already_applied``). On a genuine failure (a conflict, an I/O error, an
        unsafe path) the target is left as it was, the plan's changeset records are
        cleaned up and :class:`ApplyError` is raised naming every conflicting path.
        """
        key = valid_id(plan_id, "plan_id")
        files = self._workspace.files
        sandbox = files.existing_directory(sandbox_dir, "sandbox_dir").resolve()
        target = files.existing_directory(target_dir, "target_dir").resolve()
        self._recover(target)
        changesets = self._store.get_for_plan(key)
        if not any(cs.entries for cs in changesets):
            raise RecordNotFoundError(f"cannot apply plan {key}: it has no recorded changes")
        entries = [e for cs in changesets for e in cs.entries if e.rolled_back_by is None]
        try:
            simulation = simulate(entries)
            plan = compare(simulation, target, SandboxModes(sandbox, files), files)
            if plan.conflicts:
                raise ApplyError(_conflict_message(plan), conflicts=plan.conflicts)
            _execute(plan, sandbox, target, self._workspace)
        except (ApplyError, OSError, ValueError) as exc:
            deleted = self.cleanup_changeset(key)
            _log.warning("plan.apply_failed", plan_id=key, reason=str(exc), cleaned_up=deleted)
            conflicts = exc.conflicts if isinstance(exc, ApplyError) else []
            raise ApplyError(
                f"cannot apply plan {key}: {exc}; the cleanup deleted {deleted} changeset "
                "records of the plan",
                conflicts=conflicts,
                cleaned_up=deleted,
            ) from exc
        result = _result(plan, simulation)
        _log.info(
            "plan.applied",
            plan_id=key,
            written=len(result.written),
            already_applied=len(result.already_applied),
        )
        return result


def _conflict_message(plan: ApplyPlan) -> str:
    parts = [
        f"{path} (expected {expected or 'no file'}, found {found or 'no file'})"
        for path, expected, found in sorted(plan.conflicts)
    ]
    noun = "path holds" if len(parts) == 1 else "paths hold"
    return f"{len(parts)} {noun} neither the plan's expected nor its final state: " + "; ".join(
        parts
    )


def _execute(plan: ApplyPlan, sandbox: Path, target: Path, workspace: Workspace) -> None:
    """Stage the new content and run the steps under a journal (nothing when nothing to do)."""
    if not (plan.writes or plan.deletes or plan.modes):
        return
    steps: dict[str, list[Step]] = {kind: [] for kind in STEP_ORDER}
    for path, (old, new) in sorted(plan.modes.items()):
        steps["chmod"].append(Step("chmod", path, mode=new, old_mode=old))
    for index, path in enumerate(sorted(plan.there)):
        steps["out"].append(Step("out", path, staged=f"backup/{index}"))
    files = workspace.files
    missing = _missing_folders(files.guard(target), plan)
    steps["mkdir"] = [Step("mkdir", folder) for folder in missing]
    writes = sorted(plan.writes.items())
    steps["in"] = [
        Step("in", path, staged=f"new/{index}", beside=path.rpartition("/")[0] not in missing)
        for index, (path, _) in enumerate(writes)
    ]
    swap = workspace.swap
    with swap.locked_staging(target) as staging:
        ordered = [step for kind in STEP_ORDER for step in steps[kind]]
        place_beside(ordered, staging_token(staging))
        sandbox_guard = files.guard(sandbox)

        def stage() -> None:
            placed = (step for step in ordered if step.kind == "in")  # in the order of writes
            for step, (path, final) in zip(placed, writes, strict=True):
                place = staged_at(step, os.fspath(target), os.fspath(staging))
                _stage(files, sandbox_guard, path, final, place)

        swap.run_steps(target, staging, ordered, stage)


def _missing_folders(guard: PathGuard, plan: ApplyPlan) -> list[str]:
    """The folders above the written paths that are not there yet, outermost first."""
    missing: set[str] = set()
    for path in plan.writes:
        folder = path.rpartition("/")[0]
        while folder and folder not in missing:
            absolute, there = guard.locate(folder)
            if there:
                if not stat.S_ISDIR(os.lstat(absolute).st_mode):
                    raise ApplyError(f"cannot write {path}: {folder} in the target is not a folder")
                break
            missing.add(folder)
            folder = folder.rpartition("/")[0]
    return sorted(missing, key=lambda f: (f.count("/"), f))


def _stage(files: SafeFiles, guard: PathGuard, path: str, final: Final, place: str) -> None:
    """Copy the sandbox's ``path`` to ``place`` after checking it is the final state."""
    source, there = guard.locate(path)
    if not there:
        raise ApplyError(f"{path} is missing from the sandbox")
    info = os.lstat(source)
    if final.kind is EntryKind.SYMLINK:
        if not stat.S_ISLNK(info.st_mode):
            raise ApplyError(f"{path} in the sandbox is not a symlink")
        data = files.link_target(source)
        files.make_link(data, place)
    else:
        if not stat.S_ISREG(info.st_mode):
            raise ApplyError(f"{path} in the sandbox is not a regular file")
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        mode = final.mode if final.mode is not None else stat.S_IMODE(info.st_mode)
        files.write_new(place, data, mode)
    found = hashlib.sha256(data).hexdigest()
    if found != final.sha256:
        raise ApplyError(
            f"{path} in the sandbox has hash {found}, the plan recorded {final.sha256}"
        )


def _result(plan: ApplyPlan, simulation: Simulation) -> ApplyResult:
    renamed = sorted(
        (old, new) for old, new in simulation.renamed if new in plan.writes and old in plan.deletes
    )
    moved = {old for old, _ in renamed} | {new for _, new in renamed}
    return ApplyResult(
        written=sorted(p for p in plan.writes if p not in moved),
        deleted=sorted(p for p in plan.deletes if p not in moved),
        renamed=renamed,
        already_applied=sorted(plan.already_applied),
        modes=sorted(plan.modes),
    )
