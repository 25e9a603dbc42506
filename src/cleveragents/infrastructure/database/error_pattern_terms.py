"""The index terms of error patterns, and the probes of a context: pure functions.

A pattern is stored with index terms; a context is turned into the probes that
can equal them (``error_pattern_match`` looks them up). Each term kind is an
anchor that any occurrence of the pattern in a context must hit.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from cleveragents.domain.models.core.error_pattern import (
    MAX_KEYWORD_LENGTH,
    WORD,
    ErrorPattern,
    fold,
    words_of,
)

GRAM = 4
LONG_GRAM = 8
MIN_WORD_ANCHOR = 3
# Words too common in error texts to tell patterns apart, never a text anchor
# (words shorter than MIN_WORD_ANCHOR, like "in" or "of", never are either).
STOP_WORDS = frozenset(
    {"and", "are", "but", "for", "from", "got", "has", "have", "into", "its", "not"}
    | {"the", "this", "via", "was", "were", "with"}
)


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
GRAM_KINDS = {
    (GRAM, 1): TermKind.GRAM_1,
    (GRAM, 2): TermKind.GRAM_2,
    (GRAM, 4): TermKind.GRAM_4,
    (GRAM, 8): TermKind.GRAM_8,
    (LONG_GRAM, 4): TermKind.LONG_4,
    (LONG_GRAM, 8): TermKind.LONG_8,
}
GRAMS = {kind: shape for shape, kind in GRAM_KINDS.items()}
# Kinds probed only when some pattern has them (an index seek tells).
OPTIONAL_KINDS = (TermKind.SHORT, *GRAM_KINDS.values())


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
    return [(GRAM_KINDS[length, step], gram) for gram in grams]


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
            length, step = GRAMS[kind]
            found = {
                folded[start : start + length] for start in range(0, len(folded) - length + 1, step)
            }
        if found:
            probes[kind] = list(found)
    return probes
