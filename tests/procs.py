"""Finding a test's processes by a marker in their environment."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def new_marker() -> str:
    return f"marker-{uuid.uuid4().hex}"


def pids_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``SUBMARINE_TEST_MARKER=<marker>``."""
    needle = f"SUBMARINE_TEST_MARKER={marker}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def groups_with(marker: str) -> set[int]:
    """The process groups (one per replica) of the processes carrying ``marker``."""
    groups = set()
    for pid in pids_with(marker):
        try:
            groups.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2]))
        except OSError:
            continue
    return groups
