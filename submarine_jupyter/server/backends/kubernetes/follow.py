"""Following replicas' container logs through ``pods/log?follow=true``, resumably.

One stream per replica at a time, read in a thread of the ``LogReader``'s pool (long
reads never occupy the event loop's default executor). It waits for pods that are not
created or still Pending, picks up a restarted or recreated container's new log, resumes a
dropped stream without repeating lines, and ends when every replica has finished (or the
job ended before a replica started); a replica's stream is closed when it ends. Pods and
jobs are looked at in the backend's watch cache (``Watched``), so waiting costs the API
server nothing; only what the cache does not know yet, or a job that ended before its pod
was seen to start, is asked for. Readers
wait while ``MAX_PENDING`` chunks are on their way to a slow consumer, so what is held does
not grow with a replica that prints faster than it is consumed.

The API has no byte offsets, so a position is (the pod's uid, its container's restart
count, the lines of that container's log already read): resuming re-reads that log from
its start and skips those lines (streamed, never held). A last line without a newline is
passed on once its replica has finished.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from ....wire.constants import TERMINAL_STATUSES
from ..base import BackendError, LogChunk, LogPosition
from .client import REQUEST_TIMEOUT, TRANSPORT_ERRORS, Apis
from .logs import LogReader, job_pods, open_log
from .status import JobRef, pod_finished, pod_started, restart_count
from .watch import iter_lines

log = logging.getLogger(__name__)
#: Seconds between looks at a pod that has not started, or whose stream ended.
FOLLOW_POLL_S = 1.0
#: A followed log quiet this long is re-opened (skipping what was read), to notice a
#: connection that died without a word.
FOLLOW_READ_TIMEOUT_S = 300.0
#: Chunks read and not yet taken by the consumer, at most, per follow.
MAX_PENDING = 64
#: Longest wait for a watched pod to change before its ended stream is opened again
#: (a stream can end with its container, or with the connection).
FOLLOW_REOPEN_S = 5.0
#: (lines, lines of the container's log read after them)
Deliver = Callable[[list[str], int], None]
#: (job, pod slot) -> (the pod as last watched or ``None``, whether the job has ended), or
#: ``None`` when the watches have not seen the job.
Watched = Callable[[JobRef, str], tuple[dict[str, Any] | None, bool] | None]


class _Window:
    """Chunks on their way from reader threads to the consumer on the event loop."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending = 0
        self._closed = False

    def enter(self, *, wait: bool) -> bool:
        """Count a chunk in (a reader thread waits for room first); ``False`` once closed."""
        with self._changed:
            while wait and self._pending >= MAX_PENDING and not self._closed:
                self._changed.wait(0.5)
            if self._closed:
                return False
            self._pending += 1
            return True

    def leave(self) -> None:
        with self._changed:
            self._pending -= 1
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


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


def read_lines(response: Any, skip: int, max_line: int | None, final: bool, deliver: Deliver) -> int:
    """Deliver a streamed log's complete lines after its first ``skip``, a batch per piece
    received, lines over ``max_line`` bytes left out (never held whole); the log's lines
    read. ``final``: the stream is the replica's last, so a last line without a newline counts."""
    seen, held, skipping = 0, b"", False
    for data in response.stream(amt=None, decode_content=False):
        lines = (held + data).split(b"\n")
        held = lines.pop()
        batch = []
        for line in lines:
            if seen >= skip and not skipping and (max_line is None or len(line) <= max_line):
                batch.append(line.decode("utf-8", "replace"))
            seen += 1
            skipping = False
        if skipping or (max_line is not None and len(held) > max_line):
            held, skipping = b"", True
        if batch:
            deliver(batch, seen)
    if final and (held or skipping):
        if held and seen >= skip:
            deliver([held.decode("utf-8", "replace")], seen + 1)
        seen += 1
    return seen


