"""Error patterns in the database, matched through an index of terms.

``match_context`` never reads every pattern. Each pattern is stored with index
terms (table ``error_pattern_terms``); a context is turned into the probes that
can equal them, the primary-key index answers the probes, and only the
candidates it returns are scored, ranked and cut to ``limit`` by one statement.

Terms, by ``kind``:

- ``KEYWORD``: each keyword, probed with the context's words (CamelCase parts included).
- ``WORD``: the longest *interior* word of the folded pattern text, one with a
  non-word character on both sides inside the pattern, of 3 to
  ``MAX_KEYWORD_LENGTH`` characters (terms are index keys) and not one of the
  ``STOP_WORDS``. Wherever the text occurs in the context, that word is a whole
  word of the folded context.
- ``LONG_4``, ``LONG_8``: for a text without such an interior word and at least
  ``LONG_GRAM + 3`` (11) characters long, its ``LONG_GRAM``-character (8)
  substrings at offsets ``0 .. k-1``, where ``k`` is 8 when ``len - LONG_GRAM + 1``
  allows it and 4 otherwise. Any occurrence of the text in the context covers a
  context position that is a multiple of ``k`` with one of those substrings
  starting there, so probing the context only at multiples of ``k`` finds it.
- ``GRAM_1`` .. ``GRAM_8``: the same with ``GRAM`` (4) characters and ``k`` the
  largest of 1, 2, 4, 8 not above ``len - GRAM + 1``, for a text of 4 to 10
  characters without such an interior word. (8-character grams for those would
  need steps of 1 or 2: a probe at every or every other position of the context,
  thousands of index lookups for a few more selective anchors.)
- ``SHORT``: a text shorter than ``GRAM``, probed with every short substring of
  the context (only when such patterns exist).

Any of these anchors is sound; they differ in how many patterns share one. Short
words, stop words and 4-character grams are shared by thousands of patterns
(``in``, ``impo``), and each pattern sharing a term with the context is read and
checked: on the benchmark's 100,000 patterns and Django traceback, the anchors
of revision 0004 (longest interior word, 4-grams) put 11,984 term rows in front
of the check; these put 77.

A term hit is only a candidate for the text rule: the statement checks that the
folded text really occurs in the folded context (``instr``/``strpos``) before
adding its point. Keyword hits are exact.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON, Text

from cleveragents._logging import get_logger
from cleveragents.domain.models.core._types import (
    INT64_MAX,
    check_storable,
    require_id,
    to_utc,
    utc_now,
)
from cleveragents.domain.models.core.error_pattern import (
    MAX_KEYWORD_LENGTH,
    MOST_FREQUENT_LIMIT,
    WORD,
    ErrorPattern,
    ErrorPatternStatistics,
    fold,
    match_score,
    words_of,
)
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import (
    ErrorPatternModel,
    ErrorPatternTermModel,
    UtcDateTime,
)
from cleveragents.infrastructure.database.repository_base import Repository
from cleveragents.infrastructure.database.trusted import from_trusted

_PATTERNS = cast(Table, ErrorPatternModel.__table__)
_TERMS = cast(Table, ErrorPatternTermModel.__table__)

GRAM = 4
LONG_GRAM = 8
MIN_WORD_ANCHOR = 3
# Words too common in error texts to tell patterns apart, never a text anchor
# (words shorter than MIN_WORD_ANCHOR, like "in" or "of", never are either).
STOP_WORDS = frozenset(
    {"and", "are", "but", "for", "from", "got", "has", "have", "into", "its", "not"}
    | {"the", "this", "via", "was", "were", "with"}
)
MAX_CONTEXT_LENGTH = 1_000_000

_log = get_logger(__name__)


class TermKind(IntEnum):
    """What part of a context an index term is compared with."""

    KEYWORD = 0
    WORD = 1
    SHORT = 2
    GRAM_1 = 3
    GRAM_2 = 4
    GRAM_4 = 5
    GRAM_8 = 6
    LONG_4 = 7
    LONG_8 = 8


# (gram length, step) of each gram kind.
_GRAM_KINDS = {
    (GRAM, 1): TermKind.GRAM_1,
    (GRAM, 2): TermKind.GRAM_2,
    (GRAM, 4): TermKind.GRAM_4,
    (GRAM, 8): TermKind.GRAM_8,
    (LONG_GRAM, 4): TermKind.LONG_4,
    (LONG_GRAM, 8): TermKind.LONG_8,
}
_GRAMS = {kind: shape for shape, kind in _GRAM_KINDS.items()}
# Kinds probed only when some pattern has them (an index seek tells).
_OPTIONAL_KINDS = (TermKind.SHORT, *_GRAM_KINDS.values())


# --- index terms ------------------------------------------------------------------------


def text_terms(folded: str) -> list[tuple[TermKind, str]]:
    """The index terms of a folded pattern text (see the module docstring)."""
    interior = [
        match.group()
        for match in WORD.finditer(folded)
        if match.start() > 0
        and match.end() < len(folded)
        and MIN_WORD_ANCHOR <= len(match.group()) <= MAX_KEYWORD_LENGTH
        and match.group() not in STOP_WORDS
    ]
    if interior:
        return [(TermKind.WORD, max(interior, key=len))]
    if len(folded) < GRAM:
        return [(TermKind.SHORT, folded)]
    length = LONG_GRAM if len(folded) >= LONG_GRAM + 3 else GRAM
    step = max(k for k in (1, 2, 4, 8) if k <= len(folded) - length + 1)
    grams = dict.fromkeys(folded[offset : offset + length] for offset in range(step))
    return [(_GRAM_KINDS[length, step], gram) for gram in grams]


def pattern_terms(pattern: ErrorPattern) -> list[tuple[TermKind, str]]:
    """Every index term of ``pattern``: its keywords and its text's anchor."""
    terms = [(TermKind.KEYWORD, keyword) for keyword in pattern.keywords]
    terms.extend(text_terms(fold(pattern.pattern)))
    return terms


