"""Every check the project runs, as nox sessions (``nox -l`` lists them).

``nox`` with no arguments runs the default sessions in order; a failing session
does not stop the others, and ``summary`` prints ``tests: N passed, M failed`` last.
Each session builds a fresh virtualenv and installs what it needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nox

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
BUILD = ROOT / "build"
COVERAGE_DIR = BUILD / "coverage"
JUNIT_DIR = BUILD / "junit"
ROBOT_DIR = BUILD / "robot"
DIST_DIR = BUILD / "dist"
ASV_CONFIG = ROOT / "asv.conf.json"
COMPARE_SQLITE = ROOT / "benchmarks" / "compare_sqlite.py"
COMPARE_GIT = ROOT / "benchmarks" / "compare_git.py"
COMPARE_GIT_HISTORY = ROOT / "benchmarks" / "compare_git_history.py"
COMPARE_GIT_STORAGE = ROOT / "benchmarks" / "compare_git_storage.py"
COMPARE_GIT_SCALE = ROOT / "benchmarks" / "compare_git_scale.py"
COMPARE_ERRORS = ROOT / "benchmarks" / "compare_errors.py"
AIO_HEARTBEAT = ROOT / "benchmarks" / "aio_heartbeat.py"
MEMORY_PEAK = ROOT / "benchmarks" / "memory_peak.py"
LINT_TARGETS = ("src", "features", "benchmarks", "tools", "noxfile.py", "alembic")
SQLITE_BACKENDS = ("sqlite-memory", "sqlite-file")
# Scenarios tagged @persistent need a database that outlives a process (features/environment.py);
# @unit scenarios open no database, so they run once, with the in-memory backend.
BEHAVE_BACKEND_ARGS = {
    "sqlite-memory": ("--tags=not @persistent",),
    "sqlite-file": ("--tags=not @unit",),
    "postgres": ("--tags=not @unit",),
}
POSTGRES_URL_ENV = "CLEVERAGENTS_TEST_POSTGRES_URL"
ROBOT_SHARDS = 2  # robot processes side by side (see tools/robot_shard.py)

# Python 3.11 is the supported floor and what CI runs; CLEVERAGENTS_NOX_PYTHON
# picks another interpreter (a version such as "3.12" or a path).
PYTHON = os.environ.get("CLEVERAGENTS_NOX_PYTHON", "3.11")

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "no"
nox.options.error_on_missing_interpreters = True  # a missing Python fails, never skips
nox.options.sessions = [
    "clean",
    "lint",
    "typecheck",
    "unit_tests",
    "postgres_tests",
    "integration_tests",
    "coverage_report",
    "benchmarks",
    "docs",
    "summary",
]


def _dev_requirement(name: str) -> str:
    """The requirement for ``name`` as pinned in the ``dev`` extra of pyproject.toml."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        if re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower() == name:
            return str(requirement)
    raise LookupError(f"{name} is not in the dev extra of {PYPROJECT}")


def _coverage_env() -> dict[str, str]:
    """Measure this process and every Python subprocess into build/coverage."""
    COVERAGE_DIR.mkdir(parents=True, exist_ok=True)
    return {
        # Read by coverage's .pth file in every new Python process of the venv.
        "COVERAGE_PROCESS_START": str(PYPROJECT),
        # Absolute, so processes started in another folder find config and data.
        "COVERAGE_RCFILE": str(PYPROJECT),
        "COVERAGE_FILE": str(COVERAGE_DIR / ".coverage"),
    }


def _load_tool(name: str) -> ModuleType:
    """Import tools/<name>.py (the tools folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load tools/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _postgres_url(session: nox.Session) -> Iterator[str]:
    """$CLEVERAGENTS_TEST_POSTGRES_URL if set, else a throwaway cluster; never a skip."""
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        session.log(f"using the PostgreSQL server given by ${POSTGRES_URL_ENV}")
        yield external
        return
    pg_cluster = _load_tool("pg_cluster")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(pg_cluster.running_cluster())
        except pg_cluster.ClusterError as exc:
            session.error(f"PostgreSQL is required for this session: {exc}")
        session.log(f"started a throwaway PostgreSQL cluster at {url}")
        yield str(url)


@contextlib.contextmanager
def _scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder outside the source tree, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _behave_args(session: nox.Session, backend: str, features: Sequence[str] = ()) -> list[str]:
    """behave's arguments for one run of the contract suite (or of ``features``)."""
    return [
        "behave",
        "--format",
        "progress",
        "--junit",
        "--junit-directory",
        str(JUNIT_DIR / backend),
        *BEHAVE_BACKEND_ARGS.get(backend, ()),
        *session.posargs,
        *features,
    ]


