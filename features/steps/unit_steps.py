"""Steps of the fast tier: pure logic checked without a database (features/unit_logic.feature)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

from behave import then
from behave.runner import Context
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from cleveragents.application.services.apply_plan import ApplyError, simulate
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.domain.models.core.checkpoint import (
    EMPTY_TREE_SHA256,
    DiffEntry,
    FileKind,
    ManifestEntry,
    diff_canonical_bytes,
    diff_hash,
)
from cleveragents.domain.models.core.error_pattern import ErrorPattern, fold
from cleveragents.domain.redaction import DEFAULT_REDACTOR, REDACTED
from cleveragents.infrastructure.database.error_pattern_terms import (
    TermKind,
    context_probes,
    text_terms,
)
from cleveragents.infrastructure.database.object_codec import (
    DELTA_MARK,
    LARGE_OBJECT_BYTES,
    MAX_DELTA_CHAIN,
    DeltaBase,
    decode_diff,
    encode_diff,
    pack_delta,
    pack_object,
    unpack,
)
from cleveragents.infrastructure.database.object_packing import RECENT_ITEM_BYTES, RecentContent
from cleveragents.infrastructure.database.rollback_marks import (
    Marks,
    Rollback,
    is_live,
    live_ranges,
)
from cleveragents.infrastructure.database.tree_codec import TREE, TreeIndex, tree_bytes

_QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unpacked(stored: dict[str, bytes], digest: str) -> bytes:
    """What the object store reads back for ``digest`` (kinds play no part here)."""
    return unpack(digest, {key: ("blob", data) for key, data in stored.items()}, {}, None)


# --- objects ------------------------------------------------------------------------------


@then("packing and unpacking random objects gives them back, deltas included")
def step_pack_round_trip(context: Context) -> None:
    @_QUICK
    @hypothesis_given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
    def check(versions: list[bytes]) -> None:
        stored: dict[str, bytes] = {}
        previous: DeltaBase | None = None
        for data in versions:  # each version a delta of the one before: a chain
            digest = _sha(data)
            if digest not in stored:
                base = previous if previous is not None and previous.digest != digest else None
                stored[digest] = pack_object(data) if base is None else pack_delta(data, base)
            previous = DeltaBase(digest, data, 0 if previous is None else previous.depth + 1)
        for data in versions:
            assert _unpacked(stored, _sha(data)) == data

    check()


@then("a delta of similar content is smaller than the content packed whole")
def step_delta_smaller(context: Context) -> None:
    base = b"".join(f"line {n}: some source text\n".encode() for n in range(400))
    changed = base.replace(b"line 200:", b"line 200 (edited):")
    whole = pack_object(changed)
    delta = pack_object(changed, DeltaBase(_sha(base), base))
    assert delta[:1] == DELTA_MARK and len(delta) < len(whole) / 4, (len(delta), len(whole))


@then("content above the large-object cap, or a base that deep or that large, packs whole")
def step_no_delta_beyond_caps(context: Context) -> None:
    small = b"".join(f"line {n}: {n * 7919 % 10007}\n".encode() for n in range(400))
    edited = small.replace(b"line 200:", b"LINE 200:")
    big = small * (LARGE_OBJECT_BYTES // len(small) + 1)
    cases = {
        "content above the cap": (big + b"!", DeltaBase(_sha(big), big)),
        "a base above the cap": (edited, DeltaBase(_sha(big), big)),
        "a base at the chain's bound": (edited, DeltaBase(_sha(small), small, MAX_DELTA_CHAIN)),
    }
    for name, (data, base) in cases.items():
        packed = pack_object(data, base)
        assert packed[:4] == b"\x28\xb5\x2f\xfd", name  # a whole zstd frame
        assert _unpacked({_sha(data): packed}, _sha(data)) == data, name
    delta = pack_object(edited, DeltaBase(_sha(small), small, MAX_DELTA_CHAIN - 1))
    assert delta[:1] == DELTA_MARK and delta[33] == MAX_DELTA_CHAIN, delta[:34]


@then("packed objects of very compressible content hold memory of their packed size")
def step_packed_memory(context: Context) -> None:
    contents = [bytes(300_000 + n) for n in range(8)]  # zeros: a few dozen bytes packed
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        packed = [pack_object(content) for content in contents]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(len(one) < 200 for one in packed), [len(one) for one in packed]
    assert held < 16_000, f"{len(packed)} packed objects hold {held} bytes"


@then("remembered recent content stays within its bound, the least recently used forgotten first")
def step_recent_content(context: Context) -> None:
    recent = RecentContent(limit=3000)
    items = {f"{n:064x}": bytes([n]) * 1000 for n in range(3)}
    recent.remember(items.items())
    assert recent.recall(items) == items
    assert recent.recall([f"{0:064x}"]) == {f"{0:064x}": items[f"{0:064x}"]}  # now the newest
    recent.remember([(f"{3:064x}", b"x" * 1000), (f"{4:064x}", b"y" * (RECENT_ITEM_BYTES + 1))])
    kept = recent.recall([f"{n:064x}" for n in range(5)])
    assert sorted(kept) == [f"{n:064x}" for n in (0, 2, 3)], sorted(kept)


_DAMAGES: dict[str, Callable[[], tuple[dict[str, bytes], str]]] = {}


def _damage(name: str) -> Callable[[Callable[[], tuple[dict[str, bytes], str]]], Any]:
    def register(
        build: Callable[[], tuple[dict[str, bytes], str]],
    ) -> Callable[[], tuple[dict[str, bytes], str]]:
        _DAMAGES[name] = build
        return build

    return register


@_damage("a delta whose base is missing")
def _missing_base() -> tuple[dict[str, bytes], str]:
    base, data = b"base content " * 20, b"new content " * 20
    return {_sha(data): pack_delta(data, DeltaBase(_sha(base), base))}, _sha(data)


@_damage("a delta of itself")
def _self_delta() -> tuple[dict[str, bytes], str]:
    data = b"content"
    return {_sha(data): DELTA_MARK + bytes.fromhex(_sha(data)) + zlib.compress(data)}, _sha(data)


@_damage("a delta cut short")
def _cut_short() -> tuple[dict[str, bytes], str]:
    base, data = b"base content " * 50, b"base content, edited " * 50
    packed = pack_delta(data, DeltaBase(_sha(base), base))
    return {_sha(base): pack_object(base), _sha(data): packed[:-8]}, _sha(data)


@_damage("a whole object cut short")
def _whole_cut_short() -> tuple[dict[str, bytes], str]:
    data = b"whole content " * 50
    return {_sha(data): pack_object(data)[:-6]}, _sha(data)


@_damage("bytes that are not zlib")
def _not_zlib() -> tuple[dict[str, bytes], str]:
    return {_sha(b"x"): b"\x78not a zlib stream"}, _sha(b"x")


@then("unpacking {damage} raises IntegrityCheckError")
def step_unpack_damaged(context: Context, damage: str) -> None:
    stored, digest = _DAMAGES[damage]()
    try:
        _unpacked(stored, digest)
    except IntegrityCheckError:
        return
    raise AssertionError(f"unpacking {damage} did not fail")


# --- diffs --------------------------------------------------------------------------------

_PATHS = st.sampled_from(["a", "b.txt", "d/e", "d/f/g", "x y/ü"])
_DIFF_ENTRY = st.one_of(
    st.builds(
        lambda path, data, mode: DiffEntry(
            path=path, sha256=_sha(data), kind=FileKind.FILE, mode=mode
        ),
        _PATHS,
        st.binary(max_size=8),
        st.sampled_from([0o600, 0o644, 0o755, 0o4755]),
    ),
    st.builds(
        lambda path, data: DiffEntry(path=path, sha256=_sha(data), kind=FileKind.SYMLINK),
        _PATHS,
        st.binary(min_size=1, max_size=8),
    ),
    st.builds(
        lambda path: DiffEntry(path=path, sha256=EMPTY_TREE_SHA256, kind=FileKind.DIR), _PATHS
    ),
    st.builds(lambda path: DiffEntry(path=path, sha256=None), _PATHS),
    st.builds(lambda path: DiffEntry(path=path, sha256=None, kind=FileKind.DIR), _PATHS),
)


@then("encoding and decoding random diffs gives them back with the same diff hash")
def step_diff_round_trip(context: Context) -> None:
    @_QUICK
    @hypothesis_given(st.lists(_DIFF_ENTRY, max_size=8))
    def check(drawn: list[DiffEntry]) -> None:
        diff = list({entry.shown_path: entry for entry in drawn}.values())
        decoded = decode_diff("unit", encode_diff(diff))
        assert sorted(decoded, key=lambda e: e.shown_path) == sorted(
            diff, key=lambda e: e.shown_path
        )
        assert diff_hash(decoded) == diff_hash(diff)

    check()


@then("decoding bytes that are not a stored diff raises IntegrityCheckError")
def step_decode_garbage(context: Context) -> None:
    for garbage in (b"not zlib", zlib.compress(b"{not json"), zlib.compress(b'[["a"]]')):
        try:
            decode_diff("unit", garbage)
        except IntegrityCheckError:
            continue
        raise AssertionError(f"decoding {garbage!r} did not fail")


@then("the canonical form of a diff with a file, a symlink, an empty folder and a deletion is")
def step_canonical_bytes(context: Context) -> None:
    diff = [
        DiffEntry(path="link", sha256="2" * 64, kind=FileKind.SYMLINK),
        DiffEntry(path="empty", sha256=EMPTY_TREE_SHA256, kind=FileKind.DIR),
        DiffEntry(path="a.txt", sha256="1" * 64, kind=FileKind.FILE, mode=0o644),
        DiffEntry(path="d", sha256=None, kind=FileKind.DIR),
    ]
    assert diff_canonical_bytes(diff).decode() == context.text.strip()
    assert diff_hash(diff) == _sha(context.text.strip().encode())


@then("a diff read from a checkpoint made before kinds were recorded hashes as it did then")
def step_legacy_diff(context: Context) -> None:
    pairs = [["src/a.py", "3" * 64], ["old.txt", None]]
    stored = zlib.compress(json.dumps(pairs, separators=(",", ":")).encode())
    decoded = decode_diff("legacy", stored)
    legacy_form = json.dumps(sorted(pairs, key=lambda p: p[0]), separators=(",", ":"))
    assert diff_hash(decoded) == _sha(legacy_form.encode())
    assert all(entry.kind is None for entry in decoded)


# --- trees --------------------------------------------------------------------------------

_MANIFEST_PATHS = ["a", "b", "d/a", "d/b", "d/e/a", "d/e/f/g", "x/y", "z"]


def _by_hand(manifest: list[ManifestEntry]) -> str:
    """The root tree's hash, each folder encoded from its children (the documented rows)."""
    folders: dict[str, dict[str, list[Any]]] = {"": {}}
    for entry in manifest:
        parts = entry.path.split("/")
        for depth in range(len(parts) - 1):
            folders.setdefault("/".join(parts[: depth + 1]), {})
        folders.setdefault(entry.path, {}) if entry.kind is FileKind.DIR else None
    for entry in manifest:
        parent, _, name = entry.path.rpartition("/")
        if entry.kind is not FileKind.DIR:
            folders[parent][name] = [name, entry.kind.value, entry.sha256, entry.size, entry.mode]
    for folder in sorted(folders, key=lambda f: -f.count("/") if f else 1):
        digest = _sha(tree_bytes(folders[folder].values()))
        if folder:
            parent, _, name = folder.rpartition("/")
            folders[parent][name] = [name, TREE, digest, 0, False]
        else:
            return digest
    raise AssertionError("no root folder")


