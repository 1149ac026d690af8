"""Pure: what a Kubeflow job and its pods say, in Submarine's terms.

Job conditions -> experiment status (the training-operator's ``Restarting`` is Submarine's
``Running``), pods -> per-replica states with restarts, exit codes and reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ....wire.constants import FRAMEWORK_ROLES, ReplicaState, dns_name, replica_name
from ....wire.requests import ExperimentSpec
from ...domain import ReplicaStatus, Status

if TYPE_CHECKING:  # the kinds read jobs with this module's functions
    from .kinds import JobKind

_CONDITION_STATUS: dict[str, Status] = {
    "Created": "Created", "Running": "Running", "Restarting": "Running",
    "Succeeded": "Succeeded", "Failed": "Failed",
}
_POD_PHASE: dict[str, ReplicaState] = {
    "Pending": "Pending", "Running": "Running", "Succeeded": "Succeeded", "Failed": "Failed",
}
_FINAL: frozenset[str] = frozenset({"Succeeded", "Failed", "Stopped"})


def job_status(job: dict[str, Any]) -> tuple[Status | None, str | None]:
    """The experiment status a job's conditions say (``None``: not reconciled yet) and why."""
    conditions = [
        c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
    ]
    for final in ("Succeeded", "Failed"):
        for condition in conditions:
            if condition.get("type") == final:
                return final, condition.get("message")  # type: ignore[return-value]
    for condition in reversed(conditions):
        status = _CONDITION_STATUS.get(str(condition.get("type")))
        if status is not None:
            return status, condition.get("message")
    return None, None


def stamp_time(stamp: Any) -> datetime | None:
    """A condition's RFC 3339 ``lastTransitionTime``, or None when it is not one with a zone."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def condition_times(job: dict[str, Any]) -> dict[Status, datetime]:
    """When each status began, from the conditions' ``lastTransitionTime``s: the true ones,
    and ``Running`` also once false (the operator only flips its status when the job ends,
    keeping the time it started running)."""
    times: dict[Status, datetime] = {}
    for condition in (job.get("status") or {}).get("conditions") or []:
        status = _CONDITION_STATUS.get(str(condition.get("type")))
        when = stamp_time(condition.get("lastTransitionTime"))
        if status is None or when is None:
            continue
        if condition.get("status") == "True" or condition.get("type") == "Running":
            times.setdefault(status, when)
    return times


@dataclass(frozen=True)
class Replica:
    name: str  # the logs API's podName; on training-operator v1, the pod's name too
    role: str
    index: int
    slot: str  # the name its pod is known by in the watch cache (``JobKind.pod_slot``)


@dataclass(frozen=True)
class JobRef:
    """Where an experiment's job is, and the replicas it names."""

    experiment_id: str
    kind: JobKind
    namespace: str
    name: str
    replicas: tuple[Replica, ...]


def replicas_of(experiment_id: str, kind: JobKind, counts: dict[str, int]) -> tuple[Replica, ...]:
    """Every replica of ``counts`` (role -> replicas), roles in the framework's order."""
    order = FRAMEWORK_ROLES[kind.framework]
    placed = [
        (role, index)
        for role in sorted(counts, key=lambda role: order.index(role) if role in order else len(order))
        for index in range(counts[role])
    ]
    job_name = dns_name(experiment_id)
    return tuple(
        Replica(name, role, index, kind.replica_slot(job_name, position, name))
        for position, (role, index) in enumerate(placed)
        for name in [replica_name(experiment_id, role, index)]
    )


def job_ref(experiment_id: str, kind: JobKind, job: dict[str, Any]) -> JobRef:
    """Where ``job`` (as the API server gave it) is, and the replicas its spec names."""
    meta = job["metadata"]
    return JobRef(experiment_id, kind, meta["namespace"], meta["name"],
                  replicas_of(experiment_id, kind, kind.counts(job)))


def spec_counts(spec: ExperimentSpec) -> dict[str, int]:
    return {role: task.replicas for role, task in spec.spec.items()}


def pod_started(pod: dict[str, Any]) -> bool:
    """Has the pod left ``Pending`` (so it has, or had, a log)?"""
    return (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")


def pod_finished(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def container_status(pod: dict[str, Any], container: str) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == container), statuses[0] if statuses else {})


def restart_count(pod: dict[str, Any], container: str) -> int:
    return int(container_status(pod, container).get("restartCount") or 0)


def _init_failure(status: dict[str, Any]) -> str | None:
    """Why the pod's init containers keep it from starting: the last that failed (as
    ``kubectl`` shows ``Init:CrashLoopBackOff``)."""
    for init in status.get("initContainerStatuses") or []:
        state, last = init.get("state") or {}, init.get("lastState") or {}
        ended = state.get("terminated") or last.get("terminated")
        if ended and ended.get("exitCode"):
            waiting = (state.get("waiting") or {}).get("reason")
            retry = f", {waiting}" if waiting else ""
            return f"init container {init.get('name')} failed (exit code {ended['exitCode']}{retry})"
    return None


def _container_message(status: dict[str, Any], terminated: dict[str, Any] | None,
                       waiting: dict[str, Any] | None) -> str | None:
    if terminated and (terminated.get("exitCode") or terminated.get("message")):
        return terminated.get("message") or terminated.get("reason")
    if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
        return ": ".join(filter(None, (waiting.get("reason"), waiting.get("message"))))
    return status.get("message") or status.get("reason")


def replica_from_pod(replica: Replica, pod: dict[str, Any] | None, container: str,
                     previous: ReplicaStatus | None) -> ReplicaStatus:
    """The replica as its pod shows it; without a pod, the last known state (a pod that
    went away while running counts as ``Stopped``)."""
    if pod is None:
        if previous is None:
            return ReplicaStatus(replica.name, replica.role, replica.index)
        if previous.state in _FINAL or previous.state == "Pending":
            return previous
        return replace(previous, state="Stopped", message="the pod was deleted")
    status = pod.get("status") or {}
    state = _POD_PHASE.get(str(status.get("phase")), "Pending")
    current = container_status(pod, container)
    terminated = (current.get("state") or {}).get("terminated")
    waiting = (current.get("state") or {}).get("waiting")
    last = (current.get("lastState") or {}).get("terminated")
    # a container waiting to restart (CrashLoopBackOff) keeps how its last run ended: the Job
    # controller may delete the pod once its backoff is spent, and with it the reason
    ended = terminated or (last if waiting else None)
    exit_code = ended.get("exitCode") if ended else None
    never_ran = not terminated and not (current.get("state") or {}).get("running") and not current.get("lastState")
    message = _init_failure(status) if state == "Pending" or (state == "Failed" and never_ran) else None
    if message is None:
        message = _container_message(status, terminated, waiting)
    return ReplicaStatus(
        replica.name, replica.role, replica.index, state=state,
        restarts=int(current.get("restartCount") or 0),
        exit_code=exit_code, message=message,
    )
