"""The demo's error memory: a failing tool call is matched, remembered and shown.

The agent looks the error up in the ``ErrorPatternStore`` first. A confident match
(the pattern text occurs and at least one keyword matches: score 2 or more) is an
error seen before, and the failure is recorded as one more occurrence of it;
otherwise the agent stores a new pattern for it. Run the demo twice: the second
run recognises the error the first one stored, because it reads it back from
the database.
"""

from __future__ import annotations

from collections.abc import Callable

from cleveragents.cli.errors_views import render_patterns
from cleveragents.cli.output import OutputFormat
from cleveragents.domain.models.core._types import new_id, utc_now
from cleveragents.domain.models.core.error_pattern import (
    ErrorPattern,
    ErrorPatternStore,
    match_score,
)

CONFIDENT_SCORE = 2

MISSING_MODULE = ErrorPattern(
    pattern="No module named",
    keywords=["ModuleNotFoundError", "ImportError", "import"],
    category="dependency",
    resolution="install the missing package (install_package), then run the tests again",
    metadata={"learned_from": "cleveragents demo", "tool": "run_tests"},
)


def remember_failure(
    errors: ErrorPatternStore, error_text: str, narrate: Callable[[str], None]
) -> ErrorPattern:
    """Record ``error_text`` in the error memory: one more occurrence, or a new pattern.

    The template's id was drawn at import time: each learned pattern gets its own.
    """
    best = errors.match_context(error_text, limit=1)
    if best and match_score(best[0], error_text) >= CONFIDENT_SCORE:
        known = errors.record_occurrence(best[0].pattern_id)
        narrate(
            f"  known error {known.pattern!r}, seen {known.frequency} times; "
            f"resolution: {known.resolution or 'none recorded'}"
        )
        return known
    learned = errors.create(
        MISSING_MODULE.model_copy(
            update={"pattern_id": new_id(), "last_seen": utc_now(), "first_seen": None}
        )
    )
    narrate(f"  new error pattern {learned.pattern!r} stored ({learned.pattern_id})")
    return learned


def show_match(errors: ErrorPatternStore, error_text: str, fmt: OutputFormat) -> None:
    """What ``cleveragents errors match`` prints for the error, read from the database."""
    matches = errors.match_context(error_text, limit=3)
    render_patterns(matches, fmt, [match_score(pattern, error_text) for pattern in matches])
