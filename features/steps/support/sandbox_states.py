"""Two states of one sandbox, A and B, that differ by every kind of restore step.

Between A and B: file content, files and whole folders added and removed,
permission bits alone (setuid included), symlinks re-pointed (trailing ``/`` and
leading ``./`` kept byte for byte), a file becoming a folder and a folder a file,
an empty folder a file, a file a symlink and a symlink a file, and empty folders
appearing and disappearing. ``exact_tree`` is the yardstick: every path with its
kind, content hash or link target bytes (``os.readlink`` of the byte path, through
``link_target``: ``Path.readlink`` would drop a trailing ``/``), and permission bits
(folders included).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from cleveragents.domain.models.core.checkpoint import ManifestEntry
from cleveragents.infrastructure.workspace.file_swap import NEW_PREFIX
from cleveragents.infrastructure.workspace.safe_paths import link_target, make_link

OWN_PREFIX = ".cleveragents-"  # every staging folder a swap (or an older restore) makes
STATE_NAMES = ("A", "B")

# path -> ("file", content, mode) | ("link", target bytes, 0) | ("dir", b"", 0): an empty folder
Spec = dict[str, tuple[str, bytes, int]]
# path -> (kind, sha256 of the content or the link target bytes, permission bits)
Tree = dict[str, tuple[str, str | bytes, int]]


def other(name: str) -> str:
    return "B" if name == "A" else "A"


def state_spec(name: str, files: int) -> Spec:
    """State ``name`` ("A" or "B") of a sandbox of ``files`` ordinary files and the odd ones."""
    b = name == "B"
    spec: Spec = {}
    for index in range(files):
        version = "B" if b and index % 6 == 0 else "A"
        text = f"file {index} version {version}\n" * (20 + index % 60)
        spec[f"d{index % 12}/f{index}.txt"] = ("file", text.encode(), 0o644)
    only, extra = ("only-b/deep/b", "d0/extra-b") if b else ("only-a/sub", "d1/extra-a")
    for index in range(15):
        folder = "" if b else f"{index % 3}/a"
        spec[f"{only}{folder}{index}.txt"] = ("file", f"only {name} {index}\n".encode(), 0o644)
    for index in range(5):
        spec[f"{extra}{index}.txt"] = ("file", f"extra {name} {index}\n".encode(), 0o644)
    # The same content, other permission bits: chmod steps.
    spec["modes/run.sh"] = ("file", b"#!/bin/sh\necho run\n", 0o755 if b else 0o644)
    spec["modes/secret.env"] = ("file", b"TOKEN=x\n", 0o640 if b else 0o600)
    spec["modes/tool"] = ("file", b"\x7fELF tool\n", 0o4755 if b else 0o755)
    # Re-pointed symlinks: the bytes count, not where they lead.
    spec["links/dir"] = ("link", b"./../d1" if b else b"../d1/", 0)
    spec["links/file"] = ("link", b"../d3/f3.txt" if b else b"../d2/f2.txt", 0)
    spec["links/dangling"] = ("link", b"nowhere/", 0)
    # A file becomes a folder, a folder a file, an empty folder a file.
    if b:
        spec["swap/one/inner.txt"] = ("file", b"inner\n", 0o644)
        spec["swap/two"] = ("file", b"two is a file now\n", 0o644)
        spec["swap/three"] = ("file", b"three is a file now\n", 0o644)
    else:
        spec["swap/one"] = ("file", b"one is a file\n", 0o644)
        spec["swap/two/x.txt"] = ("file", b"x\n", 0o644)
        spec["swap/two/sub/y.txt"] = ("file", b"y\n", 0o644)
        spec["swap/three"] = ("dir", b"", 0)
    # A file becomes a symlink and a symlink a file.
    spec["kinds/thing"] = ("link", b"thing-target", 0) if b else ("file", b"thing\n", 0o644)
    spec["kinds/other"] = ("file", b"other\n", 0o600) if b else ("link", b"x", 0)
    # Empty folders: one disappears, one appears (below a new folder), one stays.
    spec["vacant/deep" if b else "hollow"] = ("dir", b"", 0)
    spec["keep-empty"] = ("dir", b"", 0)
    return spec


def build_state(root: Path, name: str, files: int) -> None:
    """Make ``root`` hold exactly state ``name`` (whatever it held before)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for path, (kind, data, mode) in sorted(state_spec(name, files).items()):
        where = root / path
        where.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            where.mkdir()
        elif kind == "link":
            make_link(data, os.fspath(where))
        else:
            where.write_bytes(data)
            where.chmod(mode)


def exact_tree(root: Path, *, staged: bool = True) -> Tree:
    """Every path under ``root`` but the staging folders at its top, exactly as it is.

    ``staged=False`` also leaves out the files a swap staged beside their paths.
    """
    tree: Tree = {}
    stack = [("", os.fspath(root))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for item in entries:
                if not prefix and item.name.startswith(OWN_PREFIX):
                    continue
                if not staged and item.name.startswith(NEW_PREFIX):
                    continue
                relative = f"{prefix}{item.name}"
                info = item.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    tree[relative] = ("link", link_target(item.path), 0)
                elif stat.S_ISDIR(info.st_mode):
                    tree[relative] = ("dir", "", stat.S_IMODE(info.st_mode))
                    stack.append((f"{relative}/", item.path))
                else:
                    digest = hashlib.sha256(Path(item.path).read_bytes()).hexdigest()
                    tree[relative] = ("file", digest, stat.S_IMODE(info.st_mode))
    return tree


def own_folders(root: Path) -> list[str]:
    """The staging folders (ours, or an older version's) at the top of ``root``."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(OWN_PREFIX))


def which_state(tree: Tree, trees: Mapping[str, Tree]) -> str:
    """The name of the state ``tree`` is exactly, else ``"mixed"``."""
    return next((name for name, known in trees.items() if known == tree), "mixed")


def tree_difference(tree: Tree, expected: Tree) -> list[str]:
    """The paths where ``tree`` and ``expected`` differ (a short message for a failure)."""
    return sorted(p for p in tree.keys() | expected.keys() if tree.get(p) != expected.get(p))


ManifestKey = frozenset[tuple[str, str, str, int]]


def manifest_key(entries: Iterable[ManifestEntry]) -> ManifestKey:
    """A stored manifest as a comparable set: path, kind, content hash and mode."""
    return frozenset((e.path, e.kind.value, e.sha256, e.mode) for e in entries)


def lists_own_path(paths: Iterable[str]) -> bool:
    """True when any path lies in (or is) a staging folder."""
    return any(path.startswith(OWN_PREFIX) for path in paths)
