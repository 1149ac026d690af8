"""Who runs next on this machine: a first-come, first-served queue over cpu, memory and GPUs."""

from __future__ import annotations

from ..base import BackendError
from .capacity import Capacity, Demand, replica_demand
from .run import Run

CAPACITY_SETTINGS = "c.LocalBackend.cpu_capacity/memory_capacity/gpus"


class Admission:
    """The queue of runs waiting for resources and what the running ones hold.

    Nothing overtakes the head of the queue: a small run waits behind a large one, so a
    large one is never starved.
    """

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.queue: list[str] = []
        self._used = Demand()
        self._gpu_owner: dict[str, str] = {}

    @property
    def free(self) -> Demand:
        return self.capacity.total - self._used

    def check_ever_fits(self, demand: Demand) -> None:
        """Refuse (422) what this machine could never run, saying by how much."""
        total = self.capacity.total
        if not demand.fits(total):
            raise BackendError(
                f"spec: asks for more than this machine can ever give ({demand.shortfall(total)}); "
                f"lower the resources or raise {CAPACITY_SETTINGS}",
                422,
            )

    def waiting_message(self, run: Run) -> str | None:
        if run.phase != "queued" or run.demand.fits(self.free):
            return None
        return f"Waiting for resources: {run.demand.shortfall(self.free)} free"

    def enqueue(self, experiment_id: str, *, first: bool = False) -> None:
        self.queue.insert(0 if first else len(self.queue), experiment_id)

    def dequeue(self, experiment_id: str) -> None:
        if experiment_id in self.queue:
            self.queue.remove(experiment_id)

    def reserve(self, run: Run, gpus: dict[str, list[str]] | None = None) -> None:
        """Hold ``run``'s demand; give each replica its GPUs (``gpus``: those it already had)."""
        self._used = self._used + run.demand
        free_gpus = [g for g in self.capacity.gpus if g not in self._gpu_owner]
        for name, rep in run.replicas.items():
            if gpus is not None:
                rep.gpus = gpus.get(name, [])
            else:
                count = replica_demand(run.submission.spec, rep.status.role).gpu
                rep.gpus, free_gpus = free_gpus[:count], free_gpus[count:]
            for gpu in rep.gpus:
                self._gpu_owner[gpu] = run.experiment_id

    def release(self, run: Run) -> None:
        self._used = self._used - run.demand
        for gpu, owner in list(self._gpu_owner.items()):
            if owner == run.experiment_id:
                del self._gpu_owner[gpu]