def context_probes(context: str, kinds: Iterable[TermKind]) -> dict[TermKind, list[str]]:
    """For each kind in ``kinds``, the distinct terms of ``context`` it is compared with."""
    folded = fold(context)
    # Unsorted: the database looks each probe up in the index, whatever their order.
    probes: dict[TermKind, list[str]] = {TermKind.KEYWORD: list(words_of(context))}
    for kind in kinds:
        if kind is TermKind.WORD:
            found = {match.group() for match in WORD.finditer(folded)}
        elif kind is TermKind.SHORT:
            found = {
                folded[start : start + length]
                for length in range(1, GRAM)
                for start in range(len(folded) - length + 1)
            }
        else:
            length, step = _GRAMS[kind]
            found = {
                folded[start : start + length] for start in range(0, len(folded) - length + 1, step)
            }
        if found:
            probes[kind] = list(found)
    return probes


# --- rows and models --------------------------------------------------------------------

_COLUMNS = (
    _PATTERNS.c.pattern_id,
    _PATTERNS.c.pattern,
    _PATTERNS.c.keywords,
    _PATTERNS.c.frequency,
    _PATTERNS.c.last_seen,
    _PATTERNS.c.first_seen,
    _PATTERNS.c.category,
    _PATTERNS.c.resolution,
    _PATTERNS.c.pattern_metadata,
)


def _to_domain(row: Row[Any] | Sequence[Any]) -> ErrorPattern:
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
    ) = tuple(row)[: len(_COLUMNS)]
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


def _descriptive_row(pattern: ErrorPattern) -> dict[str, Any]:
    return {
        "pattern": pattern.pattern,
        "pattern_folded": fold(pattern.pattern),
        "keywords": pattern.keywords,
        "category": pattern.category,
        "resolution": pattern.resolution,
        "pattern_metadata": pattern.metadata,
    }


def _full_row(pattern: ErrorPattern) -> dict[str, Any]:
    return {
        "pattern_id": pattern.pattern_id,
        "frequency": pattern.frequency,
        "first_seen": pattern.first_seen,
        "last_seen": pattern.last_seen,
        **_descriptive_row(pattern),
    }


def _require_pattern(pattern: object) -> ErrorPattern:
    if not isinstance(pattern, ErrorPattern):
        raise ValueError(f"pattern must be an ErrorPattern, got {type(pattern).__name__}")
    # Re-validate: a model changed with model_copy(update=...) skips its validators.
    return ErrorPattern.model_validate(pattern.model_dump())


