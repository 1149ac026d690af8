"""The Kubernetes backend: every experiment is a Kubeflow training-operator job.

Jobs are created, replaced and deleted with the official client, always from a thread.
Status comes from one list+watch per job kind (cluster-wide when any namespace is
allowed, else one per allowed namespace) and one for the operator's pods; the watches
feed a single consumer task that turns job conditions and pod states into
``BackendEvent``s for the experiments this server runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from .base import (
    TERMINAL,
    Adoption,
    BackendError,
    BackendEvent,
    Capabilities,
    EventSink,
    LogLine,
    PodLog,
    ReplicaStatus,
    Status,
    Submission,
    dns_name,
)
from .k8s_client import REQUEST_TIMEOUT, Apis, Connector, call
from .k8s_logs import LogReader
from .k8s_status import (
    JobRef,
    condition_times,
    job_counts,
    job_status,
    replica_from_pod,
    replicas_of,
    spec_counts,
)
from .k8s_watch import ListWatcher
from .manifests import (
    EXPERIMENT_ID_LABEL,
    GROUP,
    JOB_KINDS,
    JOB_NAME_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    VERSION,
    JobKind,
    ManifestConfig,
    job_kind,
    label_value,
    namespace_of,
    render,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
PROPAGATION_POLICIES = ("Background", "Foreground")
Key = tuple[str, str]  # (namespace, name)


@dataclass
class _Tracked:
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
    reported: list[dict[str, Any]] | None = None

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


class KubernetesBackend:
    """Experiments as ``kubeflow.org/v1`` TFJobs, PyTorchJobs and XGBoostJobs."""

    name = "kubernetes"
    capabilities = Capabilities(patch_running=True, dry_run=True)

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        namespace: str = "default",
        allowed_namespaces: Sequence[str] = (),
        image_pull_secrets: Sequence[str] = (),
        service_account: str | None = None,
        restart_policy: str = "OnFailure",
        clean_pod_policy: str = "None",
        backoff_limit: int | None = 3,
        default_image: str | None = None,
        delete_propagation: str = "Background",
        watch_timeout_s: int = 300,
        reconnect_max_s: float = 30.0,
    ) -> None:
        if delete_propagation not in PROPAGATION_POLICIES:
            raise ValueError(f"delete propagation '{delete_propagation}' is not one of {PROPAGATION_POLICIES}")
        self.config = ManifestConfig(
            namespace=namespace, allowed_namespaces=tuple(allowed_namespaces),
            image_pull_secrets=tuple(image_pull_secrets), service_account=service_account,
            restart_policy=restart_policy, clean_pod_policy=clean_pod_policy,
            backoff_limit=backoff_limit, default_image=default_image,
        )
        self._connector = Connector(kubeconfig, context, in_cluster)
        self._logs = LogReader(self._connector)
        self._propagation = delete_propagation
        self._watch_timeout_s = watch_timeout_s
        self._reconnect_max_s = reconnect_max_s
        self._tracked: dict[str, _Tracked] = {}
        self._by_key: dict[Key, str] = {}
        self._jobs: dict[Key, tuple[JobKind, dict[str, Any]]] = {}
        self._pods: dict[Key, dict[str, Any]] = {}
        self._watchers: list[ListWatcher] = []
        self._consumer: asyncio.Task[None] | None = None
        self._sink: EventSink | None = None

    # lifecycle

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        self._sink = sink
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, JobKind | None, str | None, Any]] = asyncio.Queue()
        for adoption in adopt:
            tracked = self._track(adoption.submission)
            tracked.seen, tracked.status = True, adoption.status
        namespaces: list[str | None] = (
            [None] if self.config.any_namespace
            else [*sorted({*self.config.namespaces, *(t.namespace for t in self._tracked.values())})]
        )

        def feed(kind: JobKind | None, namespace: str | None) -> Callable[[str, Any], None]:
            def deliver(event: str, payload: Any) -> None:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, (event, kind, namespace, payload))
                except RuntimeError:  # the loop has closed; the watcher is being stopped
                    pass
            return deliver

        for namespace in namespaces:
            where = namespace or "all namespaces"
            for kind in JOB_KINDS.values():
                self._watchers.append(ListWatcher(
                    f"{kind.plural} in {where}", self._lister(kind, namespace), feed(kind, namespace),
                    label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}",
                    watch_timeout_s=self._watch_timeout_s, backoff_max_s=self._reconnect_max_s,
                ))
            self._watchers.append(ListWatcher(
                f"pods in {where}", self._lister(None, namespace), feed(None, namespace),
                label_selector=JOB_NAME_LABEL,
                watch_timeout_s=self._watch_timeout_s, backoff_max_s=self._reconnect_max_s,
            ))
        self._consumer = asyncio.create_task(self._consume(queue))
        for watcher in self._watchers:
            watcher.start()

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self._watchers))
        self._watchers = []
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None
        self._logs.close()
        self._connector.close()

    def _lister(self, kind: JobKind | None, namespace: str | None) -> Callable[[], Callable[..., Any]]:
        def list_fn() -> Callable[..., Any]:
            apis = self._connector.apis()
            if kind is None:
                return (functools.partial(apis.core.list_namespaced_pod, namespace) if namespace
                        else apis.core.list_pod_for_all_namespaces)
            if namespace:
                return functools.partial(apis.custom.list_namespaced_custom_object, GROUP, VERSION,
                                         namespace, kind.plural)
            return functools.partial(apis.custom.list_cluster_custom_object, GROUP, VERSION, kind.plural)
        return list_fn

    # requests

    async def submit(self, submission: Submission) -> None:
        manifest = render(submission, self.config)
        tracked = self._track(submission)
        try:
            await self._call(
                lambda apis: apis.custom.create_namespaced_custom_object(
                    GROUP, VERSION, tracked.namespace, tracked.kind.plural, manifest,
                    _request_timeout=REQUEST_TIMEOUT),
                tracked.kind, tracked.namespace, tracked.name,
            )
        except BackendError:
            self._untrack(submission.experiment_id)
            raise

    async def patch(self, submission: Submission) -> None:
        manifest = render(submission, self.config)
        kind, namespace, name = job_kind(submission.spec), manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        found = await self._find(submission.experiment_id)
        if found is None:
            raise BackendError(f"{kind.kind} {name} is no longer on the cluster (was it deleted?)", 404)
        if (found.kind, found.namespace) != (kind, namespace):
            raise BackendError(
                f"cannot move {found.kind.kind} {name} from namespace '{found.namespace}' to a "
                f"{kind.kind} in '{namespace}'; create a new experiment instead"
            )

        def replace(apis: Apis) -> Any:
            for attempt in range(3):
                current = apis.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, kind.plural, name, _request_timeout=REQUEST_TIMEOUT)
                current["spec"] = manifest["spec"]
                current["metadata"]["labels"] = {
                    **(current["metadata"].get("labels") or {}), **manifest["metadata"]["labels"]}
                try:
                    return apis.custom.replace_namespaced_custom_object(
                        GROUP, VERSION, namespace, kind.plural, name, current,
                        _request_timeout=REQUEST_TIMEOUT)
                except ApiException as error:
                    if error.status != 409 or attempt == 2:
                        raise
            raise AssertionError("unreachable")

        await self._call(replace, kind, namespace, name)
        tracked = self._tracked.get(submission.experiment_id) or self._track(submission)
        tracked.submission = submission

    async def delete(self, experiment_id: str) -> None:
        found = await self._find(experiment_id)
        self._untrack(experiment_id)
        if found is None:
            return
        try:
            await self._call(
                lambda apis: apis.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, found.namespace, found.kind.plural, found.name,
                    propagation_policy=self._propagation, _request_timeout=REQUEST_TIMEOUT),
                found.kind, found.namespace, found.name,
            )
        except BackendError as error:
            if error.code != 404:
                raise

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        return {"manifest": render(submission, self.config)}

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> list[PodLog]:
        found = await self._find(experiment_id)
        names = self._names(found, pod_name)
        return await self._logs.snapshot(found, names, tail_lines) if found and names else []

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogLine], None]:
        found = await self._find(experiment_id)
        names = self._names(found, pod_name)
        if found and names:
            async for batch in self._logs.follow(found, names, tail_lines):
                yield batch

    @staticmethod
    def _names(found: JobRef | None, pod_name: str | None) -> list[str]:
        replicas = found.replicas if found else ()
        return [r.name for r in replicas if pod_name is None or r.name == pod_name]

    # finding jobs

    def _track(self, submission: Submission) -> _Tracked:
        kind = job_kind(submission.spec)
        try:
            namespace = namespace_of(submission.spec, self.config)
        except BackendError:  # adopted from a configuration that allowed it
            namespace = submission.spec.meta.namespace
        tracked = _Tracked(submission, kind, namespace, dns_name(submission.experiment_id))
        self._tracked[submission.experiment_id] = tracked
        self._by_key[tracked.key] = submission.experiment_id
        cached = self._jobs.get(tracked.key)
        if cached is not None:
            tracked.job = cached[1]
        return tracked

    def _untrack(self, experiment_id: str) -> _Tracked | None:
        tracked = self._tracked.pop(experiment_id, None)
        if tracked is not None:
            self._by_key.pop(tracked.key, None)
        return tracked

    async def _find(self, experiment_id: str) -> JobRef | None:
        """Where the experiment's job is: tracked, seen by a watch, else asked for."""
        tracked = self._tracked.get(experiment_id)
        if tracked is not None:
            counts = job_counts(tracked.job, tracked.kind) if tracked.job else spec_counts(tracked.submission.spec)
            return JobRef(experiment_id, tracked.kind, tracked.namespace, tracked.name,
                          replicas_of(experiment_id, tracked.kind, counts))
        name = dns_name(experiment_id)
        for (namespace, job_name), (kind, job) in list(self._jobs.items()):
            if job_name == name:
                return self._ref(experiment_id, kind, job)
        return await self._lookup(experiment_id)

    @staticmethod
    def _ref(experiment_id: str, kind: JobKind, job: dict[str, Any]) -> JobRef:
        meta = job["metadata"]
        return JobRef(experiment_id, kind, meta["namespace"], meta["name"],
                      replicas_of(experiment_id, kind, job_counts(job, kind)))

    async def _lookup(self, experiment_id: str) -> JobRef | None:
        selector = f"{EXPERIMENT_ID_LABEL}={label_value(experiment_id)}"
        namespaces: list[str | None] = [None] if self.config.any_namespace else list(self.config.namespaces)

        def search(apis: Apis) -> JobRef | None:
            for kind in JOB_KINDS.values():
                for namespace in namespaces:
                    try:
                        listed = self._lister(kind, namespace)()(
                            label_selector=selector, _request_timeout=REQUEST_TIMEOUT)
                    except ApiException as error:
                        if error.status == 404:  # this kind is not installed
                            continue
                        raise
                    for job in listed.get("items") or []:
                        return self._ref(experiment_id, kind, job)
            return None

        return await self._call(search)

    async def _call(self, fn: Callable[[Apis], T], kind: JobKind | None = None,
                    namespace: str | None = None, name: str | None = None) -> T:
        return await call(self._connector, fn, kind=kind, namespace=namespace, name=name)

    # watch events -> experiment events

    async def _consume(self, queue: asyncio.Queue[tuple[str, JobKind | None, str | None, Any]]) -> None:
        while True:
            event, kind, namespace, payload = await queue.get()
            try:
                if kind is None:
                    await self._on_pods(event, namespace, payload)
                else:
                    await self._on_jobs(event, kind, namespace, payload)
            except Exception:  # one bad object must not stop the reporting of all the others
                log.exception("cannot apply a %s event from the cluster", event)

    @staticmethod
    def _key(obj: dict[str, Any]) -> Key:
        meta = obj.get("metadata") or {}
        return (str(meta.get("namespace")), str(meta.get("name")))

    async def _on_jobs(self, event: str, kind: JobKind, namespace: str | None, payload: Any) -> None:
        if event == "SYNC":
            present = {self._key(job) for job in payload}
            for key, (cached_kind, _) in list(self._jobs.items()):
                if cached_kind is kind and (namespace is None or key[0] == namespace) and key not in present:
                    del self._jobs[key]
            for job in payload:
                await self._job_changed(kind, job)
            for tracked in list(self._tracked.values()):
                if (tracked.kind is kind and tracked.seen and tracked.key not in present
                        and (namespace is None or tracked.namespace == namespace)):
                    await self._job_vanished(tracked)
        elif event == "DELETED":
            key = self._key(payload)
            self._jobs.pop(key, None)
            experiment_id = self._by_key.get(key)
            if experiment_id is not None:
                await self._job_vanished(self._tracked[experiment_id])
        else:
            await self._job_changed(kind, payload)

    async def _job_changed(self, kind: JobKind, job: dict[str, Any]) -> None:
        key = self._key(job)
        self._jobs[key] = (kind, job)
        experiment_id = self._by_key.get(key)
        if experiment_id is not None:
            tracked = self._tracked[experiment_id]
            tracked.job, tracked.seen = job, True
            await self._refresh(tracked)

    async def _job_vanished(self, tracked: _Tracked) -> None:
        self._untrack(tracked.submission.experiment_id)
        if tracked.status not in TERMINAL:
            await self._emit(BackendEvent(
                tracked.submission.experiment_id, status="Failed",
                message=f"{tracked.kind.kind} {tracked.name} was deleted from namespace "
                        f"'{tracked.namespace}' outside this server",
            ))

    async def _on_pods(self, event: str, namespace: str | None, payload: Any) -> None:
        if event == "SYNC":
            for key in [k for k in self._pods if namespace is None or k[0] == namespace]:
                del self._pods[key]
            pods = payload
        else:
            pods = [payload]
        for pod in pods:
            if event == "DELETED":
                self._pods.pop(self._key(pod), None)
            else:
                self._pods[self._key(pod)] = pod
        affected: set[tuple[str, str | None]] = {
            (self._key(pod)[0], (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)) for pod in pods
        }
        if event == "SYNC":
            affected |= {t.key for t in self._tracked.values() if namespace is None or t.namespace == namespace}
        for pod_namespace, job_name in affected:
            experiment_id = self._by_key.get((pod_namespace, job_name)) if job_name else None
            if experiment_id is not None:
                await self._refresh(self._tracked[experiment_id])

    async def _refresh(self, tracked: _Tracked) -> None:
        """Report what changed for ``tracked`` since the last report."""
        experiment_id = tracked.submission.experiment_id
        status, message = job_status(tracked.job) if tracked.job else (None, None)
        counts = job_counts(tracked.job, tracked.kind) if tracked.job else spec_counts(tracked.submission.spec)
        replicas = [
            replica_from_pod(replica, self._pods.get((tracked.namespace, replica.name)),
                             tracked.kind.container, tracked.replicas.get(replica.name))
            for replica in replicas_of(experiment_id, tracked.kind, counts)
        ]
        tracked.replicas = {replica.name: replica for replica in replicas}
        event = BackendEvent(experiment_id)
        if status is not None and tracked.status not in TERMINAL and (status, message) != (tracked.status, tracked.message):
            event.status, event.message = status, message
            event.times = condition_times(tracked.job) if tracked.job else {}
            tracked.status, tracked.message = status, message
        wire = [replica.to_wire() for replica in replicas]
        if wire != tracked.reported:
            event.replicas, tracked.reported = replicas, wire
        if event.status is not None or event.replicas is not None:
            await self._emit(event)

    async def _emit(self, event: BackendEvent) -> None:
        if self._sink is None:
            return
        try:
            await self._sink(event)
        except Exception:
            log.exception("the event sink failed on an event of %s", event.experiment_id)

