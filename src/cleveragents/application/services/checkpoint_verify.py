"""Verifying a stored checkpoint against its hashes, trusting no stored summary."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

from cleveragents._logging import get_logger
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    DIFF_HASH,
    DIFF_PATHS,
    Checkpoint,
)
from cleveragents.domain.models.core.checkpoint_store import CheckpointStore
from cleveragents.domain.models.core.diff_rows import canonical_rows
from cleveragents.domain.packed_hashes import DIGEST_BYTES, hash_windows, packed_hashes
from cleveragents.domain.progress import Progress, Stage

_log = get_logger(__name__)


def verify(
    repository: CheckpointStore,
    checkpoint_id: str,
    header: Callable[[], Checkpoint],
    *,
    progress: Progress | None = None,
) -> bool:
    """Re-read and re-hash every object the checkpoint needs, and recompute its diff hash.

    ``header`` reads the checkpoint, once its content is checked. False on any
    mismatch, missing object or undecodable data (the reason is logged).
    ``progress`` hears the ``verify`` stage (the objects re-hashed); a damaged
    checkpoint ends it early.
    """
    if not _content_intact(repository, checkpoint_id, progress):
        return False
    extra = header().metadata.extra
    if DIFF_HASH not in extra:
        return True
    try:
        return _diff_intact(repository, checkpoint_id, extra[DIFF_HASH], extra.get(DIFF_PATHS))
    except (IntegrityCheckError, ValueError) as exc:
        _log.warning("checkpoint.corrupt", checkpoint_id=checkpoint_id, reason=str(exc))
        return False


def _diff_intact(
    repository: CheckpointStore, checkpoint_id: str, recorded: object, paths: object
) -> bool:
    """The stored diff's canonical bytes hash to ``recorded`` and list ``paths``, in order.

    The bytes are hashed as they are stored (the diff hash was taken of those very
    bytes), a piece at a time, and only each row's path is looked at: no entry is
    built per path (``ValueError`` for bytes that are not canonical rows).
    """
    hashed = hashlib.sha256()

    def hashing(pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            hashed.update(piece)
            yield piece

    listed: list[object] = paths if isinstance(paths, list) else []
    same = isinstance(paths, list)
    count = 0
    for row in canonical_rows(hashing(repository.canonical_diff(checkpoint_id))):
        shown = row[0] if row else None
        same = same and count < len(listed) and listed[count] == shown
        count += 1
    return same and count == len(listed) and hashed.hexdigest() == recorded


def _content_intact(
    repository: CheckpointStore, checkpoint_id: str, progress: Progress | None
) -> bool:
    """Every stored object of the checkpoint's content is there and matches its hash.

    Its own function so that the hashes are let go before the diff is read.
    """
    try:
        # Held as 32 bytes each while the content is read (a hash string takes 113),
        # and read a window of them at a time: the set goes before the reads.
        wanted = packed_hashes(repository.content_hashes(checkpoint_id) or ())
        checked = Stage(progress, "verify", len(wanted) // DIGEST_BYTES)
        for window in hash_windows(wanted):
            seen = 0
            for digest, pieces in repository.read_pieces(window):
                hashed = hashlib.sha256()
                for piece in pieces:  # a large file's chunks one at a time
                    hashed.update(piece)
                    del piece  # let go before the next piece or batch is read
                del pieces
                if hashed.hexdigest() != digest:
                    _log.warning(
                        "checkpoint.corrupt_blob", checkpoint_id=checkpoint_id, blob=digest
                    )
                    return False
                seen += 1  # each stored hash comes once
                checked.advance()
            if seen != len(window):
                _log.warning("checkpoint.missing_blobs", checkpoint_id=checkpoint_id)
                return False
        checked.finish()
    except IntegrityCheckError as exc:
        _log.warning("checkpoint.corrupt", checkpoint_id=checkpoint_id, reason=str(exc))
        return False
    return True
