"""Replica log files: snapshot, tail and follow, never loading a whole large file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from .base import LogLine

CHUNK = 1 << 16
FOLLOW_CHUNK = 1 << 20
#: Follow polls quickly right after new output and backs off while a log is quiet.
POLL_MIN_SECONDS = 0.01
POLL_MAX_SECONDS = 0.2


def read_log(path: Path, tail_lines: int | None = None) -> str | None:
    """The log's text (its last ``tail_lines`` lines if given); ``None`` if never written."""
    try:
        with open(path, "rb") as handle:
            if tail_lines is None:
                return handle.read().decode("utf-8", "replace")
            return _tail(handle, tail_lines).decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def _tail(handle: BinaryIO, lines: int) -> bytes:
    """The last ``lines`` lines, reading backwards a chunk at a time."""
    if lines == 0:
        return b""
    position = handle.seek(0, os.SEEK_END)
    data = b""
    while position > 0 and data.count(b"\n", 0, max(len(data) - 1, 0)) < lines:
        step = min(CHUNK, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + data
    cut = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return data
    return data[cut + 1 :]


def tail_offset(path: Path, tail_lines: int | None) -> int:
    """Where following starts: the file's start, or where its last ``tail_lines`` lines begin."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if tail_lines is None:
                return 0
            return size - len(_tail(handle, tail_lines))
    except FileNotFoundError:
        return 0


async def follow_files(
    paths: Callable[[], dict[str, Path]],
    finished: Callable[[], bool],
    tail_lines: int | None = None,
) -> AsyncIterator[list[LogLine]]:
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
