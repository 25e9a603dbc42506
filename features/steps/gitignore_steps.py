"""Steps for the ignore rules: generated git work trees, with git itself as the oracle."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from behave import given, step, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, repository, service
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from cleveragents.application.services.checkpoint_service import CheckpointService
from cleveragents.domain.models.core.checkpoint import FileKind
from cleveragents.infrastructure.workspace import scanner

FOLDERS = ("src", "lib", "build", "cache", "docs", "node_modules", "a", "b", "sub", "deep", "x y")
FILES = (
    "main.py", "util.py", "keep.log", "debug.log", "notes.tmp", "readme.md", "#hash",
    "trail ", "data.bin", "!bang", "a.c", "a.h", "out.o", "b", "cache", "build",
)  # fmt: skip
# Lines of rules files: negation, anchoring, folder-only, **, comments, escapes, spaces.
RULES = (
    "*.log", "!keep.log", "/build", "build/", "docs/*.tmp", "cache/", "**/deep/*.bin",
    "a/**/out.o", "node_modules", "# a comment", "", "\\#hash", "trail\\ ", "*.tmp   ",
    "!*/", "*.o", "sub/", "!sub/keep.log", "/*.md", "lib/**", "!lib/keep.log", "[ab].c",
    "!a.c", "deep/", "b", "!b/", "**/x y/**", "\\!bang", "*", "!*.py", "src/**/", "!src/",
)  # fmt: skip


def _git(root: Path, *args: str) -> bytes:
    """Run git in ``root`` with no configuration but the repository's own."""
    home = root.parent / "git-home"
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),  # no default core.excludesFile either
    }
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, check=True)
    return done.stdout


def git_lists(root: Path, *options: str, config: str | None = None) -> list[str]:
    """``git ls-files --cached --others`` with ``options``, as sorted paths."""
    settings = ("-c", config) if config else ()
    out = _git(root, *settings, "ls-files", "--cached", "--others", "-z", *options)
    return sorted(os.fsdecode(path) for path in out.split(b"\0") if path)


def _rules(rng: random.Random, low: int, high: int) -> str:
    return "\n".join(rng.choice(RULES) for _ in range(rng.randint(low, high))) + "\n"


def _folder(rng: random.Random) -> str:
    return "/".join(rng.choice(FOLDERS) for _ in range(rng.randint(0, 4)))


def _add_files(root: Path, rng: random.Random, count: int) -> None:
    """``count`` files at random places (a place taken by a folder or file is skipped)."""
    for number in range(count):
        path = root / _folder(rng) / rng.choice(FILES)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_dir():
                path.write_text(f"{number}\n")
        except (FileExistsError, NotADirectoryError):
            continue


def _folders_of(root: Path) -> list[Path]:
    found = [root]
    for here, names, _ in os.walk(root):
        names[:] = sorted(name for name in names if name != ".git")
        found.extend(Path(here) / name for name in names)
    return found


