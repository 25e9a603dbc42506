"""Stored size of checkpoints against git, on agent-like edits and on a real history.

    python benchmarks/compare_git_storage.py --scale small|full [--check] [--history-repo DIR]

Three workloads, each recorded by both sides in the same order, state by state:

- **agent-like small edits**: ``compare_git``'s generated workspace (``full``: its
  ``small`` workspace, 500 files and about 10 MB), snapshotted once, then after
  each of 100 steps that edit 10 text files by a few lines;
- **a real project's history**: the first commits (``full``: 150) of the
  repository this script lives in (``--history-repo`` names another one), oldest
  first (``git rev-list --reverse --topo-order``: later commits never change the
  ones replayed). Each commit is materialised into one sandbox folder with
  ``git read-tree -m -u previous next`` through a scratch index, so that only the
  paths that differ are rewritten, as an agent's edits would be;
- **the history, restarted each time**: the same commits, each recorded by a new
  ``CheckpointService`` and repository on the same database, which remember
  nothing of the plan: what a runtime that starts a process per step stores.

After each state, ours is ``CheckpointService.create_workspace_snapshot`` (SQLite
file with the library's settings, ``gitignore=False`` so that both sides hold every
file), and git is ``git add -A -f && git commit`` in a repository of its own
(``GIT_DIR`` outside the sandbox, git's defaults). Then:

- **ours**: SQLite pages in use, ``(page_count - freelist_count) x page_size``
  after ``PRAGMA wal_checkpoint(TRUNCATE)`` (CONTRACT 7.4);
- **git loose**: the sum of git's loose object files before any packing;
- **git packed**: ``*.pack`` plus ``*.idx`` after ``git gc --aggressive --prune=now``.

The table gives the ratio ours / git packed (target <= 1.0) and where our pages go
(``dbstat``: each table and index, and the objects' bytes by kind and form), and
what ours would take with no cost per row or key: the objects' stored forms as
they are, plus the pages of every other table and index (the best any layout of
many objects to a row could do with the same compression). At
``full`` scale it also gives a *floor*: what ours would take with no cost per
object at all, that is every object's content (dictionaries left out: they only
repeat files) in ONE zstd frame at level 19 with long-distance matching, plus the
pages of every table and index but the objects' own. A floor above git's pack
means that no layout of the objects can reach 1.0x under this schema.
The last checkpoint of each workload is restored into an empty folder and
compared file by file with the sandbox, and verified; a difference stops the run.
``--scale small`` is a smoke run (seconds) and exits 0 unless a restore differs;
``--check`` makes a ``full`` run exit 1 when a ratio is above its target.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import zstandard

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_git import (
    WORKSPACE_SCALES,
    Workspace,
    WorkspaceScale,
    build_workspace,
    change_files,
    files_under,
    git_environment,
    tree_digest,
)
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.object_store import load_objects
from cleveragents.infrastructure.database.session import create_session_factory

ROOT: Final = Path(__file__).resolve().parents[1]
PLAN_ID: Final = "storage-plan"
TARGET: Final = 1.0
LABELS: Final = {
    "agent": "agent-like small edits",
    "history": "a real project's history",
    "restarts": "the history, restarted each time",
}
SHOWN: Final = 5  # tables and indexes listed by name; the rest are summed


@dataclass(frozen=True)
class Scale:
    """How many states each workload records."""

    name: str
    workspace: WorkspaceScale
    edits: int  # agent-like steps after the first snapshot
    commits: int  # states of the history


SCALES: Final = {
    "small": Scale(
        "small",
        WorkspaceScale(
            "tiny",
            files=80,
            binaries=1,
            text_bytes=400_000,
            binary_bytes=150_000,
            repetitions=1,
            restores=1,
        ),
        edits=8,
        commits=8,
    ),
    "full": Scale("full", WORKSPACE_SCALES["small"], edits=100, commits=150),
}


# --- the two sides --------------------------------------------------------------------------


class Git:
    """A repository whose work tree is the sandbox; each state is one commit."""

    def __init__(self, git_dir: Path, work_tree: Path) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.env = {
            **git_environment(),
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
        }
        self.run("init", "--quiet")
        self.states = 0

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", f"--work-tree={self.work_tree}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def record(self) -> None:
        self.states += 1
        self.run("add", "-A", "-f")
        self.run("commit", "--quiet", "--allow-empty", "--no-verify", "-m", f"state {self.states}")

    def loose(self) -> int:
        return sum(path.stat().st_size for path in files_under(self.git_dir / "objects"))

    def packed(self) -> int:
        self.run("gc", "--aggressive", "--prune=now", "--quiet")
        pack = self.git_dir / "objects" / "pack"
        return sum(p.stat().st_size for p in pack.iterdir() if p.suffix in (".pack", ".idx"))


class Ours:
    """``CheckpointService`` on a SQLite file, every file of the sandbox included.

    ``restarting``: each state is recorded by a new service and repository, which
    remember nothing of the plan, as a runtime that starts a process per step.
    """

    def __init__(self, database: Path, sandbox: Path, *, restarting: bool = False) -> None:
        self.database = database
        self.sandbox = sandbox
        self.restarting = restarting
        self.factory = create_session_factory(f"sqlite:///{database}")
        self.service = self._new_service()
        self.ids: list[str] = []

    def _new_service(self) -> CheckpointService:
        return CheckpointService(CheckpointRepository(self.factory), gitignore=False)

    def record(self) -> None:
        if self.restarting and self.ids:
            self.service.close()
            self.service = self._new_service()
        checkpoint = self.service.create_workspace_snapshot(
            PLAN_ID, str(self.sandbox), f"state-{len(self.ids) + 1}"
        )
        self.ids.append(checkpoint.checkpoint_id)

    def check_last(self, scratch: Path) -> None:
        """The last checkpoint verifies and restores into an empty folder as the sandbox is."""
        if not self.service.verify_checkpoint(self.ids[-1]):
            raise SystemExit("the last checkpoint does not verify")
        target = scratch / "restored"
        self.service.restore_workspace(self.ids[-1], target)
        if tree_digest(target) != tree_digest(self.sandbox):
            raise SystemExit("the last checkpoint does not restore as the sandbox is")
        shutil.rmtree(target)

    def close(self) -> None:
        self.service.close()
        self.factory.kw["bind"].dispose()


# --- measuring our pages --------------------------------------------------------------------


@dataclass
class Pages:
    """Our side: pages in use, and where they go."""

    in_use: int = 0
    by_name: list[tuple[str, int]] = field(default_factory=list)  # table or index -> bytes
    objects: list[tuple[str, int, int]] = field(default_factory=list)  # form -> count, bytes
    solid: int | None = None  # every object's content in one zstd frame (full scale)

    @property
    def beside_objects(self) -> int:
        """The pages of every table and index but the objects' table and its key index."""
        return sum(size for name, size in self.by_name if "checkpoint_objects" not in name)

    @property
    def stored_forms(self) -> int:
        """The bytes of every object's stored form (whole or delta), without its row or key."""
        return sum(size for _, _, size in self.objects)


