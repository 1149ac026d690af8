"""Replica log files: snapshot and tail, never loading a whole large file (following: ``follow``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import BinaryIO

from .text import decoded

CHUNK = 1 << 16


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


def offset_after_lines(path: Path, lines: int) -> int:
    """Where the log's line number ``lines`` (counting from 0) begins: just after its first
    ``lines`` newlines (the end, if it has fewer). Read a chunk at a time."""
    if lines <= 0:
        return 0
    seen, offset = 0, 0
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            count = block.count(b"\n")
            if seen + count >= lines:
                index = -1
                for _ in range(lines - seen):
                    index = block.index(b"\n", index + 1)
                return offset + index + 1
            seen, offset = seen + count, offset + len(block)
    return offset
