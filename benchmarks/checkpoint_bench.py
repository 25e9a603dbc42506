"""asv benchmarks of workspace checkpoints on a SQLite file (WAL, ``synchronous=FULL``).

The workspace is the one ``compare_git.py`` builds, at ``CLEVERAGENTS_BENCH_SCALE``
(``small``: 500 files, about 10 MB; ``full``: 10,000 files, about 200 MB). It is
built once per benchmark class in ``setup_cache``, long before anything is timed.

Every timed call does the whole job it names, and ``teardown`` checks that it did:

- ``FirstSnapshot``: ``setup`` opens a new, empty database for every call, so
  each timed snapshot reads, compresses and stores every file;
- ``IncrementalSnapshot``: ``setup`` edits 10 files of a plan that already has
  snapshots, and the timed call stores exactly those 10 (as in an agent loop, the
  files edited before the previous snapshot are re-hashed by the racy-clean rule);
- ``StoredCheckpoint``: ``setup`` makes a new, empty folder that the timed restore
  fills with every file; the timed verification re-reads and re-hashes every blob.

Each benchmark process keeps its engines open and makes one untimed call of the
same kind first, so no timed call pays for opening a database or compiling SQL.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from benchmarks.compare_git import (
    Workspace,
    build_workspace,
    change_files,
    workspace_scale,
)
from benchmarks.workload import current_scale
from cleveragents.application.services.checkpoint_service import CheckpointService, RestoreResult
from cleveragents.domain.models.core.checkpoint import Checkpoint
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory

SCALE = workspace_scale(current_scale().name)
STORED_SNAPSHOTS = 4  # the restored and verified checkpoint is the last of these

_numbers = itertools.count()


@functools.cache
def _scratch_folder() -> tempfile.TemporaryDirectory[str]:
    # Removed when the process exits.
    return tempfile.TemporaryDirectory(prefix="cleveragents-asv-checkpoints-")


def scratch_path(name: str) -> Path:
    """A new path in this process's scratch folder (nothing is created)."""
    return Path(_scratch_folder().name) / f"{name}-{next(_numbers)}"


_open: dict[Path, tuple[sessionmaker[Session], CheckpointService]] = {}


def service_for(database: Path) -> CheckpointService:
    """One service (engine and pool) per database file, open until :func:`close`."""
    if database not in _open:
        factory = create_session_factory(f"sqlite:///{database}")
        _open[database] = factory, CheckpointService(CheckpointRepository(factory))
    return _open[database][1]


