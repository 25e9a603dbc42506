"""A snapshot's entries by path, held in columns instead of one model per path.

A restore needs every entry of the checkpoint it brings back at once, and an
entry held as a model costs about 500 bytes beyond its path (the model, its
field dict, its hash string, its size). Held here, an entry costs its path, 32
bytes of digest and 11 of size, mode and kind; a model is built for a lookup
and let go by whoever asked.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from typing import Final

from cleveragents._pacing import paced_sorted
from cleveragents.domain.models.core.checkpoint import FileKind, ManifestEntry
from cleveragents.domain.models.trusted import trusted_builder
from cleveragents.domain.packed_hashes import DIGEST_BYTES

_KINDS: Final = tuple(FileKind)
_KIND_CODES: Final = {kind: code for code, kind in enumerate(_KINDS)}


class PackedManifest(Mapping[str, ManifestEntry]):
    """The entries of a manifest by path, read-only; iterated in path order.

    Paths are kept sorted and looked up by bisection (a dict of 20,000 paths
    costs more than the columns). Each lookup builds a new, equal model.
    """

    __slots__ = ("_build", "_digests", "_kinds", "_modes", "_paths", "_sizes")

    def __init__(self, entries: Iterable[ManifestEntry] = ()) -> None:
        """``entries`` must have distinct paths (``ValueError`` otherwise), in any order."""
        self._paths: list[str] = []
        self._digests = b""
        self._sizes = array("q")
        self._modes = array("H")
        self._kinds = b""
        self._build = trusted_builder(ManifestEntry)
        self._fill((e.path, e.kind, e.sha256, e.size, e.mode) for e in entries)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, FileKind, str, int, int]]) -> PackedManifest:
        """The manifest of (path, kind, sha256, size, mode) rows that a store read, whose
        values are valid already (distinct paths, in any order; ``ValueError`` otherwise)."""
        made = cls()
        made._fill(rows)
        return made

    def _fill(self, rows: Iterable[tuple[str, FileKind, str, int, int]]) -> None:
        paths: list[str] = []
        digests = bytearray()
        sizes, modes, kinds = array("q"), array("H"), bytearray()
        for path, kind, sha256, size, mode in rows:
            paths.append(path)
            digests += bytes.fromhex(sha256)
            sizes.append(size)
            modes.append(mode)
            kinds.append(_KIND_CODES[kind])
        if any(a >= b for a, b in pairwise(paths)):
            order = paced_sorted(range(len(paths)), key=paths.__getitem__)
            paths = [paths[at] for at in order]
            if any(a == b for a, b in pairwise(paths)):
                raise ValueError("a manifest lists a path twice")
            view = memoryview(digests)
            digests = bytearray().join(
                view[at * DIGEST_BYTES : (at + 1) * DIGEST_BYTES] for at in order
            )
            sizes = array("q", (sizes[at] for at in order))
            modes = array("H", (modes[at] for at in order))
            kinds = bytearray(kinds[at] for at in order)
        self._paths, self._digests, self._sizes = paths, bytes(digests), sizes
        self._modes, self._kinds = modes, bytes(kinds)

    def _index(self, path: object) -> int:
        if isinstance(path, str):
            index = bisect_left(self._paths, path)
            if index < len(self._paths) and self._paths[index] == path:
                return index
        return -1

    def __getitem__(self, path: str) -> ManifestEntry:
        index = self._index(path)
        if index < 0:
            raise KeyError(path)
        start = index * DIGEST_BYTES
        return self._build(
            {
                "path": self._paths[index],
                "kind": _KINDS[self._kinds[index]],
                "sha256": self._digests[start : start + DIGEST_BYTES].hex(),
                "size": self._sizes[index],
                "mode": self._modes[index],
            }
        )

    def __contains__(self, path: object) -> bool:
        return self._index(path) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def kind_of(self, path: str) -> FileKind:
        """The kind of the entry at ``path`` (``KeyError`` if there is none), no model built."""
        index = self._index(path)
        if index < 0:
            raise KeyError(path)
        return _KINDS[self._kinds[index]]
