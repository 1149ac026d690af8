"""Parsing log lines in a process of its own (``python -m submarine_jupyter.server.metrics.parsing``).

Parsing is pure Python: in a thread it would hold the server's one interpreter lock as long
as serving does, so a burst of output would slow every answer (log follows first). The
server sends each batch of chunks over the child's stdin and reads the batch back from its
stdout (length-prefixed pickles between a process and the child it started). The child
ends when its stdin closes; one that dies is started again, its batch parsed in a thread.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Awaitable
from typing import Any

from ..backends.base import LogChunk
from ..store.metrics import Batch
from .parse import LineParser, log_batch

#: Bytes of a message's length prefix.
PREFIX = 8


def _parse(request: tuple[Any, ...]) -> Batch:
    filters, max_line_length, max_name_length, chunks, counts, now = request
    parser = LineParser(filters, max_line_length=max_line_length, max_name_length=max_name_length)
    return log_batch(parser, chunks, counts, now)


class ParsingProcess:
    """The child that parses; ``parse`` calls are served one at a time."""

    def __init__(self) -> None:
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._reaping: asyncio.Future[int] | None = None

    async def parse(self, parser: LineParser, chunks: list[LogChunk], counts: dict[str, int], now: float) -> Batch:
        """``log_batch`` of the chunks; ``counts`` brought up to date."""
        request = (parser.filters, parser.max_line_length, parser.max_name_length, chunks, counts, now)
        async with self._lock:
            try:
                batch = await self._ask(request)
            except asyncio.CancelledError:  # the answer would come to the next request: start afresh
                self._discard()
                raise
            except (OSError, EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError):
                self._discard()
                batch = await asyncio.to_thread(_parse, request)
        counts.update({replica: lines for replica, (_, lines) in batch.positions.items()})
        return batch

    async def _ask(self, request: tuple[Any, ...]) -> Batch:
        if self._child is None or self._child.returncode is not None:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self._child.stdin is not None and self._child.stdout is not None
        data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        self._child.stdin.write(len(data).to_bytes(PREFIX, "big") + data)
        await self._child.stdin.drain()
        size = int.from_bytes(await self._child.stdout.readexactly(PREFIX), "big")
        batch: Batch = pickle.loads(await self._child.stdout.readexactly(size))
        return batch

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


def main() -> None:
    """Serve parse requests from stdin until it closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while len(prefix := stdin.read(PREFIX)) == PREFIX:
        batch = _parse(pickle.loads(stdin.read(int.from_bytes(prefix, "big"))))
        data = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        stdout.write(len(data).to_bytes(PREFIX, "big") + data)
        stdout.flush()


if __name__ == "__main__":
    main()
