"""The async faces of a database's stores and services: the same methods, as coroutines.

Each class lists every public method of its sync counterpart under the same name;
each runs the sync method on the database's worker threads (see :mod:`.worker`),
so it keeps the sync method's arguments, result, errors and guarantees.
"""

from __future__ import annotations

from cleveragents.aio.worker import Proxy, coroutine_of
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.changeset_repository import ChangeSetRepository
from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository

__all__ = ["AsyncChangeSetStore", "AsyncCheckpointService", "AsyncErrorPatternRepository"]


class AsyncChangeSetStore(Proxy[ChangeSetRepository]):
    """``db.changesets`` of an :class:`~cleveragents.aio.AsyncDatabase`: a ``ChangeSetStore``."""

    start = coroutine_of(ChangeSetRepository.start)
    record = coroutine_of(ChangeSetRepository.record)
    record_many = coroutine_of(ChangeSetRepository.record_many)
    record_invocation = coroutine_of(ChangeSetRepository.record_invocation)
    get = coroutine_of(ChangeSetRepository.get)
    get_for_plan = coroutine_of(ChangeSetRepository.get_for_plan)
    summarize = coroutine_of(ChangeSetRepository.summarize)
    delete_for_plan = coroutine_of(ChangeSetRepository.delete_for_plan)
    cancel_plan = coroutine_of(ChangeSetRepository.cancel_plan)
    roll_back = coroutine_of(ChangeSetRepository.roll_back)
    is_cancelled = coroutine_of(ChangeSetRepository.is_cancelled)


class AsyncCheckpointService(Proxy[CheckpointService]):
    """``db.checkpoints`` of an :class:`~cleveragents.aio.AsyncDatabase`."""

    close = coroutine_of(CheckpointService.close)
    release = coroutine_of(CheckpointService.release)
    create_checkpoint = coroutine_of(CheckpointService.create_checkpoint)
    create_workspace_snapshot = coroutine_of(CheckpointService.create_workspace_snapshot)
    get_checkpoint = coroutine_of(CheckpointService.get_checkpoint)
    list_checkpoints = coroutine_of(CheckpointService.list_checkpoints)
    diff_checkpoints = coroutine_of(CheckpointService.diff_checkpoints)
    prune = coroutine_of(CheckpointService.prune)
    prune_report = coroutine_of(CheckpointService.prune_report)
    prune_all = coroutine_of(CheckpointService.prune_all)
    verify_checkpoint = coroutine_of(CheckpointService.verify_checkpoint)
    restore_workspace = coroutine_of(CheckpointService.restore_workspace)
    reset_workspace = coroutine_of(CheckpointService.reset_workspace)


class AsyncErrorPatternRepository(Proxy[ErrorPatternRepository]):
    """``db.errors`` of an :class:`~cleveragents.aio.AsyncDatabase`."""

    create = coroutine_of(ErrorPatternRepository.create)
    update = coroutine_of(ErrorPatternRepository.update)
    delete = coroutine_of(ErrorPatternRepository.delete)
    record_occurrence = coroutine_of(ErrorPatternRepository.record_occurrence)
    get = coroutine_of(ErrorPatternRepository.get)
    list_all = coroutine_of(ErrorPatternRepository.list_all)
    count = coroutine_of(ErrorPatternRepository.count)
    statistics = coroutine_of(ErrorPatternRepository.statistics)
    match_context = coroutine_of(ErrorPatternRepository.match_context)
    match_scored = coroutine_of(ErrorPatternRepository.match_scored)
    match_or_create = coroutine_of(ErrorPatternRepository.match_or_create)
