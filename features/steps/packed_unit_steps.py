"""Steps for the compact forms a restore and a verify hold (features/unit_logic.feature)."""

from __future__ import annotations

import hashlib
import random

from behave import then
from behave.runner import Context

from cleveragents.domain.models.core.checkpoint import FileKind, ManifestEntry
from cleveragents.domain.models.core.packed_manifest import PackedManifest
from cleveragents.domain.packed_hashes import hash_windows, packed_hashes


def _random_entries(rng: random.Random, count: int) -> list[ManifestEntry]:
    paths = {
        "/".join(f"d{rng.randrange(4)}" for _ in range(rng.randrange(3))) + f"/f{n}"
        for n in range(count)
    }
    entries = []
    for path in paths:
        kind = rng.choice(list(FileKind))
        mode = rng.choice((0o644, 0o755, 0o4750)) if kind in (FileKind.FILE, FileKind.LARGE) else 0
        entries.append(
            ManifestEntry(
                path=path.lstrip("/"),
                kind=kind,
                sha256=hashlib.sha256(path.encode()).hexdigest(),
                size=0 if kind is FileKind.DIR else rng.randrange(1 << 40),
                mode=mode,
            )
        )
    rng.shuffle(entries)
    return entries


@then("a manifest in columns of random entries, in any order, answers every lookup as a dict does")
def step_packed_lookups(context: Context) -> None:
    rng = random.Random(7)
    for count in (0, 1, 2, 50, 400):
        entries = _random_entries(rng, count)
        oracle = {entry.path: entry for entry in entries}
        packed = PackedManifest(iter(entries))
        assert len(packed) == len(oracle)
        assert list(packed) == sorted(oracle)
        assert dict(packed.items()) == oracle
        for path, entry in oracle.items():
            assert path in packed and packed[path] == entry
            assert packed.kind_of(path) is entry.kind
        for missing in ("", "zz", "d0", "d0/", *(f"{path}x" for path in list(oracle)[:5])):
            assert missing not in packed
            for lookup in (packed.__getitem__, packed.kind_of):
                try:
                    lookup(missing)
                except KeyError:
                    continue
                raise AssertionError(f"{missing!r} was found")
        assert 3 not in packed and None not in packed
        assert packed.get("nowhere") is None
        ordered = PackedManifest(sorted(entries, key=lambda entry: entry.path))
        assert list(ordered.items()) == list(packed.items())


@then("a manifest in columns refuses a path listed twice")
def step_packed_twice(context: Context) -> None:
    entries = _random_entries(random.Random(3), 20)
    for twice in ([*entries, entries[5]], [entries[0], entries[0]]):
        try:
            PackedManifest(twice)
        except ValueError as exc:
            assert "twice" in str(exc)
            continue
        raise AssertionError("a path listed twice was taken")


@then("content hashes packed and handed out in windows come back sorted, each once")
def step_hash_windows(context: Context) -> None:
    rng = random.Random(11)
    for count in (0, 1, 7, 8, 9, 100):
        hashes = [hashlib.sha256(rng.randbytes(8)).hexdigest() for _ in range(count)]
        packed = packed_hashes(hashes + hashes[: count // 2])  # repeats: each comes once
        windows = list(hash_windows(packed, 8))
        assert all(0 < len(window) <= 8 for window in windows)
        assert [digest for window in windows for digest in window] == sorted(set(hashes))


@then("packing a value that is not a content hash raises ValueError")
def step_packed_refuses(context: Context) -> None:
    for bad in ("abc", "zz" * 32, "ab" * 31, "ab" * 33):
        try:
            packed_hashes([hashlib.sha256(b"x").hexdigest(), bad])
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was packed")
