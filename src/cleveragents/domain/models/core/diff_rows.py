"""A diff's canonical bytes (:func:`.checkpoint.diff_canonical_bytes`) read a row at a time.

A first snapshot's diff lists every file of the sandbox: checking it against its
hash and its ``diff_paths`` must not build an entry per path, nor hold its text
whole. The bytes come in pieces (as a store decompresses them) and each row is
parsed once it is complete.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

_ROW = json.JSONDecoder()


def canonical_rows(pieces: Iterable[bytes]) -> Iterator[list[Any]]:
    """The rows of canonical diff bytes given in ``pieces``, in their order.

    ``ValueError`` when the bytes are not a compact JSON list of lists (whatever
    the pieces' boundaries); rows before the damage are yielded first.
    """
    text = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    state = "start"  # then "first" (a row or "]"), "next" ("," or "]"), "end"
    final = False
    source = iter(pieces)
    while not final:
        piece = next(source, None)
        final = piece is None
        buffer += text.decode(piece or b"", final=final)
        at = 0
        while at < len(buffer):
            if state == "end":
                raise ValueError("the diff's bytes go on after its last row")
            if state == "start":
                if buffer[at] != "[":
                    raise ValueError("the diff's bytes are not a JSON list")
                at, state = at + 1, "first"
                continue
            if buffer[at] == "]":
                at, state = at + 1, "end"
                continue
            start = at
            if state == "next":
                if buffer[at] != ",":
                    raise ValueError("the diff's rows are not separated by commas")
                start = at + 1
            if start < len(buffer) and buffer[start] != "[":
                raise ValueError("a row of the diff is not a JSON list")
            try:
                row, end = _ROW.raw_decode(buffer, start)
            except json.JSONDecodeError:
                if final:
                    raise ValueError("the diff's last row is cut short") from None
                break  # the row goes on in the next piece
            yield row
            at, state = end, "next"
        buffer = buffer[at:]
    if state != "end":
        raise ValueError("the diff's bytes end before the list does")
