"""Error pattern text anchors: 8-character grams from 11 characters, no short or stop words.

Rebuilds every stored pattern's text anchor (``error_pattern_terms`` rows of a
kind other than 0, the keywords) by the rule of this revision; the downgrade
rebuilds them by the rule of revision 0004. Both rules are written out here, as
they were when this revision was made, so that the migration never changes when
the library's rule does. See ``infrastructure/database/error_pattern_repository.py``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORD = re.compile(r"\w+")
_MAX_WORD = 200
_KEYWORD, _WORD_KIND, _SHORT = 0, 1, 2
_GRAM_KINDS = {
    (4, 1): 3,
    (4, 2): 4,
    (4, 4): 5,
    (4, 8): 6,
    (8, 4): 7,
    (8, 8): 8,
}
_STOP_WORDS = frozenset(
    {"and", "are", "but", "for", "from", "got", "has", "have", "into", "its", "not"}
    | {"the", "this", "via", "was", "were", "with"}
)
_BATCH = 2_000

_patterns = sa.table("error_patterns", sa.column("pattern_id", sa.String), sa.column("pattern"))
_terms = sa.table(
    "error_pattern_terms",
    sa.column("kind", sa.Integer),
    sa.column("term", sa.String),
    sa.column("pattern_id", sa.String),
)


def _anchors(text: str, *, long_grams: bool) -> list[tuple[int, str]]:
    """The text anchor of one pattern: revision 0005's rule, or 0004's."""
    folded = text.casefold()
    interior = [
        match.group()
        for match in _WORD.finditer(folded)
        if match.start() > 0 and match.end() < len(folded) and len(match.group()) <= _MAX_WORD
    ]
    if long_grams:
        interior = [word for word in interior if len(word) >= 3 and word not in _STOP_WORDS]
    if interior:
        return [(_WORD_KIND, max(interior, key=len))]
    if len(folded) < 4:
        return [(_SHORT, folded)]
    length = 8 if long_grams and len(folded) >= 11 else 4
    step = max(k for k in (1, 2, 4, 8) if k <= len(folded) - length + 1)
    grams = dict.fromkeys(folded[offset : offset + length] for offset in range(step))
    return [(_GRAM_KINDS[length, step], gram) for gram in grams]


def _rebuild(*, long_grams: bool) -> None:
    connection = op.get_bind()
    connection.execute(_terms.delete().where(_terms.c.kind != _KEYWORD))
    after: str | None = None
    while True:
        query = sa.select(_patterns.c.pattern_id, _patterns.c.pattern)
        if after is not None:
            query = query.where(_patterns.c.pattern_id > after)
        rows = connection.execute(query.order_by(_patterns.c.pattern_id).limit(_BATCH)).all()
        if not rows:
            return
        connection.execute(
            _terms.insert(),
            [
                {"kind": kind, "term": term, "pattern_id": pattern_id}
                for pattern_id, text in rows
                for kind, term in _anchors(text, long_grams=long_grams)
            ],
        )
        after = rows[-1][0]


def upgrade() -> None:
    _rebuild(long_grams=True)


def downgrade() -> None:
    _rebuild(long_grams=False)
