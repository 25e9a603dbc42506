"""Swapping staged files into a tree, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

from cleveragents.infrastructure.workspace.safe_paths import resolve_under


class FileSwap:
    """Moves staged files into a tree, keeping what they replace so every step can be undone."""

    def __init__(self, target: Path, staging: Path) -> None:
        self.target = target
        self.staging = staging
        self.undo: list[tuple[Path, Path | None]] = []  # (target path, backup or None)

    def put(self, path: str, staged: Path | None) -> None:
        destination = resolve_under(self.target, path)
        if staged is not None:
            self._make_parents(destination.parent)
        backup: Path | None = None
        if os.path.lexists(destination):
            backup = self.staging / "backup" / str(len(self.undo))
            backup.parent.mkdir(parents=True, exist_ok=True)
            destination.replace(backup)
        self.undo.append((destination, backup))
        if staged is not None:
            staged.replace(destination)

    def _make_parents(self, folder: Path) -> None:
        missing: list[Path] = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir()
            self.undo.append((created, None))

    def roll_back(self) -> None:
        for destination, backup in reversed(self.undo):
            if destination.is_dir() and not destination.is_symlink():
                destination.rmdir()
            elif os.path.lexists(destination):
                destination.unlink()
            if backup is not None:
                backup.replace(destination)
