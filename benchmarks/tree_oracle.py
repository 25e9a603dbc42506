"""Is a folder on disk exactly a described tree? Every difference, by path.

A restore is checked against the :class:`~benchmarks.history_workload.State` it
should have produced: the bytes of every file, its permission bits, every
symlink's target byte for byte (``os.readlink``, so ``../ca/`` and ``../ca``
differ), and the folders, empty ones included. Nothing is followed through a
symlink. The result is a list of readable differences, never an exception.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from benchmarks.history_workload import Entry, State

EMPTY_FOLDER_MISSING = "empty folder missing"


@dataclass(frozen=True)
class Difference:
    """One path that is not as expected, and how."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def read_tree(root: Path) -> tuple[dict[str, Entry], set[str], list[str]]:
    """(entries, folders, other kinds of file) found under ``root``, without following links."""
    entries: dict[str, Entry] = {}
    folders: set[str] = set()
    others: list[str] = []
    stack = [("", os.fspath(root))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as items:
            for item in items:
                relative = f"{prefix}{item.name}"
                info = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    folders.add(relative)
                    stack.append((f"{relative}/", item.path))
                elif stat.S_ISLNK(info.st_mode):
                    # Not Path.readlink: pathlib drops a trailing slash of the target.
                    target = os.readlink(item.path)  # noqa: PTH115
                    entries[relative] = Entry(os.fsencode(target), 0, link=True)
                elif stat.S_ISREG(info.st_mode):
                    data = Path(item.path).read_bytes()
                    entries[relative] = Entry(data, stat.S_IMODE(info.st_mode))
                else:
                    others.append(relative)
    return entries, folders, others


def differences(root: Path, expected: State) -> list[Difference]:
    """Every way the tree under ``root`` differs from ``expected``, sorted by path."""
    entries, folders, others = read_tree(root)
    found = [Difference(path, "a special file (not a file, symlink or folder)") for path in others]
    wanted = expected.entries
    for path in sorted(entries.keys() | wanted.keys()):
        what = _compare(entries.get(path), wanted.get(path))
        if what:
            found.append(Difference(path, what))
    expected_folders = expected.folders()
    holding_files = expected.folders(empty=False)
    for folder in sorted(expected_folders - folders):
        empty = folder not in holding_files
        found.append(Difference(f"{folder}/", EMPTY_FOLDER_MISSING if empty else "folder missing"))
    for folder in sorted(folders - expected_folders):
        found.append(Difference(f"{folder}/", "folder that should not be there"))
    return sorted(found, key=lambda d: d.path)


def _compare(actual: Entry | None, wanted: Entry | None) -> str:
    if actual == wanted or (actual is None and wanted is None):
        return ""
    if actual is None:
        return f"missing (expected {_describe(wanted)})"
    if wanted is None:
        return f"should not be there ({_describe(actual)})"
    if actual.link != wanted.link:
        return f"{_describe(actual)} instead of {_describe(wanted)}"
    if actual.link:
        return f"symlink target {_target(actual)} instead of {_target(wanted)}"
    what = []
    if actual.data != wanted.data:
        what.append(f"content {_content(actual)} instead of {_content(wanted)}")
    if actual.mode != wanted.mode:
        what.append(f"mode {actual.mode:04o} instead of {wanted.mode:04o}")
    return "; ".join(what)


def _describe(entry: Entry | None) -> str:
    if entry is None:
        return "nothing"
    if entry.link:
        return f"a symlink to {_target(entry)}"
    return f"a file of {_content(entry)}, mode {entry.mode:04o}"


def _target(entry: Entry) -> str:
    return repr(os.fsdecode(entry.data))


def _content(entry: Entry) -> str:
    return f"{len(entry.data):,} bytes (sha256 {hashlib.sha256(entry.data).hexdigest()[:12]})"


def only_empty_folders_missing(found: list[Difference]) -> bool:
    """True when every difference is a missing folder without files: what git cannot hold."""
    return all(d.what == EMPTY_FOLDER_MISSING for d in found)
