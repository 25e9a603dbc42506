"""The async API: ``async with cleveragents.aio.open(url) as db``.

Every method of :class:`cleveragents.Database`, and of its ``changesets``,
``checkpoints`` and ``errors``, is a coroutine here, with the same name,
arguments, results and errors::

    import cleveragents.aio

    async with cleveragents.aio.open("sqlite:///agents.db") as db:
        changeset = await db.changesets.start("plan-1")

The calls run on a few worker threads that the database owns (ADR 0009), so the
event loop keeps running while a snapshot walks a large sandbox. A cancelled call
is finished or has had no effect by the time ``CancelledError`` reaches the caller;
a ``progress`` callback runs on the event loop's thread.
"""

from __future__ import annotations

from cleveragents.aio.database import AsyncDatabase, open
from cleveragents.aio.stores import (
    AsyncChangeSetStore,
    AsyncCheckpointService,
    AsyncErrorPatternRepository,
)

__all__ = [
    "AsyncChangeSetStore",
    "AsyncCheckpointService",
    "AsyncDatabase",
    "AsyncErrorPatternRepository",
    "open",
]
