"""What a restore must do to bring a tree to a checkpoint's state, worked out before any write.

:func:`plan_restore` compares the tree as it is (a scan: files, symlinks and empty
folders) with the checkpoint's manifest and returns the journal steps of
:mod:`.file_swap` that get there, in the order they must run, plus what the
restore reports. Every transition between file, symlink, empty folder, folder
and nothing is a removal of what is there followed by a creation of what is
wanted. Nothing is written here; every refusal happens before the first step:

- a path that must become a folder (it lies above a wanted path) but holds a
  symlink the restore may not remove: :class:`UnsafePathError`, naming it;
- a file there that the restore may not remove, or a folder in the way of a
  file that holds something the restore may not remove (an untracked or an
  ignored path): ``ValueError``, naming it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cleveragents._pacing import paced
from cleveragents.domain.models.core.checkpoint import FileKind, ManifestEntry
from cleveragents.domain.workspace import (
    CONTENT_KINDS,
    STEP_ORDER,
    RestorePlan,
    Step,
    same_state,
)
from cleveragents.infrastructure.workspace.safe_paths import SafeRoot, UnsafePathError

__all__ = ["RestorePlan", "plan_restore", "same_state"]


def _ancestors(path: str) -> Iterable[str]:
    folder = path.rpartition("/")[0]
    while folder:
        yield folder
        folder = folder.rpartition("/")[0]


class _Planner:
    def __init__(
        self,
        target: Path,
        wanted: Mapping[str, ManifestEntry],
        current: Mapping[str, ManifestEntry],
        removable: Callable[[str], bool],
        exists: bool,
    ) -> None:
        self.target = target
        self.wanted = wanted
        self.current = current
        self.removable = removable
        self.exists = exists
        self.guard = SafeRoot(target)
        self.plan = RestorePlan()
        self.outs: dict[str, ManifestEntry] = {}  # files and symlinks to move out
        # Files and symlinks to put in: paths only, their entries stay in ``wanted``.
        self.writes: set[str] = set()
        self.chmods: dict[str, tuple[int, int]] = {}
        self.kept: set[str] = set()  # paths that stay as they are (untracked, large)
        self.wanted_folders: set[str] = set()  # empty folders the checkpoint has

    def run(self) -> RestorePlan:
        for path, have in paced(self.current.items()):
            if path not in self.wanted:
                if self.removable(path):
                    if have.kind is not FileKind.DIR:
                        self.outs[path] = have
                    self.plan.removed.append(have.shown_path)
                else:
                    self.kept.add(path)
        for path, want in paced(self.wanted.items()):
            self._want(path, want)
        needed = self._needed_folders()
        present = self._present_folders()
        rmdirs = self._folders_to_remove(present - needed)
        mkdirs = self._folders_to_make(needed, present)
        self._check_writes(present, rmdirs, mkdirs)
        self._unreport_filled_folders(rmdirs, mkdirs)
        self._assemble(rmdirs, mkdirs)
        for listing in (self.plan.written, self.plan.removed, self.plan.skipped):
            listing.sort()
        return self.plan

    def _want(self, path: str, want: ManifestEntry) -> None:
        have = self.current.get(path)
        if want.kind is FileKind.LARGE:  # not stored: whatever is there stays
            if not same_state(have, want):
                self.plan.skipped.append(path)
            if have is not None:
                self.kept.add(path)
            return
        if same_state(have, want):
            return
        self.plan.written.append(want.shown_path)
        if (
            have is not None
            and want.kind is FileKind.FILE
            and have.kind in CONTENT_KINDS
            and have.sha256 == want.sha256
        ):
            self.chmods[path] = (have.mode, want.mode)
            return
        if have is not None and have.kind is not FileKind.DIR:
            self.outs[path] = have
        if want.kind is FileKind.DIR:
            self.wanted_folders.add(path)
        else:
            self.writes.add(path)

    def _needed_folders(self) -> set[str]:
        """Every folder the tree must have afterwards (above what stays, or an empty one)."""
        needed: set[str] = set()
        staying = [p for p, w in self.wanted.items() if w.kind is not FileKind.LARGE]
        for path in (*staying, *self.kept):
            entry = self.wanted.get(path) or self.current[path]
            if entry.kind is FileKind.DIR:
                needed.add(path)
            for folder in _ancestors(path):
                if folder in needed:
                    break
                needed.add(folder)
        for folder in needed:
            have = self.current.get(folder)
            if have is not None and have.kind is not FileKind.DIR and folder not in self.outs:
                self._refuse_in_the_way(folder, have)
        return needed

    def _refuse_in_the_way(self, folder: str, have: ManifestEntry) -> None:
        where = self.target.joinpath(*folder.split("/"))
        if have.kind is FileKind.SYMLINK:
            raise UnsafePathError(
                f"cannot restore below {folder!r}: it would be written through the symlink "
                f"{where}, which no checkpoint of the plan knows "
                "(remove_untracked=True replaces it)"
            )
        raise ValueError(
            f"cannot restore below {folder!r}: the file {where} is in the way and no checkpoint "
            "of the plan knows it (remove_untracked=True replaces it)"
        )

    def _present_folders(self) -> set[str]:
        """The folders the scan saw: above a scanned path, or a scanned empty folder."""
        present: set[str] = set()
        for path, have in self.current.items():
            if have.kind is FileKind.DIR:
                present.add(path)
            for folder in _ancestors(path):
                if folder in present:
                    break
                present.add(folder)
        return present

    def _folders_to_remove(self, candidates: set[str]) -> set[str]:
        """The candidates that hold nothing once the removals are done (deepest decided first)."""
        gone: set[str] = set()
        prefix = os.fspath(self.target)
        for folder in sorted(candidates, key=lambda f: -f.count("/")):
            try:
                names = os.listdir(f"{prefix}/{folder}")
            except OSError:
                continue
            if all(f"{folder}/{name}" in self.outs or f"{folder}/{name}" in gone for name in names):
                gone.add(folder)
        return gone

    def _folders_to_make(self, needed: set[str], present: set[str]) -> set[str]:
        made: set[str] = set()
        for folder in sorted(needed, key=lambda f: f.count("/")):
            if folder in present:
                continue  # there, and staying
            if folder not in self.current and self._unscanned(folder, made) is not None:
                continue  # a folder the scan did not look into (ignored): it stays
            made.add(folder)
        return made

    def _unscanned(self, path: str, made: set[str]) -> int | None:
        """The mode of something the scan did not see at ``path`` (ignored), else None."""
        if not self.exists or any(above in made for above in _ancestors(path)):
            return None
        absolute, there = self.guard.locate(path)
        if not there:
            return None
        mode = os.lstat(absolute).st_mode
        if stat.S_ISLNK(mode) and (path in self.wanted_folders or path not in self.writes):
            raise UnsafePathError(
                f"cannot restore below {path!r}: it would be written through the symlink "
                f"{absolute}, which the ignore rules leave out"
            )
        if not stat.S_ISDIR(mode) and path not in self.writes:
            raise ValueError(f"cannot restore below {path!r}: {absolute} is an ignored file")
        return mode

    def _check_writes(self, present: set[str], rmdirs: set[str], made: set[str]) -> None:
        """A folder in the way of a wanted file must go whole; an ignored file is replaced."""
        for path in paced(sorted(self.writes)):
            if path in present:
                if path in rmdirs:
                    continue
                holder = self._kept_below(path)
                raise ValueError(
                    f"cannot restore {self.wanted[path].shown_path}: a folder is in the way, "
                    f"holding {holder or 'ignored files'}"
                )
            if path in self.current:
                continue
            mode = self._unscanned(path, made)
            if mode is None:
                continue
            want = self.wanted[path]
            if stat.S_ISDIR(mode):
                raise ValueError(
                    f"cannot restore {want.shown_path}: a folder is in the way, holding only "
                    "paths the ignore rules leave out"
                )
            self.outs[path] = want  # an ignored file or symlink: written over

    def _unreport_filled_folders(self, rmdirs: set[str], made: set[str]) -> None:
        """Leave out of ``written`` each empty folder of the checkpoint that stays filled.

        What fills it (an untracked or ignored path) is never removed, so nothing is written.
        """
        prefix = os.fspath(self.target)
        for folder in sorted(self.wanted_folders - made):
            # Not made, so a real folder is there now (scanned, or left out by the ignore rules).
            below = (f"{folder}/{name}" for name in os.listdir(f"{prefix}/{folder}"))
            if any(path not in self.outs and path not in rmdirs for path in below):
                self.plan.written.remove(f"{folder}/")

    def _kept_below(self, folder: str) -> str | None:
        below = f"{folder}/"
        return next((p for p in sorted(self.kept) if p.startswith(below)), None)

    def _assemble(self, rmdirs: set[str], mkdirs: set[str]) -> None:
        steps: dict[str, list[Step]] = {kind: [] for kind in STEP_ORDER}
        for path, (old, new) in sorted(self.chmods.items()):
            steps["chmod"].append(Step("chmod", path, mode=new, old_mode=old))
        for index, path in enumerate(sorted(self.outs)):
            steps["out"].append(Step("out", path, staged=f"backup/{index}"))
        prefix = os.fspath(self.target)
        for folder in sorted(rmdirs, key=lambda f: (-f.count("/"), f)):
            mode = stat.S_IMODE(os.lstat(f"{prefix}/{folder}").st_mode)
            steps["rmdir"].append(Step("rmdir", folder, mode=mode))
        # A new folder where nothing stands now, below folders that stay or are new
        # the same way, is made before staging: its files are then staged beside.
        early: set[str] = set()
        for folder in sorted(mkdirs, key=lambda f: (f.count("/"), f)):
            parent = folder.rpartition("/")[0]
            made_early = folder not in self.outs and (
                parent in early or (parent not in mkdirs and parent not in rmdirs)
            )
            if made_early:
                early.add(folder)
            steps["mkdir"].append(Step("mkdir", folder, beside=made_early))
        for index, path in enumerate(sorted(self.writes)):
            parent = path.rpartition("/")[0]
            if parent not in mkdirs or parent in early:
                steps["in"].append(Step("in", path, beside=True))
            else:
                steps["in"].append(Step("in", path, staged=f"new/{index}"))
        self.plan.steps = [step for kind in STEP_ORDER for step in steps[kind]]


def plan_restore(
    target: Path,
    wanted: Mapping[str, ManifestEntry],
    current: Mapping[str, ManifestEntry],
    removable: Callable[[str], bool],
    *,
    exists: bool = True,
) -> RestorePlan:
    """The steps that take ``target`` from ``current`` to ``wanted``.

    ``removable`` says whether a path the checkpoint does not have may go (the plan
    knows it, or untracked files are removed); ``exists`` is False for a target
    folder that is about to be made (nothing to look at).
    """
    return _Planner(target, wanted, current, removable, exists).run()
