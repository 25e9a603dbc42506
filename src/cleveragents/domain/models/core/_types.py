"""Validated field types shared by every domain model.

Every rule here is a contract rule (CONTRACT.md section 0 and 6): ids are short
opaque strings, datetimes are UTC, paths are workspace-relative POSIX paths and
no text may hold NUL or a lone surrogate (PostgreSQL text and UTF-8 refuse both).

What both backends can hold, and so what every model refuses beyond it:

- integer fields fit their columns: at most ``INT64_MAX`` (``BIGINT``), or
  ``INT32_MAX`` where the column is ``INTEGER`` (an entry's line counts);
- JSON data nests at most ``MAX_JSON_DEPTH`` containers deep, and its integers
  have at most ``MAX_JSON_INT_DIGITS`` decimal digits (any size below that,
  2**63 or 10**30 included, round-trips exactly on SQLite and PostgreSQL);
- a datetime must have a UTC equivalent inside years 1..9999 (``0001-01-01
  00:00`` at +05:45 has none).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from ulid import ULID

MAX_ID_LENGTH = 64
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
# Deep enough for any real document; json, pydantic and the database drivers all
# recurse, and pydantic itself stops near 255 levels.
MAX_JSON_DEPTH = 200
# The smallest limit a Python process may set on converting ints to and from text
# (sys.set_int_max_str_digits): an int within it is written and read back by any process.
MAX_JSON_INT_DIGITS = 640
_JSON_INT_BOUND = 10**MAX_JSON_INT_DIGITS
# PostgreSQL B-tree index keys hold at most about 2.7 kB.
MAX_INDEXED_PATH_BYTES = 2048
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def new_id() -> str:
    """A new ULID string, the default for every record id."""
    return str(ULID())


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def check_identifier(value: str) -> str:
    """Refuse ids that are empty, too long, padded with whitespace or not storable text."""
    if not value or not value.strip():
        raise ValueError("id must be a non-empty string")
    if value != value.strip():
        raise ValueError("id must not have surrounding whitespace")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id must be at most {MAX_ID_LENGTH} characters")
    if _FORBIDDEN_TEXT.search(value):
        # PostgreSQL text cannot hold NUL, and no driver can encode a lone surrogate.
        raise ValueError("id must not contain NUL characters or lone surrogates")
    return value


def require_id(value: object, name: str) -> str:
    """``value`` if it is a usable id, else ``ValueError`` naming the argument."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    try:
        return check_identifier(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC.

    ``ValueError`` when the UTC equivalent falls outside years 1..9999.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} has no UTC equivalent in years 1..9999") from None


def check_workspace_path(value: str) -> str:
    """A workspace-relative POSIX path, stored exactly as given."""
    if not value:
        raise ValueError("path must not be empty")
    if "\\" in value:
        raise ValueError(f"path must use '/' separators, not backslashes: {value!r}")
    if value.startswith("/"):
        raise ValueError(f"path must be relative to the workspace: {value!r}")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"path has an empty, '.' or '..' segment: {value!r}")
    return value


def check_indexable_path(value: str) -> str:
    """A path short enough to be an index key: at most ``MAX_INDEXED_PATH_BYTES`` in UTF-8.

    PostgreSQL refuses B-tree keys above about 2.7 kB; a workspace path is indexed
    where entries are looked up by path.
    """
    if len(value.encode("utf-8", "surrogatepass")) > MAX_INDEXED_PATH_BYTES:
        raise ValueError(f"path must be at most {MAX_INDEXED_PATH_BYTES} bytes in UTF-8")
    return value


def check_sha256(value: str) -> str:
    """64 lowercase hexadecimal characters."""
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("hash must be 64 lowercase hexadecimal characters (sha256)")
    return value


def check_storable(value: Any) -> Any:
    """Refuse what a backend cannot store exactly anywhere inside ``value``.

    NUL and lone surrogates in any text (keys included), containers nested deeper
    than ``MAX_JSON_DEPTH``, integers of more than ``MAX_JSON_INT_DIGITS`` digits.
    Walks nested containers iteratively so deeply nested JSON cannot exhaust the stack.
    Non-finite floats are refused by pydantic itself (``allow_inf_nan=False``).
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_TEXT.search(item):
                raise ValueError("text must not contain NUL characters or lone surrogates")
        elif isinstance(item, int):
            if not -_JSON_INT_BOUND < item < _JSON_INT_BOUND:
                raise ValueError(f"integers must have at most {MAX_JSON_INT_DIGITS} digits")
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"data must not nest more than {MAX_JSON_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]
WorkspacePath = Annotated[str, AfterValidator(check_workspace_path)]
IndexedWorkspacePath = Annotated[
    str, AfterValidator(check_workspace_path), AfterValidator(check_indexable_path)
]
Sha256Hex = Annotated[str, AfterValidator(check_sha256)]
NonNegativeInt = Annotated[int, Field(ge=0, le=INT64_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
# A file's permission bits, ``st_mode & 0o7777`` (setuid, setgid and sticky included).
PermissionBits = Annotated[int, Field(ge=0, le=0o7777, strict=True)]


class DomainModel(BaseModel):
    """Base of every domain model: unknown fields, NaN/inf and NUL text are refused."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        validate_assignment=True,
        populate_by_name=True,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        return check_storable(value)
