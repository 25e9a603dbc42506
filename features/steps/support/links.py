"""Symlink targets as bytes, exactly as the kernel keeps them.

Not ``Path.readlink``/``Path.symlink_to``: pathlib normalises a target (a trailing
``/`` or a leading ``./`` is dropped), and the scenarios compare targets byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path


def read_link(path: Path) -> bytes:
    """The target of the symlink ``path``, byte for byte (``os.readlink`` of bytes)."""
    return os.readlink(os.fsencode(path))


def make_link(target: str | bytes, path: Path) -> None:
    """Create the symlink ``path`` pointing at ``target``, unchanged."""
    os.symlink(os.fsencode(target), os.fsencode(path))
