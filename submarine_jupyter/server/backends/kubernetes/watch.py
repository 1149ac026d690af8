"""One list+watch of one resource, in its own thread, that keeps going.

The loop lists once, then watches from the list's resourceVersion, and after every
stream end resumes from the last resourceVersion it saw. ``410 Gone`` (history
compacted) makes it list again; an API server that is away makes it retry with
exponential backoff. What it sees goes to ``deliver`` as ``("SYNC", items)`` after
each list and ``(type, object)`` per watch event (``ADDED``, ``MODIFIED``, ``DELETED``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..base import BackendError
from .client import REQUEST_TIMEOUT, TRANSPORT_ERRORS, ListFn, transport_reason

log = logging.getLogger(__name__)

Deliver = Callable[[str, Any], None]


def iter_lines(response: Any) -> Iterator[tuple[str, bool]]:
    """``(line, complete)`` of a streamed response as they arrive; the last line is
    incomplete when the stream ended without a newline."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace"), True
    if buffer:
        yield buffer.decode("utf-8", errors="replace"), False


class ListWatcher:
    """List+watch ``list_fn`` in a daemon thread until ``stop``; ``list_fn()(**query)`` is
    asked for a raw (``_preload_content=False``) urllib3 response."""

    def __init__(self, name: str, list_fn: Callable[[], ListFn], deliver: Deliver, *,
                 label_selector: str, watch_timeout_s: int = 300,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        self.name = name
        self._list_fn = list_fn
        self._deliver = deliver
        self._selector = label_selector
        self._watch_timeout_s = watch_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._stopping = threading.Event()
        self._response: Any = None
        self._response_lock = threading.Lock()
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"k8s-watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._response_lock:
            if self._response is not None:
                self._response.shutdown()
        self._thread.join(timeout)

    def _request(self, **query: Any) -> Any:
        response = self._list_fn()(label_selector=self._selector, _preload_content=False, **query)
        with self._response_lock:
            if self._stopping.is_set():
                response.release_conn()
                raise InterruptedError
            self._response = response
        return response

    def _release(self, response: Any, *, close: bool = False) -> None:
        """Forget ``response``; ``close`` when it may be unread (a watch), else reuse it."""
        with self._response_lock:
            self._response = None
        if close:
            response.close()
        else:
            response.release_conn()

    def _list(self) -> str:
        response = self._request(_request_timeout=REQUEST_TIMEOUT)
        try:
            listing = json.loads(response.data)
        finally:
            self._release(response)
        self._deliver("SYNC", listing.get("items") or [])
        return str(listing["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str | None:
        """Stream events from ``version``; the version to resume from, ``None`` to relist."""
        response = self._request(
            watch=True, resource_version=version, allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout_s,
            _request_timeout=(REQUEST_TIMEOUT[0], self._watch_timeout_s + 30),
        )
        try:
            for line, complete in iter_lines(response):
                if not complete or not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    self._deliver(kind, obj)
                self._recovered()
        finally:
            self._release(response, close=True)
        return version

    def _run(self) -> None:
        version: str | None = None
        delay = self._backoff_initial_s
        while not self._stopping.is_set():
            try:
                if version is None:
                    version = self._list()
                    self._recovered()
                version = self._watch(version)
                delay = self._backoff_initial_s
                continue
            except InterruptedError:
                return
            except ApiException as error:
                if error.status == 410:
                    version = None
                    continue
                self._failed(f"{error.status} {error.reason}")
            except BackendError as error:
                self._failed(error.message)
            except TRANSPORT_ERRORS as error:
                if self._stopping.is_set():
                    return
                self._failed(transport_reason(error))
            except ValueError as error:
                self._failed(f"unreadable answer: {error}")
            self._stopping.wait(delay)
            delay = min(delay * 2, self._backoff_max_s)

    def _failed(self, problem: str) -> None:
        if problem != self._problem:
            log.warning("watch of %s failed (retrying with backoff): %s", self.name, problem)
        self._problem = problem

    def _recovered(self) -> None:
        if self._problem is not None:
            log.info("watch of %s resumed", self.name)
            self._problem = None
