"""What the server keeps about experiments, environments and metrics, as typed records.

The store persists these; backends report ``ReplicaStatus``es; ``answers`` turns records
into the API's answers. None of them is the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..wire.constants import ReplicaState, StoredStatus

Status = StoredStatus


@dataclass
class ReplicaStatus:
    """One replica as its backend last saw it."""

    name: str
    role: str
    index: int
    state: ReplicaState = "Pending"
    restarts: int = 0
    exit_code: int | None = None
    message: str | None = None


@dataclass
class ExperimentRecord:
    id: str
    name: str
    uid: str
    status: str
    spec: dict[str, Any]
    accepted_time: str | None = None
    created_time: str | None = None
    running_time: str | None = None
    finished_time: str | None = None
    status_message: str | None = None
    image: str | None = None
    replicas: list[ReplicaStatus] = field(default_factory=list)
    backend_state: dict[str, Any] = field(default_factory=dict)
    #: A spec PATCHed after the end: recorded, never run (a re-run runs it).
    pending_spec: dict[str, Any] | None = None
    rerun_of: str | None = None
    template: str | None = None
    sweep: str | None = None
    #: The target it runs on (the store names one for the rows stored before targets).
    target: str = "local"
    #: The experiments that re-run this one (read with it, never written).
    reruns: list[str] = field(default_factory=list)


@dataclass
class TemplateRecord:
    id: str
    name: str
    spec: dict[str, Any]


@dataclass
class TrialRecord:
    index: int
    params: dict[str, str]
    experiment_id: str | None = None


@dataclass
class SweepRecord:
    name: str
    spec: dict[str, Any]
    status: str
    status_message: str | None = None
    trials: list[TrialRecord] = field(default_factory=list)


@dataclass
class EnvironmentRecord:
    id: str
    name: str
    spec: dict[str, Any]


@dataclass
class SeriesRecord:
    """One metric series as stored: what it holds in all, and the points an answer carries."""

    name: str
    replica: str
    source: str
    count: int
    last: float | None
    min: float | None
    max: float | None
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (step, value, time)
    downsampled: bool = False


@dataclass
class ParamRecord:
    key: str
    value: str
    replica: str


@dataclass(frozen=True)
class Origin:
    """Where a new experiment comes from: the one it re-runs, its template, its sweep."""

    rerun_of: str | None = None
    template: str | None = None
    sweep: str | None = None
