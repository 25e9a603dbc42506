"""``AsyncDatabase``: a :class:`~cleveragents.database.Database` whose methods are coroutines.

It owns a sync ``Database`` and a few worker threads (ADR 0009). Opening it
(migrations included) runs on a worker too, so nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from types import TracebackType
from typing import Any, Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from cleveragents.aio.stores import (
    AsyncChangeSetStore,
    AsyncCheckpointService,
    AsyncErrorPatternRepository,
)
from cleveragents.aio.worker import Proxy, Worker, coroutine_of
from cleveragents.database import Database
from cleveragents.domain.errors import DatabaseError
from cleveragents.infrastructure.database.engine import default_database_url, is_sqlite_memory
from cleveragents.infrastructure.database.errors import mask_url

__all__ = ["AsyncDatabase", "open"]


class AsyncDatabase(Proxy[Database]):
    """A database and everything that hangs off it, with coroutine methods.

    Await it, or enter it with ``async with``, to open it: ``async with
    cleveragents.aio.open(url) as db``. ``url``, ``changesets``, ``checkpoints``
    and ``errors`` are plain attributes; every method of :class:`Database` and of
    those three is a coroutine of the same name and arguments. Options are those
    of :func:`cleveragents.open`.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        target = default_database_url() if url is None else url
        self.url: str = mask_url(target)
        worker = Worker(f"database {self.url}", serial=_shares_one_connection(target))
        super().__init__(worker, self._require)
        self._target_url = target
        self._options = options
        self._database: Database | None = None
        self._opening: asyncio.Future[Database] | None = None
        self.changesets = AsyncChangeSetStore(worker, lambda: self._require().changesets)
        self.checkpoints = AsyncCheckpointService(worker, lambda: self._require().checkpoints)
        self.errors = AsyncErrorPatternRepository(worker, lambda: self._require().errors)

    def _require(self) -> Database:
        if self._database is None:
            raise DatabaseError(
                f"database {self.url} is not open: await it or use `async with` first"
            )
        return self._database

    # --- the plan lifecycle: Database's methods, as coroutines --------------------------

    apply = coroutine_of(Database.apply)
    rollback = coroutine_of(Database.rollback)
    cancel_plan = coroutine_of(Database.cancel_plan)
    delete_plan = coroutine_of(Database.delete_plan)
    list_plans = coroutine_of(Database.list_plans)
    entries_for_plan = coroutine_of(Database.entries_for_plan)
    invocations_for_plan = coroutine_of(Database.invocations_for_plan)
    vacuum = coroutine_of(Database.vacuum)

    # --- lifetime -----------------------------------------------------------------------

    async def _open(self) -> Self:
        """Open (and migrate) the database on a worker; a second call does nothing more."""
        if self._worker.closed:
            raise DatabaseError(f"database {self.url} is closed")
        if self._database is not None:
            return self
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._build())
        try:
            await asyncio.shield(self._opening)
        except asyncio.CancelledError:
            # The caller gives up: the database it never received is closed again.
            await _to_the_end(self.close())
            raise
        return self

    async def _build(self) -> Database:
        try:
            database = await self._worker.run(Database, self._target_url, **self._options)
        except BaseException:
            self._worker.shutdown()  # nothing was opened: nothing to close
            raise
        self._database = database
        return database

    async def close(self) -> None:
        """Stop watching sandboxes and release the connections (a second call does nothing)."""
        if self._worker.closed:
            return
        if self._opening is not None:
            await _to_the_end(self._opening)
        try:
            if self._database is not None:
                await self._worker.run(self._database.close)
        finally:
            self._worker.shutdown()

    def __await__(self) -> Generator[Any, None, Self]:
        return self._open().__await__()

    async def __aenter__(self) -> Self:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        if self._worker.closed:
            state = "closed"
        else:
            state = "open" if self._database is not None else "not opened"
        return f"AsyncDatabase({self.url!r}, {state})"


async def _to_the_end(awaitable: Any) -> None:
    """Await ``awaitable`` through any cancellation; its own error is not raised here."""
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            continue
    if not task.cancelled():
        task.exception()  # retrieved: the caller reports what interrupted it instead


def _shares_one_connection(url: str) -> bool:
    """In-memory SQLite: every thread reaches the one database through one connection."""
    try:
        return is_sqlite_memory(make_url(url))
    except (sa_exc.ArgumentError, ValueError):  # an unusable URL: opening it reports why
        return False


def open(url: str | None = None, **options: Any) -> AsyncDatabase:
    """The database at ``url``, opened when awaited or entered (``async with``).

    ``url`` and ``options`` are those of :func:`cleveragents.open`.
    """
    return AsyncDatabase(url, **options)
