"""A walk that keeps whole unchanged folders by its tables finds what a full look finds.

The oracle is a scan with no previous scan at all, which reads every file: a walk
that keeps entries by the previous walk's tables (:class:`CleanFolders`) must list
the same entries, and a walk without the tables must too.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from behave import given, then, when
from behave.runner import Context

from cleveragents.domain.workspace import CleanFolders, Scan
from cleveragents.infrastructure.workspace import scanner

# Longer than the scanner's racy window: entries made before it are clean for the next walk.
SETTLE = scanner.RACY_WINDOW_NS / 1e9 + 0.02
FOLDERS = ("", "a/", "a/b/", "c/", "d/e/")


def _entries(found: Scan) -> dict[str, tuple[str, int, int, str]]:
    return {
        path: (each.entry.sha256, each.entry.size, each.entry.mode, each.entry.kind.value)
        for path, each in found.files.items()
    }


def _walk(root: Path, previous: Scan, *, tables: bool, excludes: tuple[str, ...] = ()) -> Scan:
    return scanner.scan(
        root,
        scanner.ScanSettings(excludes=excludes),
        previous.files,
        previous.started_ns,
        previous_clean=previous.clean if tables else None,
    )


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


@given("a tree of {count:d} files in five folders, older than the racy window")
def step_tree(context: Context, count: int) -> None:
    root = context.tmp / "walked"
    for n in range(count):
        _write(root / f"{FOLDERS[n % len(FOLDERS)]}f{n:03d}.txt", f"file {n}\n".encode())
    time.sleep(SETTLE)
    context.walk_root = root
    context.walk_scan = scanner.scan(root, scanner.ScanSettings())


@when("each of {steps:d} random steps changes the tree and it is walked with and without tables")
def step_random_walks(context: Context, steps: int) -> None:
    rng = random.Random(20261207)
    root: Path = context.walk_root
    previous: Scan = context.walk_scan
    context.walk_mismatches = []
    context.walk_whole = 0
    for step in range(steps):
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        victim = rng.choice(files)
        action = rng.choice(
            ("same-size", "grow", "delete", "add", "chmod", "link", "symlink", "empty folder")
        )
        if action == "same-size":  # same size and modification time: only ctime tells
            before = victim.stat()
            victim.write_bytes(bytes(reversed(victim.read_bytes())))
            os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
        elif action == "grow":
            victim.write_bytes(victim.read_bytes() + b"more\n")
        elif action == "delete":
            victim.unlink()
        elif action == "add":
            _write(root / rng.choice(FOLDERS) / f"new{step:03d}.txt", f"new {step}\n".encode())
        elif action == "chmod":
            victim.chmod(0o755)
        elif action == "empty folder":
            (root / rng.choice(FOLDERS) / f"empty{step:03d}").mkdir()
        elif action == "link":
            os.link(victim, victim.with_name(f"hard{step:03d}.txt"))
        else:
            victim.unlink()
            victim.symlink_to(f"target-{step}")
        if step % 2:
            time.sleep(SETTLE)  # every other step, the changes are clean by the next walk
        fast = _walk(root, previous, tables=True)
        slow = _walk(root, previous, tables=False)
        full = scanner.scan(root, scanner.ScanSettings())
        if not (_entries(fast) == _entries(slow) == _entries(full)):
            context.walk_mismatches.append((step, action))
        if previous.clean is not None and fast.clean is not None:
            context.walk_whole += sum(
                1
                for prefix, table in fast.clean.folders.items()
                if previous.clean.folders.get(prefix) is table
            )
        previous = fast


@then("every walk lists what a full scan lists, and unchanged folders were kept whole")
def step_random_agree(context: Context) -> None:
    assert context.walk_mismatches == [], context.walk_mismatches
    assert context.walk_whole > 0, "no folder was kept whole by its table"


@then("tables hold for a walk whose racy bound is at or after theirs, not before")
def step_tables_bound(context: Context) -> None:
    later = CleanFolders(racy_from=1_000, folders={"": {}})
    assert later.usable(1_000) and later.usable(2_000), "an equal or later bound may use them"
    assert not later.usable(999), "an earlier bound must not"


@when("the tree is walked again with its tables after {change}")
def step_walk_after(context: Context, change: str) -> None:
    root: Path = context.walk_root
    first: Scan = context.walk_scan
    target = root / "a/f001.txt"
    excludes: tuple[str, ...] = ()
    if change == "nothing changed":
        pass
    elif change == "one file's bytes changed, its size and mtime kept":
        before = target.stat()
        target.write_bytes(b"FILE 1\n")
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif change == "one file was deleted":
        target.unlink()
    elif change == "one file was added":
        _write(root / "a/added.txt", b"added\n")
    elif change == "one file was excluded":
        excludes = ("a/f001.txt",)
    elif change == "one file got a second hard link beside it":
        os.link(target, root / "a/linked.txt")
    else:
        raise AssertionError(f"unknown change {change!r}")
    context.walk_again = _walk(root, first, tables=True, excludes=excludes)
    context.walk_full = scanner.scan(root, scanner.ScanSettings(excludes=excludes))


@then("it lists what a full scan lists, and {kept} of the five folders' tables are handed on")
def step_walk_again(context: Context, kept: str) -> None:
    again: Scan = context.walk_again
    first: Scan = context.walk_scan
    assert _entries(again) == _entries(context.walk_full), sorted(
        set(_entries(again).items()) ^ set(_entries(context.walk_full).items())
    )
    assert first.clean is not None and again.clean is not None
    handed = sorted(
        prefix
        for prefix in FOLDERS
        if again.clean.folders.get(prefix) is first.clean.folders[prefix]
    )
    expected = sorted(FOLDERS) if kept == "all" else sorted(set(FOLDERS) - {"a/"})
    assert handed == expected, handed


@then('"{path}" is noted as linked')
def step_linked(context: Context, path: str) -> None:
    assert path in context.walk_again.linked, context.walk_again.linked
