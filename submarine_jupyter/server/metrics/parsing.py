"""Reading and parsing log lines in a process of its own (``python -m submarine_jupyter.server.metrics.parsing``).

Parsing is pure Python: in a thread it would hold the server's one interpreter lock as long
as serving does, so a burst of output would slow every answer (log follows first). The
server sends each request over the child's stdin and reads the batch back from its stdout
(length-prefixed pickles between a process and the child it started): chunks of lines a
backend streamed (``parse``), or, for logs that are files here, where to read each from
(``read``): then the lines never pass through the server at all. The child ends when its
stdin closes; one that dies is started again, its request served in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from ..backends.base import LogChunk
from ..store.metrics import Batch, packed
from .logread import Files, Read, read_batch
from .parse import LineParser, log_batch

#: Bytes of a message's length prefix.
PREFIX = 8


def _serve(request: tuple[Any, ...]) -> Batch | Read:
    """The request's batch, its points packed: the server stores them without handling each."""
    kind, filters, max_line_length, max_name_length, *rest = request
    parser = LineParser(filters, max_line_length=max_line_length, max_name_length=max_name_length)
    if kind == "parse":
        return packed(log_batch(parser, *rest))
    found = read_batch(parser, *rest)
    found.batch = packed(found.batch)
    return found


def _settings(parser: LineParser) -> tuple[list[str], int, int]:
    return parser.filters, parser.max_line_length, parser.max_name_length


class ParsingProcess:
    """The child that parses; ``parse`` calls are served one at a time."""

    def __init__(self) -> None:
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._reaping: asyncio.Future[int] | None = None

    async def parse(self, parser: LineParser, chunks: list[LogChunk], counts: dict[str, int], now: float) -> Batch:
        """``log_batch`` of the chunks; ``counts`` brought up to date."""
        batch = await self._request(("parse", *_settings(parser), chunks, counts, now))
        assert isinstance(batch, Batch)
        return self._counted(batch, counts)

    async def read(self, parser: LineParser, files: Files, counts: dict[str, int], now: float, final: bool) -> Read:
        """``read_batch`` of the files; ``counts`` brought up to date."""
        found = await self._request(("read", *_settings(parser), files, counts, now, final))
        assert isinstance(found, Read)
        self._counted(found.batch, counts)
        return found

    @staticmethod
    def _counted(batch: Batch, counts: dict[str, int]) -> Batch:
        counts.update({replica: lines for replica, (_, lines) in batch.positions.items()})
        return batch

    async def _request(self, request: tuple[Any, ...]) -> Batch | Read:
        async with self._lock:
            try:
                return await self._ask(request)
            except asyncio.CancelledError:  # the answer would come to the next request: start afresh
                self._discard()
                raise
            except (OSError, EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError):
                self._discard()
                return await asyncio.to_thread(_serve, request)

    async def _ask(self, request: tuple[Any, ...]) -> Batch | Read:
        if self._child is None or self._child.returncode is not None:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                start_new_session=True)
        assert self._child.stdin is not None and self._child.stdout is not None
        data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        self._child.stdin.write(len(data).to_bytes(PREFIX, "big") + data)
        await self._child.stdin.drain()
        size = int.from_bytes(await self._child.stdout.readexactly(PREFIX), "big")
        answer: Batch | Read = pickle.loads(await self._child.stdout.readexactly(size))
        return answer

    async def close(self) -> None:
        """Stop the child (and any being reaped), and wait until it is gone."""
        child = self._detach()
        waits: list[Awaitable[int]] = [child.wait()] if child is not None else []
        if self._reaping is not None:
            waits.append(self._reaping)
            self._reaping = None
        await asyncio.gather(*waits)

    def _discard(self) -> None:
        """Stop the child now, and reap it in the background."""
        child = self._detach()
        if child is not None:
            self._reaping = asyncio.ensure_future(child.wait())

    def _detach(self) -> asyncio.subprocess.Process | None:
        child, self._child = self._child, None
        if child is not None:
            if child.returncode is None:
                child.kill()
            if child.stdin is not None:
                child.stdin.close()
        return child


def background() -> None:
    """Take only CPU time that nothing else wants: the lowest priority, for this process and,
    where the kernel groups processes by session (autogroup), for its own session's group;
    on Linux the idle policy too, so that a process waking up takes the CPU from this one at
    once rather than at the end of its time slice. (It holds no lock another process waits
    for: the server stores what it parses.)"""
    os.nice(19)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text("19")
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _read_exactly(fd: int, size: int) -> bytearray:
    """``size`` bytes from ``fd``, fewer only at its end."""
    data = bytearray()
    while len(data) < size and (piece := os.read(fd, size - len(data))):
        data += piece
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main() -> None:
    """Serve parse requests from stdin until it closes.

    The pipes are read and written by descriptor until each message is whole: a single
    read or write may move less than asked (a pipe holds 64 KiB, and a signal or a stop
    interrupts a write part way), which ``sys.stdin.buffer`` and ``sys.stdout.buffer`` pass
    on when ``PYTHONUNBUFFERED`` makes them raw files."""
    background()
    while len(prefix := _read_exactly(0, PREFIX)) == PREFIX:
        answer = _serve(pickle.loads(_read_exactly(0, int.from_bytes(prefix, "big"))))
        data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        _write_all(1, len(data).to_bytes(PREFIX, "big") + data)


if __name__ == "__main__":
    main()
