"""Which shared dictionary a plan's next snapshot packs its few small new files against.

The repository remembers each plan's last dictionary in memory. A repository
that has not written the plan yet (a new process, most often) finds it in the
store instead: the plan's newest snapshot that changed anything names the files
it wrote, and their delta chains (at most 16 deep), followed down by their
heads only, lead to the dictionary they descend from, if any. Either way the
dictionary is only a candidate: :func:`.object_packing.usable_dictionary` checks
that it is stored, whole and of a dictionary's size before the write, and the
write transaction checks it again (:func:`.object_packing.moved_bases`).
"""

from __future__ import annotations

import threading
from itertools import islice
from typing import Final, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.domain.models.core.diff_rows import canonical_rows
from cleveragents.infrastructure.database.models import CheckpointModel
from cleveragents.infrastructure.database.object_codec import delta_base, diff_pieces
from cleveragents.infrastructure.database.object_compression import DICTIONARY
from cleveragents.infrastructure.database.object_store import delta_heads, objects_of_kind

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
# The newest diff's files whose chains are followed: enough to meet the dictionary
# when the plan has one, and a bounded read of a first snapshot's long diff.
SEARCHED_FILES: Final = 256


class PlanDictionaries:
    """A bounded, thread-safe memory of each plan's last dictionary (None: it has none)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def recall(self, plan_id: str) -> tuple[bool, str | None]:
        """Whether the plan is remembered, and its dictionary if so."""
        with self._lock:
            return plan_id in self._known, self._known.get(plan_id)

    def remember(self, plan_id: str, digest: str | None) -> None:
        with self._lock:
            self._known.pop(plan_id, None)
            self._known[plan_id] = digest
            while len(self._known) > self._limit:
                self._known.pop(next(iter(self._known)))


def descended_dictionary(session: Session, plan_id: str) -> str | None:
    """The dictionary that files of the plan's newest snapshot with a diff are deltas of,
    down their chains; None when there is none (or that diff is damaged: verify says so)."""
    row = session.execute(
        select(_CHECKPOINTS.c.checkpoint_id, _CHECKPOINTS.c.diff_data)
        .where(_CHECKPOINTS.c.plan_id == plan_id, _CHECKPOINTS.c.diff_data.is_not(None))
        .order_by(_CHECKPOINTS.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        rows = canonical_rows(diff_pieces(row.checkpoint_id, row.diff_data))
        wanted = set(islice((str(r[1]) for r in rows if _names_file(r)), SEARCHED_FILES))
    except (IntegrityCheckError, ValueError):
        return None
    seen: set[str] = set()  # each base is looked at once: the walk ends, even on a cycle
    while wanted:
        heads = delta_heads(session, sorted(wanted))
        wanted = {base for _, head in heads.values() if (base := delta_base(head))} - seen
        found = objects_of_kind(session, sorted(wanted), DICTIONARY)
        if found:
            return min(found)
        seen |= wanted
    return None


def _names_file(row: list[object]) -> bool:
    """Whether a canonical diff row says a file is there now (rows from before kinds
    were recorded say nothing of kinds: theirs count, a symlink's chain ends at once)."""
    there = len(row) >= 2 and isinstance(row[1], str)
    return there and (len(row) == 2 or row[2] == FileKind.FILE.value)