def close(database: Path, *, delete: bool = False) -> None:
    """Close the service and the engine of ``database`` (the WAL goes into the file);
    maybe delete it."""
    factory, service = _open.pop(database)
    service.close()  # its sandbox watchers
    factory.kw["bind"].dispose()
    if delete:
        for suffix in ("", "-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)


def warm_up(service: CheckpointService) -> None:
    """Compile every statement of a snapshot once, on a tiny folder and a plan of its own."""
    folder = scratch_path("warm-up")
    folder.mkdir()
    (folder / "a.txt").write_text("warm up\n")
    service.create_workspace_snapshot("warm-up-plan", str(folder), "warm-up-1")
    (folder / "a.txt").write_text("warm up again\n")
    service.create_workspace_snapshot("warm-up-plan", str(folder), "warm-up-2")
    service.prune("warm-up-plan", 0)
    shutil.rmtree(folder)


def _diff_paths(checkpoint: Checkpoint | None) -> list[str] | None:
    """The paths a timed snapshot stored (None when no timed call ran since ``setup``)."""
    if checkpoint is None:
        return None
    paths = checkpoint.metadata.extra["diff_paths"]
    return [str(path) for path in paths] if isinstance(paths, list) else []


def workspace_in(folder: Path) -> Workspace:
    return build_workspace(folder / "workspace", SCALE)


class FirstSnapshot:
    """The first snapshot of a plan: every file is read, hashed, compressed and stored."""

    number = 1
    warmup_time = 0.0
    repeat = (3, 10, 60.0)
    timeout = 600.0

    def setup_cache(self) -> Workspace:
        return workspace_in(Path.cwd())

    def setup(self, workspace: Workspace) -> None:
        self.database = scratch_path("first").with_suffix(".db")
        self.service = service_for(self.database)
        warm_up(self.service)
        self.created: Checkpoint | None = None

    def teardown(self, workspace: Workspace) -> None:
        close(self.database, delete=True)
        stored = _diff_paths(self.created)
        if stored is not None and len(stored) != workspace.file_count:
            raise RuntimeError(f"a first snapshot stored {len(stored)} of {workspace.file_count}")

    def time_first_snapshot(self, workspace: Workspace) -> None:
        checkpoint = self.service.create_workspace_snapshot(
            "first-plan", str(workspace.root), "decision-1"
        )
        self.created = checkpoint


class IncrementalSnapshot:
    """A snapshot after an agent step edited 10 files."""

    number = 1
    warmup_time = 0.0
    repeat = (10, 40, 30.0)
    timeout = 600.0

    def setup_cache(self) -> Workspace:
        return workspace_in(Path.cwd())

    def setup(self, workspace: Workspace) -> None:
        self.service = service_for(Path(_scratch_folder().name) / "incremental.db")
        if not hasattr(self, "plan_id"):
            warm_up(self.service)
            self.plan_id = f"incremental-plan-{next(_numbers)}"
            self.service.create_workspace_snapshot(self.plan_id, str(workspace.root), "d-0")
        self.changed = change_files(workspace, 10_000 + next(_numbers))
        self.created: Checkpoint | None = None

    def teardown(self, workspace: Workspace) -> None:
        stored = _diff_paths(self.created)
        if stored is not None and stored != sorted(self.changed):
            raise RuntimeError(f"an incremental snapshot stored {stored}, not {self.changed}")

    def time_incremental_snapshot(self, workspace: Workspace) -> None:
        checkpoint = self.service.create_workspace_snapshot(
            self.plan_id, str(workspace.root), f"d-{next(_numbers)}"
        )
        self.created = checkpoint


def _stored_checkpoint(folder: Path) -> dict[str, Any]:
    """A database holding a plan of ``STORED_SNAPSHOTS`` snapshots of the workspace."""
    workspace = workspace_in(folder)
    database = folder / "stored.db"
    service = service_for(database)
    checkpoint_id = ""
    for step in range(STORED_SNAPSHOTS):
        if step:
            change_files(workspace, 20_000 + step)
        checkpoint_id = service.create_workspace_snapshot(
            "stored-plan", str(workspace.root), f"decision-{step}"
        ).checkpoint_id
    close(database)
    return {"database": database, "checkpoint_id": checkpoint_id, "files": workspace.file_count}


class StoredCheckpoint:
    """Restore of the last of 4 snapshots into a fresh folder, and its verification."""

    number = 1
    warmup_time = 0.0
    repeat = (3, 10, 60.0)
    timeout = 600.0

    def setup_cache(self) -> dict[str, Any]:
        return _stored_checkpoint(Path.cwd())

    def setup(self, stored: dict[str, Any]) -> None:
        self.service = service_for(stored["database"])
        self.checkpoint_id: str = stored["checkpoint_id"]
        if not hasattr(self, "warm"):
            # Reads the manifest and compiles every statement of a restore; writes nothing.
            self.warm = self.service.restore_workspace(
                self.checkpoint_id, scratch_path("dry-run"), dry_run=True
            )
        self.target = scratch_path("restored")
        self.target.mkdir()
        self.restored: RestoreResult | None = None
        self.verified: bool | None = None

    def teardown(self, stored: dict[str, Any]) -> None:
        shutil.rmtree(self.target, ignore_errors=True)
        if self.restored is not None and len(self.restored.written) != stored["files"]:
            raise RuntimeError(f"a restore wrote {len(self.restored.written)} files")
        if self.verified is False:
            raise RuntimeError("verify_checkpoint failed on an intact checkpoint")

    def time_restore_into_fresh_folder(self, stored: dict[str, Any]) -> None:
        self.restored = self.service.restore_workspace(self.checkpoint_id, self.target)

    def time_verify(self, stored: dict[str, Any]) -> None:
        self.verified = self.service.verify_checkpoint(self.checkpoint_id)
