"""The ports through which the application reaches a sandbox on disk.

The checkpoint, apply and rollback services never import the file system's
side; they are handed a :class:`Workspace` (or get the default one from the
composition root, see ``application.ports``). ``infrastructure.workspace.local``
implements every port on the local file system. A port states what the services
call, nothing more; the data it carries is in :mod:`.workspace`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class Watcher(Protocol):
    """Change notification for one tree: what changed since the last drain."""

    def watch(self, prefix: str, folder: str) -> None:
        """Watch ``folder`` (``prefix``: its tree-relative path with a trailing ``/``)."""

    def drain(self) -> Changes | None:
        """The paths changed since the last drain, or None when they cannot be trusted."""

    def peek(self) -> Changes | None:
        """What :meth:`drain` would return, without forgetting it."""

    def close(self) -> None:
        """Stop watching (idempotent)."""


class SandboxWatching(Protocol):
    """Starts watchers."""

    def watchable(self, root: str) -> bool:
        """True when a watcher on ``root`` would see every write."""

    def start(self, root: str) -> Watcher:
        """A new watcher for the tree at ``root``; ``OSError`` when none can be made."""


class SandboxScanner(Protocol):
    """Reads a tree: its files, symlinks and empty folders, with their hashes and stat data."""

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
        """Walk ``root``; a file whose stat data match ``previous`` keeps that object.

        ``progress`` hears the ``scan`` and ``read`` stages (:mod:`.progress`).
        ``previous_clean`` is the :attr:`Scan.clean` of the scan that made ``previous``.
        """

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
        """``previous`` brought up to date by looking again only at ``changes``.

        None when the changes make every path's ignore rule uncertain (the top
        ``.gitignore`` or ``.git/info/exclude`` changed): walk the tree again.
        ``in_place``: ``previous`` is the caller's to give away, and its table of
        files may become the new scan's (the result's ``before`` keeps what changed).
        """

    def validate_excludes(self, excludes: Sequence[str]) -> tuple[str, ...]:
        """``excludes`` as a tuple of gitignore pattern lines; ``ValueError`` if one is not."""

    def load_cache(self, data: bytes | None) -> dict[str, ScannedFile] | None:
        """The files of a stat cache written by :meth:`Scan.cache_bytes`, or None."""


class FileSwap(Protocol):
    """Changes a tree all or nothing, under a journal that survives a crash."""

    def locked_staging(self, target: Path) -> AbstractContextManager[Path]:
        """A new staging folder in ``target``, locked by this process while in use."""

    def run_steps(
        self,
        target: Path,
        staging: Path,
        steps: Sequence[Step],
        stage: Callable[[], object] | None = None,
    ) -> None:
        """Journal ``steps``, stage their content (``stage``), run them; undone on error."""

    def recover_interrupted(self, target: Path) -> list[str]:
        """Undo (or complete) what a swap killed mid-way left in ``target``; the folders undone."""


class PathGuard(Protocol):
    """Workspace-relative paths under one root, never reached through a symlinked folder."""

    def locate(self, relative: str) -> tuple[str, bool]:
        """The absolute path, and whether anything is there now."""


class SafeFiles(Protocol):
    """Reading and making single files and symlinks, byte for byte."""

    def existing_directory(self, value: object, name: str) -> Path:
        """``value`` as a Path when it names an existing folder, else ``ValueError``."""

    def guard(self, root: Path) -> PathGuard:
        """A guard for the paths under ``root``."""

    def read_state(self, guard: PathGuard, path: str) -> PathState | None:
        """What ``path`` holds now, or None when nothing is there."""

    def link_target(self, path: str) -> bytes:
        """A symlink's target, exactly as the kernel keeps it."""

    def make_link(self, target: bytes, place: str) -> None:
        """Create the symlink ``place`` pointing at ``target``."""

    def write_new(self, place: str, data: bytes, mode: int) -> os.stat_result:
        """Create the file ``place`` holding ``data`` with exactly ``mode``; its stat."""

    def write_pieces(self, place: str, pieces: Iterable[bytes], mode: int) -> os.stat_result:
        """Create the file ``place`` holding ``pieces`` in order with exactly ``mode``."""

    def source(self, path: str, size: int) -> ContentSource:
        """The content of the file at ``path`` (``size`` bytes when scanned), read when used."""


class RestorePlanner(Protocol):
    """Works out the steps that bring a tree to a checkpoint's state, before any write."""

    def plan_restore(
        self,
        target: Path,
        wanted: Mapping[str, ManifestEntry],
        current: Mapping[str, ManifestEntry],
        removable: Callable[[str], bool],
        *,
        exists: bool = True,
    ) -> RestorePlan:
        """The steps from ``current`` to ``wanted``; every refusal raises here."""


@dataclass(frozen=True)
class Workspace:
    """Every port of the sandbox side, handed to a service as one value."""

    scanner: SandboxScanner
    watching: SandboxWatching
    swap: FileSwap
    files: SafeFiles
    planner: RestorePlanner