def _require_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if value > INT64_MAX:
        raise ValueError(f"{name} must be at most {INT64_MAX} (64 bits), got {value}")
    return value


def _require_context(context: object) -> str:
    if not isinstance(context, str):
        raise ValueError(f"context must be a string, got {type(context).__name__}")
    if len(context) > MAX_CONTEXT_LENGTH:
        raise ValueError(f"context must be at most {MAX_CONTEXT_LENGTH} characters")
    check_storable(context)
    return context


def _order(dialect: str) -> tuple[ColumnElement[Any], ...]:
    """frequency desc, last_seen desc, then pattern_id by code point on every backend.

    SQLite compares text by code point already; PostgreSQL uses the database's
    collation (often linguistic, e.g. en_US) unless told ``COLLATE "C"``.
    """
    pattern_id = _PATTERNS.c.pattern_id
    return (
        _PATTERNS.c.frequency.desc(),
        _PATTERNS.c.last_seen.desc(),
        pattern_id.collate("C") if dialect == "postgresql" else pattern_id,
    )


# Built once: building and cache-keying it on every call cost more than the UPDATE.
_SEEN = bindparam("seen", type_=UtcDateTime())
_RECORD_OCCURRENCE = (
    update(_PATTERNS)
    .where(
        _PATTERNS.c.pattern_id == bindparam("target_id", type_=String()),
        _PATTERNS.c.frequency < INT64_MAX,
    )
    .values(
        frequency=_PATTERNS.c.frequency + 1,
        last_seen=case((_PATTERNS.c.last_seen < _SEEN, _SEEN), else_=_PATTERNS.c.last_seen),
        first_seen=case((_PATTERNS.c.first_seen > _SEEN, _SEEN), else_=_PATTERNS.c.first_seen),
    )
    .returning(*_COLUMNS)
)


