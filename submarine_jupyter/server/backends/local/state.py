"""What the local backend remembers of a run across server restarts (its adoption state).

Stored by the service as the experiment's opaque ``backend_state`` and handed back at the
next start. The keys are those release 0.1.0 wrote, so its databases are read unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ....wire.constants import ReplicaState

Phase = Literal["queued", "running", "done"]


class _State(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ReplicaRecord(_State):
    """One replica: how it stands, and the process (pid plus start time) running it."""

    name: str
    role: str
    index: int
    state: ReplicaState = "Pending"
    restarts: int = 0
    exit_code: int | None = None
    message: str | None = None
    gpus: list[str] = Field(default_factory=list)
    pid: int | None = None
    start_ticks: int | None = None


class RunState(_State):
    """A run: queued or running (and in which generation of patches), its ports, its replicas."""

    phase: Phase = "queued"
    generation: int = 0
    ports: dict[str, list[int]] = Field(default_factory=dict)
    replicas: dict[str, ReplicaRecord] = Field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