def _behave_env(backend: str, scratch: Path) -> dict[str, str]:
    return {
        **_coverage_env(),
        "CLEVERAGENTS_TEST_BACKEND": backend,
        # Nothing a test forgets to redirect lands in the real ~/.local/share.
        "XDG_DATA_HOME": str(scratch / "xdg-data"),
    }


def _features() -> list[str]:
    """Every feature file, relative to the repository."""
    return [str(path.relative_to(ROOT)) for path in (ROOT / "features").glob("*.feature")]


def _halves(items: Sequence[str]) -> list[list[str]]:
    """``items`` dealt alternately into two lists (sorted first: the same split every run)."""
    ordered = sorted(items)
    return [ordered[0::2], ordered[1::2]]


@dataclass(frozen=True)
class _Run:
    """One command of :func:`_side_by_side`: its label, arguments, extra environment, folder."""

    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path | None = None


def _side_by_side(session: nox.Session, runs: Sequence[_Run]) -> list[str]:
    """Run ``runs`` at once in the session's virtualenv; returns the labels that failed.

    Much of a test run waits on fsync, on the processes it forks and kills, and
    on the command-line processes it starts, so two runs side by side take far
    less than one after the other. Each run's output is kept in a log and printed
    whole when it ends, so the runs never interleave.
    """
    assert session.bin is not None
    base = {**os.environ, "PATH": os.pathsep.join((session.bin, os.environ.get("PATH", "")))}
    base["VIRTUAL_ENV"] = str(Path(session.bin).parent)
    failed: list[str] = []
    with contextlib.ExitStack() as stack:
        running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        for run in runs:
            log = stack.enter_context(_scratch_dir("cleveragents-log-")) / "output.log"
            session.log(f"{' '.join(run.command)}  ({run.label}, in the background)")
            with log.open("wb") as out:
                process = subprocess.Popen(
                    run.command,
                    env={**base, **run.env},
                    cwd=run.cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            running.append((run.label, process, log))
        for label, process, log in running:
            code = process.wait()
            print(f"--- {label} (exit {code}) ---", flush=True)
            print(log.read_text(encoding="utf-8", errors="replace"), flush=True)
            if code != 0:
                failed.append(label)
    return failed


def _behave_runs(
    session: nox.Session,
    stack: contextlib.ExitStack,
    backend: str,
    features: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> _Run:
    """A run of the suite against ``backend`` under coverage, with its own scratch folder."""
    scratch = stack.enter_context(_scratch_dir(f"cleveragents-behave-{backend}-"))
    command = ["coverage", "run", "-m", *_behave_args(session, backend, features)]
    label = f"behave on {backend}" + (f" ({len(features)} features)" if features else "")
    return _Run(label, command, {**_behave_env(backend, scratch), **(env or {})})


@nox.session(python=False)
def clean(session: nox.Session) -> None:
    """Remove the reports of the previous run (coverage data, JUnit, Robot)."""
    for folder in (COVERAGE_DIR, JUNIT_DIR, ROBOT_DIR):
        shutil.rmtree(folder, ignore_errors=True)
    (BUILD / "coverage.xml").unlink(missing_ok=True)
    session.log(f"removed {COVERAGE_DIR}, {JUNIT_DIR}, {ROBOT_DIR}")


@nox.session(python=PYTHON, reuse_venv=True)
def quick(session: nox.Session) -> None:
    """The edit-test loop: lint, types, and the contract scenarios on in-memory SQLite.

    Not a default session (the full run covers all of it); its virtualenv is
    reused between runs. Extra args go to behave, e.g. ``nox -s quick -- features/x.feature``.
    """
    session.install("-e", ".[dev]")
    session.run("ruff", "check", *LINT_TARGETS)
    session.run("ruff", "format", "--check", *LINT_TARGETS)
    session.run("mypy", "--strict", "src")
    session.run(
        "behave",
        "--format",
        "progress",
        "--tags=not @persistent",
        *session.posargs,
        env={"CLEVERAGENTS_TEST_BACKEND": "sqlite-memory"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(_dev_requirement("ruff"))
    session.run("ruff", "check", *LINT_TARGETS)
    session.run("ruff", "format", "--check", *LINT_TARGETS)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (and the stdlib-only tools)."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "src")
    session.run("mypy", "--strict", "tools/pg_cluster.py", "tools/test_summary.py")
    session.run("mypy", "--strict", "tools/mixed_workload.py")


@nox.session(python=PYTHON)
def unit_tests(session: nox.Session) -> None:
    """The Behave suite on SQLite in memory and on a file; extra args go to behave."""
    session.install("-e", ".[dev]")
    for backend in SQLITE_BACKENDS:
        shutil.rmtree(JUNIT_DIR / backend, ignore_errors=True)
    # The file backend runs most scenarios (and the slowest: killed and concurrent
    # processes); in two halves beside the memory run, neither core idles at the end.
    # Extra args may name features: then the file backend runs them whole.
    file_parts = [[]] if session.posargs else _halves(_features())
    with contextlib.ExitStack() as stack:
        runs = [_behave_runs(session, stack, "sqlite-memory")] + [
            _behave_runs(session, stack, "sqlite-file", part) for part in file_parts
        ]
        failed = _side_by_side(session, runs)
    if failed:
        session.error(f"behave failed on: {', '.join(failed)}")


@nox.session(python=PYTHON)
def postgres_tests(session: nox.Session) -> None:
    """The same Behave suite on PostgreSQL ($CLEVERAGENTS_TEST_POSTGRES_URL or throwaway)."""
    session.install("-e", ".[dev]")
    shutil.rmtree(JUNIT_DIR / "postgres", ignore_errors=True)
    # Two runs side by side, each on half of the feature files (every scenario makes
    # its own database on the server, so they never meet).
    with _postgres_url(session) as url, contextlib.ExitStack() as stack:
        runs = [
            _behave_runs(session, stack, "postgres", half, {POSTGRES_URL_ENV: url})
            for half in _halves(_features())
        ]
        failed = _side_by_side(session, runs)
    if failed:
        session.error(f"failed: {', '.join(failed)}")


@nox.session(python=PYTHON)
def integration_tests(session: nox.Session) -> None:
    """Robot suites against the installed wheel, run from outside the source tree."""
    shutil.rmtree(DIST_DIR, ignore_errors=True)
    shutil.rmtree(ROBOT_DIR, ignore_errors=True)
    session.run(
        "python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(DIST_DIR), str(ROOT)
    )
    wheels = sorted(DIST_DIR.glob("cleveragents-*.whl"))
    if len(wheels) != 1:
        session.error(f"expected one cleveragents wheel in {DIST_DIR}, found {wheels}")
    session.install(
        f"cleveragents[postgres] @ {wheels[0].as_uri()}",
        _dev_requirement("robotframework"),
        _dev_requirement("coverage"),
    )
    # Two robot processes side by side, each running every other test (every test
    # has a database of its own), then one report of both.
    with _postgres_url(session) as url, contextlib.ExitStack() as stack:
        runs: list[_Run] = []
        outputs: list[str] = []
        for shard in range(ROBOT_SHARDS):
            workdir = stack.enter_context(_scratch_dir("cleveragents-robot-"))
            outputs.append(str(workdir / "output.xml"))
            command = [
                "robot",
                "--pythonpath",
                str(ROOT / "tools"),
                "--prerunmodifier",
                f"robot_shard.Shard:{shard}:{ROBOT_SHARDS}",
                "--output",
                outputs[-1],
                "--log",
                "NONE",
                "--report",
                "NONE",
                *session.posargs,
                str(ROOT / "robot"),
            ]
            env = {
                **_coverage_env(),
                POSTGRES_URL_ENV: url,
                "XDG_DATA_HOME": str(workdir / "xdg-data"),
            }
            runs.append(_Run(f"robot, shard {shard + 1} of {ROBOT_SHARDS}", command, env, workdir))
        failed = _side_by_side(session, runs)
        ROBOT_DIR.mkdir(parents=True, exist_ok=True)
        session.run(
            "rebot",
            "--merge",
            "--name",
            "Robot",
            "--outputdir",
            str(ROBOT_DIR),
            "--xunit",
            "xunit.xml",
            *outputs,
            success_codes=range(256),  # the shards' outcome is judged below
        )
    if failed:
        session.error(f"failed: {', '.join(failed)}")


@nox.session(python=PYTHON)
def coverage_report(session: nox.Session) -> None:
    """Combine the coverage of all test sessions; fails under pyproject's fail_under."""
    session.install(_dev_requirement("coverage"))
    data_file = COVERAGE_DIR / ".coverage"
    env = {"COVERAGE_RCFILE": str(PYPROJECT), "COVERAGE_FILE": str(data_file)}
    if any(COVERAGE_DIR.glob(".coverage.*")):
        session.run("coverage", "combine", env=env)
    elif not data_file.exists():
        session.error(f"no coverage data in {COVERAGE_DIR}: run the test sessions first")
    # The XML is written even when the total is too low; `report` enforces fail_under.
    session.run("coverage", "xml", "-o", str(BUILD / "coverage.xml"), "--fail-under=0", env=env)
    session.run("coverage", "report", env=env)


def _ensure_asv_machine(session: nox.Session) -> None:
    """asv refuses to run (or asks questions) until this machine is described once."""
    machine_file = Path.home() / ".asv-machine.json"
    known = json.loads(machine_file.read_text(encoding="utf-8")) if machine_file.exists() else {}
    if platform.uname().node not in known:
        session.run("asv", "machine", "--yes", "--config", str(ASV_CONFIG), silent=True)


def _git_head() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() or None


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Every asv benchmark once at small scale (a failing benchmark fails the session)."""
    session.install("-e", ".[dev]")
    env = {"CLEVERAGENTS_BENCH_SCALE": "small"}
    _ensure_asv_machine(session)
    # --python=same: the session's venv with the package installed; --quick: one
    # call per benchmark; --dry-run: nothing recorded. asv exits 2 on a failure.
    session.run(
        "asv",
        "run",
        "--config",
        str(ASV_CONFIG),
        "--python=same",
        "--quick",
        "--dry-run",
        "--show-stderr",
        *session.posargs,
        env=env,
    )
    if COMPARE_SQLITE.exists():
        session.run("python", str(COMPARE_SQLITE), "--scale", "small", env=env)
    if COMPARE_GIT.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT), "--scale", "small", env=env)
    if COMPARE_GIT_HISTORY.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT_HISTORY), "--scale", "small", env=env)
    if COMPARE_GIT_STORAGE.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT_STORAGE), "--scale", "small", env=env)
    if COMPARE_GIT_SCALE.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT_SCALE), "--scale", "small", env=env)
    if COMPARE_ERRORS.exists():
        session.run("python", str(COMPARE_ERRORS), "--scale", "small", env=env)
    if AIO_HEARTBEAT.exists():
        session.run("python", str(AIO_HEARTBEAT), "--scale", "small", env=env)
    if MEMORY_PEAK.exists():
        session.run("python", str(MEMORY_PEAK), "--scale", "small", env=env)


@nox.session(python=PYTHON)
def benchmarks_full(session: nox.Session) -> None:
    """Full-scale asv run (recorded against HEAD when there is one) and comparison."""
    session.install("-e", ".[dev]")
    env = {"CLEVERAGENTS_BENCH_SCALE": "full"}
    _ensure_asv_machine(session)
    head = _git_head()
    record = ["--set-commit-hash", head] if head else ["--dry-run"]
    session.run(
        "asv",
        "run",
        "--config",
        str(ASV_CONFIG),
        "--python=same",
        "--show-stderr",
        *record,
        *session.posargs,
        env=env,
    )
    if COMPARE_SQLITE.exists():
        session.run("python", str(COMPARE_SQLITE), "--scale", "full", env=env)
    if COMPARE_GIT.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT), "--scale", "full", env=env)
    if COMPARE_GIT_HISTORY.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT_HISTORY), "--scale", "full", env=env)
    if COMPARE_GIT_STORAGE.exists():
        _require_git(session)
        session.run("python", str(COMPARE_GIT_STORAGE), "--scale", "full", env=env)
    if COMPARE_GIT_SCALE.exists():
        session.run("python", str(COMPARE_GIT_SCALE), "--scale", "full", env=env)
    if COMPARE_ERRORS.exists():
        session.run("python", str(COMPARE_ERRORS), "--scale", "full", env=env)
    if AIO_HEARTBEAT.exists():
        session.run("python", str(AIO_HEARTBEAT), "--scale", "full", env=env)
    if MEMORY_PEAK.exists():
        session.run("python", str(MEMORY_PEAK), "--scale", "full", env=env)


def _require_git(session: nox.Session) -> None:
    """The compare_git scripts measure against git: a missing git fails the session, never skips."""
    if shutil.which("git") is None:
        session.error("git is required to compare checkpoints with git")


def _full_scale(session: nox.Session, script: Path, *, needs_git: bool = False) -> None:
    """Run a benchmark script at full scale with ``--check`` (exit 1 on a missed target);
    the session's extra args replace those."""
    session.install("-e", ".")
    if needs_git:
        _require_git(session)
    args = session.posargs or ["--scale", "full", "--check"]
    session.run("python", str(script), *args)


@nox.session(python=PYTHON)
def compare_git_storage(session: nox.Session) -> None:
    """Stored size against `git gc --aggressive` (full scale, exit 1 on a miss).

    Not a default session; extra args replace the default ones, e.g.
    ``nox -s compare_git_storage -- --scale small``. The history workload replays
    this repository's own commits, so it needs a clone with its history.
    """
    _full_scale(session, COMPARE_GIT_STORAGE, needs_git=True)


@nox.session(python=PYTHON)
def compare_sqlite(session: nox.Session) -> None:
    """The changeset store against raw `sqlite3` (full scale, exit 1 on a miss).

    Not a default session; extra args replace the default ones, e.g.
    ``nox -s compare_sqlite -- --scale small``.
    """
    _full_scale(session, COMPARE_SQLITE)


@nox.session(python=PYTHON)
def compare_git(session: nox.Session) -> None:
    """Checkpoints against `git add -A && git write-tree` (full scale, exit 1 on a miss).

    Not a default session; extra args replace the default ones, e.g.
    ``nox -s compare_git -- --scale small``.
    """
    _full_scale(session, COMPARE_GIT, needs_git=True)


@nox.session(python=PYTHON)
def compare_git_history(session: nox.Session) -> None:
    """Checkpoint restores against git on a generated history (full scale, exit 1 on a miss).

    In place against `git checkout`, into an empty folder against `git archive | tar -x`;
    also exits 1 when a restore of ours is not the expected tree. Not a default session;
    extra args replace the default ones, e.g. ``nox -s compare_git_history -- --scale small``.
    """
    _full_scale(session, COMPARE_GIT_HISTORY, needs_git=True)


@nox.session(python=PYTHON)
def compare_git_scale(session: nox.Session) -> None:
    """Watched and unwatched incremental snapshots against git at 10k and 50k files.

    Full scale, exit 1 on a miss. Not a default session; extra args replace the
    default ones, e.g. ``nox -s compare_git_scale -- --scale small``.
    """
    _full_scale(session, COMPARE_GIT_SCALE, needs_git=True)


@nox.session(python=PYTHON)
def compare_errors(session: nox.Session) -> None:
    """Error patterns against raw `sqlite3` and a Python scan (full scale, exit 1 on a miss).

    Not a default session; extra args replace the default ones, e.g.
    ``nox -s compare_errors -- --scale small``.
    """
    _full_scale(session, COMPARE_ERRORS)


@nox.session(python=PYTHON)
def aio_heartbeat(session: nox.Session) -> None:
    """The event loop's stalls while cleveragents.aio works (full scale, exit 1 on a miss).

    Not a default session; extra args replace the default ones, e.g.
    ``nox -s aio_heartbeat -- --scale small``.
    """
    _full_scale(session, AIO_HEARTBEAT)


@nox.session(python=PYTHON)
def memory_peak(session: nox.Session) -> None:
    """Peak memory of snapshots, restores and verifies over the process's own (full scale,
    exit 1 on a miss). Not a default session; extra args replace the default ones, e.g.
    ``nox -s memory_peak -- --scale small``.
    """
    _full_scale(session, MEMORY_PEAK)


SOAK_TOOL = ROOT / "tools" / "mixed_workload.py"
SOAK_MIX = ("--records", "40", "--invocations", "10", "--occurrences", "10", "--snapshots", "1")


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Mixed operations from several processes for 10 minutes on SQLite, then on PostgreSQL.

    Not a default session. Each run ends with a full consistency check and prints
    operations, errors, p50/p99 latency and the database size; it fails on any
    inconsistency. Extra args go to both runs, e.g. ``nox -s soak -- --duration 120``.
    """
    session.install("-e", ".[postgres]")
    extra = session.posargs or ["--duration", "600"]
    BUILD.mkdir(exist_ok=True)
    common = ("--workers", "4", *SOAK_MIX, "--reads", "10", *extra)
    with _scratch_dir("cleveragents-soak-") as folder:
        url = f"sqlite:///{folder / 'soak.db'}"
        report = str(BUILD / "soak-sqlite.json")
        session.run("python", str(SOAK_TOOL), "run", "--url", url, *common, "--report", report)
    with _postgres_url(session) as url:
        report = str(BUILD / "soak-postgres.json")
        session.run("python", str(SOAK_TOOL), "run", "--url", url, *common, "--report", report)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """mkdocs build --strict into build/site."""
    session.install(_dev_requirement("mkdocs"))
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--config-file",
        str(ROOT / "mkdocs.yml"),
        "--site-dir",
        str(BUILD / "site"),
    )


@nox.session(python=False)
def summary(session: nox.Session) -> None:
    """Sum the JUnit reports; its last line is ``tests: N passed, M failed``."""
    session.run(
        sys.executable, str(ROOT / "tools" / "test_summary.py"), str(JUNIT_DIR), str(ROBOT_DIR)
    )
