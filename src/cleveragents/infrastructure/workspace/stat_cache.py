"""The stat cache a snapshot stores: its files' stat data, read back by the next scan.

:meth:`~cleveragents.domain.workspace.Scan.cache_bytes` writes it; :func:`load_cache`
reads it. The scanner re-exports both names.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from typing import Any, Final

from cleveragents.domain.models.core.checkpoint import MODE_KINDS, FileKind, ManifestEntry
from cleveragents.domain.models.trusted import from_trusted, trusted_builder
from cleveragents.domain.workspace import ScannedFile

_KINDS: Final = {kind.value: kind for kind in FileKind}


def load_cache(data: bytes | None) -> dict[str, ScannedFile] | None:
    """Parse :meth:`Scan.cache_bytes` output back into the files it describes.

    None when ``data`` is not a stat cache this scanner wrote: the next scan then
    reads every file again, which is always correct.
    """
    if not data:
        return None
    try:
        table = json.loads(data)
        parsed: dict[str, ScannedFile] = {}
        build = trusted_builder(ManifestEntry)
        for path, (size, mtime, ctime, inode, mode, sha256, kind_name) in table.items():
            key = (size, mtime, ctime, inode, mode)
            if not all(type(value) is int for value in key) or type(sha256) is not str:
                return None
            kind = _KINDS[kind_name]
            size = 0 if kind is FileKind.DIR else size
            entry = manifest_entry(path, size, mode, sha256, kind, build)
            parsed[path] = ScannedFile(entry, key)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return parsed


def manifest_entry(
    relative: str,
    size: int,
    mode: int,
    digest: str,
    kind: FileKind,
    build: Callable[[dict[str, Any]], ManifestEntry] | None = None,
) -> ManifestEntry:
    """A manifest entry from values the scanner produced (not validated again).

    ``build``: a :func:`~cleveragents.domain.models.trusted.trusted_builder` shared by
    the entries of one scan (they then share one set of field names).
    """
    values = {
        "path": relative,
        "kind": kind,
        "sha256": digest,
        "size": size,
        "mode": stat.S_IMODE(mode) if kind in MODE_KINDS else 0,
    }
    return from_trusted(ManifestEntry, values) if build is None else build(values)
