"""Validated field types shared by every domain model.

Every rule here is a contract rule (CONTRACT.md section 0 and 6): ids are short
opaque strings, datetimes are UTC, paths are workspace-relative POSIX paths and
no text may hold NUL or a lone surrogate (PostgreSQL text and UTF-8 refuse both).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from ulid import ULID

MAX_ID_LENGTH = 64
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def new_id() -> str:
    """A new ULID string, the default for every record id."""
    return str(ULID())


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def check_identifier(value: str) -> str:
    """Refuse ids that are empty, too long, padded with whitespace or not printable text."""
    if not value or not value.strip():
        raise ValueError("id must be a non-empty string")
    if value != value.strip():
        raise ValueError("id must not have surrounding whitespace")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id must be at most {MAX_ID_LENGTH} characters")
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
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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


def check_sha256(value: str) -> str:
    """64 lowercase hexadecimal characters."""
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("hash must be 64 lowercase hexadecimal characters (sha256)")
    return value


def check_storable(value: Any) -> Any:
    """Refuse NUL and lone surrogates in any text inside ``value`` (keys included).

    Walks nested containers iteratively so deeply nested JSON cannot exhaust the stack.
    Non-finite floats are refused by pydantic itself (``allow_inf_nan=False``).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_TEXT.search(item):
                raise ValueError("text must not contain NUL characters or lone surrogates")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]
WorkspacePath = Annotated[str, AfterValidator(check_workspace_path)]
Sha256Hex = Annotated[str, AfterValidator(check_sha256)]
NonNegativeInt = Annotated[int, Field(ge=0)]


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
