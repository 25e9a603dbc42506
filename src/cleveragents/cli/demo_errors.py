"""The demo's error memory: a failing tool call is matched, remembered and shown.

The agent hands the error to ``match_or_create``: the best stored match is an
error seen before, and the failure is counted as one more occurrence of it;
otherwise the agent's new pattern for it is stored, in the same transaction (so
two agents meeting the same new error store it once). Run the demo twice: the
second run recognises the error the first one stored, because it reads it back
from the database.
"""

from __future__ import annotations

from collections.abc import Callable

from cleveragents.cli.errors_views import render_patterns
from cleveragents.cli.output import OutputFormat
from cleveragents.domain.models.core._types import new_id, utc_now
from cleveragents.domain.models.core.error_pattern import ErrorPattern, ErrorPatternStore

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
    candidate = MISSING_MODULE.model_copy(
        update={"pattern_id": new_id(), "last_seen": utc_now(), "first_seen": None}
    )
    pattern, created = errors.match_or_create(error_text, candidate)
    if created:
        narrate(f"  new error pattern {pattern.pattern!r} stored ({pattern.pattern_id})")
    else:
        narrate(
            f"  known error {pattern.pattern!r}, seen {pattern.frequency} times; "
            f"resolution: {pattern.resolution or 'none recorded'}"
        )
    return pattern


def show_match(errors: ErrorPatternStore, error_text: str, fmt: OutputFormat) -> None:
    """What ``cleveragents errors match`` prints for the error, read from the database."""
    scored = errors.match_scored(error_text, limit=3)
    render_patterns([pattern for pattern, _ in scored], fmt, [score for _, score in scored])
