"""The one statement that answers ``match_context``, and the ranking order, per backend.

Only the candidates the term index returns for a context's probes are read,
checked against the text rule and ranked (see :func:`match_statement`).
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import JSON, Text

from cleveragents.infrastructure.database.error_pattern_terms import OPTIONAL_KINDS, TermKind
from cleveragents.infrastructure.database.models import ErrorPatternModel, ErrorPatternTermModel

PATTERNS = cast(Table, ErrorPatternModel.__table__)


TERMS = cast(Table, ErrorPatternTermModel.__table__)


COLUMNS = (
    PATTERNS.c.pattern_id,
    PATTERNS.c.pattern,
    PATTERNS.c.keywords,
    PATTERNS.c.frequency,
    PATTERNS.c.last_seen,
    PATTERNS.c.first_seen,
    PATTERNS.c.category,
    PATTERNS.c.resolution,
    PATTERNS.c.pattern_metadata,
)


def rank_order(dialect: str) -> tuple[ColumnElement[Any], ...]:
    """frequency desc, last_seen desc, then pattern_id by code point on every backend.

    SQLite compares text by code point already; PostgreSQL uses the database's
    collation (often linguistic, e.g. en_US) unless told ``COLLATE "C"``.
    """
    pattern_id = PATTERNS.c.pattern_id
    return (
        PATTERNS.c.frequency.desc(),
        PATTERNS.c.last_seen.desc(),
        pattern_id.collate("C") if dialect == "postgresql" else pattern_id,
    )


ANCHOR_KINDS = (TermKind.WORD, *OPTIONAL_KINDS)


# Built once: building and cache-keying a statement on every call cost more than running it.
PRESENT_KINDS = select(
    *(exists().where(TERMS.c.kind == int(kind)).label(kind.name) for kind in ANCHOR_KINDS)
)


def probe_name(kind: TermKind) -> str:
    return f"probe_{kind.name.lower()}"


def probes_among(dialect: str, kind: TermKind) -> ColumnElement[bool]:
    """Terms of ``kind`` among one bound array of probes, whatever its length.

    SQLite reads the array with ``json_each``, PostgreSQL as ``text[]`` with
    ``= ANY``; both answer it from the primary-key index.
    """
    name = probe_name(kind)
    if dialect == "postgresql":
        among = TERMS.c.term == any_(bindparam(name, type_=ARRAY(Text())))
    else:
        listed = select(column("value", Text)).select_from(
            func.json_each(bindparam(name, type_=JSON())).table_valued("value")
        )
        among = TERMS.c.term.in_(listed.scalar_subquery())
    return and_(TERMS.c.kind == int(kind), among)


@functools.lru_cache(maxsize=128)
def match_statement(dialect: str, kinds: tuple[TermKind, ...]) -> Select[Any]:
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
        select(TERMS.c.pattern_id, func.count().label("n"))
        .where(probes_among(dialect, TermKind.KEYWORD))
        .group_by(TERMS.c.pattern_id)
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
            *(
                select(TERMS.c.pattern_id).where(probes_among(dialect, kind))
                for kind in anchor_kinds
            )
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
        func.strpos(context, PATTERNS.c.pattern_folded)
        if dialect == "postgresql"
        else func.instr(context, PATTERNS.c.pattern_folded)
    )
    points = candidates.c.n + case((position > 0, 1), else_=0)
    score = points.label("score")
    return (
        select(*COLUMNS, score)
        .join_from(candidates, PATTERNS, PATTERNS.c.pattern_id == candidates.c.pattern_id)
        .where(points > 0)
        .order_by(score.desc(), *rank_order(dialect))
        .limit(bindparam("limit", type_=BigInteger()))  # limits up to 2**63 - 1
    )
