"""The errors the store protocols promise; every backend raises these and only these.

The infrastructure translates driver and file-system failures into them (in
``infrastructure.database.errors``, which re-exports them under their old
module path).
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base of every persistence error raised by cleveragents."""


class DuplicateRecordError(DatabaseError):
    """A create of an id that already exists."""


class RecordNotFoundError(DatabaseError):
    """An operation on, or a recording into, a record that does not exist."""


class BaselineGoneError(RecordNotFoundError):
    """The checkpoint a snapshot reuses content of was pruned before the snapshot was written."""


class PlanCancelledError(DatabaseError):
    """A record for a plan that was cancelled: a late writer cannot bring it back."""


class IntegrityCheckError(DatabaseError):
    """Stored content whose hash does not match what it should be."""


class SourceChangedError(DatabaseError):
    """Content read while a snapshot was written no longer matched the hash its scan recorded
    (the file changed or vanished meanwhile): nothing was written."""


class CommitOutcomeUnknownError(DatabaseError):
    """A non-repeatable write whose COMMIT failed without telling whether it took effect."""


__all__ = [
    "BaselineGoneError",
    "CommitOutcomeUnknownError",
    "DatabaseError",
    "DuplicateRecordError",
    "IntegrityCheckError",
    "PlanCancelledError",
    "RecordNotFoundError",
    "SourceChangedError",
]
