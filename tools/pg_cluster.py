"""Start a throwaway PostgreSQL cluster for the test suites, and stop it again.

The cluster lives in a fresh temporary folder, listens on 127.0.0.1 only (on a
free port) and trusts the superuser ``cleveragents``, who owns the database
``cleveragents_test``. PostgreSQL refuses to run as root, so under root the server
commands run as the ``postgres`` account through ``runuser``.

Library use::

    with running_cluster() as url:  # postgresql+psycopg://cleveragents@127.0.0.1:PORT/...
        ...

Command line::

    python tools/pg_cluster.py run -- CMD ARGS...   # CMD sees $CLEVERAGENTS_TEST_POSTGRES_URL
    python tools/pg_cluster.py serve                # print the URL, keep running until Ctrl-C

When no PostgreSQL server binaries can be found this fails loudly: it never skips.
Only the standard library is used, so the script runs before anything is installed.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

URL_ENV = "CLEVERAGENTS_TEST_POSTGRES_URL"
BIN_DIR_ENV = "CLEVERAGENTS_PG_BIN_DIR"
SUPERUSER = "cleveragents"
DATABASE = "cleveragents_test"
PREFERRED_MAJOR = "15"
SERVICE_ACCOUNT = "postgres"
PACKAGE_ROOT = Path("/usr/lib/postgresql")

# Exit codes of the command line when the harness itself fails (as `env` does).
EXIT_HARNESS_FAILED = 125
EXIT_COMMAND_NOT_FOUND = 127

_START_ATTEMPTS = 3
_TIMEOUT_SECONDS = 120
_TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ClusterError(RuntimeError):
    """The throwaway cluster could not be started (or the binaries are missing)."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    name = bin_dir.parent.name
    parts = name.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (-1,)


def _has_server_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "createdb"))


def candidate_bin_dirs() -> list[Path]:
    """Where PostgreSQL binaries are looked for, in order of preference."""
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        return [Path(override)]
    candidates = [PACKAGE_ROOT / PREFERRED_MAJOR / "bin"]
    installed = sorted(PACKAGE_ROOT.glob("*/bin"), key=_version_key, reverse=True)
    candidates.extend(installed)
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path:
        candidates.append(Path(initdb_on_path).resolve().parent)
    return candidates


