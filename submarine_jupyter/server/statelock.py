"""One server per database: an exclusive lock held for as long as the server runs.

Two servers on the same database would both supervise (and restart, and stop) the same
replicas. The lock is an ``flock`` on a file beside the database, so the kernel lets it
go when the process ends, however it ends (``kill -9`` too): there is never a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateInUse(Exception):
    """Another live process holds the lock."""


class StateLock:
    """The lock on ``database`` (the file ``<database>.lock``)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``StateInUse`` naming the process that has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateInUse(
                f"another Jupyter server (pid {holder}) is already running the experiments of {self.path.parent}; "
                "two servers would both supervise the same replicas. Stop that server, or give this one its own "
                "state with --SubmarineJupyter.state_dir=<folder>"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
