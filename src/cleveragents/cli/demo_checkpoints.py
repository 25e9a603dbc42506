"""The checkpoint side of the demo: a snapshot before each step, then a restore shown back.

Everything printed is read back from the database: the snapshot lines, what a
restore wrote and removed, and the verification. (``plan status`` lists the
checkpoints themselves.)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.cli.checkpoint_views import (
    RestoreReport,
    diff_path_count,
    load_checkpoint,
    load_checkpoints,
    render_restore,
)
from cleveragents.cli.output import OutputFormat, write_text
from cleveragents.database import Database
from cleveragents.domain.models.core.change import ChangeEntry
from cleveragents.domain.models.core.checkpoint import Checkpoint

Heading = Callable[[str, OutputFormat], None]


def decision_id(step: int) -> str:
    """The decision id of a demo step's snapshot."""
    return f"step-{step}"


def snapshot_before(
    service: CheckpointService, plan_id: str, sandbox: Path, step: int, title: str
) -> Checkpoint:
    """Snapshot the sandbox before ``step`` and narrate the checkpoint as stored."""
    taken = service.create_workspace_snapshot(
        plan_id, str(sandbox), decision_id(step), description=title
    )
    stored = load_checkpoint(service, taken.checkpoint_id)
    changed = diff_path_count(stored)
    write_text(
        f"  checkpoint {stored.checkpoint_id} ({stored.checkpoint_type}, "
        f"{changed} changed path{'' if changed == 1 else 's'})"
    )
    return stored


def last_file_step(entries: list[ChangeEntry]) -> int | None:
    """The last step that changed a file, from the ``step`` metadata of the recorded entries."""
    steps = [step for entry in entries if isinstance(step := entry.metadata.get("step"), int)]
    return max(steps, default=None)


def show_checkpoints(
    database: Database,
    plan_id: str,
    sandbox: Path,
    fmt: OutputFormat,
    heading: Heading,
    *,
    keep: bool,
) -> Checkpoint | None:
    """Undo the last file-changing step in the sandbox (dry run), restore a copy, verify it.

    Returns the checkpoint restored (None when no step changed a file).
    """
    service = database.checkpoints
    checkpoints = load_checkpoints(service, plan_id)
    step = last_file_step(database.entries_for_plan(plan_id))
    wanted = decision_id(step) if step is not None else None
    chosen = next((c for c in checkpoints if c.metadata.decision_id == wanted), None)
    if chosen is None:
        return None
    cp_id = chosen.checkpoint_id
    heading(f"checkpoint restore --dry-run: undo step {step} in the sandbox", fmt)
    preview = service.restore_workspace(cp_id, sandbox, dry_run=True)
    render_restore(RestoreReport(cp_id, sandbox, preview), fmt)
    copy = Path(tempfile.mkdtemp(prefix="cleveragents-restored-"))
    try:
        heading(f"checkpoint restore: the sandbox before step {step}, into a new folder", fmt)
        restored = service.restore_workspace(cp_id, copy)
        render_restore(RestoreReport(cp_id, copy, restored), fmt)
        heading("checkpoint verify", fmt)
        verified = service.verify_checkpoint(cp_id)
        write_text(f"{cp_id}: {'ok' if verified else 'FAILED verification'}")
    finally:
        if keep:
            write_text(f"the restored copy is kept in {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    return chosen
