"""Linux inotify through ctypes, and a watch on folders that wakes an asyncio waiter when a
file in them is created, written, closed after writing, moved in or removed."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

IN_ACCESS, IN_MODIFY, IN_CLOSE_WRITE, IN_OPEN = 0x1, 0x2, 0x8, 0x20
IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x80, 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_ONLYDIR, IN_MASK_ADD = 0x8000, 0x01000000, 0x20000000
#: What wakes a follower in a log's folder (the events of the files in it included): what
#: changes a file's content or the folder's entries; not a close, which changes neither.
CHANGES = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
#: What wakes it in the nearest existing folder above one that does not exist yet (added to
#: whatever that folder is watched for already).
APPEARS = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_MASK_ADD
_EVENT = struct.Struct("iIII")


class Event(NamedTuple):
    """One inotify event: the watch it came from, what happened, and to which file in the folder."""

    wd: int
    mask: int
    name: str


def _load() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


_libc = _load()


def inotify_open() -> int:
    """A new non-blocking, close-on-exec inotify descriptor (``OSError`` where there is none)."""
    if _libc is None:
        raise OSError(errno.ENOSYS, "inotify is not available")
    fd = int(_libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    return fd


def add_watch(fd: int, path: Path, mask: int) -> int:
    """Watch ``path`` for the events in ``mask``; its watch descriptor."""
    assert _libc is not None  # a descriptor exists only where inotify does
    wd = int(_libc.inotify_add_watch(fd, os.fsencode(path), mask))
    if wd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(path))
    return wd


def read_events(fd: int) -> list[Event]:
    """Every event queued on a non-blocking inotify descriptor, oldest first."""
    found: list[Event] = []
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return found
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
            found.append(Event(wd, mask, os.fsdecode(name)))
            offset += _EVENT.size + length


class FolderWatch:
    """Wakes :meth:`changed` when a file whose name ends with ``suffix`` changes in the
    watched folders, or a folder itself does: one inotify descriptor, read by the running
    event loop. A folder that does not exist yet is waited for through its nearest existing
    ancestor. :meth:`close` releases the descriptor."""

    def __init__(self, suffix: str = "") -> None:
        self._suffix = suffix
        self._fd = inotify_open()
        self._watched: dict[int, Path] = {}  # watch descriptor -> folder
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._read)

    @classmethod
    def open(cls, suffix: str = "") -> FolderWatch | None:
        """A watch, or ``None`` where inotify is unavailable (not Linux, or its limits reached)."""
        try:
            return cls(suffix)
        except OSError:
            return None

    def cover(self, folders: Iterable[Path]) -> bool:
        """Watch each of ``folders`` not watched yet; whether any may have changed unseen (it
        is newly watched, or appeared while its ancestor was being watched): look again."""
        fresh = False
        for folder in set(folders) - set(self._watched.values()):
            try:
                self._watched[add_watch(self._fd, folder, CHANGES | IN_ONLYDIR)] = folder
                fresh = True
            except (FileNotFoundError, NotADirectoryError):
                fresh = self._await_creation(folder) or fresh
        return fresh

    def _await_creation(self, folder: Path) -> bool:
        """Watch the nearest existing ancestor of ``folder``; whether the next folder down appeared meanwhile."""
        for above in folder.parents:
            try:
                add_watch(self._fd, above, APPEARS)
            except (FileNotFoundError, NotADirectoryError):
                continue
            return (above / folder.relative_to(above).parts[0]).exists()
        return False

    async def changed(self) -> None:
        """Until anything changed since the last call."""
        await self._changed.wait()
        self._changed.clear()

    def _read(self) -> None:
        for event in read_events(self._fd):
            if event.mask & IN_IGNORED:  # the folder went: watch it again if it comes back
                self._watched.pop(event.wd, None)
            if event.wd not in self._watched or not event.name or event.name.endswith(self._suffix):
                self._changed.set()  # an ancestor's, the folder's own, or a file that counts

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
