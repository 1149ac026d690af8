"""Replica logs from pods, through the API server's ``pods/log``: snapshots (following: ``follow``).

Whole logs are read in threads of the reader's own pool, so long reads never occupy the
event loop's default executor.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from ..base import PodLog
from ..text import decoded
from .client import REQUEST_TIMEOUT, TRANSPORT_ERRORS, Apis, Connector, call, unreachable
from .status import JobRef, pod_started

T = TypeVar("T")
#: Bytes read at a time for a log snapshot.
SNAPSHOT_CHUNK = 1 << 16


def open_log(apis: Apis, job: JobRef, pod: str, **options: Any) -> Any | None:
    """The pod's container log as an unread streamed response; ``None`` when it has no log:
    the pod is gone (404) or its container has not started (400)."""
    try:
        return apis.core.read_namespaced_pod_log(
            pod, job.namespace, container=job.kind.container, _preload_content=False, **options)
    except ApiException as error:
        if error.status in (400, 404):
            return None
        raise


def job_pods(apis: Apis, job: JobRef) -> dict[str, dict[str, Any]]:
    """The job's pods by slot, the newest where a slot's pod was replaced."""
    response = apis.core.list_namespaced_pod(
        job.namespace, label_selector=f"{job.kind.pod_label}={job.name}",
        _preload_content=False, _request_timeout=REQUEST_TIMEOUT,
    )
    items = json.loads(response.data).get("items") or []
    items.sort(key=lambda item: str(item["metadata"].get("creationTimestamp") or ""))
    return {slot: item for item in items if (slot := job.kind.pod_slot(item)) is not None}


class LogReader:
    """Reads pods' logs through ``connector``, long reads in a pool of ``max_streams`` threads."""

    def __init__(self, connector: Connector, max_streams: int = 64) -> None:
        self.connector = connector
        self.streams = ThreadPoolExecutor(max_workers=max_streams, thread_name_prefix="k8s-log")

    def close(self) -> None:
        self.streams.shutdown(wait=False, cancel_futures=True)

    async def call(self, fn: Callable[[Apis], T], job: JobRef, *, long: bool = False) -> T:
        """``fn`` in a thread; ``long`` reads (whole logs) use this reader's own pool."""
        return await call(self.connector, fn, kind=job.kind, namespace=job.namespace, name=job.name,
                          executor=self.streams if long else None)

    async def pods(self, job: JobRef) -> dict[str, dict[str, Any]]:
        """The job's pods by slot (found by the label its operator puts on them)."""
        return await self.call(lambda apis: job_pods(apis, job), job)

    async def snapshot(self, job: JobRef, names: list[str], tail_lines: int | None) -> list[PodLog]:
        """Each named replica's log, read while the answer is written; ``None`` for one
        whose pod has not started."""
        pods = await self.pods(job)
        slots = {replica.name: replica.slot for replica in job.replicas}
        found = {name: pods.get(slots.get(name, name)) for name in names}
        return [
            PodLog(name, self._chunks(job, pod["metadata"]["name"], tail_lines) if pod and pod_started(pod) else None)
            for name, pod in found.items()
        ]

    async def _chunks(self, job: JobRef, pod: str, tail_lines: int | None) -> AsyncGenerator[str, None]:
        """The container's log as text pieces, streamed from the API server."""
        if tail_lines == 0:
            return

        response = await self.call(
            lambda apis: open_log(apis, job, pod, tail_lines=tail_lines, _request_timeout=REQUEST_TIMEOUT), job)
        if response is None:
            return
        pieces = response.stream(SNAPSHOT_CHUNK)
        loop = asyncio.get_running_loop()

        async def read() -> bytes:
            try:
                return await loop.run_in_executor(self.streams, next, pieces, b"")
            except TRANSPORT_ERRORS as error:
                raise unreachable(self.connector.apis().host, error) from None

        try:
            async with aclosing(decoded(read)) as texts:
                async for text in texts:
                    yield text
        finally:
            response.close()
            response.release_conn()
