"""What a checkpoint service keeps of each recent plan between calls: its last scan and watcher.

The next snapshot of the plan compares against the scan instead of reading the
stat cache back, and the watcher says which paths to look at again (a
:class:`~cleveragents.domain.workspace_ports.Watcher`). The memory is used only while its
snapshot is still the plan's latest checkpoint, for the same sandbox folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents._logging import get_logger
from cleveragents.domain.models.core.checkpoint import Checkpoint
from cleveragents.domain.workspace import Changes, Scan, ScannedFile
from cleveragents.domain.workspace_ports import SandboxWatching, Watcher

_log = get_logger(__name__)

REMEMBERED_PLANS = 16


@dataclass(frozen=True)
class Baseline:
    """A plan's last snapshot scan, and the checkpoint that stored it."""

    checkpoint_id: str
    scan: Scan
    # Files whose stat data changed since the stat cache in the database was written.
    cache_lag: int = 0
    # The sum of the scan's file sizes (None: not counted yet).
    total_size: int | None = None


@dataclass
class Remembered:
    """What is kept of a plan between snapshots: its folder, last scan and watcher.

    A restore into the folder drains the watcher (so that its own writes are told
    apart from later ones) and notes what it wrote: ``drained`` keeps those
    changes for the next snapshot, ``trusted`` the written files with the stat
    data they had right after being written (None for what it removed).
    """

    root: str
    baseline: Baseline
    watcher: Watcher | None
    drained: Changes = field(default_factory=Changes)
    trusted: dict[str, ScannedFile | None] = field(default_factory=dict)
    # Paths a restore brought from a checkpoint of the plan: the plan knows them.
    restored: set[str] = field(default_factory=set)

    def since_baseline(self, fresh: Changes) -> Changes:
        """``fresh`` (from the watcher) with what was drained and written before."""
        return Changes(
            files=fresh.files | self.drained.files | self.trusted.keys(),
            folders=fresh.folders | self.drained.folders,
        )

    def watches(self, target: Path) -> bool:
        """True when ``target`` is this plan's sandbox and a watcher looks after it."""
        return self.watcher is not None and os.path.realpath(self.root) == os.path.realpath(target)


class SandboxMemory:
    """The last scan and watcher of each recent plan (oldest first, at most 16); thread-safe."""

    def __init__(self, *, watch: bool, watching: SandboxWatching) -> None:
        self._watch = watch
        self._watching = watching
        self._plans: dict[str, Remembered] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Remembered | None:
        """The plan's memory, left in place (a restore reads it, a snapshot replaces it)."""
        with self._lock:
            return self._plans.get(key)

    def recall(
        self, key: str, root: Path, parent: Checkpoint | None
    ) -> tuple[Remembered | None, Watcher | None, Changes | None]:
        """The plan's memory, its watcher, and every change since its baseline.

        Taken out of the memory (the snapshot puts back its own). The memory is None
        unless its baseline is still the plan's latest checkpoint (in this process
        or any other), for the same sandbox folder; the changes are None when the
        watcher cannot vouch for the tree.
        """
        with self._lock:
            remembered = self._plans.pop(key, None)
        if remembered is None:
            return None, None, None
        watcher = remembered.watcher
        if (
            parent is None
            or remembered.root != str(root)
            or remembered.baseline.checkpoint_id != parent.checkpoint_id
        ):
            return None, watcher, None
        fresh = watcher.drain() if watcher is not None else None
        return remembered, watcher, None if fresh is None else remembered.since_baseline(fresh)

    def watches(self, key: str, target: Path) -> bool:
        """True when the plan's memory watches ``target`` (a restore there notes its writes)."""
        remembered = self.get(key)
        return remembered is not None and remembered.watches(target)

    def note_restore(self, key: str, target: Path, written: dict[str, ScannedFile | None]) -> None:
        """A restore wrote ``written`` into the plan's watched sandbox ``target``.

        The watcher is drained now, so the next look tells later changes from the
        restore's own; the restore's files are trusted by their stat data.
        """
        remembered = self.get(key)
        if remembered is None or remembered.watcher is None or not remembered.watches(target):
            return
        fresh = remembered.watcher.drain()
        if fresh is None:  # it cannot vouch for the tree any more: forget the plan
            self.release(key)
            return
        with self._lock:
            remembered.drained = Changes(
                remembered.drained.files | fresh.files, remembered.drained.folders | fresh.folders
            )
            remembered.trusted.update(written)
            remembered.restored.update(path for path, file in written.items() if file is not None)

    def new_watcher(self, root: Path) -> Watcher | None:
        """A watcher for ``root``, or None (watching off, a remote file system, no inotify)."""
        if not self._watch or not self._watching.watchable(str(root)):
            return None
        try:
            return self._watching.start(str(root))
        except OSError as exc:  # out of inotify instances: walk every time
            _log.warning("snapshot.watch_unavailable", root=str(root), reason=str(exc))
            return None

    def remember(self, key: str, remembered: Remembered) -> None:
        """Keep the plan's new memory; the oldest plan's goes beyond REMEMBERED_PLANS."""
        with self._lock:
            replaced = self._plans.pop(key, None)
            self._plans[key] = remembered
            dropped = [replaced] if replaced is not None else []
            while len(self._plans) > REMEMBERED_PLANS:
                dropped.append(self._plans.pop(next(iter(self._plans))))
        for each in dropped:
            if each.watcher is not None and each.watcher is not remembered.watcher:
                each.watcher.close()

    def release(self, key: str) -> None:
        """Forget the plan and stop watching its sandbox."""
        with self._lock:
            remembered = self._plans.pop(key, None)
        if remembered is not None and remembered.watcher is not None:
            remembered.watcher.close()

    def close(self) -> None:
        """Forget every plan and stop every watcher."""
        with self._lock:
            remembered = list(self._plans.values())
            self._plans.clear()
        for each in remembered:
            if each.watcher is not None:
                each.watcher.close()
