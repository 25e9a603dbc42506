"""cleveragents: the persistence core of an AI agent runtime.

Start at :func:`open`::

    import cleveragents

    with cleveragents.open() as db:            # the default SQLite file, migrated
        changeset = db.changesets.start("plan-1")

Every public model, protocol, service, result and error is importable from here.
They are loaded on first use, so ``import cleveragents`` (and ``cleveragents
--version``) stays fast. The async API is the submodule :mod:`cleveragents.aio`
(``cleveragents.aio.open``), loaded on first use as well.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cleveragents._wiring import wire_defaults

__version__ = "0.1.0"

# The composition root registers the defaults the application's services ask for (the
# local file-system workspace) before any of them can be imported. Nothing heavy is
# loaded here: each default imports its infrastructure on first use.
wire_defaults()

_CORE = "cleveragents.domain.models.core"
_SERVICES = "cleveragents.application.services"
_ERRORS = "cleveragents.domain.errors"

# Each exported name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "open": "cleveragents.database",
    "Database": "cleveragents.database",
    "ChangeOperation": f"{_CORE}.change",
    "EntryKind": f"{_CORE}.change",
    "ChangeEntry": f"{_CORE}.change",
    "ToolInvocation": f"{_CORE}.change",
    "SpecChangeSet": f"{_CORE}.change",
    "ChangeSetSummary": f"{_CORE}.change",
    "ChangeSetStore": f"{_CORE}.change",
    "Checkpoint": f"{_CORE}.checkpoint",
    "CheckpointMetadata": f"{_CORE}.checkpoint",
    "CheckpointStore": f"{_CORE}.checkpoint_store",
    "ErrorPattern": f"{_CORE}.error_pattern",
    "PlanInfo": f"{_CORE}.plan",
    "PlanDeletion": f"{_CORE}.plan",
    "CheckpointService": f"{_SERVICES}.checkpoint_service",
    "RestoreResult": f"{_SERVICES}.checkpoint_service",
    "PlanApplyService": f"{_SERVICES}.plan_apply_service",
    "ApplyResult": f"{_SERVICES}.plan_apply_service",
    "ApplyError": f"{_SERVICES}.plan_apply_service",
    "PlanRollbackService": f"{_SERVICES}.plan_rollback_service",
    "RollbackResult": f"{_SERVICES}.plan_rollback_service",
    "DatabaseError": _ERRORS,
    "DuplicateRecordError": _ERRORS,
    "RecordNotFoundError": _ERRORS,
    "IntegrityCheckError": _ERRORS,
    "PlanCancelledError": _ERRORS,
}

# Submodules reachable as attributes of the package without importing them first.
_SUBMODULES = frozenset({"aio"})

__all__ = [
    "ApplyError",
    "ApplyResult",
    "ChangeEntry",
    "ChangeOperation",
    "ChangeSetStore",
    "ChangeSetSummary",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointService",
    "CheckpointStore",
    "Database",
    "DatabaseError",
    "DuplicateRecordError",
    "EntryKind",
    "ErrorPattern",
    "IntegrityCheckError",
    "PlanApplyService",
    "PlanCancelledError",
    "PlanDeletion",
    "PlanInfo",
    "PlanRollbackService",
    "RecordNotFoundError",
    "RestoreResult",
    "RollbackResult",
    "SpecChangeSet",
    "ToolInvocation",
    "__version__",
    "open",
]

if TYPE_CHECKING:
    from cleveragents import aio as aio
    from cleveragents.application.services.checkpoint_service import (
        CheckpointService,
        RestoreResult,
    )
    from cleveragents.application.services.plan_apply_service import (
        ApplyError,
        ApplyResult,
        PlanApplyService,
    )
    from cleveragents.application.services.plan_rollback_service import (
        PlanRollbackService,
        RollbackResult,
    )
    from cleveragents.database import Database, open
    from cleveragents.domain.errors import (
        DatabaseError,
        DuplicateRecordError,
        IntegrityCheckError,
        PlanCancelledError,
        RecordNotFoundError,
    )
    from cleveragents.domain.models.core.change import (
        ChangeEntry,
        ChangeOperation,
        ChangeSetStore,
        ChangeSetSummary,
        EntryKind,
        SpecChangeSet,
        ToolInvocation,
    )
    from cleveragents.domain.models.core.checkpoint import Checkpoint, CheckpointMetadata
    from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
    from cleveragents.domain.models.core.error_pattern import ErrorPattern
    from cleveragents.domain.models.core.plan import PlanDeletion, PlanInfo


def __getattr__(name: str) -> Any:
    """Load an exported name from its module (or a submodule) on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # which sets the attribute
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cleveragents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
