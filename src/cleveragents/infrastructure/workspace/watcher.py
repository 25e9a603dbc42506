"""Change notification for a sandbox tree (Linux inotify), so a snapshot stats only what changed.

This is git's ``core.fsmonitor`` idea. A :class:`TreeWatcher` watches every folder
of a tree. It is armed by a full walk: the walk adds each folder's watch *before*
listing the folder, so every change after the walk saw a file is reported.
:meth:`TreeWatcher.drain` then tells the next snapshot which paths to look at
again. Whenever it cannot vouch for the tree, it says so (``None``), and the
caller walks everything again:

- the kernel's event queue overflowed, or a watch could not be added (the
  ``max_user_watches`` limit);
- a folder of the tree was moved or renamed (its watches would name old paths);
- the root folder itself was deleted, moved or unmounted, or is another folder now.

What inotify cannot see, and how that is covered:

- writes through a hard link outside the tree: files with more than one link are
  stat'ed again at every snapshot (the caller keeps them in ``Scan.linked``);
- network and FUSE file systems, whose remote writers the kernel never sees: no
  watcher is made there (:func:`watchable`);
- writes through a shared ``mmap`` are not reported by the kernel at all: turn
  watching off (``CheckpointService(watch=False)``) for tools that write that way.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from typing import Final

from cleveragents._logging import get_logger
from cleveragents.domain.workspace import NEW_PREFIX, OWN_PREFIXES, Changes

__all__ = ["Changes", "TreeWatcher", "watchable"]

_log = get_logger(__name__)

IN_MODIFY: Final = 0x00000002
IN_ATTRIB: Final = 0x00000004
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
IN_UNMOUNT: Final = 0x00002000
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000
IN_EXCL_UNLINK: Final = 0x04000000
IN_ISDIR: Final = 0x40000000
_IN_NONBLOCK: Final = os.O_NONBLOCK
_IN_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)

_WATCH_MASK: Final = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
)
_EVENT: Final = struct.Struct("iIII")  # wd, mask, cookie, length of the name
_READ_SIZE: Final = 1 << 16

# statfs f_type of file systems whose writers may be on another machine or in
# user space, out of the kernel's sight: NFS, SMB/CIFS, FUSE, 9p, Ceph, AFS.
_REMOTE_FILE_SYSTEMS: Final = frozenset(
    {0x6969, 0xFF534D42, 0xFE534D42, 0x517B, 0x65735546, 0x01021997, 0x00C36400, 0x5346414F}
)


class _Inotify:
    """The three libc calls, looked up once."""

    def __init__(self) -> None:
        # The process's own symbols: libc is loaded already (no ldconfig lookup).
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.statfs = libc.statfs
        self.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        self.statfs.restype = ctypes.c_int


_libc: _Inotify | None = None


def _inotify() -> _Inotify | None:
    global _libc  # looked up once per process
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = _Inotify()
        except (OSError, AttributeError):  # no libc with inotify: walk every time
            return None
    return _libc


def watchable(root: str) -> bool:
    """True when inotify on ``root`` sees every write: Linux, and a local file system."""
    calls = _inotify()
    if calls is None:
        return False
    buffer = ctypes.create_string_buffer(256)  # struct statfs; f_type comes first
    if calls.statfs(os.fsencode(root), buffer) != 0:
        return False
    kind = ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF
    return kind not in _REMOTE_FILE_SYSTEMS


class TreeWatcher:
    """inotify watches on every folder of one tree; see the module docstring."""

    def __init__(self, root: str) -> None:
        self._fd = -1
        calls = _inotify()
        if calls is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        fd = calls.init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._calls = calls
        self._fd = fd
        self.root = root
        info = os.stat(root)
        self._root_id = (info.st_dev, info.st_ino)
        self._folders: dict[int, str] = {}  # watch descriptor -> "" or "dir/sub/"
        self._broken = False
        self._pending = Changes()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd < 0

    def close(self) -> None:
        """Release the inotify instance (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def watch(self, prefix: str, folder: str) -> None:
        """Watch ``folder`` (``prefix`` is its tree-relative path with a trailing ``/``)."""
        if self._broken or self._fd < 0:
            return
        wd = self._calls.add_watch(self._fd, os.fsencode(folder), _WATCH_MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):
                return  # gone or replaced already: its parent's events report that
            _log.warning("snapshot.watch_failed", folder=folder, reason=os.strerror(code))
            self._broken = True
            return
        self._folders[wd] = prefix

    def drain(self) -> Changes | None:
        """The paths changed since the last drain, or None when they cannot be trusted."""
        changes = self.peek()
        if changes is not None:
            self._pending = Changes()
        return changes

    def peek(self) -> Changes | None:
        """What :meth:`drain` would return, without forgetting it (a copy)."""
        if self._fd < 0:
            return None
        while not self._broken:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            self._parse(data)
        if self._broken or not self._same_root():
            return None
        return Changes(set(self._pending.files), set(self._pending.folders))

    def _same_root(self) -> bool:
        info = os.stat(self.root)  # gone: the snapshot fails as it would without a watcher
        return (info.st_dev, info.st_ino) == self._root_id

    def _parse(self, data: bytes) -> None:
        offset = 0
        pending = self._pending
        folders = self._folders
        while offset < len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                self._give_up("event queue overflow")
                return
            prefix = folders.get(wd)
            if prefix is None:
                continue  # a watch removed earlier in this read
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED):
                if mask & IN_MOVE_SELF or (mask & IN_UNMOUNT) or prefix == "":
                    self._give_up("a watched folder moved or the root went away")
                    return
                del folders[wd]  # deleted: its parent reports the path as deleted
                continue
            name = os.fsdecode(raw)
            if name.startswith(NEW_PREFIX) or (not prefix and name.startswith(OWN_PREFIXES)):
                continue  # a staging folder or staged file of ours: never workspace content
            path = f"{prefix}{name}"
            if mask & IN_ISDIR:
                if mask & IN_MOVED_FROM:
                    self._give_up("a folder moved")
                    return
                if mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE):
                    pending.folders.add(path)
                continue  # a folder's own mtime or mode: folders are not tracked
            pending.files.add(path)

    def _give_up(self, reason: str) -> None:
        _log.info("snapshot.watch_reset", root=self.root, reason=reason)
        self._broken = True
