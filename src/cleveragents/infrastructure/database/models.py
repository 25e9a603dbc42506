"""ORM rows (SQLAlchemy 2.0 typed declarative). Domain models live in ``domain``.

Every table has an integer ``seq`` primary key kept by the database: it is the
recording order ("oldest first") that every listing follows. Entries and tool
invocations never reuse a ``seq`` (SQLite ``AUTOINCREMENT``, PostgreSQL
identities): a checkpoint records the highest of each when it is made, and a
rollback tells what was recorded after it by that mark, not by wall clocks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cleveragents.domain.models.core._types import to_utc

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 64
HASH_LENGTH = 64

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGINT.
SequenceKey = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, whatever the backend keeps.

    SQLite has no time zones: values are stored as naive UTC and made aware on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or dialect.name != "sqlite":
            return value
        return to_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # The text SQLite's DATETIME writes for the naive UTC value above, made in
            # one C call instead of a conversion and a field-by-field format: every
            # entry of a batch pays for it.
            return _format_sqlite_utc
        return super().bind_processor(dialect)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "sqlite":
            # SQLite holds the naive UTC text written above: parse it straight to aware UTC
            # (a third of the cost of the generic parse followed by a conversion).
            return _parse_sqlite_utc
        return super().result_processor(dialect, coltype)


_SHA256_BYTES = 32
_NO_KEY = b""


class Sha256Key(TypeDecorator[str]):
    """A sha256 as lowercase hex in Python, its 32 raw bytes in the database.

    Half the bytes of the hex text, in the table and again in its key index. A
    value that is not a sha256 in lowercase hex is bound as empty bytes, which no
    key is: a lookup of it finds nothing, as it did with hex keys.
    """

    impl = LargeBinary(_SHA256_BYTES)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return _NO_KEY
        return raw if len(raw) == _SHA256_BYTES and raw.hex() == value else _NO_KEY

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).hex()


def _format_sqlite_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # what every validated model holds: drop the "+00:00"
        return value.isoformat(" ", "microseconds")[:-6]
    return to_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _parse_sqlite_utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(f"{value}+00:00")


class Base(DeclarativeBase):
    """Declarative base of every cleveragents table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        Any: JSON(),
    }


class ChangeSetModel(Base):
    """A changeset header: which plan it belongs to and when it was started."""

    __tablename__ = "changesets"

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    changeset_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    created_at: Mapped[datetime]


class ChangeSetEntryModel(Base):
    """One recorded file mutation."""

    __tablename__ = "changeset_entries"

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    changeset_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("changesets.changeset_id", ondelete="CASCADE")
    )
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    operation: Mapped[str] = mapped_column(String(16))
    old_path: Mapped[str | None] = mapped_column(Text)
    before_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    after_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    diff: Mapped[str] = mapped_column(Text)
    insertions: Mapped[int]
    deletions: Mapped[int]
    tool_invocation_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    entry_metadata: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16), server_default="file")
    before_mode: Mapped[int | None] = mapped_column(Integer)
    after_mode: Mapped[int | None] = mapped_column(Integer)
    rolled_back_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    __table_args__ = (
        Index(None, "changeset_id", "seq"),
        {"sqlite_autoincrement": True},
    )


class CancelledPlanModel(Base):
    """A tombstone: the plan was cancelled, and nothing may be recorded for it any more."""

    __tablename__ = "cancelled_plans"

    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    cancelled_at: Mapped[datetime]


class ToolInvocationModel(Base):
    """One recorded tool call (arguments and results as JSON)."""

    __tablename__ = "tool_invocations"

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    invocation_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    changeset_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("changesets.changeset_id", ondelete="CASCADE"),
        index=True,
    )
    tool_name: Mapped[str] = mapped_column(String(200), index=True)
    arguments: Mapped[dict[str, Any]]
    result: Mapped[Any] = mapped_column(JSON(none_as_null=False), nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    change_ids: Mapped[Any] = mapped_column(JSON())
    resource_refs: Mapped[Any] = mapped_column(JSON())
    provider_metadata: Mapped[dict[str, Any]]
    rolled_back_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    __table_args__ = ({"sqlite_autoincrement": True},)


class CheckpointModel(Base):
    """A checkpoint header: its plan, its place in the plan's history and its root tree."""

    __tablename__ = "checkpoints"

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    sandbox_ref: Mapped[str] = mapped_column(Text)
    checkpoint_type: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime]
    checkpoint_metadata: Mapped[dict[str, Any]]
    root_tree: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    file_count: Mapped[int] = mapped_column(Integer)
    total_size: Mapped[int] = mapped_column(BigInteger)
    # zlib of the diff's canonical form (see diff_canonical_bytes); NULL: no change.
    diff_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The snapshot this one's diff is against (None: the first, or made before 0008).
    baseline_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # The highest entry and invocation seq when the checkpoint was made, and how many
    # rollbacks of its plan came before it: what was live then (see plan_rollbacks).
    entry_mark: Mapped[int] = mapped_column(BigInteger, server_default="0")
    invocation_mark: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rollbacks_before: Mapped[int] = mapped_column(Integer, server_default="0")


class PlanRollbackModel(Base):
    """One rollback of a plan: to which checkpoint, and the marks when it ran.

    Together with each checkpoint's marks, these rows tell which entries and
    invocations were live when any checkpoint was made (``rollback_history``).
    """

    __tablename__ = "plan_rollbacks"

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per plan
    safety_checkpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    target_checkpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    target_entry_mark: Mapped[int] = mapped_column(BigInteger)
    target_invocation_mark: Mapped[int] = mapped_column(BigInteger)
    target_rollbacks_before: Mapped[int] = mapped_column(Integer)
    entry_mark: Mapped[int] = mapped_column(BigInteger)
    invocation_mark: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("plan_id", "number"),)


class CheckpointObjectModel(Base):
    """Content-addressed, compressed content: file blobs, directory trees, chunk lists and
    shared dictionaries, keyed by their sha256's raw bytes (revision 0009)."""

    __tablename__ = "checkpoint_objects"

    object_hash: Mapped[str] = mapped_column(Sha256Key(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointStatCacheModel(Base):
    """Per plan, the stat data of a recent snapshot: unchanged files are not re-read."""

    __tablename__ = "checkpoint_stat_cache"

    plan_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    checkpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    scan_started_ns: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ErrorPatternModel(Base):
    """A recurring error signature. ``pattern_folded`` is the case-folded text matched on."""

    __tablename__ = "error_patterns"

    pattern_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    pattern: Mapped[str] = mapped_column(Text)
    pattern_folded: Mapped[str] = mapped_column(Text)
    keywords: Mapped[Any] = mapped_column(JSON())
    frequency: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    category: Mapped[str | None] = mapped_column(String(200), index=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    pattern_metadata: Mapped[dict[str, Any]]

    __table_args__ = (Index(None, "frequency", "last_seen"),)


class ErrorPatternTermModel(Base):
    """The match index: one row per keyword and per anchor of a pattern's text.

    ``kind`` says which part of a context the term is compared with (see
    ``error_pattern_repository``); the primary key is the lookup index.
    """

    __tablename__ = "error_pattern_terms"

    kind: Mapped[int] = mapped_column(SmallInteger)
    term: Mapped[str] = mapped_column(Text)
    pattern_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("error_patterns.pattern_id", ondelete="CASCADE"),
        index=True,
    )

    __table_args__ = (
        PrimaryKeyConstraint("kind", "term", "pattern_id"),
        {"sqlite_with_rowid": False},
    )
