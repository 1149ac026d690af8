"""Pure: the jobs and pods the watches have seen, and what they mean for the experiments
this server runs.

``JobCache`` is fed the watches' events as ``ListWatcher`` delivers them (``SYNC`` with
the whole listing, ``ADDED``, ``MODIFIED``, ``DELETED``), for the jobs of each kind and
for the operator's pods, and returns the ``BackendEvent``s the backend reports: a status
the job's conditions now say (with the conditions' times), replicas whose pods changed,
and ``Failed`` for a tracked job that vanished from the cluster. It talks to no cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ....wire.constants import TERMINAL_STATUSES, dns_name
from ...domain import ReplicaStatus, Status
from ..base import BackendEvent, Submission
from .apis import TRAINING_OPERATOR, KubeflowApi
from .kinds import JobKind
from .status import JobRef, job_ref, replica_from_pod, replicas_of, spec_counts

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)
Events = list[BackendEvent]


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace")), str(meta.get("name")))


@dataclass
class Tracked:
    """An experiment this server runs, and what was last reported for it."""

    submission: Submission
    kind: JobKind
    namespace: str
    name: str
    seen: bool = False  # the job has been seen on the cluster
    job: dict[str, Any] | None = None
    status: Status | None = None
    message: str | None = None
    replicas: dict[str, ReplicaStatus] = field(default_factory=dict)
    reported: list[ReplicaStatus] | None = None  # copies of the replicas last reported

    @property
    def experiment_id(self) -> str:
        return self.submission.experiment_id

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

    def counts(self) -> dict[str, int]:
        """Role -> replicas: as the job on the cluster says, else as the spec does."""
        return self.kind.counts(self.job) if self.job else spec_counts(self.submission.spec)


class JobCache:
    """Jobs by (namespace, name), pods by (namespace, slot: ``JobKind.pod_slot``), and the
    experiments this server tracks, of one Kubeflow ``api``."""

    def __init__(self, api: KubeflowApi = TRAINING_OPERATOR) -> None:
        self.api = api
        self._tracked: dict[str, Tracked] = {}
        self._by_key: dict[Key, str] = {}
        self._jobs: dict[Key, tuple[JobKind, dict[str, Any]]] = {}
        self._pods: dict[Key, dict[str, Any]] = {}

    # the experiments this server runs

    def track(self, submission: Submission, namespace: str) -> Tracked:
        """Report on ``submission``'s job in ``namespace`` from now on."""
        tracked = Tracked(submission, self.api.kind_for(submission.spec), namespace, dns_name(submission.experiment_id))
        self._tracked[submission.experiment_id] = tracked
        self._by_key[tracked.key] = submission.experiment_id
        cached = self._jobs.get(tracked.key)
        if cached is not None:
            tracked.job = cached[1]
        return tracked

    def adopt(self, submission: Submission, namespace: str, status: Status) -> Tracked:
        """Track an experiment stored as ``status`` whose job was on the cluster: the next
        listing that lacks it reports it vanished."""
        tracked = self.track(submission, namespace)
        tracked.seen, tracked.status = True, status
        return tracked

    def untrack(self, experiment_id: str) -> Tracked | None:
        tracked = self._tracked.pop(experiment_id, None)
        if tracked is not None:
            self._by_key.pop(tracked.key, None)
        return tracked

    def restore(self, tracked: Tracked) -> None:
        """Track again what ``untrack`` returned (its job was not deleted after all), with
        the job as the watch last saw it; what changed meanwhile is reported at its next event."""
        self._tracked[tracked.experiment_id] = tracked
        self._by_key[tracked.key] = tracked.experiment_id
        cached = self._jobs.get(tracked.key)
        if cached is not None:
            tracked.job = cached[1]

    def tracked(self, experiment_id: str) -> Tracked | None:
        return self._tracked.get(experiment_id)

    @property
    def namespaces(self) -> set[str]:
        """The namespaces of the tracked experiments."""
        return {tracked.namespace for tracked in self._tracked.values()}

    def find(self, experiment_id: str) -> JobRef | None:
        """Where the experiment's job is, if tracked or seen by a watch."""
        tracked = self._tracked.get(experiment_id)
        if tracked is not None:
            return JobRef(experiment_id, tracked.kind, tracked.namespace, tracked.name,
                          replicas_of(experiment_id, tracked.kind, tracked.counts()))
        name = dns_name(experiment_id)
        for (_, job_name), (kind, job) in self._jobs.items():
            if job_name == name:
                return job_ref(experiment_id, kind, job)
        return None

    def watched(self, job: JobRef, slot: str) -> tuple[dict[str, Any] | None, bool] | None:
        """(the pod in ``slot`` of ``job`` as last watched or ``None``, whether the job has
        ended); ``None`` when the watches have not seen the job."""
        cached = self._jobs.get((job.namespace, job.name))
        if cached is None:
            return None
        return self._pods.get((job.namespace, slot)), cached[0].status(cached[1])[0] in TERMINAL_STATUSES

    # watch events -> experiment events

    def apply(self, event: str, kind: JobKind | None, namespace: str | None, payload: Any) -> Events:
        """One watch event of ``kind``'s jobs (``None``: of pods) in ``namespace`` (``None``:
        all namespaces); the events to report, in order."""
        if kind is None:
            return self._on_pods(event, namespace, payload)
        return self._on_jobs(event, kind, namespace, payload)

    def _on_jobs(self, event: str, kind: JobKind, namespace: str | None, payload: Any) -> Events:
        if event == "DELETED":
            key = key_of(payload)
            self._jobs.pop(key, None)
            experiment_id = self._by_key.get(key)
            return self._vanished(self._tracked[experiment_id]) if experiment_id is not None else []
        if event != "SYNC":
            return _each([payload], lambda job: self._job_changed(kind, job))
        present = {key_of(job) for job in payload}
        for key, (cached_kind, _) in list(self._jobs.items()):
            if cached_kind is kind and _within(key[0], namespace) and key not in present:
                del self._jobs[key]
        events = _each(payload, lambda job: self._job_changed(kind, job))
        for tracked in list(self._tracked.values()):
            if (tracked.kind is kind and tracked.seen and tracked.key not in present
                    and _within(tracked.namespace, namespace)):
                events += self._vanished(tracked)
        return events

    def _job_changed(self, kind: JobKind, job: dict[str, Any]) -> Events:
        key = key_of(job)
        self._jobs[key] = (kind, job)
        experiment_id = self._by_key.get(key)
        if experiment_id is None:
            return []
        tracked = self._tracked[experiment_id]
        tracked.job, tracked.seen = job, True
        return self._refresh(tracked)

    def _vanished(self, tracked: Tracked) -> Events:
        self.untrack(tracked.experiment_id)
        if tracked.status in TERMINAL_STATUSES:
            return []
        return [BackendEvent(
            tracked.experiment_id, status="Failed",
            message=f"{tracked.kind.kind} {tracked.name} was deleted from namespace "
                    f"'{tracked.namespace}' outside this server",
        )]

    def _on_pods(self, event: str, namespace: str | None, payload: Any) -> Events:
        if event == "SYNC":
            for key in [k for k in self._pods if _within(k[0], namespace)]:
                del self._pods[key]
        pods: list[dict[str, Any]] = payload if event == "SYNC" else [payload]
        for pod in pods:
            self._pod_seen(event, pod)
        affected: dict[Key, None] = {}
        for pod in pods:
            job_name = ((pod.get("metadata") or {}).get("labels") or {}).get(self.api.pod_label)
            if job_name:
                affected[(key_of(pod)[0], str(job_name))] = None
        if event == "SYNC":
            affected.update((t.key, None) for t in self._tracked.values() if _within(t.namespace, namespace))
        experiment_ids = [self._by_key[key] for key in affected if key in self._by_key]
        return _each(experiment_ids, lambda experiment_id: self._refresh(self._tracked[experiment_id]))

    def _pod_seen(self, event: str, pod: dict[str, Any]) -> None:
        """Keep ``pod`` in its slot; a pod replaced in its slot (a recreated Trainer node's new
        name) is not taken out by the old one's later events."""
        slot = self.api.pod_slot(pod)
        if slot is None:
            return
        key = (key_of(pod)[0], slot)
        kept = self._pods.get(key)
        if kept is None or _uid(kept) == _uid(pod):
            if event == "DELETED":
                self._pods.pop(key, None)
            else:
                self._pods[key] = pod
        elif event != "DELETED" and _created(pod) >= _created(kept):
            self._pods[key] = pod

    def _refresh(self, tracked: Tracked) -> Events:
        """What changed for ``tracked`` since the last report."""
        experiment_id = tracked.experiment_id
        named = replicas_of(experiment_id, tracked.kind, tracked.counts())
        pods = [self._pods.get((tracked.namespace, replica.slot)) for replica in named]
        status, message = tracked.kind.status(tracked.job, pods) if tracked.job else (None, None)
        replicas = [
            replica_from_pod(replica, pod, tracked.kind.container, tracked.replicas.get(replica.name))
            for replica, pod in zip(named, pods, strict=True)
        ]
        tracked.replicas = {replica.name: replica for replica in replicas}
        event = BackendEvent(experiment_id)
        if (status is not None and tracked.status not in TERMINAL_STATUSES
                and (status, message) != (tracked.status, tracked.message)):
            event.status, event.message = status, message
            event.times = tracked.kind.times(tracked.job) if tracked.job else {}
            tracked.status, tracked.message = status, message
        if replicas != tracked.reported:
            event.replicas, tracked.reported = replicas, [replace(replica) for replica in replicas]
        return [event] if event.status is not None or event.replicas is not None else []


def _uid(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("uid")


def _created(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def _within(namespace: str, watched: str | None) -> bool:
    """Is ``namespace`` one that a watch of ``watched`` (``None``: all) covers?"""
    return watched is None or namespace == watched


def _each(items: Iterable[Any], step: Callable[[Any], Events]) -> Events:
    """``step`` of every item, in order; an item it cannot read is logged and skipped, so
    one bad object does not stop the reporting of all the others."""
    events: Events = []
    for item in items:
        try:
            events += step(item)
        except Exception:
            log.exception("cannot apply an object of a watch event from the cluster")
    return events