class ErrorPatternRepository(Repository):
    """The durable ``ErrorPatternStore``: every method reads or writes the database."""

    # --- writes -------------------------------------------------------------------------

    def create(self, pattern: ErrorPattern) -> ErrorPattern:
        """Store a new pattern; ``DuplicateRecordError`` if its id exists."""
        stored = _require_pattern(pattern)

        def work(session: Session) -> ErrorPattern:
            session.execute(insert(_PATTERNS), [_full_row(stored)])
            self._write_terms(session, stored)
            return stored

        created = self._write("create error pattern", work)
        _log.debug("error_pattern.created", pattern_id=created.pattern_id)
        return created

    def update(self, pattern: ErrorPattern) -> ErrorPattern:
        """Replace the descriptive fields (pattern, keywords, category, resolution, metadata).

        ``frequency``, ``first_seen`` and ``last_seen`` are left as stored, so an
        update never undoes a concurrent :meth:`record_occurrence`. Returns the
        stored pattern; ``RecordNotFoundError`` when the id does not exist.
        """
        stored = _require_pattern(pattern)

        def work(session: Session) -> ErrorPattern:
            row = session.execute(
                update(_PATTERNS)
                .where(_PATTERNS.c.pattern_id == stored.pattern_id)
                .values(**_descriptive_row(stored))
                .returning(*_COLUMNS)
            ).first()
            if row is None:
                raise RecordNotFoundError(f"error pattern {stored.pattern_id!r} does not exist")
            session.execute(delete(_TERMS).where(_TERMS.c.pattern_id == stored.pattern_id))
            self._write_terms(session, stored)
            return _to_domain(row)

        return self._write("update error pattern", work)

    def delete(self, pattern_id: str) -> bool:
        """Delete a pattern and its index terms; False when there was none."""
        valid = require_id(pattern_id, "pattern_id")

        def work(session: Session) -> bool:
            session.execute(delete(_TERMS).where(_TERMS.c.pattern_id == valid))
            removed = session.execute(
                delete(_PATTERNS).where(_PATTERNS.c.pattern_id == valid).returning(literal(1))
            ).first()
            return removed is not None

        return self._write("delete error pattern", work)

    def record_occurrence(
        self, pattern_id: str, *, seen_at: datetime | None = None
    ) -> ErrorPattern:
        """One more occurrence: ``frequency + 1``, ``last_seen = max(last_seen, seen_at)``.

        One ``UPDATE`` does it in the database, so concurrent callers in several
        processes lose no increment. An older ``seen_at`` lowers ``first_seen``.
        It is never retried once its COMMIT may have happened (that would count twice).
        A pattern whose frequency is at the 64-bit maximum is refused (``ValueError``).
        """
        valid = require_id(pattern_id, "pattern_id")
        if seen_at is not None and not isinstance(seen_at, datetime):
            raise ValueError(f"seen_at must be a datetime, got {type(seen_at).__name__}")
        when = to_utc(seen_at) if seen_at is not None else utc_now()

        action = "record error occurrence"
        values = {"target_id": valid, "seen": when}
        if self._driver is not None:
            rows = self._driver.run(
                action,
                lambda transaction: transaction.rows(_RECORD_OCCURRENCE, values),
                write=True,
                idempotent=False,
            )
            if rows:
                return _to_domain(rows[0])
            # Nothing counted: the Session path below names the reason.

        def work(session: Session) -> ErrorPattern:
            row = session.execute(_RECORD_OCCURRENCE, values).first()
            if row is None:
                query = select(_PATTERNS.c.frequency).where(_PATTERNS.c.pattern_id == valid)
                if session.execute(query).first() is None:
                    raise RecordNotFoundError(f"error pattern {valid!r} does not exist")
                raise ValueError(
                    f"error pattern {valid!r} has counted {INT64_MAX} occurrences, "
                    "the most a 64-bit count holds"
                )
            return _to_domain(row)

        return self._write(action, work, idempotent=False)

    @staticmethod
    def _write_terms(session: Session, pattern: ErrorPattern) -> None:
        rows = [
            {"kind": int(kind), "term": term, "pattern_id": pattern.pattern_id}
            for kind, term in dict.fromkeys(pattern_terms(pattern))
        ]
        session.execute(insert(_TERMS), rows)

    # --- reads --------------------------------------------------------------------------

    def get(self, pattern_id: str) -> ErrorPattern | None:
        """The pattern with this id, or None."""
        valid = require_id(pattern_id, "pattern_id")
        statement = select(*_COLUMNS).where(_PATTERNS.c.pattern_id == valid)

        def work(session: Session) -> ErrorPattern | None:
            row = session.execute(statement).first()
            return None if row is None else _to_domain(row)

        return self._read("get error pattern", work)

    def list_all(self, *, limit: int | None = None, offset: int = 0) -> list[ErrorPattern]:
        """Patterns by frequency desc, then last_seen desc, then pattern_id."""
        if limit is not None:
            _require_int(limit, "limit", minimum=0)
        _require_int(offset, "offset", minimum=0)

        def work(session: Session) -> list[ErrorPattern]:
            order = _order(session.get_bind().dialect.name)
            statement = select(*_COLUMNS).order_by(*order).offset(offset)
            if limit is not None:
                statement = statement.limit(limit)
            return [_to_domain(row) for row in session.execute(statement)]

        return self._read("list error patterns", work)

    def count(self) -> int:
        """How many patterns are stored."""

        def work(session: Session) -> int:
            return int(session.execute(select(func.count()).select_from(_PATTERNS)).scalar_one())

        return self._read("count error patterns", work)

    def statistics(self) -> ErrorPatternStatistics:
        """Totals, the most frequent patterns and counts per category, aggregated in SQL."""
        frequency = _PATTERNS.c.frequency
        # Summed as two 32-bit halves: SQLite's sum() fails when a 64-bit total overflows.
        totals = select(
            func.count(),
            func.coalesce(func.sum(frequency.op(">>")(literal_column("32"))), 0),
            func.coalesce(func.sum(frequency.op("&")(literal_column("4294967295"))), 0),
            func.max(_PATTERNS.c.last_seen),
        )
        category = func.coalesce(_PATTERNS.c.category, "")
        by_category = select(category, func.count()).group_by(category).order_by(category)

        def work(session: Session) -> ErrorPatternStatistics:
            dialect = session.get_bind().dialect.name
            most_frequent = select(*_COLUMNS).order_by(*_order(dialect)).limit(MOST_FREQUENT_LIMIT)
            if dialect == "postgresql":
                # One snapshot for the three statements.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            patterns, high, low, last_seen = session.execute(totals).one()
            return ErrorPatternStatistics(
                total_patterns=int(patterns),
                total_occurrences=(int(high) << 32) + int(low),
                most_frequent=[_to_domain(row) for row in session.execute(most_frequent)],
                by_category={str(name): int(n) for name, n in session.execute(by_category)},
                last_seen=last_seen,
            )

        return self._read("error pattern statistics", work)

    def match_context(self, context: str, *, limit: int = 10) -> list[ErrorPattern]:
        """The patterns matching ``context``, best first (see the module docstring).

        Matches are: the pattern text occurs in the context (case-insensitive), or
        a keyword is a word of the context. Ranked by score (keywords matched, plus
        one for the text), then frequency desc, last_seen desc, pattern_id.
        """
        return [pattern for pattern, _ in self.match_scored(context, limit)]

    def match_scored(self, context: str, limit: int = 10) -> list[tuple[ErrorPattern, int]]:
        """:meth:`match_context` with each pattern's score, in the same order."""
        text = _require_context(context)
        _require_int(limit, "limit", minimum=0)
        if not text or limit == 0:
            return []
        return self._read(
            "match error context", lambda session: self._matches(session, text, limit)
        )

    def match_or_create(self, context: str, candidate: ErrorPattern) -> tuple[ErrorPattern, bool]:
        """The best match of ``context`` counted once more (``False``), else ``candidate``
        stored with frequency 1 (``True``); one transaction, atomic across processes.

        ``candidate`` must itself match ``context`` (``ValueError`` otherwise), so
        that every process meeting the same new error converges on one pattern.
        Never retried once its COMMIT may have happened (that would count twice).
        """
        text = _require_context(context)
        stored = _require_pattern(candidate)
        if not text or match_score(stored, text) == 0:
            raise ValueError(
                "the candidate pattern does not match the context: its text does not occur "
                "in it and none of its keywords is a word of it"
            )
        fresh = stored.model_copy(update={"frequency": 1})

        def work(session: Session) -> tuple[ErrorPattern, bool]:
            _lock_creation(session)
            found = self._matches(session, text, 1)
            if found:
                values = {"target_id": found[0][0].pattern_id, "seen": utc_now()}
                row = session.execute(_RECORD_OCCURRENCE, values).first()
                if row is not None:
                    return _to_domain(row), False
            session.execute(insert(_PATTERNS), [_full_row(fresh)])
            self._write_terms(session, fresh)
            return fresh, True

        return self._write("match or create an error pattern", work, idempotent=False)

    def _matches(self, session: Session, text: str, limit: int) -> list[tuple[ErrorPattern, int]]:
        dialect = session.get_bind().dialect.name
        present = self._present_kinds(session)
        probes = context_probes(text, present)
        params: dict[str, Any] = {_probe_name(kind): values for kind, values in probes.items()}
        params.update(context=fold(text), limit=limit, bar_offset=limit - 1)
        statement = _match_statement(dialect, tuple(probes))
        return [(_to_domain(row), int(row[-1])) for row in session.execute(statement, params)]

    @staticmethod
    def _present_kinds(session: Session) -> list[TermKind]:
        """The text-anchor kinds some pattern uses: one index seek each, one statement."""
        row = session.execute(_PRESENT_KINDS).one()
        return [kind for kind, present in zip(_ANCHOR_KINDS, row, strict=True) if present]


