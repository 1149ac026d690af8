"""Following replica log files: new complete lines as they are written, by byte offsets.

Each round reads what every log gained (at most ``FOLLOW_CHUNK`` bytes of each) in a
worker thread, so the event loop never waits on a disk. A position is the byte offset
where the next unread line begins (plus ``skip`` inside a line too long to keep), so a
reader that stops can resume exactly there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .base import LogChunk, LogLine, LogPosition
from .logfiles import tail_offset

FOLLOW_CHUNK = 1 << 20
#: Follow polls quickly right after new output and backs off while a log is quiet.
POLL_MIN_SECONDS = 0.01
POLL_MAX_SECONDS = 0.2
#: Where a replica's reading starts: (its name, its log) -> its first position.
Start = Callable[[str, Path], LogPosition]


@dataclass
class _Log:
    """One replica's log being read: bytes read so far, and the line they end inside."""

    path: Path
    offset: int
    partial: bytes = b""
    skipping: bool = False  # inside a line longer than the limit: dropped up to its newline

    def position(self) -> LogPosition:
        if self.skipping:
            return {"offset": self.offset, "skip": True}
        return {"offset": self.offset - len(self.partial)}

    def read(self, max_line: int | None) -> list[str] | None:
        """The complete lines the file gained, over-long ones left out; ``None`` if it gained nothing."""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(FOLLOW_CHUNK)
        if not data:
            return None
        self.offset += len(data)
        *complete, rest = (self.partial + data).split(b"\n")
        if self.skipping:
            if not complete:
                return []
            complete, self.skipping = complete[1:], False
        if max_line is not None:
            complete = [line for line in complete if len(line) <= max_line]
            if len(rest) > max_line:
                rest, self.skipping = b"", True
        self.partial = rest
        return [line.decode("utf-8", "replace") for line in complete]


def _round(logs: dict[str, _Log], paths: dict[str, Path], start: Start,
           max_line: int | None) -> tuple[list[LogChunk], bool]:
    """One look at every log (in a worker thread): the lines each gained, and whether any grew."""
    chunks = []
    grew = False
    for name, path in paths.items():
        log = logs.get(name)
        if log is None:
            if not path.exists():
                continue
            first = start(name, path)
            log = logs[name] = _Log(path, int(first.get("offset", 0)), skipping=bool(first.get("skip")))
        lines = log.read(max_line)
        grew = grew or lines is not None
        if lines:
            chunks.append(LogChunk(name, lines, log.position()))
    return chunks, grew


async def follow_chunks(
    paths: Callable[[], dict[str, Path]], finished: Callable[[], bool], start: Start, max_line: int | None = None,
) -> AsyncGenerator[list[LogChunk], None]:
    """Chunks of new complete lines from every replica's log as they are written.

    ``paths`` is asked again on every round, so replicas that appear later (a patch, a
    replica that starts late) are read too. Ends once ``finished()`` is true and every
    file is read to its end, with the last line of each log that had no newline.
    """
    logs: dict[str, _Log] = {}
    pause = POLL_MIN_SECONDS
    while True:
        done = finished()
        chunks, grew = await asyncio.to_thread(_round, logs, paths(), start, max_line)
        if chunks:
            yield chunks
        if grew:
            pause = POLL_MIN_SECONDS
            continue
        if done:
            rest = [LogChunk(name, [log.partial.decode("utf-8", "replace")], {"offset": log.offset})
                    for name, log in logs.items() if log.partial]
            if rest:
                yield rest
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, POLL_MAX_SECONDS)


async def follow_files(
    paths: Callable[[], dict[str, Path]], finished: Callable[[], bool], tail_lines: int | None = None,
) -> AsyncGenerator[list[LogLine], None]:
    """Batches of new lines from every replica's log (its last ``tail_lines`` first)."""
    def start(name: str, path: Path) -> LogPosition:
        return {"offset": tail_offset(path, tail_lines)}

    async for chunks in follow_chunks(paths, finished, start):
        yield [LogLine(chunk.pod_name, line) for chunk in chunks for line in chunk.lines]


def resume_at(positions: Mapping[str, LogPosition]) -> Start:
    """Start each log at its position in ``positions`` (by its replica's name), else at its start."""
    return lambda name, path: positions.get(name, {"offset": 0})
