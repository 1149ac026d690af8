"""Experiments' logs: each replica's (streamed while answered), the index, following."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ..wire.responses import LogContent
from . import answers
from .backends.base import Backend, LogLine
from .errors import NOT_FOUND_EXPERIMENT, ApiError, backend_call
from .store import Store


class LogService:
    """Logs of the experiments in ``store``, read from ``backend``."""

    def __init__(self, store: Store, backend: Backend) -> None:
        self.store = store
        self.backend = backend

    async def logs(self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None) -> dict[str, Any]:
        """Each replica's log; a ``podLog`` is a text stream, read as the answer is written."""
        if await self.store.get_experiment(experiment_id) is None:
            raise ApiError(404, NOT_FOUND_EXPERIMENT)
        pods = await backend_call(self.backend.logs(experiment_id, pod_name=pod_name, tail_lines=tail_lines))
        if pod_name is not None and not pods:
            raise ApiError(404, f"podName: experiment {experiment_id} has no replica '{pod_name}'")
        return answers.log_content(experiment_id, pods)

    async def all_logs(self) -> list[LogContent]:
        """Every experiment's replica names, logs left out (``podLog`` null) as the document shows."""
        result = []
        for record in await self.store.list_experiments():
            pods = await backend_call(self.backend.logs(record.id, tail_lines=0))
            result.append(answers.log_index(record.id, [p.pod_name for p in pods]))
        return result

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogLine], None]:
        """Check the experiment (and replica) exists, then stream batches of its lines."""
        await self.logs(experiment_id, pod_name=pod_name, tail_lines=0)
        return self.backend.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines)