class LogFollower:
    """Follows the replicas of jobs through ``reader``'s connection and thread pool, their
    pods as ``watched`` shows them (``None``: asked of the API server)."""

    def __init__(self, reader: LogReader, watched: Watched | None = None) -> None:
        self.reader = reader
        self._watched = watched

    def lines(self, job: JobRef, names: list[str], tail_lines: int | None) -> AsyncGenerator[list[LogChunk], None]:
        """Batches of lines from every named replica (its last ``tail_lines`` first) until all have ended."""
        return self.chunks(job, names, {}, tail_lines=tail_lines)

    async def chunks(self, job: JobRef, names: list[str], positions: dict[str, LogPosition], *,
                     tail_lines: int | None = None, max_line: int | None = None) -> AsyncGenerator[list[LogChunk], None]:
        """Chunks of lines from every named replica after its position, until all have ended."""
        queue: asyncio.Queue[LogChunk | None] = asyncio.Queue()
        window = _Window()
        tasks = [asyncio.create_task(self._follow_one(job, name, positions.get(name), tail_lines, max_line,
                                                      queue, window)) for name in names]
        remaining = len(tasks)
        try:
            while remaining:
                item: LogChunk | None = await queue.get()
                batch: list[LogChunk] = []
                while True:
                    if item is None:
                        remaining -= 1
                    else:
                        window.leave()
                        batch.append(item)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    yield batch
        finally:
            window.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow_one(self, job: JobRef, name: str, position: LogPosition | None, tail_lines: int | None,
                          max_line: int | None, queue: asyncio.Queue[LogChunk | None], window: _Window) -> None:
        loop = asyncio.get_running_loop()
        place = position or {}
        pod: dict[str, Any] | None = None
        slot = next((replica.slot for replica in job.replicas if replica.name == name), name)
        try:
            while True:
                pod = await self._started_pod(job, slot, after=pod)
                if pod is None:
                    return
                pod_name = pod["metadata"]["name"]
                container = (pod["metadata"].get("uid"), restart_count(pod, job.kind.container))
                if place and container != (place.get("uid"), place.get("restarts")):
                    place, tail_lines = {}, None  # another container than the one read: its log from the start
                uid, restarts = container

                def chunk(lines: list[str], read: int, uid: str = uid, restarts: int = restarts) -> LogChunk:
                    return LogChunk(name, lines, {"uid": uid, "restarts": restarts, "lines": read})

                def deliver(lines: list[str], read: int) -> None:  # from a reader thread
                    if window.enter(wait=True):
                        loop.call_soon_threadsafe(queue.put_nowait, chunk(lines, read))

                def tailed(lines: list[str], read: int) -> None:  # on the event loop
                    if window.enter(wait=False):
                        queue.put_nowait(chunk(lines, read))

                consumed = int(place.get("lines", 0))
                if tail_lines is not None:
                    consumed = await self._tail(job, pod_name, tail_lines, tailed)
                    tail_lines = None
                finished = pod_finished(pod)
                consumed = await self._stream(job, pod_name, consumed, max_line, deliver, final=finished)
                place = {"uid": uid, "restarts": restarts, "lines": consumed}
                if finished:
                    return
                await asyncio.sleep(FOLLOW_POLL_S)
        except Exception:  # end this replica's follow, say why, keep the others going
            log.exception("following the log of pod %s/%s failed", job.namespace, name)
        finally:
            queue.put_nowait(None)

    async def _tail(self, job: JobRef, pod_name: str, tail_lines: int, deliver: Deliver) -> int:
        """Deliver the last ``tail_lines`` complete lines; the number of complete lines.
        The log is streamed, keeping only those lines."""
        def read(apis: Apis) -> tuple[list[str], int]:
            last: deque[str] = deque(maxlen=tail_lines)
            count = 0
            response = open_log(apis, job, pod_name, _request_timeout=REQUEST_TIMEOUT)
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

        lines, count = await self.reader.call(read, job, long=True)
        if lines:
            deliver(lines, count)
        return count

    async def _started_pod(self, job: JobRef, slot: str, after: dict[str, Any] | None) -> dict[str, Any] | None:
        """The pod in ``slot`` once it has started (and, watched, changed since ``after``, or
        ``FOLLOW_REOPEN_S`` passed); ``None`` when the job ended (or went) before it started."""
        def probe(apis: Apis) -> tuple[dict[str, Any] | None, bool]:
            pod = job_pods(apis, job).get(slot)
            if pod is not None and pod_started(pod):
                return pod, False
            try:
                found = apis.custom.get_namespaced_custom_object(
                    job.kind.group, job.kind.version, job.namespace, job.kind.plural, job.name,
                    _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status != 404:
                    raise
                return None, True
            return None, job.kind.status(found)[0] in TERMINAL_STATUSES

        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_REOPEN_S
        while True:
            seen = self._watched(job, slot) if self._watched is not None else None
            if seen is not None:
                pod, over = seen
                if pod is not None and pod_started(pod):
                    if after is None or _version(pod) != _version(after) or loop.time() >= deadline:
                        return pod
                elif over:
                    seen = None  # ended, its pod not seen started: ask (the pods' watch may lag the jobs')
            if seen is None:
                try:
                    pod, over = await self.reader.call(probe, job)
                except BackendError:
                    pod, over = None, False
                if pod is not None or over:
                    return pod
            await asyncio.sleep(FOLLOW_POLL_S)

    async def _stream(self, job: JobRef, pod_name: str, consumed: int, max_line: int | None, deliver: Deliver,
                      *, final: bool) -> int:
        """Read the container's log (following it unless ``final``), skipping ``consumed``
        lines; the lines read."""
        stream = _Stream()

        delivered = consumed

        def counted(lines: list[str], read: int) -> None:
            nonlocal delivered
            delivered = read
            deliver(lines, read)

        def run() -> int:
            apis = self.reader.connector.apis()
            try:
                response = open_log(
                    apis, job, pod_name, follow=not final,
                    _request_timeout=REQUEST_TIMEOUT if final else (REQUEST_TIMEOUT[0], FOLLOW_READ_TIMEOUT_S),
                )
                if response is None:
                    return consumed
                stream.attach(response)
                try:
                    return max(read_lines(response, consumed, max_line, final, counted), consumed)
                finally:
                    response.close()
            except TRANSPORT_ERRORS:
                return delivered  # a dropped stream: the caller looks at the pod again and resumes

        future = asyncio.get_running_loop().run_in_executor(self.reader.streams, run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            stream.cancel()
            raise
        except (ApiException, BackendError):
            return delivered


def _version(pod: dict[str, Any]) -> Any:
    return (pod.get("metadata") or {}).get("resourceVersion")