@then("the tree index of random manifests equals encoding every folder by hand")
def step_tree_index_by_hand(context: Context) -> None:
    @_QUICK
    @hypothesis_given(
        st.dictionaries(
            st.sampled_from(_MANIFEST_PATHS),
            st.tuples(st.binary(max_size=4), st.sampled_from([0o644, 0o755, -1])),
            max_size=6,
        )
    )
    def check(drawn: dict[str, tuple[bytes, int]]) -> None:
        paths = [p for p in sorted(drawn) if not any(q.startswith(f"{p}/") for q in drawn)]
        manifest = [
            ManifestEntry(path=p, kind=FileKind.DIR, sha256=EMPTY_TREE_SHA256, size=0, mode=0)
            if drawn[p][1] < 0
            else ManifestEntry(
                path=p, sha256=_sha(drawn[p][0]), size=len(drawn[p][0]), mode=drawn[p][1]
            )
            for p in paths
        ]
        index, trees = TreeIndex.of(manifest)
        assert index.root == _by_hand(manifest)
        assert all(_sha(data) == digest for digest, data in trees.items())

    check()


@then("a manifest listing a path twice, or an empty folder that holds a file, is refused")
def step_bad_manifests(context: Context) -> None:
    file = ManifestEntry(path="d/x", sha256=_sha(b"x"), size=1)
    folder = ManifestEntry(path="d", kind=FileKind.DIR, sha256=EMPTY_TREE_SHA256, size=0, mode=0)
    for manifest in ([file, file], [folder, file], [file, folder]):
        try:
            TreeIndex.of(manifest)
        except ValueError:
            continue
        raise AssertionError(f"{[e.path for e in manifest]} was accepted")


