"""Metrics as a service beside the experiments: one collector per experiment, and the answers.

The experiment service tells it when an experiment is created, patched, ended or deleted;
at server start it resumes every collection that had not finished. Its settings
(``c.MetricsService.*``) bound what hostile output can cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from ...wire.constants import TERMINAL_STATUSES, pod_name
from ...wire.metrics import DEFAULT_MAX_POINTS, MAX_POINTS, MIN_POINTS, Metrics, Param
from ...wire.requests import ExperimentSpec
from .. import answers
from ..backends.base import Backend
from ..domain import ExperimentRecord
from ..errors import NOT_FOUND_EXPERIMENT, ApiError
from ..store import Store
from ..store.metrics import MetricsStore
from .collector import Collector, Limits
from .parsing import ParsingProcess


class MetricsService(LoggingConfigurable):
    """Collects experiments' metrics and answers for them."""

    max_series = Int(
        1000, min=1, help="Metric series one experiment may have (name x replica x source); the names beyond are "
        "left out, and the server log says so.").tag(config=True)
    max_line_length = Int(
        65536, min=1, help="Longest log line (bytes) read for metrics; longer lines are skipped, never held whole."
    ).tag(config=True)
    max_name_length = Int(256, min=1, help="Longest metric name kept (characters).").tag(config=True)
    poll_interval = Float(
        1.0, min=0.01, help="Seconds between looks at TensorBoard event files and tracking rows.").tag(config=True)

    def __init__(self, *, store: Store, backend: Backend, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.backend = backend
        self.data = MetricsStore(store)
        self._parsing = ParsingProcess()
        self._collectors: dict[str, tuple[Collector, asyncio.Task[None]]] = {}
        #: Called with each experiment whose metrics are complete (its collection ended).
        self.on_complete: list[Callable[[str], Awaitable[None]]] = []
        self._notifying: set[asyncio.Future[None]] = set()

    # collection

    def start(self, experiment_id: str, spec: ExperimentSpec, gate: asyncio.Semaphore | None = None) -> None:
        """Collect the experiment's metrics (from where an earlier collection stopped; see
        ``Collector.run`` for ``gate``)."""
        limits = Limits(self.max_line_length, self.max_name_length, self.max_series, self.poll_interval)
        collector = Collector(experiment_id, spec, self.backend, self.data, limits,
                              lambda: self._over(experiment_id), self._parsing, self.log,
                              stopped=lambda: self._stopped(experiment_id))
        task = asyncio.ensure_future(collector.run(gate))
        self._collectors[experiment_id] = (collector, task)
        task.add_done_callback(lambda done: self._done(experiment_id, done))

    async def resume(self, records: list[ExperimentRecord]) -> None:
        """At server start: collect for every experiment whose collection had not finished,
        and for unfinished ones that had none (stored by an earlier release)."""
        collections = await self.data.collections()
        gate = asyncio.Semaphore(1)
        for record in records:
            finished = collections.get(record.id, record.status in TERMINAL_STATUSES)
            if not finished:
                self.start(record.id, ExperimentSpec.model_validate(record.spec), gate)

    def ended(self, experiment_id: str) -> None:
        """The experiment has ended: read its files a last time, then finish."""
        if experiment_id in self._collectors:
            self._collectors[experiment_id][0].ended.set()

    async def pause(self, experiment_id: str) -> bool:
        """Stop collecting (it resumes where it stopped); whether a collection was running."""
        found = self._collectors.pop(experiment_id, None)
        if found is None:
            return False
        found[1].cancel()
        await asyncio.gather(found[1], return_exceptions=True)
        return True

    async def forget(self, experiment_id: str) -> None:
        """Stop collecting and delete the experiment's metrics and params."""
        await self.pause(experiment_id)
        await self.data.delete(experiment_id)

    async def stop(self) -> None:
        for experiment_id in list(self._collectors):
            await self.pause(experiment_id)
        await self._parsing.close()

    # answers

    async def metrics(self, experiment_id: str, *, since: int | None, name: str | None, replica: str | None,
                      max_points: int | None) -> Metrics:
        await self._record(experiment_id)
        points = DEFAULT_MAX_POINTS if max_points is None else max_points
        if not MIN_POINTS <= points <= MAX_POINTS:
            raise ApiError(400, f"maxPoints: must be from {MIN_POINTS} to {MAX_POINTS}, got {points}")
        collecting = self.collecting(experiment_id)  # before the read: once false, the read is complete
        cursor, series = await self.data.series(
            experiment_id, since=since or 0, name=name, replica=pod_name(experiment_id, replica) if replica else None,
            max_points=points)
        return answers.metrics(experiment_id, cursor, collecting, series)

    async def params(self, experiment_id: str) -> list[Param]:
        await self._record(experiment_id)
        return [answers.param(record) for record in await self.data.params(experiment_id)]

    # helpers

    async def _record(self, experiment_id: str) -> ExperimentRecord:
        record = await self.store.get_experiment(experiment_id)
        if record is None:
            raise ApiError(404, NOT_FOUND_EXPERIMENT)
        return record

    async def _over(self, experiment_id: str) -> bool:
        record = await self.store.get_experiment(experiment_id)
        return record is None or record.status in TERMINAL_STATUSES

    async def _stopped(self, experiment_id: str) -> bool:
        record = await self.store.get_experiment(experiment_id)
        return record is not None and record.status == "Stopped"

    def collecting(self, experiment_id: str) -> bool:
        """Whether points may still be added to the experiment's metrics."""
        return experiment_id in self._collectors

    def _done(self, experiment_id: str, task: asyncio.Task[None]) -> None:
        if self._collectors.get(experiment_id, (None, None))[1] is task:
            del self._collectors[experiment_id]
        if not task.cancelled() and task.exception() is not None:
            self.log.error("submarine_jupyter: collecting the metrics of %s failed", experiment_id,
                           exc_info=task.exception())
        if not task.cancelled():
            for listener in self.on_complete:
                notice = asyncio.ensure_future(listener(experiment_id))
                self._notifying.add(notice)
                notice.add_done_callback(self._notifying.discard)
