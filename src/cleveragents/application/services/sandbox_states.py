"""What a plan's sandbox holds, read as cheaply as the plan's last snapshot allows.

A snapshot or an in-place restore needs the sandbox's state. When this process
took the plan's last snapshot and watches the folder, only what changed since is
looked at; in a new process, the stat cache of the last snapshot spares reading
files whose stat data did not change. Every function here only reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from cleveragents.application.services.sandbox_memory import Baseline, SandboxMemory
from cleveragents.application.services.workspace_restore import TreeStates
from cleveragents.domain.errors import RecordNotFoundError
from cleveragents.domain.models.core.checkpoint import Checkpoint, ManifestEntry
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.progress import Progress
from cleveragents.domain.workspace import Scan, ScannedFile, ScanSettings, same_state
from cleveragents.domain.workspace_ports import SandboxScanner


def stored_baseline(
    repository: CheckpointStore, scanner: SandboxScanner, key: str, parent: Checkpoint | None
) -> Baseline | None:
    """The plan's last snapshot, with the stat data its stat cache has for its files.

    The cache may be older than that snapshot (a watcher's snapshots rewrite it
    only now and then): a cached file vouches for its stat data only where it has
    the same content as in the last snapshot. Unvouched files are read again.
    """
    cached = repository.stat_cache(key) if parent is not None else None
    if cached is None or parent is None:
        return None
    checkpoint_id, started_ns, data = cached
    files = scanner.load_cache(data) or {}
    if parent.checkpoint_id != checkpoint_id or not files:
        last = _last_snapshot(repository, parent)
        if last is None:  # no snapshot is left in the plan's line: read everything
            return None
        checkpoint_id, manifest = last
        unknown = (-1, -1, -1, -1, -1)
        merged: dict[str, ScannedFile] = {}
        for entry in manifest:
            hint = files.get(entry.path)
            if hint is None or not same_state(hint.entry, entry):
                hint = ScannedFile(entry, unknown)
            merged[entry.path] = hint
        files = merged
    return Baseline(checkpoint_id, Scan(files=files, started_ns=started_ns))


def _last_snapshot(
    repository: CheckpointStore, newest: Checkpoint
) -> tuple[str, list[ManifestEntry]] | None:
    """(id, manifest) of the newest snapshot among ``newest`` and its ancestors."""
    checkpoint: Checkpoint | None = newest
    while checkpoint is not None:
        manifest = repository.manifest(checkpoint.checkpoint_id)
        if manifest is not None:
            return checkpoint.checkpoint_id, manifest
        parent_id = checkpoint.parent_id
        checkpoint = repository.get(parent_id) if parent_id else None
    return None


def watched_states(
    repository: CheckpointStore,
    scanner: SandboxScanner,
    memory: SandboxMemory,
    settings: ScanSettings,
    checkpoint: Checkpoint,
    target: Path,
    *,
    progress: Progress | None = None,
) -> TreeStates | None:
    """The paths where the plan's watched sandbox may differ from the checkpoint, or None.

    When ``target`` is the sandbox the plan's last snapshot was taken of and its
    watcher still vouches for it, the only paths that may differ are those where
    the checkpoint differs from that snapshot (read from the two trees, only the
    sub-trees that differ) and those changed since (the watcher's report, which
    stays for the next snapshot). Like ``git checkout`` with its index.
    """
    remembered = memory.get(checkpoint.plan_id)
    if remembered is None or remembered.watcher is None or not remembered.watches(target):
        return None
    changes = remembered.watcher.peek()
    if changes is None:
        return None
    baseline = remembered.baseline
    try:
        compared = repository.tree_diff(checkpoint.checkpoint_id, baseline.checkpoint_id)
    except RecordNotFoundError:  # the last snapshot was pruned meanwhile
        return None
    if compared is None:
        return None
    found = scanner.rescan(
        target,
        settings,
        baseline.scan,
        remembered.since_baseline(changes),
        remembered.watcher,
        keep_content=False,
        trusted=remembered.trusted,
        progress=progress,
    )
    if found is None:  # the ignore rules of the whole tree changed: walk it
        return None
    wanted, before = compared
    candidates = set(wanted) | set(before) | (found.touched or set())
    last = baseline.scan.files
    return TreeStates(
        wanted={
            path: wanted[path] if path in wanted else last[path].entry
            for path in candidates
            if path in wanted or (path not in before and path in last)
        },
        current={path: found.files[path].entry for path in candidates if path in found.files},
        partial=True,
        known=frozenset(before) | remembered.restored,
    )


def current_state(
    repository: CheckpointStore,
    scanner: SandboxScanner,
    memory: SandboxMemory,
    settings: ScanSettings,
    key: str,
    target: Path,
    *,
    progress: Progress | None = None,
) -> tuple[dict[str, ManifestEntry], frozenset[str]]:
    """What ``target`` holds now, and the paths the plan's latest snapshot holds.

    For the sandbox of the plan's latest snapshot, files whose stat data match
    the stat cache (or this process's last scan of it) are not read again.
    """
    place = os.path.realpath(target)
    latest = repository.latest_for_plan(key)
    previous: Scan | None = None
    known: frozenset[str] = frozenset()
    if latest is not None and os.path.realpath(latest.sandbox_ref) == place:
        remembered = memory.get(key)
        if remembered is not None and remembered.baseline.checkpoint_id == latest.checkpoint_id:
            previous = remembered.baseline.scan
        else:
            stored = stored_baseline(repository, scanner, key, latest)
            previous = stored.scan if stored is not None else None
    if previous is not None:
        known = frozenset(previous.files)
    found = scanner.scan(
        target,
        settings,
        previous.files if previous is not None else None,
        previous.started_ns if previous is not None else 0,
        keep_content=False,
        progress=progress,
        previous_clean=previous.clean if previous is not None else None,
    )
    return {path: each.entry for path, each in found.files.items()}, known
