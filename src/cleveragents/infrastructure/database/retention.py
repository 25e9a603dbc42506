"""Retention: which checkpoints a prune removes, the stored bytes that frees, and the removal.

Bytes are counted on the object graph: every object the checkpoints reach (their
root trees, what each tree lists, the base of each delta) with its stored
(compressed) length. Reference counts over that graph, one reference per
checkpoint on its root, tell as the oldest checkpoints are dropped one by one
which objects no remaining checkpoint needs. Another plan's checkpoints keep
their references, so a plan's own bytes are the bytes freed by dropping all of
its checkpoints.

A prune runs in one write transaction (the removal, then the collection of
unreachable objects); on a SQLite file the freed pages are then given back in
short steps (:func:`.vacuum.give_back`) before the call returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from cleveragents.domain.models.core._types import require_id, to_utc
from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.domain.retention import PruneReport, RetentionLimits, removal_count
from cleveragents.infrastructure.database.checkpoint_removal import remove_checkpoints
from cleveragents.infrastructure.database.models import CheckpointModel, CheckpointObjectModel
from cleveragents.infrastructure.database.object_codec import DELTA_HEAD, delta_base
from cleveragents.infrastructure.database.object_store import (
    CHUNKS,
    chunks,
    chunks_of,
    lock_objects,
    stored_bytes,
)
from cleveragents.infrastructure.database.repository_base import Repository
from cleveragents.infrastructure.database.tree_codec import TREE
from cleveragents.infrastructure.database.tree_reads import walk_trees
from cleveragents.infrastructure.database.vacuum import deleting_in_place, engine_of, give_back

_CHECKPOINTS = cast(Table, CheckpointModel.__table__)
_OBJECTS = cast(Table, CheckpointObjectModel.__table__)


def _listing(digest: str) -> str:
    """The node of a tree's listing (what it names), apart from its stored bytes."""
    return f"{digest}/"


class ObjectGraph:
    """Stored objects with their sizes and what each needs, reference-counted from roots.

    A tree is two nodes: its stored bytes, and its listing, which needs those
    bytes and every entry it names. A delta's bytes need its base's bytes, not
    what the base lists (as the garbage collection counts them). A checkpoint
    holds its root tree's listing.
    """

    def __init__(self, sizes: dict[str, int], needs: dict[str, set[str]]) -> None:
        self._sizes = sizes
        self._needs = needs
        self._refs: Counter[str] = Counter()
        for needed in needs.values():
            self._refs.update(needed)

    def hold(self, root: str | None) -> None:
        """One more checkpoint has the tree ``root``."""
        if root is not None:
            self._refs[_listing(root)] += 1

    def drop(self, root: str | None) -> int:
        """One checkpoint less has the tree ``root``; returns the bytes nothing needs any more."""
        if root is None:
            return 0
        freed = 0
        node = _listing(root)
        self._refs[node] -= 1
        dead = [node] if self._refs[node] == 0 else []
        while dead:
            digest = dead.pop()
            freed += self._sizes.get(digest, 0)
            for needed in self._needs.get(digest, ()):
                self._refs[needed] -= 1
                if self._refs[needed] == 0:
                    dead.append(needed)
        return freed

    def freed_by_dropping(self, roots: Sequence[str | None]) -> list[int]:
        """Bytes freed by dropping the first k of ``roots``, for k = 0..len; changes nothing."""
        saved = self._refs.copy()
        freed = [0]
        try:
            for root in roots:
                freed.append(freed[-1] + self.drop(root))
        finally:
            self._refs = saved
        return freed


def load_graph(session: Session, roots: Iterable[str | None]) -> ObjectGraph:
    """The graph of every object ``roots`` reach, each root held once per occurrence."""
    held = [root for root in roots if root is not None]
    trees = walk_trees(session, set(held))
    needs: dict[str, set[str]] = {
        _listing(digest): {digest}
        | {
            _listing(row[2]) if row[1] == TREE else row[2]
            for row in rows
            if row[1] != FileKind.LARGE.value
        }
        for digest, rows in trees.items()
    }
    sizes: dict[str, int] = {}
    head = func.substr(_OBJECTS.c.data, 1, DELTA_HEAD)
    query = select(_OBJECTS.c.object_hash, func.length(_OBJECTS.c.data), head, _OBJECTS.c.kind)
    asked: set[str] = set()
    wanted = {node for nodes in needs.values() for node in nodes if not node.endswith("/")}
    while wanted:
        for chunk in chunks(sorted(wanted)):
            listed: list[str] = []
            for digest, size, start, kind in session.execute(
                query.where(_OBJECTS.c.object_hash.in_(chunk))
            ):
                sizes[digest] = int(size)
                if kind == CHUNKS:
                    listed.append(digest)
                base = delta_base(bytes(start))
                if base is not None:  # a delta needs its base's bytes
                    needs.setdefault(digest, set()).add(base)
            for digest, parts in chunks_of(session, listed).items():
                needs.setdefault(digest, set()).update(parts)  # a chunked file needs its chunks
        asked |= wanted
        wanted = {
            node for nodes in needs.values() for node in nodes if not node.endswith("/")
        } - asked
    graph = ObjectGraph(sizes, needs)
    for root in held:
        graph.hold(root)
    return graph


