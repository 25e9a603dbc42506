"""Verifying a stored checkpoint against its hashes, trusting no stored summary."""

from __future__ import annotations

import hashlib

from cleveragents._logging import get_logger
from cleveragents.domain.errors import IntegrityCheckError
from cleveragents.domain.models.core.checkpoint import (
    DIFF_HASH,
    DIFF_PATHS,
    Checkpoint,
    CheckpointStore,
    diff_hash,
)
from cleveragents.domain.progress import Progress, Stage

_log = get_logger(__name__)


def verify(
    repository: CheckpointStore, checkpoint: Checkpoint, *, progress: Progress | None = None
) -> bool:
    """Re-read and re-hash every object ``checkpoint`` needs, and recompute its diff hash.

    False on any mismatch, missing object or undecodable data (the reason is logged).
    ``progress`` hears the ``verify`` stage (the objects re-hashed); a damaged
    checkpoint ends it early.
    """
    checkpoint_id = checkpoint.checkpoint_id
    if not _content_intact(repository, checkpoint_id, progress):
        return False
    extra = checkpoint.metadata.extra
    if DIFF_HASH not in extra:
        return True
    try:
        diff = repository.diff(checkpoint_id)
    except IntegrityCheckError as exc:
        _log.warning("checkpoint.corrupt", checkpoint_id=checkpoint_id, reason=str(exc))
        return False
    return extra[DIFF_HASH] == diff_hash(diff) and extra.get(DIFF_PATHS) == [
        entry.shown_path for entry in diff
    ]


def _content_intact(
    repository: CheckpointStore, checkpoint_id: str, progress: Progress | None
) -> bool:
    """Every stored object of the checkpoint's content is there and matches its hash.

    Its own function so that the hashes are let go before the diff is read.
    """
    try:
        wanted = repository.content_hashes(checkpoint_id) or set()
        checked = Stage(progress, "verify", len(wanted))
        seen = 0
        for digest, pieces in repository.read_pieces(wanted):
            hashed = hashlib.sha256()
            for piece in pieces:  # a large file's chunks one at a time
                hashed.update(piece)
            if hashed.hexdigest() != digest:
                _log.warning("checkpoint.corrupt_blob", checkpoint_id=checkpoint_id, blob=digest)
                return False
            seen += 1  # each stored hash comes once
            checked.advance()
        if seen != len(wanted):
            _log.warning("checkpoint.missing_blobs", checkpoint_id=checkpoint_id)
            return False
        checked.finish()
    except IntegrityCheckError as exc:
        _log.warning("checkpoint.corrupt", checkpoint_id=checkpoint_id, reason=str(exc))
        return False
    return True
