"""Checkpoints: a workspace snapshot before each agent decision.

The store protocol, ``CheckpointStore``, lives in :mod:`.checkpoint_store` and is
re-exported here, the path the contract names for it.
"""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, overload

from pydantic import Field, JsonValue

from cleveragents._pacing import paced_json, paced_sorted
from cleveragents.domain.models.core._types import (
    INT64_MAX,
    DomainModel,
    Identifier,
    NonNegativeInt,
    PermissionBits,
    Sha256Hex,
    UtcDateTime,
    WorkspacePath,
    check_sha256,
    new_id,
    require_id,
    utc_now,
)
from cleveragents.domain.models.core.checkpoint_store import (
    CheckpointStore as CheckpointStore,  # the contract's path for it
)
from cleveragents.domain.models.trusted import from_trusted

DIFF_PATHS = "diff_paths"
DIFF_BASED = "diff_based"
DIFF_HASH = "diff_hash"


class CheckpointMetadata(DomainModel):
    """Why a checkpoint was taken, plus free-form extra data (the diff metadata lives here)."""

    decision_id: Identifier | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    extra: dict[str, JsonValue] = Field(default_factory=dict)


class Checkpoint(DomainModel):
    """A named point in a plan's history that the workspace can be brought back to."""

    checkpoint_id: Identifier = Field(default_factory=new_id)
    plan_id: Identifier
    sandbox_ref: str = Field(min_length=1)
    checkpoint_type: str = Field(default="manual", min_length=1, max_length=64)
    parent_id: Identifier | None = None
    created_at: UtcDateTime = Field(default_factory=utc_now)
    metadata: CheckpointMetadata = Field(default_factory=CheckpointMetadata)


class FileKind(StrEnum):
    """What a manifest entry is."""

    FILE = "file"
    SYMLINK = "symlink"
    LARGE = "large"  # above the size limit: recorded by hash and size only
    DIR = "dir"  # a folder that holds nothing at all


# An empty folder's hash: the sha256 of its (empty) tree, the two bytes ``[]``.
EMPTY_TREE_SHA256 = hashlib.sha256(b"[]").hexdigest()
# The kinds whose permission bits are recorded (a symlink's and a folder's are not).
MODE_KINDS = frozenset({FileKind.FILE, FileKind.LARGE})


class ManifestEntry(DomainModel):
    """One path of a snapshot: a file, symlink or empty folder with its hash, size and mode.

    ``mode`` is the permission bits (``st_mode & 0o7777``) of a file, 0 for a
    symlink or a folder. Snapshots made before modes were recorded read back as
    0o755 or 0o644 (their executable bit).
    """

    path: WorkspacePath
    kind: FileKind = FileKind.FILE
    sha256: Sha256Hex
    size: NonNegativeInt
    mode: PermissionBits = 0o644

    @property
    def executable(self) -> bool:
        """The owner's execute bit."""
        return bool(self.mode & 0o100)

    @property
    def shown_path(self) -> str:
        """The path as ``diff_paths`` and restore results show it: folders end with ``/``."""
        return f"{self.path}/" if self.kind is FileKind.DIR else self.path


class DiffEntry(DomainModel):
    """One changed path since the previous checkpoint.

    ``sha256`` is None when the path is gone. ``kind`` is what is there now (for a
    path that is gone: ``DIR`` when it was an empty folder, else None). A diff read
    from a checkpoint made before kinds were recorded has ``kind`` None throughout.
    """

    path: WorkspacePath
    sha256: Sha256Hex | None
    kind: FileKind | None = None
    mode: PermissionBits | None = None

    @property
    def shown_path(self) -> str:
        """The path as ``diff_paths`` shows it: folders end with ``/``."""
        return f"{self.path}/" if self.kind is FileKind.DIR else self.path

    @classmethod
    def of(cls, entry: ManifestEntry) -> DiffEntry:
        """The diff entry saying that ``entry`` is there now (its values are valid already)."""
        mode = entry.mode if entry.kind in MODE_KINDS else None
        values = {"path": entry.path, "sha256": entry.sha256, "kind": entry.kind, "mode": mode}
        return from_trusted(cls, values)

    @classmethod
    def gone(cls, entry: ManifestEntry) -> DiffEntry:
        """The diff entry saying that ``entry`` is gone (its values are valid already)."""
        kind = FileKind.DIR if entry.kind is FileKind.DIR else None
        return from_trusted(cls, {"path": entry.path, "sha256": None, "kind": kind, "mode": None})

    def canonical_row(self) -> list[str | int | None]:
        """This entry's row in :func:`diff_canonical_bytes`."""
        if self.sha256 is None or self.kind is None:
            return [self.shown_path, self.sha256]
        return [self.shown_path, self.sha256, self.kind.value, self.mode]


