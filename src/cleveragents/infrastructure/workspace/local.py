"""The workspace ports on the local file system: thin adapters over this package's modules.

``LOCAL_WORKSPACE`` is what the services use unless they are handed another
:class:`~cleveragents.domain.workspace_ports.Workspace`; the composition root
supplies it (``cleveragents._wiring``). Each method calls its module's function
by attribute, so the adapters add no logic of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from cleveragents.domain.models.core.checkpoint import ContentSource, ManifestEntry
from cleveragents.domain.progress import Progress
from cleveragents.domain.workspace import (
    Changes,
    CleanFolders,
    PathState,
    RestorePlan,
    Scan,
    ScannedFile,
    ScanSettings,
    Step,
)
from cleveragents.domain.workspace_ports import PathGuard, Watcher, Workspace
from cleveragents.infrastructure.workspace import (
    file_swap,
    ignore_rules,
    path_state,
    restore_plan,
    safe_paths,
    scanner,
)
from cleveragents.infrastructure.workspace import watcher as watcher_module


class LocalScanner:
    """:mod:`.scanner`: walks, and the stat cache."""

    def scan(
        self,
        root: Path,
        settings: ScanSettings,
        previous: Mapping[str, ScannedFile] | None = None,
        previous_started_ns: int = 0,
        *,
        watcher: Watcher | None = None,
        keep_content: bool = True,
        progress: Progress | None = None,
        previous_clean: CleanFolders | None = None,
    ) -> Scan:
        return scanner.scan(
            root,
            settings,
            previous,
            previous_started_ns,
            watcher=watcher,
            keep_content=keep_content,
            progress=progress,
            previous_clean=previous_clean,
        )

    def rescan(
        self,
        root: Path,
        settings: ScanSettings,
        previous: Scan,
        changes: Changes,
        watcher: Watcher,
        *,
        keep_content: bool = True,
        trusted: Mapping[str, ScannedFile | None] | None = None,
        progress: Progress | None = None,
        in_place: bool = False,
    ) -> Scan | None:
        return scanner.rescan(
            root,
            settings,
            previous,
            changes,
            watcher,
            keep_content=keep_content,
            trusted=trusted,
            progress=progress,
            in_place=in_place,
        )

    def validate_excludes(self, excludes: Sequence[str]) -> tuple[str, ...]:
        return ignore_rules.validate_excludes(excludes)

    def load_cache(self, data: bytes | None) -> dict[str, ScannedFile] | None:
        return scanner.load_cache(data)


class LocalWatching:
    """:mod:`.watcher`: inotify on Linux, on local file systems."""

    def watchable(self, root: str) -> bool:
        return watcher_module.watchable(root)

    def start(self, root: str) -> Watcher:
        return watcher_module.TreeWatcher(root)


class LocalSwap:
    """:mod:`.file_swap`: journaled swaps and their recovery."""

    def locked_staging(self, target: Path) -> AbstractContextManager[Path]:
        return file_swap.locked_staging(target)

    def run_steps(
        self,
        target: Path,
        staging: Path,
        steps: Sequence[Step],
        stage: Callable[[], object] | None = None,
    ) -> None:
        file_swap.run_steps(target, staging, steps, stage)

    def recover_interrupted(self, target: Path) -> list[str]:
        return file_swap.recover_interrupted(target)


class LocalFiles:
    """:mod:`.safe_paths` and :mod:`.path_state`: single paths, never through a symlink."""

    def existing_directory(self, value: object, name: str) -> Path:
        return safe_paths.existing_directory(value, name)

    def guard(self, root: Path) -> PathGuard:
        return safe_paths.SafeRoot(root)

    def read_state(self, guard: PathGuard, path: str) -> PathState | None:
        return path_state.read_state(guard, path)

    def link_target(self, path: str) -> bytes:
        return safe_paths.link_target(path)

    def make_link(self, target: bytes, place: str) -> None:
        safe_paths.make_link(target, place)

    def write_new(self, place: str, data: bytes, mode: int) -> os.stat_result:
        return safe_paths.write_new(place, data, mode)

    def write_pieces(self, place: str, pieces: Iterable[bytes], mode: int) -> os.stat_result:
        return safe_paths.write_pieces(place, pieces, mode)

    def source(self, path: str, size: int) -> ContentSource:
        return safe_paths.FileSource(path, size)


class LocalPlanner:
    """:mod:`.restore_plan`: the steps of a restore."""

    def plan_restore(
        self,
        target: Path,
        wanted: Mapping[str, ManifestEntry],
        current: Mapping[str, ManifestEntry],
        removable: Callable[[str], bool],
        *,
        exists: bool = True,
    ) -> RestorePlan:
        return restore_plan.plan_restore(target, wanted, current, removable, exists=exists)


LOCAL_WORKSPACE = Workspace(
    scanner=LocalScanner(),
    watching=LocalWatching(),
    swap=LocalSwap(),
    files=LocalFiles(),
    planner=LocalPlanner(),
)