def find_bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``createdb``; `ClusterError` if none."""
    candidates = candidate_bin_dirs()
    for bin_dir in candidates:
        if _has_server_tools(bin_dir):
            return bin_dir
    looked = ", ".join(str(path) for path in candidates)
    source = f"set by ${BIN_DIR_ENV}" if os.environ.get(BIN_DIR_ENV) else "and PATH"
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl, createdb) not found; looked in "
        f"{looked} ({source}). Install PostgreSQL (e.g. `apt-get install postgresql`) "
        f"or set {BIN_DIR_ENV} to the folder holding them."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    """The caller's environment without PG* variables that would redirect the tools."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Cluster:
    """One throwaway cluster: a temporary folder, a data directory and a server."""

    def __init__(self, bin_dir: Path, root: Path, account: pwd.struct_passwd | None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / "data"
        self.log_file = root / "postgres.log"
        self.port = 0
        self._account = account  # run the server as this account (None: as ourselves)
        self._stopped = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def _server_command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / tool), *args]
        if self._account is None:
            return command
        return ["runuser", "-u", self._account.pw_name, "--", *command]

    def _run(self, command: list[str], what: str) -> None:
        result = subprocess.run(
            command,
            cwd=self.root,
            env=_clean_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{what} failed (exit {result.returncode}): {' '.join(command)}\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.log_file} (last {lines} lines) ---\n{tail}\n"

    def start(self) -> None:
        """initdb, configure, start on a free port and create the test database."""
        if self._account is not None:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        self._run(
            self._server_command(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ),
            "initdb",
        )
        settings = {
            "listen_addresses": _conf_quote("127.0.0.1"),
            "unix_socket_directories": _conf_quote(str(self.root)),
            "max_connections": "200",
            # Durability is worthless for a cluster deleted after the run.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# cleveragents test harness\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._start_server()
        self._run(
            [
                str(self.bin_dir / "createdb"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--username",
                SUPERUSER,
                DATABASE,
            ],
            "createdb",
        )

    def _start_server(self) -> None:
        # Another process may grab the probed port before the server binds it: retry.
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_port()
            command = self._server_command(
                "pg_ctl",
                "start",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
                "--wait",
                "--timeout",
                str(_TIMEOUT_SECONDS),
                "-o",
                f"-p {self.port}",
            )
            try:
                self._run(command, "pg_ctl start")
            except ClusterError:
                if attempt == _START_ATTEMPTS or "in use" not in self._log_tail():
                    raise
            else:
                return

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and delete the folder; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                try:
                    self._run(self._pg_ctl_stop("fast"), "pg_ctl stop")
                except (ClusterError, subprocess.TimeoutExpired):
                    self._run(self._pg_ctl_stop("immediate"), "pg_ctl stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl_stop(self, mode: str) -> list[str]:
        return self._server_command(
            "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode, "--wait"
        )


def _service_account() -> pwd.struct_passwd:
    try:
        account = pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise ClusterError(
            f"running as root, but there is no {SERVICE_ACCOUNT!r} account to run "
            "PostgreSQL as (PostgreSQL refuses to run as root)"
        ) from None
    if shutil.which("runuser") is None:
        raise ClusterError("running as root, but `runuser` (util-linux) is not installed")
    return account


def _raise_system_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _exit_cleanly_on_termination() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit so that `finally` blocks stop the cluster."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _TERMINATING_SIGNALS}
    for sig, handler in previous.items():
        if handler == signal.SIG_DFL:
            signal.signal(sig, _raise_system_exit)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def running_cluster() -> Iterator[str]:
    """Start a throwaway cluster, yield its URL, then stop it and delete its folder."""
    with _exit_cleanly_on_termination():
        bin_dir = find_bin_dir()
        account = _service_account() if os.geteuid() == 0 else None
        cluster = Cluster(bin_dir, Path(tempfile.mkdtemp(prefix="cleveragents-pg-")), account)
        atexit.register(cluster.stop)
        try:
            cluster.start()
            yield cluster.url
        finally:
            cluster.stop()
            atexit.unregister(cluster.stop)


def _run_command(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run CMD to completion, passing SIGTERM/SIGHUP on; returns a shell-style code."""
    try:
        child = subprocess.Popen(list(command), env=dict(env))
    except FileNotFoundError:
        print(f"pg_cluster: error: command not found: {command[0]}", file=sys.stderr)
        return EXIT_COMMAND_NOT_FOUND

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Like a shell, leave SIGINT to the child (the terminal sent it to it as well).
        if signum != signal.SIGINT:
            child.send_signal(signum)

    watched = (signal.SIGINT, *_TERMINATING_SIGNALS)
    previous = {sig: signal.signal(sig, forward) for sig in watched}
    try:
        returncode = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - returncode if returncode < 0 else returncode


def _strip_separator(command: list[str]) -> list[str]:
    return command[1:] if command[:1] == ["--"] else command


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="pg_cluster.py", description="Throwaway PostgreSQL cluster for the tests."
    )
    commands = parser.add_subparsers(dest="action", required=True)
    run = commands.add_parser("run", help=f"run CMD with ${URL_ENV} set, then stop the cluster")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    commands.add_parser("serve", help="print the URL and keep the cluster up until interrupted")
    args = parser.parse_args(argv)

    command = _strip_separator(list(args.command)) if args.action == "run" else []
    if args.action == "run" and not command:
        parser.error("run needs a command: run -- CMD ARGS...")
    try:
        with running_cluster() as url:
            if args.action == "serve":
                print(f"{URL_ENV}={url}", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
                return 0
            return _run_command(command, {**os.environ, URL_ENV: url})
    except ClusterError as exc:
        print(f"pg_cluster: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS_FAILED


if __name__ == "__main__":
    sys.exit(main())
