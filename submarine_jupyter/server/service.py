"""Experiments: ids, validation, lifecycle rules.

The only place that decides what an experiment's status is. Handlers call it; it calls
the store, the backend and the metrics service (which collects for each experiment from
its creation until it has ended, and forgets with it); backends report back through
``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

import yaml

from ..wire.constants import STATUSES, TERMINAL_STATUSES
from ..wire.requests import EnvironmentSpec, ExperimentSpec
from ..wire.responses import DryRun, Experiment, LogContent
from . import answers
from .backends.base import Adoption, Backend, BackendError, BackendEvent, LogLine, Submission
from .domain import ExperimentRecord
from .errors import NOT_FOUND_ENVIRONMENT, NOT_FOUND_EXPERIMENT, ApiError, parse
from .metrics.service import MetricsService
from .store import Store
from .times import now_iso, set_times

T = TypeVar("T")


class ExperimentService:
    """Lifecycle of experiments over a store and a backend."""

    def __init__(self, store: Store, backend: Backend, metrics: MetricsService, log: logging.Logger | None = None) -> None:
        self.store = store
        self.backend = backend
        self.metrics = metrics
        self.log = log or logging.getLogger(__name__)
        self.start_millis = int(time.time() * 1000)
        self._lock = asyncio.Lock()
        self._started: asyncio.Task[None] | None = None

    # start and stop

    async def ensure_started(self) -> None:
        """Start the backend once, handing it every unfinished experiment."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        records = await self.store.list_experiments()
        adopt = [
            Adoption(
                submission=Submission(record.id, ExperimentSpec.model_validate(record.spec), record.image),
                status=record.status,  # type: ignore[arg-type]  # stored statuses are checked on write
                state=record.backend_state,
            )
            for record in records
            if record.status not in TERMINAL_STATUSES
        ]
        await self.backend.start(self.on_event, adopt)
        await self.metrics.resume(records)

    async def stop(self) -> None:
        if self._started is not None and self._started.done() and not self._started.exception():
            await self.metrics.stop()
            await self.backend.stop()
        await self.store.close()

    # experiments

    async def create(self, body: Any, *, dry_run: bool = False) -> Experiment | DryRun:
        spec: ExperimentSpec = parse(ExperimentSpec, body, "experiment")
        image = await self._resolve_image(spec)
        if dry_run:
            experiment_id = f"experiment_{self.start_millis}_dryrun"
            plan = await _backend_call(self.backend.dry_run(Submission(experiment_id, spec, image)))
            return DryRun(backend=self.backend.name, plan=plan)

        def make(seq: int) -> ExperimentRecord:
            return ExperimentRecord(
                id=f"experiment_{self.start_millis}_{seq:04d}", name=spec.meta.name, uid=str(uuid.uuid4()),
                status="Accepted", spec=spec.dump(), accepted_time=now_iso(), image=image,
            )

        record = await self.store.insert_experiment(make)
        try:
            await _backend_call(self.backend.submit(Submission(record.id, spec, image)))
        except ApiError:
            await self.store.delete_experiment(record.id)
            raise
        self.metrics.start(record.id, spec)
        return answers.experiment(await self.store.get_experiment(record.id) or record)

    async def list_experiments(self, status: str | None = None) -> list[Experiment]:
        if status is not None:
            matches = [s for s in STATUSES if s.lower() == status.lower()]
            if not matches:
                raise ApiError(400, f"status: unknown status '{status}' (one of {', '.join(STATUSES)})")
            status = matches[0]
        return [answers.experiment(record) for record in await self.store.list_experiments(status)]

    async def get(self, experiment_id: str) -> Experiment:
        return answers.experiment(await self._record(experiment_id))

    async def spec(self, experiment_id: str, text_format: str = "json") -> dict[str, Any] | str:
        """The stored spec, as data or (``yaml``) as YAML text."""
        spec = (await self._record(experiment_id)).spec
        if text_format == "yaml":
            return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        return spec

    async def patch(self, experiment_id: str, body: Any) -> dict[str, Any]:
        """Replace the spec; an unfinished experiment is restarted with it, a finished one
        only records it (as Submarine does: its status stays final)."""
        spec: ExperimentSpec = parse(ExperimentSpec, body, "experiment")
        record = await self._record(experiment_id)
        old = ExperimentSpec.model_validate(record.spec)
        if spec.meta.framework_key != old.meta.framework_key:
            raise ApiError(400, f"meta.framework: cannot change the framework of an experiment (it is {old.meta.framework})")
        if spec.meta.namespace != old.meta.namespace:
            raise ApiError(400, f"meta.namespace: cannot move an experiment to another namespace (it is in {old.meta.namespace})")
        image = await self._resolve_image(spec)
        async with self._lock:
            if record.status not in TERMINAL_STATUSES:
                await _backend_call(self.backend.patch(Submission(experiment_id, spec, image)))
                if await self.metrics.pause(experiment_id):  # the new spec's replicas and metrics settings
                    self.metrics.start(experiment_id, spec)

            def change(rec: ExperimentRecord) -> None:
                rec.spec, rec.name, rec.image = spec.dump(), spec.meta.name, image

            await self.store.update_experiment(experiment_id, change)
        return spec.dump()

    async def delete(self, experiment_id: str) -> Experiment:
        """Stop it, and forget it with its logs and metrics."""
        record = await self._record(experiment_id)
        async with self._lock:
            collecting = await self.metrics.pause(experiment_id)  # before its logs go
            try:
                await _backend_call(self.backend.delete(experiment_id))
            except ApiError:
                if collecting:
                    self.metrics.start(experiment_id, ExperimentSpec.model_validate(record.spec))
                raise
            await self.metrics.forget(experiment_id)
            await self.store.delete_experiment(experiment_id)
        return answers.deleted(record)

    async def logs(self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None) -> dict[str, Any]:
        """Each replica's log; a ``podLog`` is a text stream, read as the answer is written."""
        await self._record(experiment_id)
        pods = await _backend_call(self.backend.logs(experiment_id, pod_name=pod_name, tail_lines=tail_lines))
        if pod_name is not None and not pods:
            raise ApiError(404, f"podName: experiment {experiment_id} has no replica '{pod_name}'")
        return answers.log_content(experiment_id, pods)

    async def all_logs(self) -> list[LogContent]:
        """Every experiment's replica names, logs left out (``podLog`` null) as the document shows."""
        result = []
        for record in await self.store.list_experiments():
            pods = await _backend_call(self.backend.logs(record.id, tail_lines=0))
            result.append(answers.log_index(record.id, [p.pod_name for p in pods]))
        return result

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogLine], None]:
        """Check the experiment (and replica) exists, then stream batches of its lines."""
        await self.logs(experiment_id, pod_name=pod_name, tail_lines=0)
        return self.backend.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines)

    async def on_event(self, event: BackendEvent) -> None:
        """Apply a backend's report. Terminal states never change; times are set once."""

        def change(record: ExperimentRecord) -> None:
            if event.state is not None:
                record.backend_state = event.state
            if event.replicas is not None:
                record.replicas = list(event.replicas)
            if record.status in TERMINAL_STATUSES:
                return
            if event.status is not None and event.status != record.status:
                record.status = event.status
                set_times(record, event.status, event.times)
                record.status_message = event.message
            elif event.message is not None:
                record.status_message = event.message

        record = await self.store.update_experiment(event.experiment_id, change)
        if record is not None and record.status in TERMINAL_STATUSES:
            self.metrics.ended(event.experiment_id)

    # helpers

    async def _record(self, experiment_id: str) -> ExperimentRecord:
        record = await self.store.get_experiment(experiment_id)
        if record is None:
            raise ApiError(404, NOT_FOUND_EXPERIMENT)
        return record

    async def _resolve_image(self, spec: ExperimentSpec) -> str | None:
        environment = spec.environment
        if environment is None:
            return None
        if environment.name is None:
            return environment.image
        record = await self.store.get_environment(environment.name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return EnvironmentSpec.model_validate(record.spec).effective_image


async def _backend_call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except BackendError as error:
        raise ApiError(error.code, error.message) from None
