"""The two sides of ``compare_git_history.py``, and the replay that fills both.

:func:`replay` writes every state of a :class:`~benchmarks.history_workload.History`
into one sandbox and records each one on both sides: a checkpoint of
``CheckpointService`` (SQLite file with the library's settings) and a commit of a
git repository whose ``GIT_DIR`` lies outside the sandbox (git with its defaults,
see ``compare_git.git_environment``). Then the repository is packed with
``git gc``, as a clone is. Afterwards each side restores any state by number.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Final

from benchmarks.compare_git import GitSide, _show
from benchmarks.history_workload import History
from benchmarks.tree_oracle import differences
from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.infrastructure.database.checkpoint_repository import CheckpointRepository
from cleveragents.infrastructure.database.session import create_session_factory

PLAN_ID: Final = "history-plan"


class OursHistory:
    """``CheckpointService`` on a SQLite file, one checkpoint per state of the history."""

    def __init__(self, database: Path) -> None:
        self.factory = create_session_factory(f"sqlite:///{database}")
        self.service = CheckpointService(CheckpointRepository(self.factory))
        self.ids: list[str] = []

    def snapshot(self, sandbox: Path, number: int) -> None:
        checkpoint = self.service.create_workspace_snapshot(
            PLAN_ID, str(sandbox), f"commit-{number}"
        )
        self.ids.append(checkpoint.checkpoint_id)

    def restore(self, number: int, target: Path) -> None:
        self.service.restore_workspace(self.ids[number], target)

    def adopt(self, number: int, work_tree: Path) -> None:
        """Make ``work_tree`` (holding state ``number``) the plan's sandbox, as git's index does.

        A snapshot of it (the same tree as checkpoint ``number``: nothing new is
        stored) makes it the folder the plan's last snapshot was taken of, with its
        stat data and its watcher: what an agent's sandbox always is before a restore.
        """
        self.service.create_workspace_snapshot(PLAN_ID, str(work_tree), f"adopt-{number}")

    def settings(self) -> str:
        """The journal mode and synchronous setting the library set, and the database's size."""
        connection = self.factory.kw["bind"].raw_connection()
        try:
            cursor = connection.cursor()
            journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            size = cursor.execute("PRAGMA page_size").fetchone()[0]
        finally:
            connection.close()
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return (
            f"journal_mode={journal} synchronous={names[int(synchronous)]}; "
            f"database {_show(int(pages) * int(size), 'B')}"
        )

    def close(self) -> None:
        self.service.close()
        self.factory.kw["bind"].dispose()


class GitHistory(GitSide):
    """The same states as commits of one repository; each work tree is a folder of its own."""

    def __init__(self, git_dir: Path, sandbox: Path) -> None:
        super().__init__(git_dir, sandbox)
        self.commits: list[str] = []

    def commit(self, number: int) -> None:
        self.git("add", "-A")
        identity = ("-c", "user.name=x", "-c", "user.email=x@y")
        # An automatic gc, if git starts one, finishes inside the untimed replay.
        self.git(*identity, "-c", "gc.autoDetach=false", "commit", "--quiet", "-m", f"c{number}")
        self.commits.append(self.git("rev-parse", "HEAD").strip())

    def adopt(self, number: int, work_tree: Path, resolution_ns: int) -> None:
        """Make ``work_tree`` (holding state ``number``) the clean work tree of HEAD.

        HEAD is detached at the commit, the index refreshed from the files, and
        rewritten in the next second so that no entry is racily clean: like a
        checkout that has been there for a while, not one made a moment ago.
        """
        commit = self.commits[number]
        self.git("update-ref", "--no-deref", "HEAD", commit)
        self.git("read-tree", commit)
        self.git("update-index", "-q", "--refresh", work_tree=work_tree)
        time.sleep(1.05 - time.time() % 1)
        changed = self.git("status", "--porcelain", work_tree=work_tree)  # rewrites the index
        if changed.strip():
            raise SystemExit(f"git sees local changes in its work tree:\n{changed}")
        racy = self.racy(resolution_ns)
        if racy:
            raise SystemExit(f"{len(racy)} racily clean entries in git's index after setup")

    def checkout(self, number: int, work_tree: Path) -> None:
        """``git checkout --quiet <commit>``: the work tree and index from HEAD's to this one."""
        self.git("checkout", "--quiet", self.commits[number], work_tree=work_tree)

    def archive(self, number: int, target: Path) -> None:
        """``git archive <commit> | tar -x``; tar applies the umask, as for any user but root."""
        command = (
            f"git --git-dir={shlex.quote(str(self.git_dir))} archive {self.commits[number]} "
            f"| tar -x --no-same-owner --no-same-permissions -C {shlex.quote(str(target))}"
        )
        subprocess.run(["bash", "-o", "pipefail", "-c", command], env=self.env, check=True)

    def packed(self) -> str:
        counts = dict(line.split(": ", 1) for line in self.git("count-objects", "-v").splitlines())
        return f"{counts['in-pack']} objects in {counts['packs']} pack, {counts['size-pack']} KiB"


def replay(history: History, ours: OursHistory, git: GitHistory) -> float:
    """Every state into git's sandbox, a checkpoint and a commit of each; seconds taken."""
    began = time.perf_counter()
    sandbox = git.work_tree
    for number in range(len(history)):
        history.apply(number, sandbox)
        ours.snapshot(sandbox, number)
        git.commit(number)
    wrong = differences(sandbox, history.state(len(history) - 1))
    if wrong:
        raise SystemExit(f"the generator left the sandbox wrong: {list(map(str, wrong[:10]))}")
    git.git("gc", "--quiet")
    return time.perf_counter() - began
