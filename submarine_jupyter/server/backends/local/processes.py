"""Replica processes: spawn in their own session, watch, stop the whole group.

Each replica runs ``sh -c <cmd>`` under a tiny ``sh`` wrapper that writes the exit
code next to the log, so a server that restarts can still learn how a replica it
did not see end, ended. Processes live in their own session (process group), so
they survive the Jupyter server and are stopped as a group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = 'sh -c "$1"; code=$?; printf "%s" "$code" > "$2.tmp" && mv "$2.tmp" "$2"; exit "$code"'
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ProcessId:
    """A pid plus its start time, so a reused pid is never mistaken for our replica."""

    pid: int
    start_ticks: int | None


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def is_alive(ident: ProcessId) -> bool:
    """True while the replica's wrapper runs (a zombie or a reused pid counts as gone)."""
    try:
        stat = Path(f"/proc/{ident.pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return ident.start_ticks is None or int(fields[19]) == ident.start_ticks


def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process is in the group."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def read_exit_code(exit_path: Path) -> int | None:
    try:
        return int(exit_path.read_text().strip())
    except (OSError, ValueError):
        return None


async def spawn(
    cmd: str, *, env: dict[str, str], cwd: Path, log_path: Path, exit_path: Path
) -> asyncio.subprocess.Process:
    """Start one replica with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exit_path.unlink(missing_ok=True)
    with open(log_path, "ab") as log:
        return await asyncio.create_subprocess_exec(
            "sh", "-c", _WRAPPER, "submarine-replica", cmd, str(exit_path),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )


def exit_code_of(returncode: int, exit_path: Path) -> int:
    """The command's exit code: the wrapper's file, else ``128 + signal`` as a shell reports it."""
    recorded = read_exit_code(exit_path)
    if recorded is not None:
        return recorded
    return 128 - returncode if returncode < 0 else returncode


async def wait_gone(ident: ProcessId) -> None:
    """Wait until a process that is not our child has ended."""
    while is_alive(ident):
        await asyncio.sleep(POLL_SECONDS)


async def stop_group(pgid: int, grace_period: float) -> None:
    """SIGTERM the replica's process group, SIGKILL what is left after the grace period."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_period
    while group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        while group_alive(pgid):
            await asyncio.sleep(0.05)
