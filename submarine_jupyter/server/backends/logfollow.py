"""Following replica log files: new complete lines as they are written, by byte offsets.

Each round reads what every log gained (at most ``FOLLOW_CHUNK`` bytes of each) in a
worker thread, so the event loop never waits on a disk. While output keeps coming, rounds
are ``GATHER_SECONDS`` apart; once the logs are quiet, inotify on their folders says when to
look again (where there is no inotify, follow polls), and the experiment's end wakes it at
once: it reads what is left and stops (``follow_rounds``). A position is the byte offset
where the next unread line begins (plus ``skip`` inside a line too long to keep), so a
reader that stops can resume exactly there; ``read_from`` reads from one with nothing kept
between calls, for a reader in another process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .base import LogChunk, LogPosition
from .filewatch import FolderWatch
from .logfiles import tail_offset

FOLLOW_CHUNK = 1 << 20
#: What a replica's log is named with: nothing else in its folder (its exit code) wakes a follower.
LOG_SUFFIX = ".log"
#: Without inotify, follow polls quickly right after new output and backs off while a log is quiet.
POLL_MIN_SECONDS = 0.01
POLL_MAX_SECONDS = 0.2
#: While output keeps coming, a round waits this long after one that read something (none
#: when a log had more than ``FOLLOW_CHUNK`` to read), so a busy log is read in large pieces
#: rather than a few lines per round; a line after a quiet spell is read at once.
GATHER_SECONDS = 0.01
#: Where a replica's reading starts: (its name, its log) -> its first position.
Start = Callable[[str, Path], LogPosition]
T = TypeVar("T")
#: One look at the logs (their paths; whether the experiment has ended): what it found
#: (``None`` or empty: nothing), whether any log grew, whether any has more to read already.
Look = Callable[[dict[str, Path], bool], Awaitable[tuple[T | None, bool, bool]]]


@dataclass
class _Log:
    """One replica's log being read: bytes read so far, and the line they end inside."""

    path: Path
    offset: int
    partial: bytes = b""
    skipping: bool = False  # inside a line longer than the limit: dropped up to its newline
    behind: bool = False  # the last read stopped at ``FOLLOW_CHUNK``: more was there

    def position(self) -> LogPosition:
        if self.skipping:
            return {"offset": self.offset, "skip": True}
        return {"offset": self.offset - len(self.partial)}

    def read(self, max_line: int | None, size: int = FOLLOW_CHUNK) -> list[str] | None:
        """The complete lines the file gained (at most ``size`` bytes read), over-long ones
        left out; ``None`` if it gained nothing."""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(size)
        self.behind = len(data) == size
        if not data:
            return None
        self.offset += len(data)
        buffer = self.partial + data
        start, end = 0, buffer.rfind(b"\n")  # the complete lines: buffer[start:end]
        if self.skipping:
            if end < 0:
                return []
            start, self.skipping = buffer.index(b"\n") + 1, False
        self.partial = buffer[end + 1:]
        if max_line is not None and len(self.partial) > max_line:
            self.partial, self.skipping = b"", True
        if end < start:
            return []
        if max_line is not None and end - start > max_line:
            complete = buffer[start:end].split(b"\n")
            if max(map(len, complete)) > max_line:
                return [line.decode("utf-8", "replace") for line in complete if len(line) <= max_line]
        return str(memoryview(buffer)[start:end], "utf-8", "replace").split("\n")  # "\n" is never inside a character

    def take_rest(self) -> list[str]:
        """The last line, which has no newline (once the log no longer grows), as read so far."""
        if not self.partial or self.behind:
            return []
        rest, self.partial = self.partial.decode("utf-8", "replace"), b""
        return [rest]


def _round(logs: dict[str, _Log], paths: dict[str, Path], start: Start, max_line: int | None,
           final: bool) -> tuple[list[LogChunk], bool, bool]:
    """One look at every log (in a worker thread): the lines each gained (with ``final``, a
    last line without a newline too), whether any grew, and whether any has more to read already."""
    chunks = []
    grew = behind = False
    for name, path in paths.items():
        log = logs.get(name)
        if log is None:
            if not path.exists():
                continue
            first = start(name, path)
            log = logs[name] = _Log(path, int(first.get("offset", 0)), skipping=bool(first.get("skip")))
        lines = log.read(max_line)
        grew = grew or lines is not None
        behind = behind or log.behind
        lines = (lines or []) + (log.take_rest() if final else [])
        if lines:
            chunks.append(LogChunk(name, lines, log.position()))
    return chunks, grew, behind


