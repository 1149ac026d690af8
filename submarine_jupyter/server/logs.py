"""Experiments' logs: each replica's (streamed while answered), the index, following."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from . import answers
from .backends.base import Backend, LogChunk
from .errors import NOT_FOUND_EXPERIMENT, ApiError, backend_call
from .store import ExperimentQuery, Store, StoredExperiment


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

    async def index_page(self, query: ExperimentQuery) -> tuple[list[str], int | None]:
        """A page of the index: each experiment's replica names, logs left out (``podLog``
        null) as the document shows, as JSON text; and the ``seq`` the next page starts after."""
        ids, after = await self.store.page_experiments_as(query, _id)
        result = []
        for experiment_id in ids:
            pods = await backend_call(self.backend.logs(experiment_id, tail_lines=0))
            result.append(json.dumps(answers.log_index(experiment_id, [p.pod_name for p in pods]).wire()))
        return result, after

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogChunk], None]:
        """Check the experiment (and replica) exists, then stream batches of its lines."""
        await self.logs(experiment_id, pod_name=pod_name, tail_lines=0)
        return self.backend.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines)


def _id(stored: StoredExperiment) -> str:
    return stored.id
