"""Replica processes: spawn in their own session, watch, stop the whole group.

Each replica runs ``sh -c <cmd>`` under a tiny ``sh`` wrapper that writes the exit
code next to the log, so a server that restarts can still learn how a replica it
did not see end, ended. The file is read only once the wrapper is gone, so it is written
in place: a wrapper killed while writing it leaves the code unknown, as with no file.
Processes live in their own session (process group), so they survive the Jupyter server
and are stopped as a group.

With a log limit, the replica's output goes through ``head`` (unbuffered) and ``tail`` on
its way to the log: the log's first bytes up to the limit are kept, then a marker line,
then (when the replica ends) its last ``tail_bytes``; what lies between is dropped, so a
replica printing without end never fills the disk. Both ignore SIGTERM, so a stopped
replica's last bytes are still written.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = 'sh -c "$1"; code=$?; printf "%s" "$code" > "$2"; exit "$code"'
#: Arguments after the command and exit file: log, bytes ``head`` may write, the log size
#: past which output is dropped, bytes kept at the end. The command's exit code is written
#: before the log's end is, and read back once it is, to be the wrapper's too.
_LIMITED_WRAPPER = (
    '{ sh -c "$1"; printf "%s" "$?" > "$2"; } 2>&1 | '
    '{ trap "" TERM; stdbuf -o0 head -c "$4"; if [ "$(wc -c < "$3")" -ge "$5" ]; then '
    "printf '\\n[submarine-jupyter: output dropped here: the log reached %s bytes, its limit; the last %s bytes "
    "of the output follow when the replica ends]\\n' \"$5\" \"$6\"; tail -c \"$6\"; fi; }; "
    'read -r code < "$2"; exit "$code"'
)
#: At most this much of a limited log's end is kept (a quarter of the limit if that is less).
TAIL_BYTES = 64 << 10
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


def _live_groups() -> frozenset[int]:
    """Every process group with a live (non-zombie) process, from one read of /proc."""
    groups = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                stat = os.read(fd, 1024)
            finally:
                os.close(fd)
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] not in (b"Z", b"X"):
            groups.add(int(fields[2]))
    return frozenset(groups)


class _ProcessTable:
    """The live process groups, read from /proc in a worker thread once for every waiter at
    a time: a hundred replicas stopped at once cost one read per round, not a hundred.
    (Zombies count as gone; where no init reaps orphans, a group keeps its zombies.)"""

    def __init__(self) -> None:
        self._read_at = -math.inf
        self._live: frozenset[int] = frozenset()
        self._reading: asyncio.Future[None] | None = None

    async def live_groups(self, since: float) -> frozenset[int]:
        """The groups as read at or after ``since`` (a ``time.monotonic()``)."""
        while self._read_at < since:
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read())
            await asyncio.shield(self._reading)
        return self._live

    async def _read(self) -> None:
        started = time.monotonic()
        try:
            self._live = await asyncio.to_thread(_live_groups)
            self._read_at = started
        finally:
            self._reading = None


_TABLE = _ProcessTable()


async def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process is in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False  # the usual answer once a group has ended: no need to read /proc
    except PermissionError:
        pass
    return pgid in await _TABLE.live_groups(since=time.monotonic())


def read_exit_code(exit_path: Path) -> int | None:
    try:
        return int(exit_path.read_text().strip())
    except (OSError, ValueError):
        return None


async def spawn(
    cmd: str, *, env: dict[str, str], cwd: Path, log_path: Path, exit_path: Path, log_limit: int | None = None
) -> asyncio.subprocess.Process:
    """Start one replica with stdout and stderr appended to ``log_path``, which grows to
    about ``log_limit`` bytes at most (see the module's docstring)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exit_path.unlink(missing_ok=True)
    with open(log_path, "ab") as log:
        args = [cmd, str(exit_path)]
        if log_limit is not None:
            keep = min(TAIL_BYTES, log_limit // 4)
            head = max(0, log_limit - keep - os.fstat(log.fileno()).st_size)
            args += [str(log_path), str(head), str(log_limit - keep), str(keep)]
        return await asyncio.create_subprocess_exec(
            "sh", "-c", _WRAPPER if log_limit is None else _LIMITED_WRAPPER, "submarine-replica", *args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )


def exit_code_of(returncode: int, exit_path: Path) -> int:
    """The command's exit code: the wrapper's file, else ``128 + signal`` as a shell reports it."""
    recorded = read_exit_code(exit_path)
    if recorded is not None:
        return recorded
    return 128 - returncode if returncode < 0 else returncode


def describe_exit(code: int) -> str:
    """How a replica ended, as a sentence's end: a shell reports a command killed by signal N
    as exit code 128 + N, so that code names the signal."""
    if code > 128:
        try:
            return f"was killed by {signal.Signals(code - 128).name} (exit code {code})"
        except ValueError:
            pass
    return f"failed with exit code {code}"


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
    while await group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if await group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        while await group_alive(pgid):
            await asyncio.sleep(0.05)
