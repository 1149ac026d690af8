"""Every target of this server as one backend: each call goes to its experiment's target.

``local`` always, plus the named targets the server is configured with (Kubernetes clusters,
each with its own settings). A new experiment goes where its ``meta.target`` says, else to
the default target; everything after that follows the target stored with the experiment
(``where``), so a target that is unreachable, or slow to start, touches only its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from ..wire.requests import ExperimentSpec
from ..wire.responses import Target, TargetCapacity
from .backends.base import (
    Adoption,
    Backend,
    BackendError,
    EventSink,
    LogChunk,
    LogPosition,
    MetricFiles,
    PodLog,
    Submission,
    TargetState,
)

#: Seconds a target may take to say whether it is reachable.
DESCRIBE_TIMEOUT_S = 5.0
#: experiment id -> the target stored with it (``None``: no such experiment).
Where = Callable[[str], Awaitable[str | None]]


class Targets:
    """The backends by target name, routed by experiment."""

    name = "targets"

    def __init__(self, backends: Mapping[str, Backend], default: str, where: Where) -> None:
        if default not in backends:
            raise ValueError(f"the default target '{default}' is not one of {', '.join(backends)}")
        self.backends = dict(backends)
        self.default = default
        self._where = where
        self._known: dict[str, str] = {}

    def target_of(self, spec: ExperimentSpec, otherwise: str | None = None) -> str:
        """Where a new experiment with ``spec`` runs (``otherwise``, or the default, where it
        names none); a 400 naming ``meta.target`` when nowhere."""
        name = spec.meta.target or otherwise or self.default
        if name not in self.backends:
            raise BackendError(f"meta.target: this server has no target '{name}' (its targets: "
                               f"{', '.join(self.backends)})")
        return name

    @property
    def default_backend(self) -> Backend:
        return self.backends[self.default]

    def backend_name(self, target: str) -> str:
        return self.backends[target].name

    async def describe_all(self) -> list[Target]:
        """Every target, each asked at once whether it is reachable."""
        states = await asyncio.gather(*(_describe(b) for b in self.backends.values()))
        return [
            Target(name=name, backend=backend.name, api=state.api, default=name == self.default,
                   reachable=state.reachable, message=state.message, namespace=state.namespace,
                   capacity=TargetCapacity(cpu=state.cpu, memory=state.memory, gpu=state.gpu)
                   if state.cpu is not None or state.gpu is not None else None)
            for (name, backend), state in zip(self.backends.items(), states, strict=True)
        ]

    # lifecycle

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        for adoption in adopt:
            self._known[adoption.submission.experiment_id] = self._stored(adoption.submission)
        for name, backend in self.backends.items():
            await backend.start(sink, [a for a in adopt if self._stored(a.submission) == name])

    async def stop(self) -> None:
        await asyncio.gather(*(backend.stop() for backend in self.backends.values()))

    # requests

    async def submit(self, submission: Submission) -> None:
        target = self._stored(submission)
        self._known[submission.experiment_id] = target
        await self.backends[target].submit(submission)

    async def patch(self, submission: Submission) -> None:
        await self.backends[self._stored(submission)].patch(submission)

    async def delete(self, experiment_id: str) -> None:
        await (await self._backend(experiment_id)).delete(experiment_id)
        self._known.pop(experiment_id, None)

    async def stop_experiment(self, experiment_id: str) -> None:
        await (await self._backend(experiment_id)).stop_experiment(experiment_id)

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        return await self.backends[self._stored(submission)].dry_run(submission)

    async def logs(self, experiment_id: str, *, pod_name: str | None = None,
                   tail_lines: int | None = None) -> list[PodLog]:
        return await (await self._backend(experiment_id)).logs(experiment_id, pod_name=pod_name, tail_lines=tail_lines)

    async def follow(self, experiment_id: str, *, pod_name: str | None = None,
                     tail_lines: int | None = None) -> AsyncGenerator[list[LogChunk], None]:
        backend = await self._backend(experiment_id)
        async for batch in backend.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines):
            yield batch

    async def follow_from(self, experiment_id: str, positions: Mapping[str, LogPosition], *,
                          max_line: int) -> AsyncGenerator[list[LogChunk], None]:
        backend = await self._backend(experiment_id)
        async for batch in backend.follow_from(experiment_id, positions, max_line=max_line):
            yield batch

    def metric_files(self, experiment_id: str) -> MetricFiles:
        """Of an experiment this server has submitted or looked up since it started (the
        metrics service asks after either)."""
        return self.backends[self._known.get(experiment_id, self.default)].metric_files(experiment_id)

    async def describe(self) -> TargetState:
        return await self.default_backend.describe()

    def place(self, experiment_id: str, target: str | None) -> None:
        """Say where a stored experiment runs (``None``: the default target), so a call that
        cannot look it up (``metric_files``) goes there."""
        self._known[experiment_id] = target or self.default

    # helpers

    def _stored(self, submission: Submission) -> str:
        target = submission.target or self.default
        if target not in self.backends:  # stored on a target this server is no longer configured with
            raise BackendError(f"{submission.experiment_id} runs on target '{target}', which this server no "
                               f"longer has (its targets: {', '.join(self.backends)})", 409)
        return target

    async def _backend(self, experiment_id: str) -> Backend:
        target = self._known.get(experiment_id)
        if target is None:
            target = await self._where(experiment_id) or self.default
            self._known[experiment_id] = target
        if target not in self.backends:
            raise BackendError(f"{experiment_id} runs on target '{target}', which this server no longer has "
                               f"(its targets: {', '.join(self.backends)})", 409)
        return self.backends[target]


async def _describe(backend: Backend) -> TargetState:
    try:
        return await asyncio.wait_for(backend.describe(), DESCRIBE_TIMEOUT_S)
    except TimeoutError:
        return TargetState(reachable=False, message=f"did not answer within {DESCRIBE_TIMEOUT_S:g} s")
    except BackendError as error:
        return TargetState(reachable=False, message=error.message)
