"""Error patterns in the database, matched through an index of terms.

``match_context`` never reads every pattern. Each pattern is stored with index
terms (table ``error_pattern_terms``, see :mod:`.error_pattern_terms`); a
context is turned into the probes that can equal them, the primary-key index
answers the probes, and only the candidates it returns are scored, ranked and
cut to ``limit`` by one statement (:mod:`.error_pattern_match`).

A term hit is only a candidate for the text rule: the statement checks that the
folded text really occurs in the folded context (``instr``/``strpos``) before
adding its point. Keyword hits are exact.

A pattern's rows and the checks of the arguments are in :mod:`.error_pattern_rows`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from cleveragents._logging import get_logger
from cleveragents.domain.models.core._types import (
    INT64_MAX,
    require_id,
    to_utc,
    utc_now,
)
from cleveragents.domain.models.core.error_pattern import (
    MOST_FREQUENT_LIMIT,
    ErrorPattern,
    ErrorPatternStatistics,
    fold,
    match_score,
)
from cleveragents.infrastructure.database.error_pattern_match import (
    ANCHOR_KINDS,
    COLUMNS,
    PATTERNS,
    PRESENT_KINDS,
    TERMS,
    match_statement,
    probe_name,
    rank_order,
)
from cleveragents.infrastructure.database.error_pattern_rows import (
    descriptive_row,
    full_row,
    require_context,
    require_int,
    require_pattern,
    to_domain,
)
from cleveragents.infrastructure.database.error_pattern_terms import (
    TermKind,
    context_probes,
    pattern_terms,
)
from cleveragents.infrastructure.database.errors import RecordNotFoundError
from cleveragents.infrastructure.database.models import UtcDateTime
from cleveragents.infrastructure.database.repository_base import Repository

__all__ = ["ErrorPatternRepository", "TermKind", "pattern_terms"]

_log = get_logger(__name__)


# Built once: building and cache-keying it on every call cost more than the UPDATE.
_SEEN = bindparam("seen", type_=UtcDateTime())


_RECORD_OCCURRENCE = (
    update(PATTERNS)
    .where(
        PATTERNS.c.pattern_id == bindparam("target_id", type_=String()),
        PATTERNS.c.frequency < INT64_MAX,
    )
    .values(
        frequency=PATTERNS.c.frequency + 1,
        last_seen=case((PATTERNS.c.last_seen < _SEEN, _SEEN), else_=PATTERNS.c.last_seen),
        first_seen=case((PATTERNS.c.first_seen > _SEEN, _SEEN), else_=PATTERNS.c.first_seen),
    )
    .returning(*COLUMNS)
)


class ErrorPatternRepository(Repository):
    """The durable ``ErrorPatternStore``: every method reads or writes the database."""

    # --- writes -------------------------------------------------------------------------

    def create(self, pattern: ErrorPattern) -> ErrorPattern:
        """Store a new pattern; ``DuplicateRecordError`` if its id exists."""
        stored = require_pattern(pattern)

        def work(session: Session) -> ErrorPattern:
            session.execute(insert(PATTERNS), [full_row(stored)])
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
        stored = require_pattern(pattern)

        def work(session: Session) -> ErrorPattern:
            row = session.execute(
                update(PATTERNS)
                .where(PATTERNS.c.pattern_id == stored.pattern_id)
                .values(**descriptive_row(stored))
                .returning(*COLUMNS)
            ).first()
            if row is None:
                raise RecordNotFoundError(f"error pattern {stored.pattern_id!r} does not exist")
            session.execute(delete(TERMS).where(TERMS.c.pattern_id == stored.pattern_id))
            self._write_terms(session, stored)
            return to_domain(row)

        return self._write("update error pattern", work)

    def delete(self, pattern_id: str) -> bool:
        """Delete a pattern and its index terms; False when there was none."""
        valid = require_id(pattern_id, "pattern_id")

        def work(session: Session) -> bool:
            session.execute(delete(TERMS).where(TERMS.c.pattern_id == valid))
            removed = session.execute(
                delete(PATTERNS).where(PATTERNS.c.pattern_id == valid).returning(literal(1))
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
                return to_domain(rows[0])
            # Nothing counted: the Session path below names the reason.

        def work(session: Session) -> ErrorPattern:
            row = session.execute(_RECORD_OCCURRENCE, values).first()
            if row is None:
                query = select(PATTERNS.c.frequency).where(PATTERNS.c.pattern_id == valid)
                if session.execute(query).first() is None:
                    raise RecordNotFoundError(f"error pattern {valid!r} does not exist")
                raise ValueError(
                    f"error pattern {valid!r} has counted {INT64_MAX} occurrences, "
                    "the most a 64-bit count holds"
                )
            return to_domain(row)

        return self._write(action, work, idempotent=False)

    @staticmethod
    def _write_terms(session: Session, pattern: ErrorPattern) -> None:
        rows = [
            {"kind": int(kind), "term": term, "pattern_id": pattern.pattern_id}
            for kind, term in dict.fromkeys(pattern_terms(pattern))
        ]
        session.execute(insert(TERMS), rows)

    # --- reads --------------------------------------------------------------------------

    def get(self, pattern_id: str) -> ErrorPattern | None:
        """The pattern with this id, or None."""
        valid = require_id(pattern_id, "pattern_id")
        statement = select(*COLUMNS).where(PATTERNS.c.pattern_id == valid)

        def work(session: Session) -> ErrorPattern | None:
            row = session.execute(statement).first()
            return None if row is None else to_domain(row)

        return self._read("get error pattern", work)

    def list_all(self, *, limit: int | None = None, offset: int = 0) -> list[ErrorPattern]:
        """Patterns by frequency desc, then last_seen desc, then pattern_id."""
        if limit is not None:
            require_int(limit, "limit", minimum=0)
        require_int(offset, "offset", minimum=0)

        def work(session: Session) -> list[ErrorPattern]:
            order = rank_order(session.get_bind().dialect.name)
            statement = select(*COLUMNS).order_by(*order).offset(offset)
            if limit is not None:
                statement = statement.limit(limit)
            return [to_domain(row) for row in session.execute(statement)]

        return self._read("list error patterns", work)

    def count(self) -> int:
        """How many patterns are stored."""

        def work(session: Session) -> int:
            return int(session.execute(select(func.count()).select_from(PATTERNS)).scalar_one())

        return self._read("count error patterns", work)

    def statistics(self) -> ErrorPatternStatistics:
        """Totals, the most frequent patterns and counts per category, aggregated in SQL."""
        frequency = PATTERNS.c.frequency
        # Summed as two 32-bit halves: SQLite's sum() fails when a 64-bit total overflows.
        totals = select(
            func.count(),
            func.coalesce(func.sum(frequency.op(">>")(literal_column("32"))), 0),
            func.coalesce(func.sum(frequency.op("&")(literal_column("4294967295"))), 0),
            func.max(PATTERNS.c.last_seen),
        )
        category = func.coalesce(PATTERNS.c.category, "")
        by_category = select(category, func.count()).group_by(category).order_by(category)

        def work(session: Session) -> ErrorPatternStatistics:
            dialect = session.get_bind().dialect.name
            most_frequent = (
                select(*COLUMNS).order_by(*rank_order(dialect)).limit(MOST_FREQUENT_LIMIT)
            )
            if dialect == "postgresql":
                # One snapshot for the three statements.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            patterns, high, low, last_seen = session.execute(totals).one()
            return ErrorPatternStatistics(
                total_patterns=int(patterns),
                total_occurrences=(int(high) << 32) + int(low),
                most_frequent=[to_domain(row) for row in session.execute(most_frequent)],
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
        text = require_context(context)
        require_int(limit, "limit", minimum=0)
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
        text = require_context(context)
        stored = require_pattern(candidate)
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
                    return to_domain(row), False
            session.execute(insert(PATTERNS), [full_row(fresh)])
            self._write_terms(session, fresh)
            return fresh, True

        return self._write("match or create an error pattern", work, idempotent=False)

    def _matches(self, session: Session, text: str, limit: int) -> list[tuple[ErrorPattern, int]]:
        dialect = session.get_bind().dialect.name
        present = self._present_kinds(session)
        probes = context_probes(text, present)
        params: dict[str, Any] = {probe_name(kind): values for kind, values in probes.items()}
        params.update(context=fold(text), limit=limit, bar_offset=limit - 1)
        statement = match_statement(dialect, tuple(probes))
        return [(to_domain(row), int(row[-1])) for row in session.execute(statement, params)]

    @staticmethod
    def _present_kinds(session: Session) -> list[TermKind]:
        """The text-anchor kinds some pattern uses: one index seek each, one statement."""
        row = session.execute(PRESENT_KINDS).one()
        return [kind for kind, present in zip(ANCHOR_KINDS, row, strict=True) if present]


_CREATION_LOCK_KEY = 0x65727270  # PostgreSQL advisory lock of match_or_create ("errp")


def _lock_creation(session: Session) -> None:
    """Run match-or-create calls one at a time: SQLite's write lock, PostgreSQL's advisory one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_CREATION_LOCK_KEY)))
