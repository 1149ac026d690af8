"""Experiments: ids, validation, lifecycle rules.

The only place that decides what an experiment's status is. Handlers call it; it calls
the store, the backend and the metrics service (which collects for each experiment from
its creation until it has ended, and forgets with it); backends report back through
``on_event``, and ``on_ended`` hears of each experiment that ends (sweeps go on then).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import yaml

from ..wire.constants import TERMINAL_STATUSES
from ..wire.requests import EnvironmentSpec, ExperimentSpec
from ..wire.responses import DryRun, Experiment
from . import answers
from .backends.base import Adoption, BackendError, BackendEvent, Submission
from .domain import ExperimentRecord, Origin
from .errors import NOT_FOUND_ENVIRONMENT, NOT_FOUND_EXPERIMENT, ApiError, backend_call, parse
from .merge import merge_patch
from .metrics.service import MetricsService
from .store import ExperimentQuery, Store
from .targets import Targets
from .times import now_iso, set_times


class ExperimentService:
    """Lifecycle of experiments over a store and the targets' backends."""

    def __init__(self, store: Store, backend: Targets, metrics: MetricsService, log: logging.Logger | None = None) -> None:
        self.store = store
        self.backend = backend
        self.metrics = metrics
        self.log = log or logging.getLogger(__name__)
        self.start_millis = int(time.time() * 1000)
        #: One change at a time per experiment (a PATCH, a stop, a delete); others go on meanwhile.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._started: asyncio.Task[None] | None = None
        #: Called once the backend has started (and taken over the unfinished experiments).
        self.on_started: list[Callable[[], Awaitable[None]]] = []
        #: Called with each experiment that ends (after its status is stored), or is deleted unfinished.
        self.on_ended: list[Callable[[ExperimentRecord], Awaitable[None]]] = []

    # start and stop

    async def ensure_started(self) -> None:
        """Start the backend once, handing it every unfinished experiment."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        records = await self.store.experiments_to_resume()
        for record in records:
            self.backend.place(record.id, record.target)
        adopt = [
            Adoption(
                submission=Submission(record.id, ExperimentSpec.model_validate(record.spec), record.image,
                                      record.target),
                status=record.status,  # type: ignore[arg-type]  # stored statuses are checked on write
                state=record.backend_state,
            )
            for record in records
            if record.status not in TERMINAL_STATUSES
        ]
        await self.backend.start(self.on_event, adopt)
        await self.metrics.resume(records)
        for listener in self.on_started:
            await listener()

    async def stop(self) -> None:
        if self._started is not None and self._started.done() and not self._started.exception():
            await self.metrics.stop()
            await self.backend.stop()
        await self.store.close()

    # experiments

    async def create(self, body: Any, *, dry_run: bool = False, origin: Origin | None = None,
                     target: str | None = None) -> Experiment | DryRun:
        """Store and submit an experiment (``origin``: what it re-runs, its template or sweep)
        on the target its spec names, else on ``target``, else on the default one."""
        spec: ExperimentSpec = parse(ExperimentSpec, body, "experiment")
        try:
            target = self.backend.target_of(spec, target)
        except BackendError as error:
            raise ApiError(error.code, error.message) from None
        image = await self._resolve_image(spec)
        if dry_run:
            experiment_id = f"experiment_{self.start_millis}_dryrun"
            plan = await backend_call(self.backend.dry_run(Submission(experiment_id, spec, image, target)))
            return DryRun(backend=self.backend.backend_name(target), target=target, plan=plan)
        where = origin or Origin()

        def make(seq: int) -> ExperimentRecord:
            return ExperimentRecord(
                id=f"experiment_{self.start_millis}_{seq:04d}", name=spec.meta.name, uid=str(uuid.uuid4()),
                status="Accepted", spec=spec.dump(), accepted_time=now_iso(), image=image,
                rerun_of=where.rerun_of, template=where.template, sweep=where.sweep, target=target,
            )

        record = await self.store.insert_experiment(make)
        try:
            await backend_call(self.backend.submit(Submission(record.id, spec, image, target)))
        except ApiError:
            await self.store.delete_experiment(record.id)
            raise
        self.metrics.start(record.id, spec)
        return answers.experiment(await self.store.get_experiment(record.id) or record)

    async def list_experiments(self, query: ExperimentQuery | None = None) -> list[Experiment]:
        """Every experiment ``query`` selects (its ``limit`` aside), in one list."""
        records, _ = await self.store.page_experiments(replace(query or ExperimentQuery(), limit=None))
        return [answers.experiment(record) for record in records]

    async def page(self, query: ExperimentQuery) -> tuple[list[str], int | None]:
        """One page, each experiment as its answer's JSON text (made in the store's thread),
        and the ``seq`` the next page starts after (``None`` for the last)."""
        return await self.store.page_experiments_as(query, answers.experiment_json)

    async def changes(self) -> int:
        """A count that grows with every change to any experiment (what a list's ETag is made of)."""
        return await self.store.experiment_changes()

    async def get(self, experiment_id: str) -> Experiment:
        return answers.experiment(await self._record(experiment_id))

    async def spec(self, experiment_id: str, text_format: str = "json") -> dict[str, Any] | str:
        """The stored spec, as data or (``yaml``) as YAML text."""
        spec = (await self._record(experiment_id)).spec
        if text_format == "yaml":
            return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        return spec

    async def patch(self, experiment_id: str, body: Any) -> dict[str, Any]:
        """Replace the spec; an unfinished experiment is restarted with it. A finished one
        records it as its ``pendingSpec`` (Submarine answers a PATCH of it with the new spec
        too) and keeps showing the spec it ran: nothing runs until a re-run."""
        spec: ExperimentSpec = parse(ExperimentSpec, body, "experiment")
        record = await self._record(experiment_id)
        old = ExperimentSpec.model_validate(record.spec)
        if spec.meta.framework_key != old.meta.framework_key:
            raise ApiError(400, f"meta.framework: cannot change the framework of an experiment (it is {old.meta.framework})")
        if spec.meta.namespace != old.meta.namespace:
            raise ApiError(400, f"meta.namespace: cannot move an experiment to another namespace (it is in {old.meta.namespace})")
        if spec.meta.target not in (None, record.target):
            raise ApiError(400, f"meta.target: cannot move an experiment to another target (it runs on {record.target});"
                                f" re-run it there: POST /api/v1/experiment/{experiment_id}/rerun with "
                                f'{{"meta": {{"target": "{spec.meta.target}"}}}}')
        image = await self._resolve_image(spec)
        async with self._lock(experiment_id):
            running = record.status not in TERMINAL_STATUSES
            if running:
                await backend_call(self.backend.patch(Submission(experiment_id, spec, image, record.target)))
                if await self.metrics.pause(experiment_id):  # the new spec's replicas and metrics settings
                    self.metrics.start(experiment_id, spec)

            def change(rec: ExperimentRecord) -> None:
                if running:
                    rec.spec, rec.name, rec.image, rec.pending_spec = spec.dump(), spec.meta.name, image, None
                else:
                    rec.pending_spec = spec.dump()

            await self.store.update_experiment(experiment_id, change)
        return spec.dump()

    async def delete(self, experiment_id: str) -> Experiment:
        """Stop it, and forget it with its logs and metrics."""
        record = await self._record(experiment_id)
        async with self._lock(experiment_id):
            collecting = await self.metrics.pause(experiment_id)  # before its logs go
            try:
                await backend_call(self.backend.delete(experiment_id))
            except ApiError:
                if collecting:
                    self.metrics.start(experiment_id, ExperimentSpec.model_validate(record.spec))
                raise
            await self.metrics.forget(experiment_id)
            await self.store.delete_experiment(experiment_id)
        if record.status not in TERMINAL_STATUSES:
            for listener in self.on_ended:  # a deleted trial frees its sweep's place
                await listener(record)
        return answers.deleted(record)

    async def stop_experiment(self, experiment_id: str) -> Experiment:
        """End every replica and keep the experiment, its logs and metrics: ``Stopped``."""
        record = await self._record(experiment_id)
        if record.status in TERMINAL_STATUSES:
            raise ApiError(409, f"{experiment_id} has already ended ({record.status}): there is nothing to stop")
        async with self._lock(experiment_id):
            await backend_call(self.backend.stop_experiment(experiment_id))
        return answers.experiment(await self._record(experiment_id))

    async def rerun(self, experiment_id: str, changes: Any = None, *, dry_run: bool = False) -> Experiment | DryRun:
        """A new experiment from this one's spec (the one a PATCH recorded after the end, if
        any) with ``changes`` merged in (a JSON merge patch); it records where it came from,
        and runs on the same target unless the changes name another (``meta.target``: a
        promotion to a cluster, or back). ``dry_run``: only what would run there."""
        record = await self._record(experiment_id)
        if changes is not None and not isinstance(changes, dict):
            raise ApiError(400, "body: the changes must be an object (a JSON merge patch of the spec)")
        spec = merge_patch(record.pending_spec or record.spec, changes or {})
        if isinstance(spec.get("meta"), dict):
            spec["meta"].pop("experimentId", None)
        return await self.create(spec, dry_run=dry_run, origin=Origin(rerun_of=experiment_id, template=record.template),
                                 target=record.target)

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

        ended = False

        def noting(record: ExperimentRecord) -> None:
            nonlocal ended
            before = record.status
            change(record)
            ended = before not in TERMINAL_STATUSES and record.status in TERMINAL_STATUSES

        record = await self.store.update_experiment(event.experiment_id, noting, patient=True)
        if record is not None and record.status in TERMINAL_STATUSES:
            self.metrics.ended(event.experiment_id)
        if record is not None and ended:
            for listener in self.on_ended:
                await listener(record)

    # helpers

    def _lock(self, experiment_id: str) -> asyncio.Lock:
        lock = self._locks.get(experiment_id)
        if lock is None:
            lock = self._locks[experiment_id] = asyncio.Lock()
        return lock

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