# --- error pattern terms ------------------------------------------------------------------

_TEXT = st.text(alphabet="abcXYZ_ .:'()/-09é", min_size=1, max_size=24)


@then("for random pattern texts inside random contexts, a text anchor is among the probes")
def step_terms_sound(context: Context) -> None:
    @_QUICK
    @hypothesis_given(_TEXT, _TEXT, _TEXT)
    def check(text: str, before: str, after: str) -> None:
        folded = fold(text)
        if not folded.strip() or folded != folded.strip():
            return  # a pattern text is stored stripped
        ErrorPattern(pattern=text)  # a text the model accepts
        terms = text_terms(folded)
        probes = context_probes(f"{before}{text}{after}", {kind for kind, _ in terms})
        assert any(term in probes.get(kind, []) for kind, term in terms), (terms, probes)
        assert all(kind is not TermKind.KEYWORD for kind, _ in terms)

    check()


# --- rollback marks -----------------------------------------------------------------------

_HISTORIES = {
    "no rollback, mark 5": (Marks(5, 0, 0), {}),
    "rolled back to mark 2 at 5, then mark 7": (
        Marks(7, 0, 1),
        {1: Rollback(Marks(2, 0, 0), 5, 0)},
    ),
    "as above, then back to mark 5 at 7, mark 9": (
        Marks(9, 0, 2),
        {1: Rollback(Marks(2, 0, 0), 5, 0), 2: Rollback(Marks(5, 0, 0), 7, 0)},
    ),
}


