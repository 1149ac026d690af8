"""Replica logs from pods, through the API server's ``pods/log``: snapshots and follow.

Follow reads each replica's container log as a stream in a thread of its own pool (long
reads never occupy the event loop's default executor). It waits for pods that are not
created or still Pending, picks up a restarted container's new log, resumes a dropped
stream without repeating lines, and ends when every replica has finished (or the job
ended before a replica started).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from ....wire.constants import TERMINAL_STATUSES
from ..base import BackendError, LogLine, PodLog
from ..text import decoded
from .client import REQUEST_TIMEOUT, TRANSPORT_ERRORS, Apis, Connector, call, unreachable
from .kinds import GROUP, JOB_NAME_LABEL, VERSION
from .status import JobRef, job_status, pod_finished, pod_started, restart_count
from .watch import iter_lines

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Seconds between looks at a pod that has not started, or whose stream ended.
FOLLOW_POLL_S = 1.0
#: A followed log quiet this long is re-opened (skipping what was read), to notice a
#: connection that died without a word.
FOLLOW_READ_TIMEOUT_S = 300.0
#: Bytes read at a time for a log snapshot.
SNAPSHOT_CHUNK = 1 << 16


class _Stream:
    """The response a thread is reading, so another thread can cut it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: Any = None
        self.cancelled = False

    def attach(self, response: Any) -> None:
        with self._lock:
            self._response = response
            if self.cancelled:
                response.shutdown()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._response is not None:
                self._response.shutdown()


def _open_log(apis: Apis, job: JobRef, pod: str, **options: Any) -> Any | None:
    """The pod's container log as an unread streamed response; ``None`` when it has no log:
    the pod is gone (404) or its container has not started (400)."""
    try:
        return apis.core.read_namespaced_pod_log(
            pod, job.namespace, container=job.kind.container, _preload_content=False, **options)
    except ApiException as error:
        if error.status in (400, 404):
            return None
        raise


