"""Checkpoints: a workspace snapshot before each agent decision, and the store protocol."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field, JsonValue

from cleveragents.domain.models.core._types import (
    DomainModel,
    Identifier,
    NonNegativeInt,
    Sha256Hex,
    UtcDateTime,
    WorkspacePath,
    new_id,
    utc_now,
)

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


class ManifestEntry(DomainModel):
    """One file of a snapshot: its content hash, size and mode bits."""

    path: WorkspacePath
    kind: FileKind = FileKind.FILE
    sha256: Sha256Hex
    size: NonNegativeInt
    executable: bool = False


class DiffEntry(DomainModel):
    """One changed path since the previous checkpoint: its new hash, or None if deleted."""

    path: WorkspacePath
    sha256: Sha256Hex | None


@dataclass(frozen=True)
class SnapshotContent:
    """Everything a workspace snapshot writes together with its checkpoint.

    ``blobs`` maps sha256 to the bytes of content that may not be stored yet (the
    content of unchanged files is the baseline checkpoint's, which must still exist);
    ``stat_cache`` is opaque data the scanner reads back for the plan's next snapshot.
    """

    manifest: Sequence[ManifestEntry]
    diff: Sequence[DiffEntry]
    blobs: Mapping[str, bytes] = field(default_factory=dict)
    stat_cache: bytes | None = None
    scan_started_ns: int = 0
    # The checkpoint whose stored content the unchanged files of this snapshot reuse.
    baseline_checkpoint_id: str | None = None


@runtime_checkable
class CheckpointStore(Protocol):
    """Durable storage of checkpoints, their manifests and content."""

    def create(self, checkpoint: Checkpoint, content: SnapshotContent | None = None) -> Checkpoint:
        """Persist the checkpoint and its snapshot content in one transaction."""
        ...

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or None."""
        ...

    def list_for_plan(self, plan_id: str) -> list[Checkpoint]:
        """The plan's checkpoints, oldest first."""
        ...

    def latest_for_plan(self, plan_id: str) -> Checkpoint | None:
        """The plan's newest checkpoint, or None."""
        ...

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete the plan's checkpoints (and content no checkpoint needs); returns how many."""
        ...

    def prune(self, plan_id: str, keep_last: int) -> int:
        """Delete all but the plan's newest ``keep_last`` checkpoints; returns how many."""
        ...

    def manifest(self, checkpoint_id: str) -> list[ManifestEntry] | None:
        """The files of a checkpoint's snapshot, sorted by path; None without a snapshot."""
        ...

    def diff(self, checkpoint_id: str) -> list[DiffEntry]:
        """The paths the checkpoint changed since its parent, as stored with it."""
        ...

    def read_blobs(self, hashes: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """The stored content of each hash (not verified: callers re-hash it)."""
        ...

    def known_paths(self, plan_id: str) -> set[str]:
        """Every path any checkpoint of the plan has in its snapshot."""
        ...

    def stat_cache(self, plan_id: str) -> tuple[str, int, bytes] | None:
        """(checkpoint id, scan start, data) of the plan's latest snapshot scan."""
        ...