@then("the live ranges of these histories are")
def step_live_ranges(context: Context) -> None:
    assert context.table is not None
    for row in context.table:
        marks, rollbacks = _HISTORIES[row["history"]]
        entries, _ = live_ranges(marks, rollbacks)
        live = [seq for seq in range(1, 12) if is_live(seq, entries)]
        assert live == [int(n) for n in row["entries live"].split(",")], (row["history"], live)


# --- apply simulation ---------------------------------------------------------------------


def _entry(
    operation: str, path: str, before: bytes | None, after: bytes | None, **more: Any
) -> ChangeEntry:
    return ChangeEntry(
        changeset_id="cs",
        plan_id="plan",
        path=path,
        operation=ChangeOperation(operation),
        before_hash=None if before is None else _sha(before),
        after_hash=None if after is None else _sha(after),
        **more,
    )


@then("simulating create, modify, rename and delete entries gives each path's net change")
def step_simulate(context: Context) -> None:
    simulation = simulate(
        [
            _entry("create", "new.txt", None, b"1"),
            _entry("modify", "new.txt", b"1", b"2"),
            _entry("rename", "b.txt", b"a", b"a", old_path="a.txt"),
            _entry("create", "tmp", None, b"t"),
            _entry("delete", "tmp", b"t", None),
        ]
    )
    net = {p: (c.original, c.final.sha256) for p, c in simulation.changes.items()}
    assert net == {
        "new.txt": (None, _sha(b"2")),
        "a.txt": (_sha(b"a"), None),
        "b.txt": (None, _sha(b"a")),
        "tmp": (None, None),
    }, net
    assert simulation.renamed == [("a.txt", "b.txt")]


@then("an entry that expects what the plan's earlier entries did not leave is refused")
def step_simulate_contradiction(context: Context) -> None:
    try:
        simulate([_entry("create", "f", None, b"1"), _entry("modify", "f", b"0", b"2")])
    except ApplyError as exc:
        assert "f" in str(exc) and "expects" in str(exc), str(exc)
        return
    raise AssertionError("a contradicting plan was accepted")


# --- redaction ----------------------------------------------------------------------------

_JSON = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["password", "apiKey", "user", "token_count", "client_secret", "x"]),
            children,
            max_size=3,
        ),
    ),
    max_leaves=10,
)


@then("redacting random nested data never leaves a value under a secret key")
def step_redaction(context: Context) -> None:
    redactor = DEFAULT_REDACTOR

    def walk(original: Any, redacted: Any) -> None:
        if isinstance(original, dict):
            assert isinstance(redacted, dict) and redacted.keys() == original.keys()
            for key, value in original.items():
                if redactor.is_secret_key(key) and value is not None:
                    assert redacted[key] == REDACTED, (key, redacted[key])
                else:
                    walk(value, redacted[key])
        elif isinstance(original, list):
            assert isinstance(redacted, list) and len(redacted) == len(original)
            for one, two in zip(original, redacted, strict=True):
                walk(one, two)
        elif not isinstance(original, str):
            assert redacted == original

    @_QUICK
    @hypothesis_given(_JSON)
    def check(data: Any) -> None:
        walk(data, redactor.value(data))
        assert not redactor.is_secret_key("token_count") and redactor.is_secret_key("apiKey")

    check()