_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def diff_canonical_bytes(diff: Iterable[DiffEntry]) -> bytes:
    """The canonical form of a diff, behind ``diff_hash``: compact JSON rows sorted by path.

    A path that is gone is ``[path, null]``; a path that is there is
    ``[path, sha256, kind, mode]`` (``mode``: the permission bits as an integer, null
    for a symlink or a folder). Folders' paths end with ``/``. A diff from before
    kinds were recorded has ``[path, sha256]`` rows, as it was hashed then. UTF-8,
    no spaces, not ASCII-escaped.
    """
    rows = paced_sorted([entry.canonical_row() for entry in diff], key=_row_order)
    return paced_json(_CANONICAL_JSON.encode, rows).encode()


def _row_order(row: list[str | int | None]) -> tuple[str, str]:
    return str(row[0]), str(row[1] or "")


def diff_hash(diff: Iterable[DiffEntry]) -> str:
    """Lowercase sha256 hex of :func:`diff_canonical_bytes`."""
    return hashlib.sha256(diff_canonical_bytes(diff)).hexdigest()


def diff_from_rows(rows: Iterable[Sequence[object]]) -> list[DiffEntry]:
    """The diff entries of canonical rows (``ValueError``/``TypeError`` for anything else)."""
    entries: list[DiffEntry] = []
    for row in rows:
        if len(row) == 2:
            shown, sha256 = row
            kind: object = None
            mode: object = None
        else:
            shown, sha256, kind, mode = row
        if not isinstance(shown, str):
            raise TypeError("a diff row's path must be text")
        folder = shown.endswith("/")
        if folder and sha256 is None:
            kind = FileKind.DIR.value
        entries.append(
            DiffEntry(
                path=shown[:-1] if folder else shown,
                sha256=sha256,
                kind=None if kind is None else FileKind(str(kind)),
                mode=mode,
            )
        )
    return entries


class ContentSource(Protocol):
    """Content that is read only while it is stored, a piece at a time (a sandbox's file).

    The store re-hashes what it reads: content that no longer matches the hash it is
    given under raises ``SourceChangedError`` and nothing is written.
    """

    @property
    def size(self) -> int:
        """The content's size in bytes, as scanned."""
        ...

    def pieces(self, size: int) -> Iterator[bytes]:
        """The content in pieces of at most ``size`` bytes (``OSError`` if it cannot be read)."""
        ...


class IndexedManifest(Sequence[ManifestEntry]):
    """A manifest that finds an entry by path and knows its total size.

    A write that applies its snapshot's diff to the previous snapshot's tree index
    looks up only the diff's entries, so it never goes through the whole manifest
    (a scan hands its files over this way; :class:`~cleveragents.domain.workspace.ScanManifest`).
    """

    @abstractmethod
    def entry(self, path: str) -> ManifestEntry | None:
        """The entry at ``path``, or None."""

    @property
    @abstractmethod
    def total_size(self) -> int:
        """The sum of the entries' sizes."""

    @overload
    def __getitem__(self, index: int) -> ManifestEntry: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ManifestEntry]: ...

    def __getitem__(self, index: int | slice) -> ManifestEntry | Sequence[ManifestEntry]:
        # By position only for callers that want a list's behaviour: it goes through all.
        return list(self)[index]


