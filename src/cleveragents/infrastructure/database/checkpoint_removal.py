"""Deleting checkpoints, and then the stored objects that no checkpoint reaches any more.

A checkpoint's objects are shared with every other snapshot that holds the same
content, so deleting checkpoints is followed by a mark-and-sweep over what the
remaining ones reach: their trees, the chunks of chunked files, and the bases of
deltas. Everything here runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.infrastructure.database.models import (
    CheckpointModel,
    CheckpointObjectModel,
    CheckpointStatCacheModel,
)
from cleveragents.infrastructure.database.object_store import (
    chunk_lists,
    chunks,
    lock_objects,
    needed_bases,
    stored_bytes,
)
from cleveragents.infrastructure.database.tree_reads import walk_trees

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)
_STAT_CACHE = cast(Table, CheckpointStatCacheModel.__table__)


def delete_checkpoints(session: Session, plan_id: str, keep_last: int = 0) -> int:
    """Delete all but the plan's newest ``keep_last`` checkpoints, and what only they used.

    Runs in the caller's transaction; returns how many checkpoints it deleted.
    """
    ids = list(
        session.execute(
            select(_CHECKPOINTS.c.checkpoint_id)
            .where(_CHECKPOINTS.c.plan_id == plan_id)
            .order_by(_CHECKPOINTS.c.seq)
        ).scalars()
    )
    doomed = ids[: len(ids) - keep_last] if keep_last else ids
    remove_checkpoints(session, doomed)
    return len(doomed)


def remove_checkpoints(session: Session, checkpoint_ids: Sequence[str]) -> int:
    """Delete these checkpoints and the objects no other checkpoint reaches.

    Runs in the caller's transaction; returns the stored bytes of the objects deleted.
    """
    if not checkpoint_ids:
        return 0
    lock_objects(session, exclusive=True)
    for chunk in chunks(checkpoint_ids):
        session.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.checkpoint_id.in_(chunk)))
    return _collect_garbage(session)


def _collect_garbage(session: Session) -> int:
    """Delete objects that no checkpoint reaches any more; returns their stored bytes."""
    roots = session.execute(
        select(_CHECKPOINTS.c.root_tree).where(_CHECKPOINTS.c.root_tree.is_not(None))
    ).scalars()
    trees = walk_trees(session, roots)
    reachable = set(trees)
    for children in trees.values():
        reachable.update(child[2] for child in children if child[1] != FileKind.LARGE.value)
    for listing, held in chunk_lists(session).items():
        if listing in reachable:
            reachable.update(held)  # a chunked file needs its chunks
    # A delta needs its base (and the base's own bases), not what the base lists.
    reachable |= needed_bases(session, reachable)
    stored = list(session.execute(select(_OBJECTS.c.object_hash)).scalars())
    unreachable = sorted(set(stored) - reachable)
    freed = stored_bytes(session, unreachable)
    for chunk in chunks(unreachable):
        session.execute(delete(_OBJECTS).where(_OBJECTS.c.object_hash.in_(chunk)))
    # A stat cache is only a hint checked against the plan's last snapshot (it may
    # name a checkpoint deleted since); a plan without checkpoints needs none.
    session.execute(
        delete(_STAT_CACHE).where(_STAT_CACHE.c.plan_id.not_in(select(_CHECKPOINTS.c.plan_id)))
    )
    return freed
