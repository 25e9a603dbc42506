"""Steps of the fast tier for what restores and verifies read a piece at a time: a stored
diff's rows and a large object's content (features/unit_logic.feature)."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import zlib

import zstandard
from behave import then
from behave.runner import Context
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    DiffEntry,
    FileKind,
    diff_canonical_bytes,
    diff_hash,
)
from cleveragents.domain.models.core.diff_rows import canonical_rows
from cleveragents.infrastructure.database.object_codec import (
    DeltaBase,
    diff_pieces,
    encode_diff,
    pack_delta,
    pack_object,
    unpack_pieces,
)

_QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Paths with characters of 1 to 4 UTF-8 bytes, so that pieces cut through characters.
_NAME = st.text(alphabet="aé€😀/_", min_size=1, max_size=12).filter(
    lambda name: not name.startswith("/") and not name.endswith("/") and "//" not in name
)
_ENTRY = st.builds(
    lambda path, digest, kind: DiffEntry(
        path=path,
        sha256=digest,
        kind=kind if digest is not None else None,
        mode=0o644 if digest is not None and kind is FileKind.FILE else None,
    ),
    _NAME,
    st.one_of(st.none(), st.from_regex(r"\A[0-9a-f]{64}\Z")),
    st.sampled_from([FileKind.FILE, FileKind.SYMLINK]),
)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


@then("the rows of random diffs read in random pieces are the rows of their canonical form")
def step_rows_in_pieces(context: Context) -> None:
    @_QUICK
    @hypothesis_given(st.lists(_ENTRY, max_size=12), st.lists(st.integers(0, 10_000)))
    def check(drawn: list[DiffEntry], cuts: list[int]) -> None:
        diff = list({entry.path: entry for entry in drawn}.values())
        data = diff_canonical_bytes(diff)
        assert list(canonical_rows(_cut(data, cuts))) == json.loads(data)

    check()


@then("the pieces of a stored diff hash to its diff hash, and a damaged one is refused")
def step_diff_pieces(context: Context) -> None:
    rng = random.Random(13)
    diff = [
        DiffEntry(path=f"folder/file_{n:04d}.py", sha256=rng.randbytes(32).hex())
        for n in range(3000)
    ]
    stored = encode_diff(diff)
    pieces = list(diff_pieces("unit", stored))
    assert len(pieces) > 1, "a diff of 3,000 paths comes in one piece"
    assert hashlib.sha256(b"".join(pieces)).hexdigest() == diff_hash(diff)
    assert list(diff_pieces("unit", None)) == [diff_canonical_bytes([])]
    for damaged in (stored[: len(stored) // 2], stored + b"more", b"not zlib"):
        try:
            list(diff_pieces("unit", damaged))
        except IntegrityCheckError:
            continue
        raise AssertionError(f"a stored diff of {len(damaged)} damaged bytes was read")


@then("reading bytes that are not canonical diff rows raises ValueError")
def step_rows_refused(context: Context) -> None:
    for text in ('{"a":1}', "[1]", '[["a",null]["b",null]]', '[["a",null]]x', '[["a",nul', "[", ""):
        try:
            list(canonical_rows([text.encode()]))
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was read as diff rows")


@then("unpacking random objects in pieces gives them back, zstd and legacy zlib alike")
def step_unpack_pieces(context: Context) -> None:
    rng = random.Random(7)
    for size in (0, 1, 5000, 300_000):
        data = rng.randbytes(size // 2) + bytes(size - size // 2)
        for stored in (pack_object(data), zlib.compress(data)):
            pieces = list(unpack_pieces("unit", stored, 4096))
            assert b"".join(pieces) == data
            assert all(len(piece) <= 4096 for piece in pieces)
            assert len(pieces) >= size // 4096


@then("unpacking deltas in pieces, given their base, gives them back, zstd and legacy zlib alike")
def step_unpack_delta_pieces(context: Context) -> None:
    rng = random.Random(11)
    base = rng.randbytes(30_000)
    data = base[:10_000] + b"changed" + base[10_000:]
    digest = hashlib.sha256(base).hexdigest()
    inflater = zlib.compressobj(zdict=base)
    legacy = b"\x00" + bytes.fromhex(digest) + inflater.compress(data) + inflater.flush()
    for stored in (pack_delta(data, DeltaBase(digest, base)), legacy):
        pieces = list(unpack_pieces("unit", stored, 4096, base))
        assert b"".join(pieces) == data
        assert len(pieces) >= len(data) // 4096


@then("unpacking a damaged object in pieces raises IntegrityCheckError")
def step_unpack_pieces_damaged(context: Context) -> None:
    data = random.Random(3).randbytes(50_000)
    frame = zstandard.ZstdCompressor().compress(data)
    damaged_frame = frame[:8] + bytes(len(frame) - 8)
    for stored in (damaged_frame, zlib.compress(data)[:-9], b"neither zstd nor zlib"):
        try:
            list(unpack_pieces("unit", stored, 4096))
        except IntegrityCheckError:
            continue
        raise AssertionError("a damaged object was unpacked")