_CREATION_LOCK_KEY = 0x65727270  # PostgreSQL advisory lock of match_or_create ("errp")


def _lock_creation(session: Session) -> None:
    """Run match-or-create calls one at a time: SQLite's write lock, PostgreSQL's advisory one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_CREATION_LOCK_KEY)))


_ANCHOR_KINDS = (TermKind.WORD, *_OPTIONAL_KINDS)
# Built once: building and cache-keying a statement on every call cost more than running it.
_PRESENT_KINDS = select(
    *(exists().where(_TERMS.c.kind == int(kind)).label(kind.name) for kind in _ANCHOR_KINDS)
)


def _probe_name(kind: TermKind) -> str:
    return f"probe_{kind.name.lower()}"


def _probes(dialect: str, kind: TermKind) -> ColumnElement[bool]:
    """Terms of ``kind`` among one bound array of probes, whatever its length.

    SQLite reads the array with ``json_each``, PostgreSQL as ``text[]`` with
    ``= ANY``; both answer it from the primary-key index.
    """
    name = _probe_name(kind)
    if dialect == "postgresql":
        among = _TERMS.c.term == any_(bindparam(name, type_=ARRAY(Text())))
    else:
        listed = select(column("value", Text)).select_from(
            func.json_each(bindparam(name, type_=JSON())).table_valued("value")
        )
        among = _TERMS.c.term.in_(listed.scalar_subquery())
    return and_(_TERMS.c.kind == int(kind), among)


@functools.lru_cache(maxsize=128)
def _match_statement(dialect: str, kinds: tuple[TermKind, ...]) -> Select[Any]:
    """The one statement that answers ``match_context``, for the probe kinds in ``kinds``.

    Built once per dialect and set of kinds; the probes, the folded context,
    ``limit`` and ``bar_offset`` (``limit - 1``) are bound at execution.

    Only patterns that can still rank in the first ``limit`` are read.
    ``keyword_hits`` counts each pattern's matched keywords; the *bar* is the
    ``limit``-th largest of those counts (0 when fewer patterns share a keyword).
    At least ``limit`` patterns score the bar or more, and the text adds at most
    one point, so a pattern can only rank in with at least ``bar`` keywords, or
    with ``bar - 1`` and a text anchor among the probes, or (when the bar is at
    most 1) with no keyword and a text anchor. Only those candidates are read,
    checked against the text rule (``instr``/``strpos``) and ranked.
    """
    keyword_hits = (
        select(_TERMS.c.pattern_id, func.count().label("n"))
        .where(_probes(dialect, TermKind.KEYWORD))
        .group_by(_TERMS.c.pattern_id)
        .cte("keyword_hits")
    )
    bar_row = select(
        func.coalesce(
            select(keyword_hits.c.n)
            .order_by(keyword_hits.c.n.desc())
            .limit(1)
            .offset(bindparam("bar_offset", type_=BigInteger()))
            .scalar_subquery(),
            0,
        ).label("bar")
    ).cte("bar")
    bar = select(bar_row.c.bar).scalar_subquery()
    branches: list[Select[Any]] = [
        select(keyword_hits.c.pattern_id, keyword_hits.c.n).where(keyword_hits.c.n >= bar)
    ]
    anchor_kinds = [kind for kind in kinds if kind is not TermKind.KEYWORD]
    if anchor_kinds:
        anchors = union_all(
            *(select(_TERMS.c.pattern_id).where(_probes(dialect, kind)) for kind in anchor_kinds)
        ).cte("anchors")
        branches.append(
            select(keyword_hits.c.pattern_id, keyword_hits.c.n).where(
                keyword_hits.c.n == bar - 1,
                keyword_hits.c.pattern_id.in_(select(anchors.c.pattern_id)),
            )
        )
        branches.append(
            select(anchors.c.pattern_id, literal(0, type_=Integer()).label("n"))
            .where(bar <= 1, anchors.c.pattern_id.not_in(select(keyword_hits.c.pattern_id)))
            .distinct()
        )
    candidates = union_all(*branches).subquery("candidates")
    context = bindparam("context", type_=Text())
    position = (
        func.strpos(context, _PATTERNS.c.pattern_folded)
        if dialect == "postgresql"
        else func.instr(context, _PATTERNS.c.pattern_folded)
    )
    points = candidates.c.n + case((position > 0, 1), else_=0)
    score = points.label("score")
    return (
        select(*_COLUMNS, score)
        .join_from(candidates, _PATTERNS, _PATTERNS.c.pattern_id == candidates.c.pattern_id)
        .where(points > 0)
        .order_by(score.desc(), *_order(dialect))
        .limit(bindparam("limit", type_=BigInteger()))  # limits up to 2**63 - 1
    )