def generate(root: Path, seed: int) -> None:
    """A git work tree of a few hundred files with rules files in several folders."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    _git(root, "-c", "init.defaultBranch=main", "init", "-q")
    _add_files(root, rng, rng.randint(450, 800))
    folders = _folders_of(root)
    for folder in [root, *rng.sample(folders, min(len(folders), 12))]:
        (folder / ".gitignore").write_text(_rules(rng, 2, 6))
    (root / ".git" / "info" / "exclude").write_text(_rules(rng, 1, 3))
    files = sorted(p for p in root.rglob("*.py") if ".git" not in p.parts)
    for number, target in enumerate(rng.sample(files, min(len(files), 5))):
        (target.parent / f"link{number}").symlink_to(target.name)
    (root / "folder-link").symlink_to("src")


def _change(root: Path, rng: random.Random) -> None:
    """Rules files rewritten, removed and added below the top, files added and removed."""
    folders = _folders_of(root)[1:]
    for folder in rng.sample(folders, min(len(folders), 6)):
        rules = folder / ".gitignore"
        if rules.exists() and rng.random() < 0.3:
            rules.unlink()
        elif folder.is_dir():
            rules.write_text(_rules(rng, 1, 5))
    fresh = root / f"fresh-{rng.randrange(1 << 30)}" / "sub"
    fresh.mkdir(parents=True)
    (fresh / ".gitignore").write_text("*.log\n!keep.log\n")
    for name in ("keep.log", "debug.log", "main.py"):
        (fresh / name).write_text(name)
    _add_files(root, rng, 40)
    for gone in rng.sample(sorted(root.rglob("*.py")), 10):
        if gone.is_file() and ".git" not in gone.parts:
            gone.unlink()


def manifest_files(context: Context) -> list[str]:
    """The files and symlinks of the last snapshot (its empty folders left out)."""
    manifest = repository(context).manifest(checkpoints(context)[-1].checkpoint_id) or []
    return sorted(entry.path for entry in manifest if entry.kind is not FileKind.DIR)


@given("a git work tree generated from seed {seed:d}")
def step_generated(context: Context, seed: int) -> None:
    context.sandbox = context.tmp / "sandbox"
    generate(context.sandbox, seed)
    context.seed = seed


@given("a checkpoint service that reads no .gitignore")
def step_service_without_rules(context: Context) -> None:
    context.checkpoint_service = CheckpointService(repository(context), gitignore=False)


@given("a checkpoint service with the excludes")
def step_service_with_excludes(context: Context) -> None:
    context.excludes = [row["pattern"] for row in context.table]
    context.checkpoint_service = CheckpointService(repository(context), excludes=context.excludes)


@when("I change files and rules below the top of the work tree")
def step_change_below(context: Context) -> None:
    context.seed += 1
    _change(context.sandbox, random.Random(context.seed))


@when("I change the top .gitignore and .git/info/exclude")
def step_change_top(context: Context) -> None:
    rng = random.Random(context.seed + 100)
    (context.sandbox / ".gitignore").write_text(_rules(rng, 2, 6))
    (context.sandbox / ".git" / "info" / "exclude").write_text(_rules(rng, 1, 3))


@when("I change only .git/info/exclude")
def step_change_exclude(context: Context) -> None:
    (context.sandbox / ".git" / "info" / "exclude").write_text("*.py\n!main.py\n")


@then("the snapshot holds exactly what git lists")
def step_as_git(context: Context) -> None:
    expected = git_lists(context.sandbox, "--exclude-standard")
    assert manifest_files(context) == expected, _difference(manifest_files(context), expected)


@then("the snapshot holds exactly what git lists without ignore rules")
def step_as_git_unruled(context: Context) -> None:
    expected = git_lists(context.sandbox)
    assert manifest_files(context) == expected, _difference(manifest_files(context), expected)
    assert any(Path(p).name == ".gitignore" for p in expected)


@then("the snapshot holds exactly what git lists with the excludes as core.excludesFile")
def step_as_git_excludes(context: Context) -> None:
    patterns = context.tmp / "excludes"
    patterns.write_text("".join(f"{line}\n" for line in context.excludes))
    expected = git_lists(
        context.sandbox, "--exclude-standard", config=f"core.excludesFile={patterns}"
    )
    assert manifest_files(context) == expected, _difference(manifest_files(context), expected)


def _difference(ours: list[str], git: list[str]) -> str:
    return f"only ours: {sorted(set(ours) - set(git))}, only git's: {sorted(set(git) - set(ours))}"


@then('the snapshot holds exactly "{paths}"')
def step_holds_exactly(context: Context, paths: str) -> None:
    assert manifest_files(context) == sorted(p.strip() for p in paths.split(",")), manifest_files(
        context
    )


@step('the sandbox holds "{rel}" with "{content}"')
def step_holds_with(context: Context, rel: str, content: str) -> None:
    path = context.sandbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content.replace("\\n", "\n"))


@given("the same service watches the sandbox")
def step_same_service(context: Context) -> None:
    assert service(context) is context.checkpoint_service


@then("the snapshot did not walk the whole sandbox")
def step_not_whole(context: Context) -> None:
    assert "" not in context.walks, context.walks


@then('"{rel}" still holds "{content}"')
def step_still_holds(context: Context, rel: str, content: str) -> None:
    assert (context.sandbox / rel).read_text() == content


@when("I reset the sandbox to checkpoint {number:d}")
def step_reset(context: Context, number: int) -> None:
    checkpoint = checkpoints(context)[number - 1]
    context.result = service(context).reset_workspace(checkpoint.checkpoint_id, context.sandbox)


_NAMES = st.sampled_from(["a", "b", "x y", "keep.log", "debug.log", "a.c", "out.o", "#hash"])


@then("random small trees and rules give what git lists")
def step_property(context: Context) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @hypothesis_given(
        files=st.lists(st.lists(_NAMES, min_size=1, max_size=4), min_size=1, max_size=12),
        rules=st.dictionaries(
            st.sampled_from(["", "a/", "b/", "a/b/", "x y/"]),
            st.lists(st.sampled_from(RULES), min_size=1, max_size=5),
            max_size=3,
        ),
        exclude=st.lists(st.sampled_from(RULES), max_size=2),
    )
    def agree(files: list[list[str]], rules: dict[str, list[str]], exclude: list[str]) -> None:
        root = Path(tempfile.mkdtemp(dir=context.tmp)) / "tree"
        try:
            root.mkdir()
            _git(root, "-c", "init.defaultBranch=main", "init", "-q")
            (root / ".git" / "info" / "exclude").write_text("\n".join(exclude) + "\n")
            for parts in files:
                path = root.joinpath(*parts)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if not path.is_dir():
                        path.write_text("x")
                except (FileExistsError, NotADirectoryError):
                    continue
            for folder, lines in rules.items():
                if (root / folder).is_dir():
                    (root / folder / ".gitignore").write_text("\n".join(lines) + "\n")
            found = scanner.scan(root, scanner.ScanSettings())
            ours = sorted(p for p, f in found.files.items() if f.entry.kind is not FileKind.DIR)
            expected = git_lists(root, "--exclude-standard")
            assert ours == expected, (rules, exclude, _difference(ours, expected))
        finally:
            shutil.rmtree(root.parent, ignore_errors=True)

    agree()
