"""How an ErrorPattern maps to and from its rows, and how the repository's arguments are checked.

A pattern is written to table ``error_patterns`` as :func:`full_row` (a new one)
or :func:`descriptive_row` (an update, which leaves the counts as stored), and
read back by :func:`to_domain` from a row that starts with
:data:`.error_pattern_match.COLUMNS`. The ``require_*`` functions check what
:class:`~.error_pattern_repository.ErrorPatternRepository` is given before any
statement runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from cleveragents.domain.models.core._types import INT64_MAX, check_storable
from cleveragents.domain.models.core.error_pattern import ErrorPattern, fold
from cleveragents.domain.models.trusted import from_trusted
from cleveragents.infrastructure.database.error_pattern_match import COLUMNS

MAX_CONTEXT_LENGTH = 1_000_000


def to_domain(row: Row[Any] | Sequence[Any]) -> ErrorPattern:
    (
        pattern_id,
        pattern,
        keywords,
        frequency,
        last_seen,
        first_seen,
        category,
        resolution,
        metadata,
    ) = tuple(row)[: len(COLUMNS)]
    return from_trusted(
        ErrorPattern,
        {
            "pattern_id": pattern_id,
            "pattern": pattern,
            "keywords": keywords,
            "frequency": frequency,
            "last_seen": last_seen,
            "first_seen": first_seen,
            "category": category,
            "resolution": resolution,
            "metadata": metadata,
        },
    )


def descriptive_row(pattern: ErrorPattern) -> dict[str, Any]:
    return {
        "pattern": pattern.pattern,
        "pattern_folded": fold(pattern.pattern),
        "keywords": pattern.keywords,
        "category": pattern.category,
        "resolution": pattern.resolution,
        "pattern_metadata": pattern.metadata,
    }


def full_row(pattern: ErrorPattern) -> dict[str, Any]:
    return {
        "pattern_id": pattern.pattern_id,
        "frequency": pattern.frequency,
        "first_seen": pattern.first_seen,
        "last_seen": pattern.last_seen,
        **descriptive_row(pattern),
    }


def require_pattern(pattern: object) -> ErrorPattern:
    if not isinstance(pattern, ErrorPattern):
        raise ValueError(f"pattern must be an ErrorPattern, got {type(pattern).__name__}")
    # Re-validate: a model changed with model_copy(update=...) skips its validators.
    return ErrorPattern.model_validate(pattern.model_dump())


def require_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if value > INT64_MAX:
        raise ValueError(f"{name} must be at most {INT64_MAX} (64 bits), got {value}")
    return value


def require_context(context: object) -> str:
    if not isinstance(context, str):
        raise ValueError(f"context must be a string, got {type(context).__name__}")
    if len(context) > MAX_CONTEXT_LENGTH:
        raise ValueError(f"context must be at most {MAX_CONTEXT_LENGTH} characters")
    check_storable(context)
    return context
