"""Pure: the training-operator's rule for when a job has succeeded or failed."""

from __future__ import annotations

from ....wire.constants import replica_name
from ...domain import Status
from .run import Run


def outcome(run: Run) -> tuple[Status, str] | None:
    """Any failure fails the job; the Chief (or Master) completing succeeds it; without
    one, worker 0 (TensorFlow) or every worker does. ``None``: not decided yet."""
    reps = run.replicas
    for rep in reps.values():
        if rep.status.state == "Failed":
            return "Failed", rep.status.message or f"replica {rep.status.name} failed"
    spec = run.submission.spec
    roles = spec.spec
    decider: str | None = next((r for r in ("Chief", "Master") if r in roles), None)
    if decider is None and spec.meta.framework_key == "tensorflow" and "Worker" in roles:
        decider = "Worker"
    if decider is not None:
        name = replica_name(run.experiment_id, decider, 0)
        if reps[name].status.state == "Succeeded":
            return "Succeeded", f"replica {name} completed"
    if all(rep.status.state == "Succeeded" for rep in reps.values()):
        return "Succeeded", "every replica completed"
    workers = [rep for rep in reps.values() if rep.status.role == "Worker"]
    if decider is None and workers and all(rep.status.state == "Succeeded" for rep in workers):
        return "Succeeded", "every worker completed"
    return None
