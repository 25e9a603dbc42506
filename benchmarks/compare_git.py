"""Workspace checkpoints side by side with git doing the same work.

    python benchmarks/compare_git.py --scale small|full [--check]

What OpenCode does before every agent step is ``git add -A && git write-tree`` in
a shadow repository. This script builds one deterministic workspace (10,000
files, about 200 MB at ``full`` scale: mostly source-like text, some binaries of
100 KB to a few MB) and, in one run, measures ``CheckpointService`` on a SQLite
file (WAL, ``synchronous=FULL``, as the library sets them) against git with its
default settings on exactly the same files (its own ``GIT_DIR``, the workspace
as its work tree):

- the first snapshot;
- a snapshot after changing 10 files (git's next ``add -A && write-tree``);
- the storage after 1 + 20 snapshots of 10 changed files each, against git's
  loose object store (before ``git gc``), and what each snapshot adds;
- a restore of the last checkpoint into a fresh folder, against ``git read-tree``
  of the same tree into a scratch index + ``git checkout-index -a``.

The workspace is made before anything is timed and is never waited on: both
sides apply their own racy-clean rule, and the script reports how many files
each one re-hashed because of it. ``--scale small`` is a smoke run and always
exits 0; ``--check`` makes a full-scale run exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

# Run as a script, this folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import (
    SQLITE_SYNCHRONOUS,
    create_session_factory,
)
from cleveragents.infrastructure.workspace import scanner
from cleveragents.infrastructure.workspace.scanner import RACY_WINDOW_NS

SEED: Final = 20240601
CHANGED_PER_SNAPSHOT: Final = 10
INCREMENTAL_SNAPSHOTS: Final = 20
PLAN_ID: Final = "compare-git-plan"


# --- the workspace ----------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceScale:
    """How big the workspace is and how many times each measurement is repeated."""

    name: str
    files: int  # every file, text and binary
    binaries: int  # of which binaries (100 KB to a few MB)
    text_bytes: int  # roughly, the text files together
    binary_bytes: int  # roughly, the binaries together
    repetitions: int  # independent runs (fresh database and repository each)
    restores: int  # restores per run (each into a new folder)


WORKSPACE_SCALES: Final = {
    "small": WorkspaceScale(
        "small",
        files=500,
        binaries=6,
        text_bytes=4_000_000,
        binary_bytes=6_000_000,
        repetitions=2,
        restores=1,
    ),
    "full": WorkspaceScale(
        "full",
        files=10_000,
        binaries=120,
        text_bytes=80_000_000,
        binary_bytes=120_000_000,
        repetitions=3,
        restores=3,
    ),
}


def workspace_scale(name: str) -> WorkspaceScale:
    """The workspace scale called ``name`` (``ValueError`` for an unknown one)."""
    try:
        return WORKSPACE_SCALES[name]
    except KeyError:
        raise ValueError(
            f"unknown scale {name!r}; expected one of {sorted(WORKSPACE_SCALES)}"
        ) from None


@dataclass(frozen=True)
class Workspace:
    """A generated workspace: its folder, its text files (what edits touch) and its size."""

    root: Path
    text_files: tuple[str, ...]
    binary_files: tuple[str, ...]
    total_bytes: int

    @property
    def file_count(self) -> int:
        return len(self.text_files) + len(self.binary_files)


_WORDS: Final = (
    "config", "result", "items", "index", "value", "buffer", "record", "session", "plan",
    "change", "entry", "handler", "request", "response", "payload", "cursor", "token",
    "context", "options", "schema", "parser", "writer", "reader", "cache", "state", "node",
)  # fmt: skip
_CALLS: Final = (
    "load", "parse", "merge", "render", "validate", "flush", "resolve", "encode", "decode",
    "update", "select", "insert", "commit", "refresh", "compute", "normalize", "format",
)  # fmt: skip
_TOP_FOLDERS: Final = (("src", 14, 6), ("tests", 5, 3), ("docs", 2, 2), ("tools", 2, 1))


def _line_pool(rng: random.Random, count: int = 6_000) -> list[str]:
    """Source-like lines: as repetitive as real code, not as repetitive as one line."""
    lines = []
    for n in range(count):
        shape = n % 6
        a, b, c = rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_CALLS)
        indent = " " * (4 * rng.randint(1, 3))
        if shape == 0:
            lines.append(f"{indent}{a}_{n} = {c}({b}, limit={rng.randint(1, 9_999)})\n")
        elif shape == 1:
            lines.append(f"{indent}if {a}.{c}_{b}() is None:\n")
        elif shape == 2:
            lines.append(f"{indent}return self._{a}[{b}_{rng.randint(0, 99)}]\n")
        elif shape == 3:
            lines.append(f"{indent}# {c} the {a} before the {b} is {rng.choice(_CALLS)}d\n")
        elif shape == 4:
            lines.append(f"\n    def {c}_{a}(self, {b}: {b.title()} | None = None) -> {a}:\n")
        else:
            lines.append(f'{indent}raise {a.title()}Error(f"{c} failed: {{{b}!r}}")\n')
    return lines


def _folders(rng: random.Random) -> list[str]:
    folders = []
    for top, packages, depth in _TOP_FOLDERS:
        for p in range(packages):
            package = f"{top}/{rng.choice(_WORDS)}_{p:02d}"
            folders.append(package)
            folders.extend(f"{package}/{rng.choice(_CALLS)}_{s}" for s in range(depth))
    return folders


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return float(low * (high / low) ** rng.random())


def _scaled_sizes(rng: random.Random, count: int, low: int, high: int, total: int) -> list[int]:
    raw = [_log_uniform(rng, low, high) for _ in range(count)]
    factor = total / sum(raw) if raw else 1.0
    return [max(64, int(size * factor)) for size in raw]


def _text(rng: random.Random, pool: Sequence[str], path: str, size: int) -> bytes:
    lines = [f'"""{path}: generated for the checkpoint benchmark."""\n', "\n"]
    length = sum(len(line) for line in lines)
    while length < size:
        batch = rng.choices(pool, k=max(1, (size - length) // 60))
        lines.extend(batch)
        length += sum(len(line) for line in batch)
    data = "".join(lines).encode()[:size]
    return data[: data.rfind(b"\n") + 1] or data


def _binary(rng: random.Random, size: int, compressible: bool) -> bytes:
    """Media-like random bytes, or object-code-like records that zlib halves."""
    if not compressible:
        return rng.randbytes(size)
    parts = []
    record = rng.randbytes(48)
    for _ in range(size // 64 + 1):
        if rng.random() < 0.4:
            record = rng.randbytes(48)
        parts.append(record + rng.randbytes(8) + bytes(8))
    return b"".join(parts)[:size]


def build_workspace(root: Path, scale: WorkspaceScale, seed: int = SEED) -> Workspace:
    """Write the workspace of ``scale`` under ``root`` (deterministic from ``seed``)."""
    rng = random.Random(seed)
    pool = _line_pool(rng)
    folders = _folders(rng)
    texts = scale.files - scale.binaries
    text_sizes = _scaled_sizes(rng, texts, 300, 40_000, scale.text_bytes)
    binary_sizes = _scaled_sizes(rng, scale.binaries, 100_000, 4_000_000, scale.binary_bytes)
    suffixes = (".py", ".py", ".py", ".md", ".json", ".toml")
    text_files = []
    total = 0
    for n, size in enumerate(text_sizes):
        folder = folders[rng.randrange(len(folders))]
        path = f"{folder}/file_{n:05d}{suffixes[n % len(suffixes)]}"
        data = _text(rng, pool, path, size)
        _write(root / path, data)
        text_files.append(path)
        total += len(data)
    binary_files = []
    for n, size in enumerate(binary_sizes):
        path = f"assets/{rng.choice(_WORDS)}/blob_{n:03d}{('.png', '.so')[n % 2]}"
        data = _binary(rng, size, compressible=n % 2 == 1)
        _write(root / path, data)
        binary_files.append(path)
        total += len(data)
    return Workspace(root, tuple(text_files), tuple(binary_files), total)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def change_files(workspace: Workspace, step: int, count: int = CHANGED_PER_SNAPSHOT) -> list[str]:
    """Edit ``count`` text files the way an agent step does: a few lines each.

    Deterministic from ``step``; returns the paths changed.
    """
    rng = random.Random(SEED * 1_000 + step)
    paths = rng.sample(workspace.text_files, count)
    for path in paths:
        target = workspace.root / path
        lines = target.read_text().splitlines(keepends=True)
        for _ in range(3):
            line = rng.randrange(len(lines))
            lines[line] = f"    value = {rng.choice(_CALLS)}(step={step}, line={line})\n"
        lines.append(f"# edited in step {step}\n")
        target.write_text("".join(lines))
    return paths


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (to check restores)."""
    digests = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            digests[path.relative_to(root).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return digests


# --- sizes on disk ------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskUsage:
    """Bytes of some files: apparent (``st_size``) and allocated (``st_blocks``, du-style)."""

    apparent: int = 0
    allocated: int = 0
    files: int = 0


def usage_of(paths: Iterator[Path] | Sequence[Path]) -> DiskUsage:
    """Sizes of the files among ``paths`` that exist."""
    apparent = allocated = files = 0
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        apparent += info.st_size
        allocated += info.st_blocks * 512
        files += 1
    return DiskUsage(apparent, allocated, files)


def files_under(folder: Path) -> Iterator[Path]:
    """Every file below ``folder``."""
    for parent, _, names in os.walk(folder):
        for name in names:
            yield Path(parent) / name


# --- the two sides ------------------------------------------------------------------------


def git_environment() -> dict[str, str]:
    """The caller's environment without any git setting: git with its defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    return env


class GitSide:
    """A shadow repository whose work tree is the workspace (OpenCode's per-step snapshot)."""

    def __init__(self, git_dir: Path, work_tree: Path) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.env = git_environment()
        self.git("init", "--quiet")

    def git(self, *args: str, work_tree: Path | None = None, index: Path | None = None) -> str:
        env = self.env if index is None else {**self.env, "GIT_INDEX_FILE": str(index)}
        result = subprocess.run(
            [
                "git",
                f"--git-dir={self.git_dir}",
                f"--work-tree={work_tree or self.work_tree}",
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def snapshot(self) -> str:
        """``git add -A && git write-tree``: the tree id."""
        self.git("add", "-A")
        return self.git("write-tree").strip()

    def restore(self, tree: str, target: Path) -> None:
        """The tree into the empty folder ``target``, through a scratch index."""
        index = target.parent / f"{target.name}.index"
        self.git("read-tree", tree, work_tree=target, index=index)
        self.git("checkout-index", "-a", work_tree=target, index=index)
        index.unlink()

    def storage(self) -> DiskUsage:
        return usage_of(files_under(self.git_dir / "objects"))

    def racy(self, resolution_ns: int) -> set[str]:
        """Files the next ``add -A`` re-hashes even if unchanged (git's racy-git rule).

        An index entry is racily clean when its file's mtime is not older than the
        index file's own mtime, compared at ``resolution_ns`` (see :func:`git_racy_resolution`).
        """
        index = (self.git_dir / "index").stat().st_mtime_ns // resolution_ns
        racy = set()
        path = None
        for line in self.git("ls-files", "--debug").splitlines():
            if not line.startswith((" ", "\t")):
                path = line
            elif line.strip().startswith("mtime:") and path is not None:
                seconds, nanoseconds = line.split(":", 1)[1].strip().split(":")
                if (int(seconds) * 1_000_000_000 + int(nanoseconds)) // resolution_ns >= index:
                    racy.add(path)
        return racy


def git_racy_resolution(folder: Path) -> int:
    """1 when this git compares timestamps to the nanosecond (built with USE_NSEC), else 10**9.

    Probe: make the index file 1 ns younger than the file it records (same second),
    then change the file without changing its size or mtime. git sees the change only
    if it treats the entry as racily clean, i.e. if it compares whole seconds.
    """
    work_tree = folder / "racy-probe"
    work_tree.mkdir()
    git = GitSide(folder / "racy-probe.git", work_tree)
    probe = work_tree / "probe.txt"
    try:
        for _ in range(100):
            probe.write_text("before")
            git.git("add", "-A")
            recorded = probe.stat().st_mtime_ns
            if (recorded + 1) % 1_000_000_000 == 0:
                continue  # the next nanosecond is in the next second: try again
            os.utime(git.git_dir / "index", ns=(recorded + 1, recorded + 1))
            probe.write_text("after!")
            os.utime(probe, ns=(recorded, recorded))
            changed = git.git("-c", "core.trustctime=false", "diff-files", "--name-only")
            return 1_000_000_000 if changed.strip() else 1
        raise SystemExit("could not probe git's racy-git timestamp resolution")
    finally:
        shutil.rmtree(work_tree)
        shutil.rmtree(git.git_dir)


class OursSide:
    """``CheckpointService`` on a SQLite file with the library's settings."""

    def __init__(self, database: Path, work_tree: Path) -> None:
        self.database = database
        self.work_tree = work_tree
        self.factory = create_session_factory(f"sqlite:///{database}")
        self.repository = CheckpointRepository(self.factory)
        self.service = CheckpointService(self.repository, watch=OPTIONS["watch"])
        self.steps = 0
        self.free_pages = 0
        # What the last snapshot read, and how many snapshots came from the watcher's
        # report: counted by wrapping the scanner's two entry points.
        self.read: set[str] = set()
        self.watched = 0
        real_read, real_rescan = scanner.read_content, scanner.rescan
        prefix = f"{work_tree}/"

        def counting_read(path: str, *args: Any) -> Any:
            self.read.add(path.removeprefix(prefix))
            return real_read(path, *args)

        def counting_rescan(*args: Any, **options: Any) -> Any:
            self.watched += 1
            return real_rescan(*args, **options)

        scanner.read_content = counting_read
        scanner.rescan = counting_rescan  # the local workspace calls it by attribute

    def warm_up(self, folder: Path) -> None:
        """Compile the statements once on another plan, then delete it: no timed call pays."""
        folder.mkdir()
        (folder / "warm-up.txt").write_text("warm up\n")
        self.service.create_workspace_snapshot("warm-up-plan", str(folder), "warm-up-1")
        (folder / "warm-up.txt").write_text("warm up again\n")
        checkpoint = self.service.create_workspace_snapshot("warm-up-plan", str(folder), "w-2")
        self.service.restore_workspace(checkpoint.checkpoint_id, folder / "restored")
        self.service.prune("warm-up-plan", 0)
        shutil.rmtree(folder)

    def snapshot(self) -> str:
        self.steps += 1
        self.read.clear()
        checkpoint = self.service.create_workspace_snapshot(
            PLAN_ID, str(self.work_tree), f"decision-{self.steps}"
        )
        return checkpoint.checkpoint_id

    def restore(self, checkpoint_id: str, target: Path) -> None:
        self.service.restore_workspace(checkpoint_id, target)

    def storage(self) -> DiskUsage:
        return usage_of([self.database, *self.wal_files()])

    def wal_files(self) -> list[Path]:
        return [self.database.with_name(f"{self.database.name}-{s}") for s in ("wal", "shm")]

    def pages(self) -> int:
        """Bytes of the database as a reader sees it (pages in the WAL included)."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            count = connection.execute("PRAGMA page_count").fetchone()[0]
            size = connection.execute("PRAGMA page_size").fetchone()[0]
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        finally:
            connection.close()
        self.free_pages = int(free) * int(size)
        return int(count) * int(size)

    def payload(self) -> tuple[int, int, int]:
        """(objects, their compressed bytes, the stat cache's bytes), read with sqlite3."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            objects, data = connection.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM checkpoint_objects"
            ).fetchone()
            cache = connection.execute(
                "SELECT coalesce(sum(length(data)), 0) FROM checkpoint_stat_cache"
            ).fetchone()[0]
        finally:
            connection.close()
        return int(objects), int(data), int(cache)

    def pragmas(self) -> tuple[str, str]:
        connection = self.factory.kw["bind"].raw_connection()
        try:
            cursor = connection.cursor()
            journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            connection.close()
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return str(journal).upper(), names[int(synchronous)]

    def close(self) -> None:
        self.factory.kw["bind"].dispose()


# --- timing -----------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    """Seconds taken by ``action``, after flushing dirty pages and collecting garbage.

    ``os.sync`` first so neither side waits on writeback the other one caused.
    """
    os.sync()
    gc.collect()
    return _clock(action)


def both(
    ours: Callable[[], object],
    git: Callable[[], object],
    turn: int,
    prepare: Callable[[], object] | None = None,
) -> tuple[float, float]:
    """Time both sides, swapping who goes first on every turn so drift hits both alike.

    ``prepare`` (the edits of an agent step) runs right before the first side, as in
    an agent loop: nothing waits between an edit and the snapshot that follows it.
    """
    os.sync()
    gc.collect()
    if prepare is not None:
        prepare()
    if turn % 2 == 0:
        mine = _clock(ours)
        theirs = timed(git)
    else:
        theirs = _clock(git)
        mine = timed(ours)
    return mine, theirs


def _clock(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


@dataclass
class Run:
    """The measurements of one repetition."""

    first: tuple[float, float]
    incremental: list[tuple[float, float]] = field(default_factory=list)
    restore: list[tuple[float, float]] = field(default_factory=list)
    after_first: tuple[int, DiskUsage] = (0, DiskUsage())
    pages: int = 0  # the database's size as a reader sees it, after the last snapshot
    free_pages: int = 0
    storage: tuple[DiskUsage, DiskUsage] = (DiskUsage(), DiskUsage())
    database_file: DiskUsage = DiskUsage()
    payload: tuple[int, int, int] = (0, 0, 0)
    racy_ours: list[int] = field(default_factory=list)
    watched: int = 0  # incremental snapshots made from the watcher's report
    racy_git: list[int] = field(default_factory=list)


def _edit(workspace: Workspace, step: int, changed: list[str]) -> None:
    changed.extend(change_files(workspace, step))


def run_once(
    workspace: Workspace,
    folder: Path,
    repetition: int,
    restores: int,
    git_resolution_ns: int,
) -> Run:
    """First snapshot, 20 snapshots of 10 changed files, restore: both sides, fresh stores."""
    ours = OursSide(folder / "checkpoints.db", workspace.root)
    git = GitSide(folder / "shadow.git", workspace.root)
    try:
        ours.warm_up(folder / "warm-up")
        ids: list[str] = []
        trees: list[str] = []
        result = Run(
            first=both(
                lambda: ids.append(ours.snapshot()),
                lambda: trees.append(git.snapshot()),
                repetition,
            )
        )
        result.after_first = (ours.pages(), git.storage())
        racy_git = git.racy(git_resolution_ns)
        watched = ours.watched
        for step in range(INCREMENTAL_SNAPSHOTS):
            changed: list[str] = []
            result.incremental.append(
                both(
                    lambda: ids.append(ours.snapshot()),
                    lambda: trees.append(git.snapshot()),
                    repetition + step + 1,
                    prepare=functools.partial(
                        _edit, workspace, repetition * INCREMENTAL_SNAPSHOTS + step, changed
                    ),
                )
            )
            result.racy_ours.append(len(ours.read - set(changed)))
            result.racy_git.append(len(racy_git - set(changed)))
            racy_git = git.racy(git_resolution_ns)
        result.watched = ours.watched - watched
        result.pages = ours.pages()
        result.free_pages = ours.free_pages
        result.storage = (ours.storage(), git.storage())
        result.database_file = usage_of([ours.database])
        result.payload = ours.payload()
        expected = tree_digest(workspace.root)
        for turn in range(restores):
            mine, theirs = folder / f"restored-ours-{turn}", folder / f"restored-git-{turn}"
            mine.mkdir()
            theirs.mkdir()
            result.restore.append(
                both(
                    functools.partial(ours.restore, ids[-1], mine),
                    functools.partial(git.restore, trees[-1], theirs),
                    repetition + turn,
                )
            )
            if turn == 0:
                for side, restored in (("ours", mine), ("git", theirs)):
                    if tree_digest(restored) != expected:
                        raise SystemExit(f"the {side} restore differs from the workspace")
            shutil.rmtree(mine)
            shutil.rmtree(theirs)
        return result
    finally:
        ours.close()


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One measured figure of both sides and the largest acceptable ratio."""

    name: str
    ours: float
    git: float
    unit: str  # "s" or "B"
    target: float

    @property
    def ratio(self) -> float:
        return self.ours / self.git if self.git else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


def _show(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.3f}s"
    return f"{value / 1_000_000:.2f}MB" if value >= 1_000_000 else f"{value / 1000:.1f}KB"


def print_table(results: Sequence[Comparison]) -> None:
    header = f"{'measurement':<50} {'ours':>10} {'git':>10} {'ratio':>7} {'target':>7}  met"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<50} {_show(r.ours, r.unit):>10} {_show(r.git, r.unit):>10} "
            f"{r.ratio:>6.2f}x {r.target:>6.1f}x  {'yes' if r.met else 'NO'}"
        )


def git_version() -> str:
    return subprocess.run(
        ["git", "--version"], capture_output=True, text=True, check=True, env=git_environment()
    ).stdout.strip()


def git_settings(git: GitSide) -> str:
    names = ("core.loosecompression", "core.compression", "core.fsync", "core.preloadindex")
    shown = []
    for name in names:
        value = subprocess.run(
            ["git", f"--git-dir={git.git_dir}", "config", "--get", name],
            capture_output=True,
            text=True,
            check=False,
            env=git.env,
        ).stdout.strip()
        shown.append(f"{name}={value or '(default)'}")
    return " ".join(shown)


def describe_environment(scale: WorkspaceScale, workspace: Workspace, folder: Path) -> None:
    ours = OursSide(folder / "probe.db", workspace.root)
    git = GitSide(folder / "probe.git", workspace.root)
    try:
        journal, synchronous = ours.pragmas()
    finally:
        ours.close()
    if synchronous != SQLITE_SYNCHRONOUS or journal != "WAL":
        raise SystemExit(f"unexpected library settings: {journal} {synchronous}")
    print(f"scale            {scale.name}, {scale.repetitions} repetitions")
    print(
        f"workspace        {workspace.file_count:,} files ({len(workspace.binary_files)} "
        f"binaries), {workspace.total_bytes / 1e6:.1f} MB"
    )
    print(f"python           {platform.python_version()} ({platform.python_implementation()})")
    print(f"platform         {platform.platform()}, {os.cpu_count()} CPUs")
    print(
        f"sqlite           {sqlite3.sqlite_version}, journal_mode={journal} "
        f"synchronous={synchronous}"
    )
    print(f"git              {git_version()}; {git_settings(git)}")
    shutil.rmtree(folder / "probe.git")
    for path in folder.glob("probe.db*"):
        path.unlink()


def summarize(runs: Sequence[Run], workspace: Workspace) -> tuple[list[Comparison], list[str]]:
    first = [r.first for r in runs]
    incremental = [pair for r in runs for pair in r.incremental]
    restore = [pair for r in runs for pair in r.restore]

    def median(pairs: Sequence[tuple[float, float]], side: int) -> float:
        return statistics.median(pair[side] for pair in pairs)

    def added(values: Callable[[Run], tuple[float, float]]) -> float:
        return statistics.median(
            (end - start) / INCREMENTAL_SNAPSHOTS for start, end in map(values, runs)
        )

    mb = workspace.total_bytes / 1e6
    git_apparent = statistics.median(r.storage[1].apparent for r in runs)
    results = [
        Comparison(
            f"first snapshot ({workspace.file_count:,} files, {mb:.0f} MB)",
            median(first, 0),
            median(first, 1),
            "s",
            1.5,
        ),
        Comparison(
            f"snapshot after changing {CHANGED_PER_SNAPSHOT} files",
            median(incremental, 0),
            median(incremental, 1),
            "s",
            1.0,
        ),
        Comparison(
            f"storage after 1 + {INCREMENTAL_SNAPSHOTS} snapshots (database)",
            statistics.median(r.pages for r in runs),
            git_apparent,
            "B",
            1.0,
        ),
        Comparison(
            "  the same on disk, WAL file included",
            statistics.median(r.storage[0].apparent for r in runs),
            git_apparent,
            "B",
            1.0,
        ),
        Comparison(
            f"  added per snapshot of {CHANGED_PER_SNAPSHOT} changed files",
            added(lambda r: (r.after_first[0], r.pages)),
            added(lambda r: (r.after_first[1].apparent, r.storage[1].apparent)),
            "B",
            1.0,
        ),
        Comparison(
            "restore into a fresh folder",
            median(restore, 0),
            median(restore, 1),
            "s",
            1.5,
        ),
    ]
    last = runs[-1]
    ours_end, git_end = last.storage
    objects, data, cache = last.payload
    git_added = added(lambda r: (r.after_first[1].allocated, r.storage[1].allocated))
    notes = [
        f"(medians of {len(first)} first snapshots, {len(incremental)} incremental snapshots "
        f"and {len(restore)} restores per side; each repetition has fresh stores)",
        "ours storage       database = page_count x page_size as a reader sees it; on disk = "
        "database file + -wal + -shm",
        f"ours, last run     database {_show(last.pages, 'B')} ({_show(last.free_pages, 'B')} "
        f"free pages); file {_show(last.database_file.apparent, 'B')}, WAL + shm "
        f"{_show(ours_end.apparent - last.database_file.apparent, 'B')}, allocated "
        f"{_show(ours_end.allocated, 'B')}",
        f"                   {objects:,} objects holding {_show(data, 'B')} compressed; "
        f"stat cache {_show(cache, 'B')}",
        f"git, last run      {git_end.files:,} loose objects, {_show(git_end.apparent, 'B')}; "
        f"allocated (du) {_show(git_end.allocated, 'B')}, "
        f"{_show(git_added, 'B')} per snapshot",
        f"disk blocks        ours {_show(ours_end.allocated, 'B')} vs git "
        f"{_show(git_end.allocated, 'B')}: {ours_end.allocated / git_end.allocated:.2f}x "
        "(allocated on both sides; the storage rows above set our pages against git's "
        "file sizes, without its per-file block slack)",
        f"racy re-hashing    ours: {_racy(runs, 'ours')} (counted: files read but not changed)",
        f"                   git:  {_racy(runs, 'git')}",
        f"ours watching      {sum(r.watched for r in runs)} of "
        f"{sum(len(r.incremental) for r in runs)} incremental snapshots looked only at what "
        "the sandbox watcher (inotify) reported",
        "git restore        GIT_INDEX_FILE=scratch git read-tree TREE && "
        "git --work-tree=FRESH checkout-index -a",
        f"restore samples    ours {_samples(restore, 0)}; git {_samples(restore, 1)}",
    ]
    return results, notes


def _samples(pairs: Sequence[tuple[float, float]], side: int) -> str:
    return ", ".join(f"{pair[side]:.2f}" for pair in pairs) + " s"


def _racy(runs: Sequence[Run], side: str) -> str:
    counts = [c for r in runs for c in (r.racy_ours if side == "ours" else r.racy_git)]
    hit = sum(1 for c in counts if c)
    return (
        f"{sum(counts)} files over {len(counts)} incremental snapshots "
        f"({hit} snapshots affected, at most {max(counts, default=0)} files in one)"
    )


def run(scale: WorkspaceScale, folder: Path) -> tuple[list[Comparison], list[str]]:
    began = time.perf_counter()
    workspace = build_workspace(folder / "workspace", scale)
    print(f"built the workspace in {time.perf_counter() - began:.1f}s")
    resolution = git_racy_resolution(folder)
    describe_environment(scale, workspace, folder)
    print(
        "git racy rule    an entry is re-hashed when its mtime is not older than the index's, "
        f"to the {'second' if resolution > 1 else 'nanosecond'}"
    )
    print(
        f"our racy rule    a file is re-hashed when modified less than "
        f"{RACY_WINDOW_NS // 1_000_000} ms before the previous scan started\n"
    )
    runs = []
    for repetition in range(scale.repetitions):
        scratch = folder / f"run-{repetition}"
        scratch.mkdir()
        runs.append(run_once(workspace, scratch, repetition, scale.restores, resolution))
        shutil.rmtree(scratch)
    return summarize(runs, workspace)


# Set from the command line: --no-watch makes every snapshot of ours walk the workspace.
OPTIONS: dict[str, bool] = {"watch": True}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", choices=sorted(WORKSPACE_SCALES), default="small")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a full-scale target is missed"
    )
    parser.add_argument(
        "--no-watch",
        action="store_true",
        help="CheckpointService(watch=False): every snapshot walks the whole workspace",
    )
    args = parser.parse_args(argv)
    OPTIONS["watch"] = not args.no_watch
    scale = workspace_scale(args.scale)
    with tempfile.TemporaryDirectory(prefix="cleveragents-compare-git-") as folder:
        results, notes = run(scale, Path(folder))
    print_table(results)
    for note in notes:
        print(note)
    missed = [result.name.strip() for result in results if not result.met]
    if scale.name == "small":
        print("small scale is a smoke run: targets are judged at full scale only")
        return 0
    if missed:
        print(f"targets missed: {'; '.join(missed)}")
        return 1 if args.check else 0
    print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