@dataclass(frozen=True)
class SnapshotContent:
    """Everything a workspace snapshot writes together with its checkpoint.

    ``blobs`` maps sha256 to the bytes of content that may not be stored yet (the
    content of unchanged files is the baseline checkpoint's, which must still exist);
    ``sources`` maps sha256 to content of the same kind that is read only while the
    write runs, a bounded batch at a time, so a snapshot's memory does not grow with
    its bytes; ``stat_cache`` is opaque data the scanner reads back for the plan's
    next snapshot.
    """

    manifest: Sequence[ManifestEntry]
    diff: Sequence[DiffEntry]
    blobs: Mapping[str, bytes] = field(default_factory=dict)
    stat_cache: bytes | None = None
    scan_started_ns: int = 0
    # The checkpoint whose stored content the unchanged files of this snapshot reuse.
    baseline_checkpoint_id: str | None = None
    # Content hashes the manifest names without giving them in ``blobs``, outside
    # the baseline's content (files a restore wrote): the write checks they are stored.
    reused: frozenset[str] = frozenset()
    # New content hash -> the hash of an earlier version (the same path's, most often):
    # a hint to store the new content as a delta of that one where that is smaller.
    delta_bases: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, ContentSource] = field(default_factory=dict)


def check_content(content: SnapshotContent) -> int:
    """Refuse snapshot content the database cannot hold; returns the manifest's total size.

    ``SnapshotContent`` is a plain dataclass: its parts are checked here, before
    anything is written (``ValueError``).
    """
    # An indexed manifest is a scan's own entries: only a list from elsewhere is checked.
    indexed = isinstance(content.manifest, IndexedManifest)
    parts: tuple[tuple[str, object, type[ManifestEntry | DiffEntry]], ...] = (
        *(() if indexed else (("manifest", content.manifest, ManifestEntry),)),
        ("diff", content.diff, DiffEntry),
    )
    for name, items, kind in parts:
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise ValueError(f"content.{name} must be a sequence of {kind.__name__}")
        for item in items:
            if not isinstance(item, kind):
                raise ValueError(
                    f"content.{name} holds a {type(item).__name__}, not a {kind.__name__}"
                )
    if not isinstance(content.blobs, Mapping):
        raise ValueError("content.blobs must map sha256 hex digests to bytes")
    for digest, data in content.blobs.items():
        if not isinstance(digest, str) or not isinstance(data, bytes):
            raise ValueError("content.blobs must map sha256 hex digests to bytes")
        check_sha256(digest)
    if not isinstance(content.sources, Mapping):
        raise ValueError("content.sources must map sha256 hex digests to content sources")
    for digest, source in content.sources.items():
        size = getattr(source, "size", None)
        if (
            not isinstance(digest, str)
            or not callable(getattr(source, "pieces", None))
            or isinstance(size, bool)
            or not isinstance(size, int)
            or size < 0
        ):
            raise ValueError("content.sources must map sha256 hex digests to content sources")
        check_sha256(digest)
    if content.stat_cache is not None and not isinstance(content.stat_cache, bytes):
        raise ValueError("content.stat_cache must be bytes or None")
    started = content.scan_started_ns
    if isinstance(started, bool) or not isinstance(started, int) or not 0 <= started <= INT64_MAX:
        raise ValueError("content.scan_started_ns must be an int between 0 and 2**63 - 1")
    if not isinstance(content.reused, frozenset) or not all(
        isinstance(digest, str) for digest in content.reused
    ):
        raise ValueError("content.reused must be a frozenset of sha256 hex digests")
    for digest in content.reused:
        check_sha256(digest)
    if not isinstance(content.delta_bases, Mapping):
        raise ValueError("content.delta_bases must map sha256 hex digests to sha256 hex digests")
    for new, base in content.delta_bases.items():
        if not isinstance(new, str) or not isinstance(base, str):
            raise ValueError(
                "content.delta_bases must map sha256 hex digests to sha256 hex digests"
            )
        check_sha256(new)
        check_sha256(base)
    if content.baseline_checkpoint_id is not None:
        require_id(content.baseline_checkpoint_id, "content.baseline_checkpoint_id")
    manifest = content.manifest
    if isinstance(manifest, IndexedManifest):
        total = manifest.total_size
    else:
        total = sum(entry.size for entry in manifest)
    if total > INT64_MAX:
        raise ValueError("the manifest's sizes add up to more than 2**63 - 1 bytes")
    return total