def measure_pages(database: Path) -> Pages:
    """Pages in use after a WAL checkpoint, per table and index (``dbstat``), and the objects."""
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count, free, size = (
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        by_name = connection.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
        objects = connection.execute(
            "SELECT kind || CASE WHEN substr(data, 1, 1) IN (x'00', x'01') THEN ' delta' "
            "ELSE ' whole' END, count(*), sum(length(data)) FROM checkpoint_objects "
            "GROUP BY 1 ORDER BY 3 DESC"
        ).fetchall()
    finally:
        connection.close()
    return Pages((int(count) - int(free)) * int(size), by_name, objects)


def solid_content(database: Path) -> int:
    """Every stored object's content but the dictionaries', in insertion order, in ONE
    zstd frame (level 19, long-distance matching over all of it): no per-object cost."""
    connection = sqlite3.connect(database)
    try:
        hashes = [
            bytes(row[0]).hex()  # keys are the sha256's 32 raw bytes
            for row in connection.execute(
                "SELECT object_hash FROM checkpoint_objects WHERE kind != 'dict' ORDER BY rowid"
            )
        ]
    finally:
        connection.close()
    factory = create_session_factory(f"sqlite:///{database}")
    try:
        with factory() as session:
            loaded = load_objects(session, hashes)
    finally:
        factory.kw["bind"].dispose()
    content = b"".join(loaded[digest][1] for digest in hashes)
    window = max(10, min(31, len(content).bit_length()))
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=window, enable_ldm=True)
    return len(zstandard.ZstdCompressor(compression_params=params).compress(content))


# --- the workloads --------------------------------------------------------------------------


@dataclass
class Result:
    """One workload measured on both sides."""

    name: str
    states: int
    ours: Pages
    loose: int
    packed: int
    seconds: tuple[float, float]  # recording every state: ours, git

    @property
    def ratio(self) -> float:
        return self.ours.in_use / self.packed


def _record_both(ours: Ours, git: Git, clock: list[float]) -> None:
    start = time.perf_counter()
    ours.record()
    middle = time.perf_counter()
    git.record()
    clock[0] += middle - start
    clock[1] += time.perf_counter() - middle


def _measure(
    name: str,
    folder: Path,
    sandbox: Path,
    states: Callable[[], Sequence[Callable[[], None]]],
    floor: bool,
) -> Result:
    ours = Ours(folder / f"{name}.db", sandbox, restarting=name == "restarts")
    git = Git(folder / f"{name}.git", sandbox)
    clock = [0.0, 0.0]
    try:
        for make_state in states():
            make_state()
            _record_both(ours, git, clock)
        ours.check_last(folder)
    finally:
        ours.close()
    loose = git.loose()
    pages = measure_pages(ours.database)
    if floor:
        pages.solid = solid_content(ours.database)
    return Result(
        LABELS[name],
        len(ours.ids),
        pages,
        loose,
        git.packed(),
        (clock[0], clock[1]),
    )


