"""The Kubernetes backend's watches of one namespace: one list+watch per job kind and one
of the operator's pods, each in its own thread, putting what it sees on one queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .apis import KubeflowApi
from .client import Connector, lister
from .kinds import MANAGED_BY, MANAGED_BY_LABEL, JobKind
from .watch import ListWatcher

#: (event, job kind or ``None`` for pods, namespace or ``None`` for all, payload)
WatchEvent = tuple[str, JobKind | None, str | None, Any]


def watchers(connector: Connector, api: KubeflowApi, namespace: str | None, queue: asyncio.Queue[WatchEvent], *,
             watch_timeout: int, reconnect_max: float) -> list[ListWatcher]:
    """The (unstarted) watchers of ``namespace`` (``None``: all): one per job kind of ``api``, one of pods."""
    loop = asyncio.get_running_loop()

    def feed(kind: JobKind | None) -> Callable[[str, Any], None]:
        def deliver(event: str, payload: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (event, kind, namespace, payload))
            except RuntimeError:  # the loop has closed; the watcher is being stopped
                pass
        return deliver

    where = namespace or "all namespaces"
    watches: list[tuple[str, JobKind | None, str]] = [
        (f"{kind.plural} in {where}", kind, f"{MANAGED_BY_LABEL}={MANAGED_BY}") for kind in api.kinds]
    watches.append((f"pods in {where}", None, api.pod_label))
    return [
        ListWatcher(name, lister(connector, kind, namespace), feed(kind), label_selector=selector,
                    watch_timeout_s=watch_timeout, backoff_max_s=reconnect_max)
        for name, kind, selector in watches
    ]
