"""A run of an experiment on this machine: its plan, and its replicas' processes and states."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ...domain import ReplicaStatus
from ..base import Submission
from .capacity import Demand
from .processes import ProcessId
from .state import Phase, ReplicaRecord, RunState


@dataclass
class Replica:
    status: ReplicaStatus
    log_path: Path
    exit_path: Path
    gpus: list[str] = field(default_factory=list)
    pid: ProcessId | None = None

    def record(self) -> ReplicaRecord:
        s = self.status
        return ReplicaRecord(
            name=s.name, role=s.role, index=s.index, state=s.state, restarts=s.restarts, exit_code=s.exit_code,
            message=s.message, gpus=self.gpus, pid=self.pid.pid if self.pid else None,
            start_ticks=self.pid.start_ticks if self.pid else None,
        )


@dataclass
class Run:
    submission: Submission
    demand: Demand
    replicas: dict[str, Replica]
    phase: Phase = "queued"
    generation: int = 0
    ports: dict[str, list[int]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Set once the run has ended and what it ended as is stored: its followers stop then.
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once the run's processes are known (at once, but for a run re-adopted at start: then).
    adopted: asyncio.Event = field(default_factory=asyncio.Event)
    #: The clone of its ``code.git`` while it is made (cancelled when the run is stopped or patched).
    checkout: asyncio.Task[str | None] | None = None

    @property
    def experiment_id(self) -> str:
        return self.submission.experiment_id

    def state(self) -> RunState:
        return RunState(
            phase=self.phase, generation=self.generation, ports=self.ports,
            replicas={name: rep.record() for name, rep in self.replicas.items()},
        )