def agent_edits(scale: Scale, folder: Path) -> Result:
    """A generated workspace, then ``scale.edits`` steps of 10 files edited by a few lines."""
    sandbox = folder / "agent"
    workspace = build_workspace(sandbox, scale.workspace)

    def states() -> list[Callable[[], None]]:
        steps: list[Callable[[], None]] = [lambda: None]
        steps += [lambda step=step: _edit(workspace, step) for step in range(scale.edits)]
        return steps

    return _measure("agent", folder, sandbox, states, scale.name == "full")


def _edit(workspace: Workspace, step: int) -> None:
    change_files(workspace, step)


def history(scale: Scale, folder: Path, repository: Path, name: str = "history") -> Result:
    """The first ``scale.commits`` commits of ``repository``, oldest first, one after another
    (``name`` "restarts": each recorded by a new service and repository)."""
    commits = subprocess.run(
        ["git", "-C", str(repository), "rev-list", "--reverse", "--topo-order", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[: scale.commits]
    if len(commits) < scale.commits:
        print(f"note: {repository} has {len(commits)} commits, all used")
    sandbox = folder / name
    sandbox.mkdir()
    env = {**git_environment(), "GIT_INDEX_FILE": str(folder / f"{name}.index")}

    def checkout(previous: str | None, commit: str) -> None:
        trees = ["--reset", commit] if previous is None else ["-m", previous, commit]
        subprocess.run(
            ["git", "-C", str(repository), f"--work-tree={sandbox}", "read-tree", "-u", *trees],
            env=env,
            capture_output=True,
            check=True,
        )

    def states() -> list[Callable[[], None]]:
        return [
            lambda n=n, commit=commit: checkout(commits[n - 1] if n else None, commit)
            for n, commit in enumerate(commits)
        ]

    return _measure(name, folder, sandbox, states, scale.name == "full")


# --- the report -----------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / 1_000_000:.2f}MB" if value >= 100_000 else f"{value / 1000:.1f}KB"


def print_report(results: Sequence[Result]) -> None:
    print(
        f"{'workload':<34} {'states':>6} {'ours':>9} {'git loose':>10} {'git packed':>10}"
        f" {'ratio':>6} {'target':>6}  met"
    )
    for r in results:
        met = "yes" if r.ratio <= TARGET else "NO"
        print(
            f"{r.name:<34} {r.states:>6} {_mb(r.ours.in_use):>9} {_mb(r.loose):>10}"
            f" {_mb(r.packed):>10} {r.ratio:>6.2f} {TARGET:>6.2f}  {met}"
        )
    for r in results:
        print(f"\n{r.name}: where our pages go (dbstat, bytes)")
        for name, size in r.ours.by_name[:SHOWN]:
            print(f"  {name:<40} {_mb(size):>9}")
        rest = r.ours.by_name[SHOWN:]
        others = f"{len(rest)} others (empty tables, schema)"
        print(f"  {others:<40} {_mb(sum(size for _, size in rest)):>9}")
        print("  stored objects by kind and form: count, bytes of data")
        for form, count, size in r.ours.objects:
            print(f"  {form:<40} {count:>9} {_mb(size):>9}")
        ours, git = r.seconds
        print(f"  recording every state: ours {ours:.2f}s, git add+commit {git:.2f}s")
        packed_rows = r.ours.stored_forms + r.ours.beside_objects
        print(
            f"  with no cost per row or key: {_mb(packed_rows)} = every object's stored form"
            f" {_mb(r.ours.stored_forms)} + the other tables' pages"
            f" {_mb(r.ours.beside_objects)}: {packed_rows / r.packed:.2f}x git packed"
        )
        if r.ours.solid is not None:
            floor = r.ours.solid + r.ours.beside_objects
            print(
                f"  floor with no cost per object: {_mb(floor)} = every object's content in one"
                f" zstd-19 frame {_mb(r.ours.solid)} + the other tables' pages"
                f" {_mb(r.ours.beside_objects)}: {floor / r.packed:.2f}x git packed"
            )


def describe(scale: Scale, repository: Path) -> None:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"scale {scale.name}: agent-like {scale.edits} steps on {scale.workspace.files} files,"
        f" history {scale.commits} commits of {repository}"
    )
    print(
        f"{platform.python_implementation()} {platform.python_version()}, SQLite"
        f" {sqlite3.sqlite_version}, {git}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--check", action="store_true", help="exit 1 on a missed target (full)")
    parser.add_argument("--history-repo", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    if shutil.which("git") is None:
        raise SystemExit("git is required to compare storage with git")
    describe(scale, args.history_repo)
    with tempfile.TemporaryDirectory(prefix="compare-git-storage-") as scratch:
        folder = Path(scratch)
        results = [
            agent_edits(scale, folder),
            history(scale, folder, args.history_repo.resolve()),
            history(scale, folder, args.history_repo.resolve(), "restarts"),
        ]
    print()
    print_report(results)
    missed = [r.name for r in results if r.ratio > TARGET]
    if args.check and scale.name == "full" and missed:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
