"""The front door: one object that owns a database engine and everything built on it.

``cleveragents.open(url)`` returns a :class:`Database`: its ``changesets``,
``checkpoints`` and ``errors``, and the plan lifecycle (apply, rollback, cancel,
delete, list) wired to the one engine. This module is the composition root: the
only place where the library's stores and services are built and connected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, event

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.application.services.plan_apply_service import ApplyResult, PlanApplyService
from cleveragents.application.services.plan_rollback_service import (
    PlanRollbackService,
    RollbackResult,
)
from cleveragents.domain.models.core.change import ChangeEntry, ToolInvocation
from cleveragents.domain.models.core.plan import PlanDeletion, PlanInfo
from cleveragents.domain.progress import Progress
from cleveragents.domain.redaction import DEFAULT_REDACTOR, SecretRedactor
from cleveragents.domain.workspace import DEFAULT_SIZE_LIMIT
from cleveragents.infrastructure.database.changeset_repository import (
    ChangeSetEntryRepository,
    SqliteChangeSetStore,
    ToolInvocationRepository,
)
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.engine import require_existing_database
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
from cleveragents.infrastructure.database.errors import DatabaseError, mask_url
from cleveragents.infrastructure.database.plan_repository import PlanRepository
from cleveragents.infrastructure.database.session import (
    create_session_factory,
    default_database_url,
)
from cleveragents.infrastructure.database.vacuum import vacuum


class Database:
    """A database and everything that hangs off it; a context manager.

    ``url`` None means :func:`default_database_url`. With ``create=False`` a SQLite
    file that does not exist is refused (``MissingDatabaseError``, a ``DatabaseError``)
    before any file or folder is made; an existing one is still migrated. After
    :meth:`close`, using the database or any store or service it handed out raises
    ``DatabaseError``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        migrate: bool = True,
        create: bool = True,
        excludes: Sequence[str] = (),
        size_limit: int = DEFAULT_SIZE_LIMIT,
        watch: bool = True,
        gitignore: bool = True,
        redactor: SecretRedactor = DEFAULT_REDACTOR,
    ) -> None:
        target = default_database_url() if url is None else url
        if not create:
            require_existing_database(target)
        factory = create_session_factory(target, migrate=migrate)
        engine: Engine = factory.kw["bind"]
        self.url: str = mask_url(target)
        self._engine = engine
        self._closed = False
        event.listen(engine, "do_connect", self._refuse_when_closed)
        self.changesets = SqliteChangeSetStore(factory, redactor=redactor)
        self.checkpoints = CheckpointService(
            CheckpointRepository(factory),
            excludes=excludes,
            size_limit=size_limit,
            watch=watch,
            gitignore=gitignore,
        )
        self.errors = ErrorPatternRepository(factory)
        self._entries = ChangeSetEntryRepository(factory)
        self._invocations = ToolInvocationRepository(factory)
        self._plans = PlanRepository(factory)
        self._applying = PlanApplyService(self.changesets)
        self._rolling_back = PlanRollbackService(self.changesets, self.checkpoints)

    def _refuse_when_closed(self, *_: Any) -> None:
        if self._closed:
            raise DatabaseError(f"database {self.url} is closed")

    def _open(self) -> None:
        if self._closed:
            raise DatabaseError(f"database {self.url} is closed")

    # --- the plan lifecycle ---------------------------------------------------------------

    def apply(self, plan_id: str, sandbox_dir: str | Path, target_dir: str | Path) -> ApplyResult:
        """Promote the plan's live changes from the sandbox to the target, all or nothing."""
        self._open()
        return self._applying.apply(plan_id, sandbox_dir, target_dir)

    def rollback(
        self,
        plan_id: str,
        checkpoint_id: str,
        sandbox_dir: str | Path,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RollbackResult:
        """Reset the sandbox to the checkpoint and roll back what was recorded after it.

        ``progress`` hears its stages (see :mod:`cleveragents.domain.progress`).
        """
        self._open()
        return self._rolling_back.rollback(
            plan_id, checkpoint_id, sandbox_dir, dry_run=dry_run, progress=progress
        )

    def cancel_plan(self, plan_id: str) -> int:
        """Delete the plan's changeset records and tombstone it; its checkpoints stay."""
        self._open()
        return self._applying.cancel(plan_id)

    def delete_plan(self, plan_id: str) -> PlanDeletion:
        """Delete everything of the plan, its tombstone included (``RecordNotFoundError``).

        On a SQLite file the freed pages are given back before it returns.
        """
        self._open()
        deletion = self._plans.delete_plan(plan_id)
        self.checkpoints.release(deletion.plan_id)
        return deletion

    def list_plans(self, *, limit: int = 100, after: str | None = None) -> list[PlanInfo]:
        """Every plan with a record, a checkpoint or a tombstone, by id, after ``after``."""
        self._open()
        return self._plans.list_plans(limit=limit, after=after)

    def entries_for_plan(self, plan_id: str) -> list[ChangeEntry]:
        """Every entry of the plan, of all its changesets, in recording order.

        Rolled-back entries are included (their ``rolled_back_by`` is set).
        """
        self._open()
        return self._entries.get_entries_for_plan(plan_id)

    def invocations_for_plan(self, plan_id: str) -> list[ToolInvocation]:
        """Every tool invocation of the plan, in a changeset or not, in recording order."""
        self._open()
        return self._invocations.get_invocations_for_plan(plan_id)

    def vacuum(self) -> int:
        """Rewrite a SQLite file without its free pages; returns the bytes given back.

        Also switches a file made before ``auto_vacuum = INCREMENTAL`` was the default
        to it. 0 in memory and on PostgreSQL (see docs/reference/database.md).
        """
        self._open()
        return vacuum(self._engine)

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching sandboxes and release the connections (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        self.checkpoints.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Database({self.url!r}, {state})"


def open(url: str | None = None, **options: Any) -> Database:
    """Open the database at ``url`` (default: ``default_database_url()``), migrated first.

    Options: ``migrate`` (default True), ``create`` (default True; False refuses a
    SQLite file that does not exist instead of creating it), ``excludes``,
    ``size_limit``, ``watch`` and ``gitignore`` (for the checkpoint service), ``redactor`` (for tool
    invocations).
    """
    return Database(url, **options)
