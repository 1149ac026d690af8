"""Replica log files: snapshot, tail and follow, never loading a whole large file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import BinaryIO

from ..base import LogLine
from ..text import decoded

CHUNK = 1 << 16
FOLLOW_CHUNK = 1 << 20
#: Follow polls quickly right after new output and backs off while a log is quiet.
POLL_MIN_SECONDS = 0.01
POLL_MAX_SECONDS = 0.2


def read_tail(path: Path, lines: int) -> str:
    """The log's last ``lines`` lines ("" if it was never written)."""
    try:
        with open(path, "rb") as handle:
            start, end = _span(handle, lines)
            handle.seek(start)
            return handle.read(end - start).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def log_chunks(path: Path, tail_lines: int | None = None) -> AsyncGenerator[str, None] | None:
    """The log (its last ``tail_lines`` lines if given) as text pieces, each one read of
    at most ``CHUNK`` bytes, up to the log's size when reading starts; ``None`` if the
    log was never written."""
    if not path.exists():
        return None
    return _chunks(path, tail_lines)


async def _chunks(path: Path, tail_lines: int | None) -> AsyncGenerator[str, None]:
    try:
        handle = await asyncio.to_thread(open, path, "rb")
    except FileNotFoundError:
        return
    try:
        position, end = await asyncio.to_thread(_span, handle, tail_lines)
        handle.seek(position)

        async def read() -> bytes:
            nonlocal position
            data = await asyncio.to_thread(handle.read, min(CHUNK, end - position))
            position += len(data)
            return data

        async with aclosing(decoded(read)) as texts:
            async for text in texts:
                yield text
    finally:
        handle.close()


def _span(handle: BinaryIO, tail_lines: int | None) -> tuple[int, int]:
    """Where the requested part of an open log starts and ends (its size now)."""
    end = handle.seek(0, os.SEEK_END)
    return (0 if tail_lines is None else _tail_start(handle, tail_lines, end)), end


def _tail_start(handle: BinaryIO, lines: int, end: int) -> int:
    """Where the last ``lines`` lines before ``end`` begin (a newline at ``end`` closes the
    last line). Reads backwards a chunk at a time, keeping only one chunk."""
    if lines == 0:
        return end
    stop = end
    if end > 0:
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            stop = end - 1
    found = 0
    position = stop
    while position > 0:
        step = min(CHUNK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            found += 1
            if found == lines:
                return position + index + 1
    return 0


def tail_offset(path: Path, tail_lines: int | None) -> int:
    """Where following starts: the file's start, or where its last ``tail_lines`` lines begin."""
    try:
        with open(path, "rb") as handle:
            return _span(handle, tail_lines)[0]
    except FileNotFoundError:
        return 0


async def follow_files(
    paths: Callable[[], dict[str, Path]],
    finished: Callable[[], bool],
    tail_lines: int | None = None,
) -> AsyncGenerator[list[LogLine], None]:
    """Batches of new complete lines from every replica's log as they are written.

    ``paths`` is asked again on every round, so replicas that appear later (a patch,
    a replica that starts late) are followed too. Ends once ``finished()`` is true and
    every file is read to its end.
    """
    offsets: dict[str, int] = {}
    partial: dict[str, bytes] = {}
    pause = POLL_MIN_SECONDS
    while True:
        done = finished()
        batch: list[LogLine] = []
        for name, path in paths().items():
            if name not in offsets:
                if not path.exists():
                    continue
                offsets[name] = tail_offset(path, tail_lines)
                partial[name] = b""
            with open(path, "rb") as handle:
                handle.seek(offsets[name])
                data = handle.read(FOLLOW_CHUNK)
            if not data:
                continue
            offsets[name] += len(data)
            text = partial[name] + data
            *complete, partial[name] = text.split(b"\n")
            batch.extend(LogLine(name, line.decode("utf-8", "replace")) for line in complete)
        if batch:
            pause = POLL_MIN_SECONDS
            yield batch
            continue
        if done:
            rest = [LogLine(name, tail.decode("utf-8", "replace")) for name, tail in partial.items() if tail]
            if rest:
                yield rest
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, POLL_MAX_SECONDS)
