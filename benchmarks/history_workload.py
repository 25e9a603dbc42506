"""A repository-like tree and a history of commits over it, deterministic from a seed.

The first state (commit 0) looks like a real project checked out: source-like text
files in nested folders (0.5 to 40 KB mostly, a few larger), a few binaries up to
about 1 MB, some executable scripts (``0o755``), a few relative symlinks (one to a
folder with a trailing slash, ``../../expired/ca/``, which git and POSIX keep byte
for byte) and two empty folders. Every later commit touches tens of paths: line
edits in existing text files, some new files (now and then in a new folder), a
few deletions and renames, sometimes a mode change (``0o644`` <-> ``0o755``), a
rewritten binary or a symlink pointed elsewhere.

:class:`History` holds the description of every state in memory (unchanged
content is shared between states, never copied): ``state(k)`` is what the tree
holds after commit ``k``, ``apply(k, root)`` brings a folder holding state
``k - 1`` to state ``k`` in place (renames with ``rename``, edits by rewriting the
file), and :func:`materialize` writes any state into an empty folder.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks.compare_git import _CALLS, _WORDS, _binary, _line_pool, _log_uniform, _text

SEED: Final = 20241207
_TOPS: Final = ("src", "tests", "docs", "tools", "scripts", "assets", "config")
_SUFFIXES: Final = {
    "src": (".py", ".py", ".py", ".pyi", ".c", ".h"),
    "tests": (".py", ".py", ".json"),
    "docs": (".md", ".md", ".rst"),
    "tools": (".py", ".sh"),
    "scripts": (".sh", ".py"),
    "config": (".toml", ".json", ".yaml", ".ini"),
}
_BINARY_SUFFIXES: Final = (".png", ".woff2", ".so", ".sqlite", ".jpg")
EMPTY_FOLDERS: Final = ("logs", "tests/fixtures/empty")
# (path, first target): a dangling folder link with a trailing slash, a folder link
# without one, and a link to a script next to it.
SYMLINKS: Final = (
    ("config/certs/current", "../../expired/ca/"),
    ("docs/api/source", "../../src"),
    ("scripts/latest", "run.sh"),
)


@dataclass(frozen=True)
class HistoryScale:
    """How big the first tree is and how long its history."""

    name: str
    files: int  # regular files of the first state: text, scripts and binaries
    folders: int  # nested folders holding them
    binaries: int  # of which binaries (8 KB to about 1 MB)
    scripts: int  # of which executable text files
    commits: int  # commits after the first state
    touched: tuple[int, int]  # paths one commit touches: low and high, log-uniform


HISTORY_SCALES: Final = {
    "small": HistoryScale("small", 300, 24, 4, 4, commits=12, touched=(5, 30)),
    "full": HistoryScale("full", 3_500, 200, 24, 30, commits=150, touched=(5, 60)),
}


def history_scale(name: str) -> HistoryScale:
    """The scale called ``name`` (``ValueError`` for an unknown one)."""
    try:
        return HISTORY_SCALES[name]
    except KeyError:
        raise ValueError(
            f"unknown scale {name!r}; expected one of {sorted(HISTORY_SCALES)}"
        ) from None


@dataclass(frozen=True, slots=True)
class Entry:
    """What one path holds: a file's bytes and permission bits, or a symlink's target."""

    data: bytes
    mode: int = 0o644  # permission bits of a file; 0 for a symlink
    link: bool = False

    @classmethod
    def symlink(cls, target: str) -> Entry:
        return cls(os.fsencode(target), 0, link=True)


@dataclass(frozen=True)
class State:
    """Every path of a tree (POSIX, relative) and the folders it holds with nothing inside."""

    entries: Mapping[str, Entry]
    empty_folders: frozenset[str] = frozenset()

    def folders(self, *, empty: bool = True) -> set[str]:
        """Every folder above an entry, and (unless ``empty`` is False) the empty ones with theirs.

        A folder holding no file at any depth is what git does not track.
        """
        found: set[str] = set()
        hollow = [f"{folder}/" for folder in self.empty_folders] if empty else []
        for path in [*self.entries, *hollow]:
            folder = path.rpartition("/")[0]
            while folder and folder not in found:
                found.add(folder)
                folder = folder.rpartition("/")[0]
        return found

    def changed_paths(self, other: State) -> int:
        """How many paths hold something else in ``other`` (added and removed included)."""
        mine, theirs = self.entries, other.entries
        return sum(1 for path in mine.keys() | theirs.keys() if mine.get(path) != theirs.get(path))


@dataclass(frozen=True)
class Commit:
    """What commit ``number`` did to the tree of the previous state."""

    number: int
    edited: tuple[str, ...] = ()  # content changed (text edits, a rewritten binary)
    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old path, new path), content unchanged
    mode_changed: tuple[str, ...] = ()
    retargeted: tuple[str, ...] = ()  # symlinks pointed elsewhere

    @property
    def touched(self) -> int:
        return sum(
            len(paths)
            for paths in (self.edited, self.added, self.deleted, self.mode_changed, self.retargeted)
        ) + len(self.renamed)


@dataclass
class _Draft:
    """A state being built: its entries and the folders new files may go to."""

    rng: random.Random
    pool: list[str]
    entries: dict[str, Entry]
    folders: list[str] = field(default_factory=list)

    def new_folder(self, parent: str) -> str:
        name = self.rng.choice(_WORDS)
        folder = f"{parent}/{name}"
        while folder in self.folders:
            folder = f"{parent}/{name}_{self.rng.randrange(1_000)}"
        self.folders.append(folder)
        return folder

    def new_path(self, folder: str) -> str:
        top = folder.partition("/")[0]
        suffix = self.rng.choice(_SUFFIXES.get(top, (".py",)))
        stem = f"{self.rng.choice(_CALLS)}_{self.rng.choice(_WORDS)}"
        path = f"{folder}/{stem}{suffix}"
        while path in self.entries:
            path = f"{folder}/{stem}_{self.rng.randrange(10_000)}{suffix}"
        return path

    def text(self, path: str, executable: bool = False) -> Entry:
        size = int(_log_uniform(self.rng, 500, 40_000))
        if self.rng.random() < 0.01:
            size = int(_log_uniform(self.rng, 40_000, 200_000))
        data = _text(self.rng, self.pool, path, size)
        if executable:
            shebang = b"#!/bin/sh\n" if path.endswith(".sh") else b"#!/usr/bin/env python3\n"
            return Entry(shebang + data, 0o755)
        return Entry(data)

    def binary(self) -> Entry:
        size = int(_log_uniform(self.rng, 8_000, 1_000_000))
        return Entry(_binary(self.rng, size, compressible=self.rng.random() < 0.5))

    def edit(self, entry: Entry) -> Entry:
        """A few hunks of line edits: lines replaced, inserted and deleted."""
        lines = entry.data.decode().splitlines(keepends=True) or ["\n"]
        for _ in range(self.rng.randint(1, 4)):
            at = self.rng.randrange(len(lines))
            new = self.rng.choices(self.pool, k=self.rng.randint(0, 4))
            lines[at : at + self.rng.randint(0, 3)] = new
            if not lines:
                lines = ["\n"]
        data = "".join(lines).encode()
        if data == entry.data:  # the hunks happened to cancel out: an edit changes something
            data += self.rng.choice(self.pool).encode()
        return Entry(data, entry.mode)


def _first_state(scale: HistoryScale, draft: _Draft) -> State:
    rng = draft.rng
    draft.folders.extend(_TOPS)
    while len(draft.folders) < scale.folders:
        parent = rng.choice([f for f in draft.folders if f.count("/") < 4])
        draft.new_folder(parent)
    assets = [f for f in draft.folders if f.startswith("assets")]
    sources = [f for f in draft.folders if not f.startswith("assets")]
    # Each top folder's weight: most files are sources and tests, as in a real project.
    weights = [6.0 if f.startswith(("src", "tests")) else 1.0 for f in sources]
    texts = scale.files - scale.binaries - scale.scripts
    for folder in rng.choices(sources, weights, k=texts):
        path = draft.new_path(folder)
        draft.entries[path] = draft.text(path)
    draft.entries["scripts/run.sh"] = draft.text("scripts/run.sh", executable=True)
    for _ in range(scale.scripts - 1):
        path = draft.new_path(rng.choice(["scripts", "tools"]))
        draft.entries[path] = draft.text(path, executable=True)
    for n in range(scale.binaries):
        folder = rng.choice(assets)
        draft.entries[f"{folder}/{rng.choice(_WORDS)}_{n:03d}{rng.choice(_BINARY_SUFFIXES)}"] = (
            draft.binary()
        )
    for path, target in SYMLINKS:
        draft.entries[path] = Entry.symlink(target)
    return State(dict(draft.entries), frozenset(EMPTY_FOLDERS))


def _next_state(scale: HistoryScale, draft: _Draft, number: int) -> tuple[State, Commit]:
    """Commit ``number`` applied to ``draft`` (changed in place): the new state."""
    rng, entries = draft.rng, draft.entries
    touched = round(_log_uniform(rng, *scale.touched))
    deletions = rng.randint(1, max(1, touched // 12)) if rng.random() < 0.5 else 0
    renames = rng.randint(1, max(1, touched // 12)) if rng.random() < 0.4 else 0
    additions = round(touched * rng.uniform(0.05, 0.25))
    texts = sorted(p for p, e in entries.items() if not e.link and _is_text(p))
    edits = max(1, touched - deletions - renames - additions)
    chosen = rng.sample(texts, min(len(texts), deletions + renames + edits))
    deleted, moved, edited = (
        chosen[:deletions],
        chosen[deletions : deletions + renames],
        chosen[deletions + renames :],
    )
    for path in deleted:
        del entries[path]
    renamed = []
    for path in moved:
        folder = path.rpartition("/")[0] if rng.random() < 0.5 else _source_folder(draft)
        new = draft.new_path(folder)
        entries[new] = entries.pop(path)
        renamed.append((path, new))
    for path in edited:
        entries[path] = draft.edit(entries[path])
    added = []
    for _ in range(additions):
        folder = _source_folder(draft)
        if rng.random() < 0.05:
            folder = draft.new_folder(folder)
        path = draft.new_path(folder)
        entries[path] = draft.text(path)
        added.append(path)
    mode_changed = []
    if rng.random() < 0.15:
        unchanged = set(texts).difference(deleted, moved, edited)
        path = rng.choice(sorted(unchanged))
        entry = entries[path]
        entries[path] = Entry(entry.data, 0o644 if entry.mode == 0o755 else 0o755)
        mode_changed.append(path)
    if rng.random() < 0.1:
        binaries = sorted(p for p, e in entries.items() if not e.link and not _is_text(p))
        path = rng.choice(binaries)
        entries[path] = draft.binary()
        edited.append(path)
    retargeted = []
    if rng.random() < 0.08:
        path = rng.choice([link for link, _ in SYMLINKS])
        entries[path] = Entry.symlink(_new_target(draft, path, number))
        retargeted.append(path)
    commit = Commit(
        number,
        tuple(edited),
        tuple(added),
        tuple(deleted),
        tuple(renamed),
        tuple(mode_changed),
        tuple(retargeted),
    )
    return State(dict(entries), frozenset(EMPTY_FOLDERS)), commit


def _is_text(path: str) -> bool:
    return not path.endswith(_BINARY_SUFFIXES)


def _source_folder(draft: _Draft) -> str:
    return draft.rng.choice([f for f in draft.folders if not f.startswith("assets")])


def _new_target(draft: _Draft, path: str, number: int) -> str:
    if path == "config/certs/current":
        return f"../../expired/{draft.rng.choice(_WORDS)}-{number}/"  # keeps its trailing slash
    now = os.fsdecode(draft.entries[path].data)
    if path == "docs/api/source":
        return draft.rng.choice(
            [t for t in ("../../src", "../../tests", "../../tools") if t != now]
        )
    scripts = [
        p.removeprefix("scripts/")
        for p in sorted(draft.entries)
        if p.startswith("scripts/") and p.endswith(".sh") and p != f"scripts/{now}"
    ]
    return draft.rng.choice(scripts) if scripts else "run.sh"


class History:
    """Every state of the generated history: ``state(0)`` is the first tree, then one per commit."""

    def __init__(self, scale: HistoryScale, seed: int = SEED) -> None:
        self.scale = scale
        rng = random.Random(seed)
        draft = _Draft(rng, _line_pool(rng), {})
        first = _first_state(scale, draft)
        self._states = [first]
        self._commits = [Commit(0, added=tuple(sorted(first.entries)))]
        for number in range(1, scale.commits + 1):
            state, commit = _next_state(scale, draft, number)
            self._states.append(state)
            self._commits.append(commit)

    def __len__(self) -> int:
        """How many states there are: the first one and one per commit."""
        return len(self._states)

    def state(self, number: int) -> State:
        return self._states[number]

    def commit(self, number: int) -> Commit:
        return self._commits[number]

    def apply(self, number: int, root: Path) -> None:
        """Bring ``root`` from state ``number - 1`` to ``number`` (0: fill an empty folder)."""
        if number == 0:
            materialize(self._states[0], root)
            return
        before, after = self._states[number - 1], self._states[number]
        moved = dict(before.entries)
        for old, new in self._commits[number].renamed:
            _make_parents(root, new)
            (root / old).rename(root / new)
            moved[new] = moved.pop(old)
        keep = after.folders()
        for path in moved.keys() - after.entries.keys():
            (root / path).unlink()
        for path, entry in after.entries.items():
            old_entry = moved.get(path)
            if old_entry == entry:
                continue
            if old_entry is not None and not entry.link and not old_entry.link:
                if old_entry.data == entry.data:
                    (root / path).chmod(entry.mode)
                    continue
            elif old_entry is not None:
                (root / path).unlink()
            _write(root, path, entry)
        for folder in sorted(before.folders() - keep, reverse=True):
            (root / folder).rmdir()  # emptied by the commit, as git leaves it


def materialize(state: State, root: Path) -> None:
    """Write ``state`` into ``root`` (created when missing; it must hold nothing)."""
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    for path, entry in state.entries.items():
        _write(root, path, entry)
    for folder in state.empty_folders:
        (root / folder).mkdir(parents=True, exist_ok=True)


def _make_parents(root: Path, path: str) -> None:
    folder = path.rpartition("/")[0]
    if folder:
        (root / folder).mkdir(parents=True, exist_ok=True)


def _write(root: Path, path: str, entry: Entry) -> None:
    """Write one entry: a file rewritten in place (as an editor saves it), or a new symlink."""
    _make_parents(root, path)
    if entry.link:
        (root / path).symlink_to(os.fsdecode(entry.data))
        return
    target = root / path
    target.write_bytes(entry.data)
    target.chmod(entry.mode)


def describe(history: History) -> list[str]:
    """Lines about the first tree and the commits, for the benchmark's report."""
    first = history.state(0).entries
    links = sum(1 for e in first.values() if e.link)
    files = len(first) - links
    executables = sum(1 for e in first.values() if e.mode == 0o755)
    binaries = sum(1 for p, e in first.items() if not e.link and not _is_text(p))
    size = sum(len(e.data) for e in first.values() if not e.link)
    touched = [history.commit(n).touched for n in range(1, len(history))]
    last = history.state(len(history) - 1)
    return [
        f"first tree       {files:,} files ({binaries} binaries, {executables} executable), "
        f"{links} symlinks, {len(history.state(0).folders()):,} folders "
        f"({len(EMPTY_FOLDERS)} empty), {size / 1e6:.1f} MB",
        f"history          {len(touched)} commits touching {min(touched)} to {max(touched)} "
        f"paths (median {statistics.median(touched):g}); last tree {len(last.entries):,} paths, "
        f"{len(last.folders()):,} folders",
    ]
