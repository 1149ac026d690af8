"""The Backend protocol: what the service asks of a backend and what it hears back.

A backend runs experiments (local processes, Kubeflow jobs). It never writes the store:
it reports ``BackendEvent``s to the sink the service gives it, and the service decides
what the experiment's status is. Whatever a backend must remember across server restarts
(pids, ports, resource versions) travels in ``BackendEvent.state``; the service stores it
opaquely and hands it back in ``Adoption.state``.

Backends are found by name in the ``submarine_jupyter.backends`` entry-point group
(``backends.registry``); each is a traitlets ``Configurable`` that owns its settings
(``c.LocalBackend.grace_period``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from traitlets.config import Configurable

from ...wire.requests import ExperimentSpec
from ..domain import ReplicaStatus, Status


class BackendError(Exception):
    """A backend refusal the user can act on; becomes an envelope with ``code``."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Submission:
    """An experiment as the backend must run it."""

    experiment_id: str
    spec: ExperimentSpec
    image: str | None = None  # resolved from the inline or stored environment
    target: str | None = None  # where it runs (``None``: the server's default target)


@dataclass
class BackendEvent:
    """A change a backend observed. ``None`` fields mean "unchanged"."""

    experiment_id: str
    status: Status | None = None
    message: str | None = None
    replicas: list[ReplicaStatus] | None = None
    state: dict[str, Any] | None = None
    #: When statuses began, where the backend knows better than "when it was reported"
    #: (a Kubeflow job's condition times); timezone-aware.
    times: dict[Status, datetime] = field(default_factory=dict)


EventSink = Callable[[BackendEvent], Awaitable[None]]


@dataclass
class Adoption:
    """A stored, unfinished experiment handed back to the backend at server start."""

    submission: Submission
    status: Status
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PodLog:
    """One replica's log. ``chunks`` yields its text piece by piece while the answer is
    written, so a large log is never held whole; ``None``: the replica has not started."""

    pod_name: str
    chunks: AsyncGenerator[str, None] | None


#: Where reading a replica's log resumes: JSON data only its backend reads (a byte offset
#: locally; on Kubernetes the pod, its container's restart count and the lines read).
LogPosition = dict[str, Any]


@dataclass(frozen=True)
class LogChunk:
    """New complete lines of one replica's log, and the position just after them."""

    pod_name: str
    lines: list[str]
    position: LogPosition


@dataclass(frozen=True)
class LogFiles:
    """Replica logs that are files on this machine: each replica's now (asked again on every
    round), and the event set once the experiment has ended (its logs grow no more)."""

    paths: Callable[[], dict[str, Path]]
    finished: asyncio.Event


@dataclass(frozen=True)
class MetricFiles:
    """Where this server reads an experiment's metric files; ``None``: this backend has none."""

    #: The replicas' logs, read for metrics straight from their files (else through ``follow_from``).
    logs: LogFiles | None = None
    #: One folder per replica, named by its pod name: each replica's ``SUBMARINE_TENSORBOARD_LOG_DIR``.
    tensorboard: Path | None = None
    #: The SQLite file Submarine's tracking SDK writes (the replicas' ``SUBMARINE_DB_URI``).
    tracking: Path | None = None


@dataclass(frozen=True)
class TargetState:
    """What a backend says of itself for ``GET /api/v1/target``."""

    reachable: bool
    message: str | None = None
    api: str | None = None
    namespace: str | None = None
    cpu: float | None = None
    memory: str | None = None
    gpu: int | None = None


@dataclass(frozen=True)
class ServerPaths:
    """What the server tells a backend it creates: where state lives, where users work."""

    state_dir: Path
    root_dir: Path


class Backend(Protocol):
    """What every backend implements."""

    name: str

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        """Begin reporting to ``sink``; take over the experiments still running."""

    async def stop(self) -> None:
        """Server shutdown: stop watching. Running experiments keep running."""

    async def submit(self, submission: Submission) -> None:
        """Run a new experiment (it may wait for capacity). Raise ``BackendError`` to refuse."""

    async def patch(self, submission: Submission) -> None:
        """Replace the spec of an unfinished experiment."""

    async def delete(self, experiment_id: str) -> None:
        """Stop every replica and forget the experiment; nothing may keep running."""

    async def stop_experiment(self, experiment_id: str) -> None:
        """Stop every replica (a queued experiment never starts) and report the experiment
        ``Stopped``; nothing keeps running, and its logs stay readable."""

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        """What ``submit`` would run, without running anything."""

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> list[PodLog]:
        """A snapshot of each replica's log (all replicas the spec names)."""

    def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogChunk], None]:
        """Batches of lines as they are written, a chunk per replica (each batch is sent with one flush);
        waits for replicas not yet started; ends when the experiment has ended and
        every log is drained."""

    def follow_from(
        self, experiment_id: str, positions: Mapping[str, LogPosition], *, max_line: int
    ) -> AsyncGenerator[list[LogChunk], None]:
        """Like ``follow``, for collectors that must resume: every replica's complete lines
        after its position in ``positions`` (from an earlier ``LogChunk``; a replica without
        one from its start), each chunk with the position after it. Lines longer than
        ``max_line`` bytes are left out, never held whole; a last line without a newline
        comes once its replica has ended. Positions survive a server restart."""

    def metric_files(self, experiment_id: str) -> MetricFiles:
        """Where the experiment's replicas write TensorBoard events and tracking rows."""

    async def describe(self) -> TargetState:
        """Whether it can run experiments now (asked briefly, never for long), and its capacity."""


class BackendClass(Protocol):
    """A backend's class, as the entry point names it: a ``Configurable`` built from the app."""

    def __call__(self, *, parent: Configurable, paths: ServerPaths) -> Backend: ...
