"""Reading what a child process wrote to a pseudo-terminal."""

from __future__ import annotations

import os
import select


def read_terminal(leader: int, timeout: float = 60) -> bytes:
    """Everything written to the terminal whose leader end is ``leader``, until it closes.

    Closes ``leader``. Stops early when nothing comes for ``timeout`` seconds.
    """
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks)
