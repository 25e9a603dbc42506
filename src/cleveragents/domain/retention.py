"""Retention of checkpoints: the limits a prune enforces, what it removed, and their syntax.

Pure logic, no database: which of a plan's checkpoints (oldest first) a prune
removes given its limits, and the command line's sizes (``2GB``, decimal) and
durations (``7d``). The stored bytes each removal frees come from the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from cleveragents.domain.models.core._types import INT64_MAX

SIZE_UNITS: Final = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
_DURATION = re.compile(r"(\d+)([smhdw])")


@dataclass(frozen=True)
class RetentionLimits:
    """What a prune of one plan keeps: at least one limit; each None means "no such limit".

    ``keep_last``: the newest N checkpoints (0 removes every one). ``older_than``:
    removes checkpoints made more than this long ago. ``max_bytes``: the stored
    (compressed) bytes only this plan's checkpoints reference. The last two never
    remove the plan's newest checkpoint.
    """

    keep_last: int | None = None
    older_than: timedelta | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("keep_last", "max_bytes"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.older_than is not None and (
            not isinstance(self.older_than, timedelta) or self.older_than < timedelta(0)
        ):
            raise ValueError(f"older_than must be a timedelta >= 0, got {self.older_than!r}")
        if self.keep_last is None and self.older_than is None and self.max_bytes is None:
            raise ValueError("give at least one limit: keep_last, older_than or max_bytes")


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed (or, with ``dry_run``, would remove).

    ``checkpoint_ids`` oldest first; ``bytes_freed``: the stored (compressed) bytes
    of the content no kept checkpoint needs. ``plan_id`` is None for a sweep over
    every plan.
    """

    plan_id: str | None
    checkpoint_ids: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    dry_run: bool = False

    @property
    def count(self) -> int:
        """How many checkpoints were (or would be) removed."""
        return len(self.checkpoint_ids)


def removal_count(
    created: Sequence[datetime],
    limits: RetentionLimits,
    now: datetime,
    bytes_left: Callable[[int], int] | None = None,
) -> int:
    """How many of a plan's oldest checkpoints to remove so that every limit holds.

    ``created``: the checkpoints' times, oldest (first recorded) first.
    ``bytes_left(k)``: the plan's own stored bytes once its first k are gone
    (needed with ``max_bytes`` only). Only ``keep_last`` may remove the newest.
    """
    total = len(created)
    if total == 0:
        return 0
    removed = 0
    if limits.keep_last is not None:
        removed = max(0, total - limits.keep_last)
    spare = total - 1  # older_than and max_bytes keep the newest one
    if limits.older_than is not None:
        try:
            cutoff = now - limits.older_than
        except OverflowError:  # before year 1: nothing is that old
            cutoff = None
        # Oldest first, until no checkpoint but the newest was made before the cutoff.
        old = [i for i in range(spare) if cutoff is not None and created[i] < cutoff]
        removed = max(removed, old[-1] + 1 if old else 0)
    if limits.max_bytes is not None:
        if bytes_left is None:
            raise ValueError("max_bytes needs the plan's stored bytes")
        at = min(removed, spare)
        while at < spare and bytes_left(at) > limits.max_bytes:
            at += 1
        removed = max(removed, at)
    return removed


def parse_size(text: str) -> int:
    """Bytes from ``2GB``, ``500MB``, ``1.5GB``, ``4GiB`` or ``1024`` (decimal units)."""
    match = _SIZE.fullmatch(text.strip())
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in SIZE_UNITS:
        raise ValueError(
            f"{text!r} is not a size: a number with B, KB, MB, GB or TB (decimal), "
            "or KiB, MiB, GiB, TiB"
        )
    number, _, fraction = match.group(1).partition(".")
    scale = SIZE_UNITS[unit]
    value = int(number) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    if value > INT64_MAX:
        raise ValueError(f"{text!r} is too large a size")
    return value


def parse_duration(text: str) -> timedelta:
    """A duration from ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` or combinations (``1d12h``)."""
    cleaned = text.strip()
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(number + unit for number, unit in parts) != cleaned:
        raise ValueError(
            f"{text!r} is not a duration: a whole number with s, m, h, d or w (e.g. 7d, 12h)"
        )
    seconds = sum(int(number) * DURATION_UNITS[unit] for number, unit in parts)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


__all__ = [
    "PruneReport",
    "RetentionLimits",
    "parse_duration",
    "parse_size",
    "removal_count",
]