class LogReader:
    def __init__(self, connector: Connector, max_streams: int = 64) -> None:
        self._connector = connector
        self._streams = ThreadPoolExecutor(max_workers=max_streams, thread_name_prefix="k8s-log")

    def close(self) -> None:
        self._streams.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[[Apis], T], job: JobRef, *, long: bool = False) -> T:
        """``fn`` in a thread; ``long`` reads (whole logs) use this reader's own pool."""
        return await call(self._connector, fn, kind=job.kind, namespace=job.namespace, name=job.name,
                          executor=self._streams if long else None)

    async def pods(self, job: JobRef) -> dict[str, dict[str, Any]]:
        """The job's pods by name (found by the operator's job-name label)."""
        def list_pods(apis: Apis) -> dict[str, dict[str, Any]]:
            response = apis.core.list_namespaced_pod(
                job.namespace, label_selector=f"{JOB_NAME_LABEL}={job.name}",
                _preload_content=False, _request_timeout=REQUEST_TIMEOUT,
            )
            items = json.loads(response.data).get("items") or []
            return {item["metadata"]["name"]: item for item in items}

        return await self._call(list_pods, job)

    async def snapshot(self, job: JobRef, names: list[str], tail_lines: int | None) -> list[PodLog]:
        """Each named replica's log, read while the answer is written; ``None`` for one
        whose pod has not started."""
        pods = await self.pods(job)
        return [
            PodLog(name, self._chunks(job, name, tail_lines) if name in pods and pod_started(pods[name]) else None)
            for name in names
        ]

    async def _chunks(self, job: JobRef, pod: str, tail_lines: int | None) -> AsyncGenerator[str, None]:
        """The container's log as text pieces, streamed from the API server."""
        if tail_lines == 0:
            return

        response = await self._call(
            lambda apis: _open_log(apis, job, pod, tail_lines=tail_lines, _request_timeout=REQUEST_TIMEOUT), job)
        if response is None:
            return
        pieces = response.stream(SNAPSHOT_CHUNK)
        loop = asyncio.get_running_loop()

        async def read() -> bytes:
            try:
                return await loop.run_in_executor(self._streams, next, pieces, b"")
            except TRANSPORT_ERRORS as error:
                raise unreachable(self._connector.apis().host, error) from None

        try:
            async with aclosing(decoded(read)) as texts:
                async for text in texts:
                    yield text
        finally:
            response.close()
            response.release_conn()

    async def follow(self, job: JobRef, names: list[str], tail_lines: int | None) -> AsyncGenerator[list[LogLine], None]:
        """Batches of lines from every named replica until all of them have ended."""
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue()
        tasks = [asyncio.create_task(self._follow_one(job, name, tail_lines, queue)) for name in names]
        remaining = len(tasks)
        try:
            while remaining:
                item: LogLine | None = await queue.get()
                batch: list[LogLine] = []
                while True:
                    if item is None:
                        remaining -= 1
                    else:
                        batch.append(item)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    yield batch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow_one(self, job: JobRef, name: str, tail_lines: int | None,
                          queue: asyncio.Queue[LogLine | None]) -> None:
        loop = asyncio.get_running_loop()

        def deliver(line: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, LogLine(name, line))

        try:
            container: int | None = None  # restart count of the container being read
            consumed = 0  # complete lines of that container already delivered or skipped
            while True:
                pod = await self._started_pod(job, name)
                if pod is None:
                    return
                restarts = restart_count(pod, job.kind.container)
                if container is not None and restarts != container:
                    consumed, tail_lines = 0, None
                container = restarts
                if tail_lines is not None:
                    consumed = await self._tail(job, name, tail_lines, deliver)
                    tail_lines = None
                finished = pod_finished(pod)
                consumed = await self._stream(job, name, consumed, deliver, follow=not finished)
                if finished:
                    return
                await asyncio.sleep(FOLLOW_POLL_S)
        except Exception:  # end this replica's follow, say why, keep the others going
            log.exception("following the log of pod %s/%s failed", job.namespace, name)
        finally:
            queue.put_nowait(None)

    async def _tail(self, job: JobRef, name: str, tail_lines: int, deliver: Callable[[str], None]) -> int:
        """Deliver the last ``tail_lines`` complete lines; the number of complete lines.
        The log is streamed, keeping only those lines."""
        def read(apis: Apis) -> tuple[list[str], int]:
            last: deque[str] = deque(maxlen=tail_lines)
            count = 0
            response = _open_log(apis, job, name, _request_timeout=REQUEST_TIMEOUT)
            if response is None:
                return [], 0
            try:
                for line, complete in iter_lines(response):
                    if complete:
                        last.append(line)
                        count += 1
            finally:
                response.close()
                response.release_conn()
            return list(last), count

        lines, count = await self._call(read, job, long=True)
        for line in lines:
            deliver(line)
        return count

    async def _started_pod(self, job: JobRef, name: str) -> dict[str, Any] | None:
        """The pod once it has started; ``None`` when the job ended (or went) before that."""
        def probe(apis: Apis) -> tuple[dict[str, Any] | None, bool]:
            try:
                response = apis.core.read_namespaced_pod(
                    name, job.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
                pod = json.loads(response.data)
            except ApiException as error:
                if error.status != 404:
                    raise
                pod = None
            if pod is not None and pod_started(pod):
                return pod, False
            try:
                found = apis.custom.get_namespaced_custom_object(
                    GROUP, VERSION, job.namespace, job.kind.plural, job.name,
                    _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status != 404:
                    raise
                return None, True
            return None, job_status(found)[0] in TERMINAL_STATUSES

        while True:
            try:
                pod, over = await self._call(probe, job)
            except BackendError:
                pod, over = None, False
            if pod is not None or over:
                return pod
            await asyncio.sleep(FOLLOW_POLL_S)

    async def _stream(self, job: JobRef, name: str, consumed: int, deliver: Callable[[str], None],
                      *, follow: bool) -> int:
        """Read the container's log, skipping ``consumed`` complete lines; the new count."""
        stream = _Stream()

        def run() -> int:
            apis = self._connector.apis()
            seen = 0
            try:
                response = _open_log(
                    apis, job, name, follow=follow,
                    _request_timeout=(REQUEST_TIMEOUT[0], FOLLOW_READ_TIMEOUT_S) if follow else REQUEST_TIMEOUT,
                )
                if response is None:
                    return consumed
                stream.attach(response)
                try:
                    for line, complete in iter_lines(response):
                        if seen >= consumed:
                            deliver(line)
                        seen += complete
                finally:
                    response.close()
            except TRANSPORT_ERRORS:
                pass  # a dropped stream: the caller looks at the pod again and resumes
            return max(seen, consumed)

        future = asyncio.get_running_loop().run_in_executor(self._streams, run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            stream.cancel()
            raise
        except (ApiException, BackendError):
            return consumed
