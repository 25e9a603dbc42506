"""Which codec for objects and deltas: zlib and zstd, whole and against the previous version.

    python benchmarks/delta_codecs.py [--commits 150] [--pairs 300] [--repo DIR]

Takes the first ``--commits`` commits of a repository (default: the one this script
lives in), lists every pair (previous version, new version) of a path that changed
between two commits, and packs a random sample of ``--pairs`` new versions (seeded,
so the sample is the same each run) whole and as a delta of the previous version:
zlib at level 6, zlib with the previous version as preset dictionary (``zdict``,
32 KB window), and zstd at several levels, whole and with the previous version as a
raw-content dictionary (the ``--patch-from`` idea). Prints bytes and seconds of each
(one thread). ADR 0011 records the figures behind the choice.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
SEED = 1


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def changed_pairs(repo: Path, commits: int) -> list[tuple[str, str]]:
    """(previous blob, new blob) of every path changed between consecutive commits."""
    revisions = _git(repo, "rev-list", "--reverse", "--first-parent", "HEAD").split()[:commits]
    pairs: list[tuple[str, str]] = []
    previous: dict[bytes, str] = {}
    for revision in revisions:
        current: dict[bytes, str] = {}
        for line in _git(repo, "ls-tree", "-r", revision.decode()).splitlines():
            meta, path = line.split(b"\t", 1)
            current[path] = meta.split()[2].decode()
        pairs += [
            (previous[p], s) for p, s in current.items() if p in previous and previous[p] != s
        ]
        previous = current
    return pairs


def _zlib_delta(base: bytes, data: bytes) -> bytes:
    packer = zlib.compressobj(6, zdict=base)
    return packer.compress(data) + packer.flush()


def _zstd(level: int) -> Callable[[bytes, bytes], bytes]:
    return lambda _base, data: zstandard.ZstdCompressor(level=level).compress(data)


def _zstd_delta(level: int) -> Callable[[bytes, bytes], bytes]:
    def pack(base: bytes, data: bytes) -> bytes:
        dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdCompressor(level=level, dict_data=dictionary).compress(data)

    return pack


CODECS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "zlib 6, whole": lambda _base, data: zlib.compress(data, 6),
    "zlib 6, delta (zdict)": _zlib_delta,
    **{f"zstd {level}, whole": _zstd(level) for level in (3, 9, 12, 19)},
    **{f"zstd {level}, delta (dictionary)": _zstd_delta(level) for level in (3, 9, 12, 19)},
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commits", type=int, default=150)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--repo", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    pairs = changed_pairs(args.repo, args.commits)
    sample = random.Random(SEED).sample(pairs, min(args.pairs, len(pairs)))
    blobs = {sha: _git(args.repo, "cat-file", "blob", sha) for pair in sample for sha in pair}
    raw = sum(len(blobs[new]) for _, new in sample)
    above = sum(len(blobs[new]) > 32_768 for _, new in sample)
    print(f"{len(pairs)} changed versions, {len(sample)} sampled: {raw:,} bytes")
    print(f"{above} of them above 32 KB (beyond zlib's window)")
    print(f"{'codec':<30} {'bytes':>11} {'seconds':>8}")
    for name, pack in CODECS.items():
        start = time.perf_counter()
        size = sum(len(pack(blobs[base], blobs[new])) for base, new in sample)
        print(f"{name:<30} {size:>11,} {time.perf_counter() - start:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