def _roots(session: Session) -> list[str | None]:
    return list(session.execute(select(_CHECKPOINTS.c.root_tree)).scalars())


def plan_prune(
    session: Session, plan_id: str, limits: RetentionLimits, *, dry_run: bool
) -> PruneReport:
    """Choose the plan's checkpoints to remove (oldest first) and remove them unless a dry run."""
    if limits.max_bytes is not None and not dry_run:
        lock_objects(session, exclusive=True)  # no snapshot adds references meanwhile
    rows = session.execute(
        select(_CHECKPOINTS.c.checkpoint_id, _CHECKPOINTS.c.created_at, _CHECKPOINTS.c.root_tree)
        .where(_CHECKPOINTS.c.plan_id == plan_id)
        .order_by(_CHECKPOINTS.c.seq)
    ).all()
    freed: list[int] = []
    if limits.max_bytes is not None or dry_run:
        graph = load_graph(session, _roots(session))
        freed = graph.freed_by_dropping([row.root_tree for row in rows])
    # The plan's own bytes once its first k checkpoints are gone.
    left = [freed[-1] - gone for gone in freed]
    count = removal_count(
        [to_utc(row.created_at) for row in rows],
        limits,
        datetime.now(UTC),
        left.__getitem__ if left else None,
    )
    doomed = [row.checkpoint_id for row in rows[:count]]
    if dry_run:
        return PruneReport(plan_id, doomed, freed[count] if freed else 0, dry_run=True)
    with deleting_in_place(session):
        return PruneReport(plan_id, doomed, remove_checkpoints(session, doomed))


def sweep(session: Session, max_bytes: int, *, dry_run: bool) -> PruneReport:
    """Remove the oldest checkpoints of every plan, never a plan's newest, until the
    stored content takes at most ``max_bytes``."""
    if not dry_run:
        lock_objects(session, exclusive=True)
    total = stored_bytes(session)
    if total <= max_bytes:
        return PruneReport(None, [], 0, dry_run=dry_run)
    rows = session.execute(
        select(
            _CHECKPOINTS.c.checkpoint_id, _CHECKPOINTS.c.plan_id, _CHECKPOINTS.c.root_tree
        ).order_by(_CHECKPOINTS.c.seq)
    ).all()
    newest = {row.plan_id: row.checkpoint_id for row in rows}
    graph = load_graph(session, [row.root_tree for row in rows])
    doomed: list[str] = []
    freed = 0
    for row in rows:
        if total - freed <= max_bytes:
            break
        if newest[row.plan_id] != row.checkpoint_id:
            doomed.append(row.checkpoint_id)
            freed += graph.drop(row.root_tree)
    if dry_run:
        return PruneReport(None, doomed, freed, dry_run=True)
    with deleting_in_place(session):
        return PruneReport(None, doomed, remove_checkpoints(session, doomed))


class CheckpointRetention(Repository):
    """The retention half of the checkpoint repository: prune, delete and budget sweeps."""

    def delete_for_plan(self, plan_id: str) -> int:
        """Delete every checkpoint of the plan and the content only they used."""
        return self.prune(plan_id, 0)

    def prune(
        self,
        plan_id: str,
        keep_last: int | None = None,
        *,
        older_than: timedelta | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Remove the plan's oldest checkpoints until every limit holds; returns how many."""
        limits = RetentionLimits(keep_last, older_than, max_bytes)
        return self.prune_report(plan_id, limits).count

    def prune_report(
        self, plan_id: str, limits: RetentionLimits, *, dry_run: bool = False
    ) -> PruneReport:
        """What a prune of the plan removes (with ``dry_run``: would remove, writing nothing)."""
        key = require_id(plan_id, "plan_id")
        if not isinstance(limits, RetentionLimits):
            raise ValueError(f"limits must be RetentionLimits, got {type(limits).__name__}")
        action = f"prune checkpoints of plan {key}"
        if dry_run:
            return self._read(
                action, lambda session: plan_prune(session, key, limits, dry_run=True)
            )
        report = self._write(
            action, lambda session: plan_prune(session, key, limits, dry_run=False)
        )
        if report.count:
            give_back(engine_of(self.session_factory))
        return report

    def prune_all(self, max_bytes: int, *, dry_run: bool = False) -> PruneReport:
        """Remove the oldest checkpoints of every plan (never a plan's newest) until the
        stored content takes at most ``max_bytes``."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        action = "prune checkpoints to a budget"
        if dry_run:
            return self._read(action, lambda session: sweep(session, max_bytes, dry_run=True))
        report = self._write(action, lambda session: sweep(session, max_bytes, dry_run=False))
        if report.count:
            give_back(engine_of(self.session_factory))
        return report
