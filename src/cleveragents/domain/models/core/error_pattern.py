"""Error patterns: recurring error signatures, the matching rule and the store protocol.

The matching rule (CONTRACT section 4 and 6) lives here as pure functions so that
every store, and every test's brute-force oracle, applies exactly the same one:

- the *words* of a text are its runs of letters, digits and underscores,
  case-folded; a CamelCase word also yields its parts (:func:`words_of`);
- a pattern matches a context when its ``pattern`` text occurs in the context
  (case-insensitive), or when one of its keywords is a word of the context;
- its score is the number of keywords matched, plus one when the text occurs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import Field, JsonValue, field_validator, model_validator

from cleveragents.domain.models.core._types import (
    DomainModel,
    Identifier,
    NonNegativeInt,
    UtcDateTime,
    new_id,
    utc_now,
)

WORD = re.compile(r"\w+")
MAX_CATEGORY_LENGTH = 200
MOST_FREQUENT_LIMIT = 10
# Keywords (case-folded) are index keys: PostgreSQL refuses B-tree keys above ~2.7 kB.
MAX_KEYWORD_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def fold(text: str) -> str:
    """The case-insensitive form every comparison uses (``str.casefold``)."""
    return text.casefold()


def camel_parts(word: str) -> list[str]:
    """The CamelCase parts of ``word`` (original case), or ``[]`` when it has none.

    A part starts at a lower→upper step and before the last capital of a run of
    capitals that a lowercase letter follows: ``HTTPError`` → ``HTTP``, ``Error``.
    ``_`` and digits do not split.
    """
    starts = [0]
    for index in range(1, len(word)):
        before, here = word[index - 1], word[index]
        if not here.isupper():
            continue
        after = word[index + 1] if index + 1 < len(word) else ""
        if before.islower() or (before.isupper() and after.islower()):
            starts.append(index)
    if len(starts) == 1:
        return []
    ends = [*starts[1:], len(word)]
    return [word[start:end] for start, end in zip(starts, ends, strict=True)]


def words_of(text: str) -> set[str]:
    """Every word of ``text`` (case-folded), with the parts of its CamelCase words."""
    found: set[str] = set()
    for word in set(WORD.findall(text)):  # a traceback repeats most of its words
        found.add(fold(word))
        found.update(fold(part) for part in camel_parts(word))
    return found


def match_score(pattern: ErrorPattern, context: str) -> int:
    """The rule applied to one pattern: 0 when it does not match ``context``.

    This is the reference the stores implement with indexes; it is not how
    they search (that would read every pattern).
    """
    words = words_of(context)
    score = sum(1 for keyword in pattern.keywords if keyword in words)
    if fold(pattern.pattern) in fold(context):
        score += 1
    return score


def rank_key(pattern: ErrorPattern, score: int) -> tuple[int, int, int, str]:
    """Sort key of a match: score desc, frequency desc, last_seen desc, pattern_id.

    ``last_seen`` counts in whole microseconds: a float ``timestamp()`` cannot tell
    two microseconds apart near the ends of the datetime range, the database can.
    """
    age = (pattern.last_seen - _EPOCH) // _MICROSECOND
    return (-score, -pattern.frequency, -age, pattern.pattern_id)


def check_keyword(keyword: str) -> str:
    """One case-folded word (letters, digits, underscore) of at most
    ``MAX_KEYWORD_LENGTH`` characters (keywords are index keys), else ``ValueError``."""
    folded = fold(keyword)
    if not WORD.fullmatch(folded):
        raise ValueError(f"keyword must be one word of letters, digits or underscores: {keyword!r}")
    if len(folded) > MAX_KEYWORD_LENGTH:
        raise ValueError(f"keyword must be at most {MAX_KEYWORD_LENGTH} characters")
    return folded


class ErrorPattern(DomainModel):
    """A recurring error signature the runtime has seen, and how it was resolved."""

    pattern_id: Identifier = Field(default_factory=new_id)
    pattern: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    frequency: NonNegativeInt = 1
    last_seen: UtcDateTime = Field(default_factory=utc_now)
    first_seen: UtcDateTime | None = None
    category: str | None = Field(default=None, max_length=MAX_CATEGORY_LENGTH)
    resolution: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("pattern")
    @classmethod
    def _pattern_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("pattern must not be blank")
        return value

    @field_validator("keywords")
    @classmethod
    def _fold_keywords(cls, value: list[str]) -> list[str]:
        # Case-folded and de-duplicated, first occurrence first.
        return list(dict.fromkeys(check_keyword(keyword) for keyword in value))

    @model_validator(mode="after")
    def _first_seen_defaults_to_last_seen(self) -> ErrorPattern:
        if self.first_seen is None:
            # Through __dict__: validate_assignment would run this validator again.
            self.__dict__["first_seen"] = self.last_seen
        return self


class ErrorPatternStatistics(DomainModel):
    """Aggregates over every stored pattern."""

    total_patterns: NonNegativeInt
    total_occurrences: int = Field(ge=0)  # a sum of 64-bit frequencies: may exceed 64 bits
    most_frequent: list[ErrorPattern] = Field(default_factory=list)
    by_category: dict[str, int] = Field(default_factory=dict)
    last_seen: UtcDateTime | None = None


@runtime_checkable
class ErrorPatternStore(Protocol):
    """What the runtime needs from a durable error memory."""

    def create(self, pattern: ErrorPattern) -> ErrorPattern: ...

    def get(self, pattern_id: str) -> ErrorPattern | None: ...

    def update(self, pattern: ErrorPattern) -> ErrorPattern: ...

    def delete(self, pattern_id: str) -> bool: ...

    def list_all(self, *, limit: int | None = None, offset: int = 0) -> list[ErrorPattern]: ...

    def match_context(self, context: str, *, limit: int = 10) -> list[ErrorPattern]: ...

    def count(self) -> int: ...

    def statistics(self) -> ErrorPatternStatistics: ...

    def record_occurrence(
        self, pattern_id: str, *, seen_at: datetime | None = None
    ) -> ErrorPattern: ...

    def match_scored(self, context: str, limit: int = 10) -> list[tuple[ErrorPattern, int]]: ...

    def match_or_create(
        self, context: str, candidate: ErrorPattern
    ) -> tuple[ErrorPattern, bool]: ...


def brute_force_match(
    patterns: Iterable[ErrorPattern], context: str, *, limit: int = 10
) -> list[ErrorPattern]:
    """``match_context`` by scanning ``patterns``: the oracle for tests and benchmarks."""
    if not context:
        return []
    scored = [(match_score(pattern, context), pattern) for pattern in patterns]
    hits = [(score, pattern) for score, pattern in scored if score > 0]
    hits.sort(key=lambda item: rank_key(item[1], item[0]))
    return [pattern for _, pattern in hits[:limit]]
