"""One experiment's metric collection: its logs, TensorBoard events and tracking rows, until
all of them are in.

Logs are read from the positions stored with the last batch: where they are files here,
by the parsing process itself, round after round as they grow (``follow_rounds``); else
as the backend's ``follow_from`` streams them, parsed by that process. Event files and the
tracking file are polled every ``poll_interval`` seconds until the experiment has ended,
then read once more, in a worker thread. Batches are written by the store's writer thread,
never on the event loop; a batch's points and positions go in one transaction. When every
part is done, the collection is marked finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...wire.metrics import MetricsSpec
from ...wire.requests import ExperimentSpec
from ..backends.base import Backend, LogFiles, LogPosition
from ..backends.logfollow import follow_rounds
from ..store.metrics import Batch, MetricsStore
from .parse import LineParser
from .parsing import ParsingProcess
from .tensorboard import TensorBoardReader
from .tracking import TrackingReader, replica_of

Reader = TensorBoardReader | TrackingReader
#: Where each key of a source stands: key -> (position, metric lines so far).
Saved = dict[str, tuple[Any, int]]


@dataclass(frozen=True)
class Limits:
    """What one experiment's collection may take (``MetricsService``'s settings)."""

    max_line_length: int = 65536
    max_name_length: int = 256
    max_series: int = 1000
    poll_interval: float = 1.0


class Collector:
    """Collects one experiment's metrics; ``ended`` is set once the experiment has ended."""

    def __init__(self, experiment_id: str, spec: ExperimentSpec, backend: Backend, store: MetricsStore,
                 limits: Limits, over: Callable[[], Awaitable[bool]], parsing: ParsingProcess, log: logging.Logger,
                 stopped: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.experiment_id = experiment_id
        self.spec = spec
        self.backend = backend
        self.store = store
        self.limits = limits
        self.over = over
        self.stopped = stopped
        self.parsing = parsing
        self.log = log
        self.ended = asyncio.Event()
        self._warned = False

    async def run(self, gate: asyncio.Semaphore | None = None) -> None:
        """Collect until the experiment's files are read to their end after it ended. Its
        start (where each source stands) is read under ``gate`` when one is given: a server
        resuming hundreds of collections starts them one after another, not all at once."""
        settings = self.spec.metrics or MetricsSpec.model_validate({})
        files = self.backend.metric_files(self.experiment_id)
        sources = (["log"] if settings.enabled else []) + [
            source for source, where in (("tensorboard", files.tensorboard), ("tracking", files.tracking)) if where]
        async with gate or contextlib.nullcontext():
            await self.store.begin(self.experiment_id)
            if await self.over():
                self.ended.set()
            saved = {source: await self.store.positions(self.experiment_id, source) for source in sources}
        parts = [self._logs(settings.filters, saved["log"], files.logs)] if settings.enabled else []
        if files.tensorboard is not None:
            folder = files.tensorboard
            parts.append(self._poll("tensorboard", saved["tensorboard"], lambda places: TensorBoardReader(
                folder, {key: int(place.get("records", 0)) for key, place in places.items()})))
        if files.tracking is not None:
            path, names = files.tracking, replica_of(self.experiment_id, self.spec)
            parts.append(self._poll("tracking", saved["tracking"], lambda places: TrackingReader(
                path, names, {key: int(place.get("rowid", 0)) for key, place in places.items()})))
        tasks = [asyncio.ensure_future(part) for part in parts]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        await self.store.finish(self.experiment_id)

    async def _logs(self, filters: list[str], saved: Saved, files: LogFiles | None) -> None:
        limits = self.limits
        parser = LineParser(filters, max_line_length=limits.max_line_length, max_name_length=limits.max_name_length)
        for attempt in range(2):  # once more after a stop: a stopped job's pods go, the logs kept stay
            if attempt:
                if not (self.stopped is not None and await self.stopped()):
                    return
                saved = await self.store.positions(self.experiment_id, "log")
            counts = {replica: lines for replica, (_, lines) in saved.items()}
            positions = {replica: place for replica, (place, _) in saved.items()}
            stream = self._read(parser, files, positions, counts) if files else self._parsed(parser, positions, counts)
            async with aclosing(stream) as batches:
                async for batch in batches:
                    await self._write("log", batch)

    async def _parsed(self, parser: LineParser, positions: dict[str, LogPosition],
                      counts: dict[str, int]) -> AsyncGenerator[Batch, None]:
        """Batches of the lines the backend streams from ``positions``."""
        stream = self.backend.follow_from(self.experiment_id, positions, max_line=parser.max_line_length)
        async with aclosing(stream) as rounds:
            async for chunks in rounds:
                yield await self.parsing.parse(parser, chunks, counts, time.time())

    def _read(self, parser: LineParser, files: LogFiles, positions: dict[str, LogPosition],
              counts: dict[str, int]) -> AsyncGenerator[Batch, None]:
        """Batches of what the log files hold after ``positions``, read by the parsing process."""
        read_to = {replica: int(place.get("offset", 0)) for replica, place in positions.items()}

        async def look(paths: dict[str, Path], final: bool) -> tuple[Batch | None, bool, bool]:
            found = await self.parsing.read(parser, {replica: (path, positions.get(replica, {"offset": 0}))
                                                     for replica, path in paths.items()}, counts, time.time(), final)
            grew = any(offset > read_to.get(replica, 0) for replica, offset in found.read_to.items())
            positions.update(found.positions)
            read_to.update(found.read_to)
            return (found.batch if found.batch.positions else None), grew, found.behind

        return follow_rounds(files.paths, files.finished, look)

    async def _poll(self, source: str, saved: Saved, make: Callable[[dict[str, dict[str, int]]], Reader]) -> None:
        reader = make({key: place for key, (place, _) in saved.items()})
        while True:
            over = self.ended.is_set()
            batch, more = await asyncio.to_thread(reader.read)
            if batch.positions:
                await self._write(source, batch)
            if more:
                continue
            if over:
                return
            try:
                await asyncio.wait_for(self.ended.wait(), self.limits.poll_interval)
            except TimeoutError:
                pass

    async def _write(self, source: str, batch: Batch) -> None:
        dropped = await self.store.write(self.experiment_id, source, batch, self.limits.max_series)
        if dropped and not self._warned:
            self._warned = True
            shown = ", ".join(sorted(set(dropped))[:5])
            self.log.warning("submarine_jupyter: %s has %d metric series, the most kept; left out: %s%s",
                             self.experiment_id, self.limits.max_series, shown, " ..." if len(dropped) > 5 else "")