def read_from(path: Path, position: LogPosition, max_line: int,
              final: bool) -> tuple[list[str], LogPosition, int, bool] | None:
    """What a log holds after ``position``, read afresh (nothing kept between calls): its
    complete lines (with ``final``, a last one without a newline too), the position after
    them, the offset read to, and whether more was there; ``None`` while the log does not
    exist. It reads ``FOLLOW_CHUNK``, or more where a kept line may be longer: a read that
    ends inside such a line would never get past it, as nothing is kept for the next."""
    log = _Log(path, int(position.get("offset", 0)), skipping=bool(position.get("skip")))
    try:
        lines = log.read(max_line, max(FOLLOW_CHUNK, max_line + 1)) or []
    except FileNotFoundError:
        return None
    return lines + (log.take_rest() if final else []), log.position(), log.offset, log.behind


def ended() -> asyncio.Event:
    """The end of logs that no longer grow (an ended experiment's): already set."""
    event = asyncio.Event()
    event.set()
    return event


async def _until(finished: asyncio.Event, wake: Coroutine[Any, Any, object]) -> None:
    """Until ``wake`` is done or ``finished`` is set, whichever comes first."""
    if finished.is_set():
        wake.close()
        return
    waits = [asyncio.ensure_future(wake), asyncio.ensure_future(finished.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class _Wakeup:
    """When a follower looks at its logs again: on an inotify notice where there is one, else
    by polling with a backoff; at once when the experiment ends. The inotify descriptor is
    open only while the logs are quiet: while output keeps coming, each write would wake the
    event loop for nothing."""

    def __init__(self) -> None:
        self.watch: FolderWatch | None = None
        self.inotify = True  # until opening or using a watch fails: then poll
        self.pause = POLL_MIN_SECONDS

    def output(self) -> None:
        """The logs grew: look again soon, with no notices until they are quiet."""
        self.pause = POLL_MIN_SECONDS
        self.close()

    async def wait(self, folders: set[Path], finished: asyncio.Event) -> None:
        """Until the logs in ``folders`` may have changed, or ``finished`` is set."""
        if self.inotify:
            self.watch = self.watch or FolderWatch.open(LOG_SUFFIX)
            try:
                if self.watch is not None and self.watch.cover(folders):
                    return  # newly watched: the next round reads what came before the watch
            except OSError:  # out of inotify watches
                self.close()
            if self.watch is None:
                self.inotify = False
        if self.watch is None:
            await _until(finished, asyncio.sleep(self.pause))
            self.pause = min(self.pause * 2, POLL_MAX_SECONDS)
            return
        await _until(finished, self.watch.changed())

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None


async def follow_rounds(
    paths: Callable[[], dict[str, Path]], finished: asyncio.Event, look: Look[T],
) -> AsyncGenerator[T, None]:
    """What ``look`` finds in the logs, round after round, as they are written.

    ``paths`` is asked again on every round, so replicas that appear later (a patch, a
    replica that starts late) are looked at too; ``look``'s ``final`` says the experiment
    has ended (its last lines without a newline count). Ends once ``finished`` is set and a
    round finds that no log grew.
    """
    wakeup: _Wakeup | None = None  # made at the first wait: a finished follow never needs one
    try:
        while True:
            done = finished.is_set()
            found = paths()
            item, grew, behind = await look(found, done)
            if item:
                yield item
            if grew:
                if wakeup is not None:
                    wakeup.output()
                if not (behind or done):
                    await _until(finished, asyncio.sleep(GATHER_SECONDS))
                continue
            if done:
                return
            wakeup = wakeup or _Wakeup()
            await wakeup.wait({path.parent for path in found.values()}, finished)
    finally:
        if wakeup is not None:
            wakeup.close()


def follow_chunks(
    paths: Callable[[], dict[str, Path]], finished: asyncio.Event, start: Start, max_line: int | None = None,
) -> AsyncGenerator[list[LogChunk], None]:
    """Chunks of new complete lines from every replica's log as they are written (read in a
    worker thread; see ``follow_rounds``), the last line of each log that has no newline
    once ``finished`` is set."""
    logs: dict[str, _Log] = {}

    def look(found: dict[str, Path], final: bool) -> Awaitable[tuple[list[LogChunk], bool, bool]]:
        return asyncio.to_thread(_round, logs, found, start, max_line, final)

    return follow_rounds(paths, finished, look)


def follow_files(
    paths: Callable[[], dict[str, Path]], finished: asyncio.Event, tail_lines: int | None = None,
) -> AsyncGenerator[list[LogChunk], None]:
    """Batches of new lines from every replica's log (its last ``tail_lines`` first)."""
    def start(name: str, path: Path) -> LogPosition:
        return {"offset": tail_offset(path, tail_lines)}

    return follow_chunks(paths, finished, start)


def resume_at(positions: Mapping[str, LogPosition]) -> Start:
    """Start each log at its position in ``positions`` (by its replica's name), else at its start."""
    return lambda name, path: positions.get(name, {"offset": 0})
