"""ChangeSets: every file mutation and tool call of a plan, and the store protocol."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, Self, runtime_checkable

from pydantic import Field, JsonValue, model_validator

from cleveragents.domain.models.core._types import (
    DomainModel,
    Identifier,
    IndexedWorkspacePath,
    NonNegativeInt,
    NonNegativeInt32,
    PermissionBits,
    Sha256Hex,
    UtcDateTime,
    new_id,
    utc_now,
)


class ChangeOperation(StrEnum):
    """What a change did to its path."""

    CREATE = "create"
    MODIFY = "modify"
    DELETE = "delete"
    RENAME = "rename"


class EntryKind(StrEnum):
    """What an entry's path holds after the change (before it, for a delete).

    A symlink's hashes are the sha256 of its target bytes exactly as
    ``os.readlink`` returns them.
    """

    FILE = "file"
    SYMLINK = "symlink"


# Which hashes each operation must carry: (before_hash present, after_hash present).
_HASHES_BY_OPERATION: dict[ChangeOperation, tuple[bool, bool]] = {
    ChangeOperation.CREATE: (False, True),
    ChangeOperation.MODIFY: (True, True),
    ChangeOperation.DELETE: (True, False),
    ChangeOperation.RENAME: (True, True),
}


class ChangeEntry(DomainModel):
    """One file mutation made by a plan in its sandbox.

    Paths are at most 2,048 bytes in UTF-8 (the store indexes them), and
    ``insertions``/``deletions`` at most 2**31 - 1 (32-bit columns).
    """

    entry_id: Identifier = Field(default_factory=new_id)
    changeset_id: Identifier
    plan_id: Identifier
    path: IndexedWorkspacePath
    operation: ChangeOperation
    old_path: IndexedWorkspacePath | None = None
    before_hash: Sha256Hex | None = None
    after_hash: Sha256Hex | None = None
    diff: str = ""
    insertions: NonNegativeInt32 = 0
    deletions: NonNegativeInt32 = 0
    tool_invocation_id: Identifier | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: UtcDateTime = Field(default_factory=utc_now)
    kind: EntryKind = EntryKind.FILE
    # Permission bits (mode & 0o7777) before and after; None: not recorded.
    before_mode: PermissionBits | None = None
    after_mode: PermissionBits | None = None
    # The pre_rollback checkpoint of the rollback that undid this entry (set by the store).
    rolled_back_by: Identifier | None = None

    @model_validator(mode="after")
    def _check_operation_shape(self) -> Self:
        wants_before, wants_after = _HASHES_BY_OPERATION[self.operation]
        op = self.operation.value
        if wants_before != (self.before_hash is not None):
            need = "needs" if wants_before else "must not have"
            raise ValueError(f"a {op} entry {need} a before_hash")
        if wants_after != (self.after_hash is not None):
            need = "needs" if wants_after else "must not have"
            raise ValueError(f"a {op} entry {need} an after_hash")
        if (self.operation is ChangeOperation.RENAME) != (self.old_path is not None):
            raise ValueError("old_path is required for a rename and only for a rename")
        if not wants_before and self.before_mode is not None:
            raise ValueError(f"a {op} entry must not have a before_mode")
        if not wants_after and self.after_mode is not None:
            raise ValueError(f"a {op} entry must not have an after_mode")
        if self.kind is EntryKind.SYMLINK and (
            self.before_mode is not None or self.after_mode is not None
        ):
            raise ValueError("a symlink entry has no permission bits (before_mode, after_mode)")
        return self


class ToolInvocation(DomainModel):
    """One tool call made while executing a plan, kept for the audit trail."""

    invocation_id: Identifier = Field(default_factory=new_id)
    plan_id: Identifier
    changeset_id: Identifier | None = None
    tool_name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    result: JsonValue = None
    error: str | None = None
    started_at: UtcDateTime = Field(default_factory=utc_now)
    duration_ms: float = Field(default=0.0, ge=0.0)
    change_ids: list[Identifier] = Field(default_factory=list)
    resource_refs: list[str] = Field(default_factory=list)
    provider_metadata: dict[str, JsonValue] = Field(default_factory=dict)
    # The pre_rollback checkpoint of the rollback that undid this call (set by the store).
    rolled_back_by: Identifier | None = None


class SpecChangeSet(DomainModel):
    """A plan's changeset: its entries and tool invocations in recording order."""

    changeset_id: Identifier = Field(default_factory=new_id)
    plan_id: Identifier
    created_at: UtcDateTime = Field(default_factory=utc_now)
    entries: list[ChangeEntry] = Field(default_factory=list)
    invocations: list[ToolInvocation] = Field(default_factory=list)


class ChangeSetSummary(DomainModel):
    """Counts over one changeset's live entries, as shown by ``plan status``.

    Rolled-back entries and invocations are left out of every count and of
    ``paths``; ``rolled_back`` says how many entries that left out.
    """

    changeset_id: Identifier
    plan_id: Identifier
    files_changed: NonNegativeInt
    created: NonNegativeInt
    modified: NonNegativeInt
    deleted: NonNegativeInt
    renamed: NonNegativeInt
    insertions: NonNegativeInt
    deletions: NonNegativeInt
    tool_invocations: NonNegativeInt
    failed_invocations: NonNegativeInt
    paths: list[str]
    rolled_back: NonNegativeInt = 0


@runtime_checkable
class ChangeSetStore(Protocol):
    """Durable storage of a plan's changesets."""

    def start(self, plan_id: str) -> SpecChangeSet:
        """Persist and return a new, empty changeset for ``plan_id``."""
        ...

    def record(self, entry: ChangeEntry) -> ChangeEntry:
        """Persist one entry into its (started) changeset."""
        ...

    def record_many(self, entries: Sequence[ChangeEntry]) -> int:
        """Persist entries in one transaction, all or nothing; returns how many."""
        ...

    def record_invocation(self, invocation: ToolInvocation) -> ToolInvocation:
        """Persist one tool invocation."""
        ...

    def get(self, changeset_id: str) -> SpecChangeSet | None:
        """The changeset with its entries and invocations, or None."""
        ...

    def get_for_plan(self, plan_id: str) -> list[SpecChangeSet]:
        """Every changeset of the plan, oldest first."""
        ...

    def summarize(self, changeset_id: str) -> ChangeSetSummary:
        """Counts over one changeset (RecordNotFoundError when it does not exist)."""
        ...

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every entry, invocation and changeset of the plan; returns rows deleted."""
        ...

    def cancel_plan(self, plan_id: str) -> int:
        """Tombstone the plan and delete its records, in one transaction; returns rows deleted.

        From then on ``start`` and every ``record*`` for the plan raise
        ``PlanCancelledError``, so a late writer cannot resurrect it.
        """
        ...

    def is_cancelled(self, plan_id: str) -> bool:
        """True once ``cancel_plan`` ran for the plan."""
        ...

    def roll_back(
        self,
        plan_id: str,
        checkpoint_id: str,
        safety_checkpoint_id: str | None,
        *,
        dry_run: bool = False,
    ) -> tuple[int, int]:
        """Make live exactly the records live when the checkpoint was made; mark the rest.

        Returns (entries, invocations) marked with ``safety_checkpoint_id``.
        """
        ...


__all__ = [
    "ChangeEntry",
    "ChangeOperation",
    "ChangeSetStore",
    "ChangeSetSummary",
    "EntryKind",
    "SpecChangeSet",
    "ToolInvocation",
]
