"""Sweeps: trials submitted from a template, at most ``parallel`` unfinished at a time.

A trial waits until fewer than ``parallel`` of its sweep's trials are unfinished, then is
submitted (and from there waits in the backend's queue like any experiment). The sweep
goes on whenever one of its trials ends, and at server start, so it survives restarts.
Its objective is the last value of a metric from a trial's lead replica (Chief or Master,
else worker 0; the printed series before tracking before TensorBoard). No trial is
stopped early: a clearly worse trial still runs to its end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...wire.constants import TERMINAL_STATUSES, replica_sort_key
from ...wire.sweeps import Sweep, SweepSpec
from .. import answers
from ..domain import ExperimentRecord, SweepRecord
from ..errors import ApiError, parse
from ..metrics.service import MetricsService
from ..store import Conflict
from ..store.sweeps import SweepStore
from ..templates import TemplateService
from ..templating import TemplateError, fill
from .plan import PlanError, trials

NOT_FOUND_SWEEP = "Sweep not found."
SOURCES = ("log", "tracking", "tensorboard")

#: A trial is over when its experiment has ended, or was deleted.
ENDED = TERMINAL_STATUSES | {"Deleted"}


class SweepService:
    """Sweeps by name, advanced as their trials end."""

    def __init__(self, templates: TemplateService, metrics: MetricsService) -> None:
        self.templates = templates
        self.experiments = templates.experiments
        self.metrics = metrics
        self.data = SweepStore(self.experiments.store)
        self._locks: dict[str, asyncio.Lock] = {}
        self.experiments.on_started.append(self.resume)
        self.experiments.on_ended.append(self._trial_ended)
        self.metrics.on_complete.append(self._trial_measured)

    async def create(self, body: Any) -> Sweep:
        spec: SweepSpec = parse(SweepSpec, body, "sweep")
        template = await self.templates.record(spec.template)
        try:
            planned = trials(spec)
            for params in planned:  # every trial must fit the template before any runs
                fill(self.templates.spec_of(template), params)
        except (PlanError, TemplateError) as error:
            raise ApiError(400, f"Invalid sweep spec: {error}") from None
        try:
            await self.data.insert(spec.name, spec.dump(), planned)
        except Conflict:
            raise ApiError(409, f"name: sweep '{spec.name}' already exists") from None
        await self.advance(spec.name)
        return await self.get(spec.name)

    async def list(self) -> list[Sweep]:
        return [await self._answer(record) for record in await self.data.list()]

    async def get(self, name: str) -> Sweep:
        return await self._answer(await self._record(name))

    async def stop(self, name: str) -> Sweep:
        """Stop the running trials and never start the waiting ones."""
        async with self._lock(name):  # no trial starts after this
            record = await self._record(name)
            if record.status == "Running":
                await self.data.finish(name, "Stopped", "stopped by the user")
        for trial in record.trials:  # outside the lock: each stop's event comes back to advance()
            if trial.experiment_id is not None:
                found = await self.experiments.store.get_experiment(trial.experiment_id)
                if found is not None and found.status not in TERMINAL_STATUSES:
                    try:
                        await self.experiments.stop_experiment(trial.experiment_id)
                    except ApiError as error:
                        if error.code != 409:  # 409: it ended meanwhile
                            raise
        return await self.get(name)

    async def resume(self) -> None:
        """At server start: go on with every running sweep."""
        for record in await self.data.list():
            if record.status == "Running":
                await self.advance(record.name)

    async def advance(self, name: str) -> None:
        """Submit waiting trials while fewer than ``parallel`` are unfinished; end the sweep
        once every trial has ended and its metrics are complete (so the best is known)."""
        async with self._lock(name):
            record = await self._record(name)
            if record.status != "Running":
                return
            spec = SweepSpec.model_validate(record.spec)
            statuses = await self._statuses(record)
            unfinished = sum(1 for s in statuses.values() if s not in ENDED)
            template = await self.templates.record(spec.template)
            for trial in record.trials:
                if unfinished >= spec.parallel:
                    break
                if trial.experiment_id is not None:
                    continue
                try:
                    created = await self.templates.run(template, trial.params, sweep=name)
                except ApiError as error:
                    await self.data.finish(name, "Failed", f"trial {trial.index} could not be submitted: {error.message}")
                    return
                await self.data.assign(name, trial.index, created.experiment_id)
                trial.experiment_id, unfinished = created.experiment_id, unfinished + 1
                statuses[created.experiment_id] = created.status
            if all(t.experiment_id is not None and statuses.get(t.experiment_id) in ENDED
                   and not self.metrics.collecting(t.experiment_id) for t in record.trials):
                succeeded = any(statuses.get(t.experiment_id or "") == "Succeeded" for t in record.trials)
                await self.data.finish(name, "Succeeded" if succeeded else "Failed",
                                       None if succeeded else "no trial succeeded")

    async def _trial_ended(self, record: ExperimentRecord) -> None:
        if record.sweep is not None:
            await self.advance(record.sweep)

    async def _trial_measured(self, experiment_id: str) -> None:
        """A trial's metrics are complete: its sweep may be over (its objective is known)."""
        record = await self.experiments.store.get_experiment(experiment_id)
        if record is not None and record.sweep is not None:
            await self.advance(record.sweep)

    async def _answer(self, record: SweepRecord) -> Sweep:
        spec = SweepSpec.model_validate(record.spec)
        statuses = await self._statuses(record)
        objectives: dict[str, float] = {}
        if spec.objective is not None:
            ids = [t.experiment_id for t in record.trials if t.experiment_id]
            for experiment_id, found in (await self.metrics.data.last_values(ids, spec.objective.metric)).items():
                objectives[experiment_id] = lead_value(found)
        return answers.sweep(record, spec, statuses, objectives)

    async def _statuses(self, record: SweepRecord) -> dict[str, str]:
        found = {}
        for trial in record.trials:
            if trial.experiment_id is not None:
                experiment = await self.experiments.store.get_experiment(trial.experiment_id)
                found[trial.experiment_id] = experiment.status if experiment else "Deleted"
        return found

    async def _record(self, name: str) -> SweepRecord:
        record = await self.data.get(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_SWEEP)
        return record

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())


def lead_value(series: list[tuple[str, str, float]]) -> float:
    """The last value from the lead replica (role order), its printed series first."""
    return min(series, key=lambda s: (replica_sort_key(s[0]), SOURCES.index(s[1]) if s[1] in SOURCES else 9))[2]
