"""The Kubernetes backend: every experiment is a Kubeflow job, of the training-operator (v1)
or of Kubeflow Trainer v2 (a TrainJob), as ``KubernetesBackend.api`` says.

Jobs are created, replaced and deleted with the official client, always from a thread.
Status comes from one list+watch per job kind (cluster-wide when any namespace is
allowed, else one per allowed namespace) and one for the operator's pods; the watches
feed a single consumer task, which applies each event to the ``JobCache`` and reports
the ``BackendEvent``s it returns for the experiments this server runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubernetes.client import ApisApi, VersionApi
from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ..base import (
    Adoption,
    BackendError,
    BackendEvent,
    EventSink,
    LogChunk,
    LogPosition,
    MetricFiles,
    PodLog,
    ServerPaths,
    Submission,
    TargetState,
)
from .apis import APIS, AUTO, TRAINING_OPERATOR, KubeflowApi, discovered, neither_message
from .archive import LogArchive
from .cache import JobCache
from .client import Connector
from .code import script_for
from .code_runtime import clones, code_runtime
from .companions import CONFIG_MAP, KINDS, TRAINING_RUNTIME, Companions, script_map
from .follow import LogFollower
from .jobs import PROPAGATION_POLICIES, Jobs
from .kinds import JobKind
from .logs import LogReader
from .manifests import CLEAN_POD_POLICIES, RESTART_POLICIES, ManifestConfig, namespace_of
from .runtimes import Runtimes
from .status import JobRef
from .trainjobs import RuntimeRef
from .watch import ListWatcher
from .watches import WatchEvent, watchers

#: Log streams metric collection may hold open at once (one per running replica).
COLLECTOR_STREAMS = 256


STOPPED = "stopped by the user; the job and its pods are deleted, their logs kept by this server"


class KubernetesBackend(LoggingConfigurable):
    """Experiments as ``kubeflow.org/v1`` TFJobs, PyTorchJobs and XGBoostJobs, or as
    ``trainer.kubeflow.org/v1alpha1`` TrainJobs."""

    name = "kubernetes"

    api = Enum(
        [*APIS, AUTO], "training-operator", help="The Kubeflow API the cluster serves: 'training-operator' (v1 "
        "TFJob, PyTorchJob, XGBoostJob), 'trainer' (Kubeflow Trainer v2 TrainJobs; PyTorch and XGBoost), or 'auto': "
        "asked of the cluster's API groups once it answers, Trainer v2 where it serves both (until then this "
        "target's experiments answer 503).",
    ).tag(config=True)
    trainer_runtimes = Dict(
        Unicode(), help="Trainer v2: the runtime of each framework ('pytorch', 'xgboost'), as 'name' (a "
        "ClusterTrainingRuntime) or 'TrainingRuntime/name' (in the experiment's namespace). Default: the runtime "
        "labelled trainer.kubeflow.org/framework=torch or xgboost, a TrainingRuntime first, Kubeflow's "
        "torch-distributed or xgboost-distributed where several are.",
    ).tag(config=True)

    kubeconfig = Unicode(
        None, allow_none=True, help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).").tag(config=True)
    context = Unicode(None, allow_none=True, help="Kubeconfig context (default: the current one).").tag(config=True)
    in_cluster = Bool(
        None, allow_none=True, help="Use the pod's service account (default: when running in a pod and no kubeconfig "
        "is given).").tag(config=True)
    namespace = Unicode("default", help="Namespace of experiments whose spec names none.").tag(config=True)
    allowed_namespaces = List(
        Unicode(), help="Namespaces users may target besides 'namespace' ('*': any; default: only 'namespace')."
    ).tag(config=True)
    image_pull_secrets = List(Unicode(), help="Image pull secrets given to every replica.").tag(config=True)
    service_account = Unicode(None, allow_none=True, help="Service account of the replicas.").tag(config=True)
    restart_policy = Enum(
        RESTART_POLICIES, "OnFailure", help="restartPolicy of every role: a crashed replica is restarted in place "
        "until the job's backoff limit is spent.").tag(config=True)
    clean_pod_policy = Enum(
        CLEAN_POD_POLICIES, "None", help="runPolicy.cleanPodPolicy ('None' keeps finished pods, and their logs, "
        "until the experiment is deleted).").tag(config=True)
    backoff_limit = Int(
        3, allow_none=True, min=0, help="runPolicy.backoffLimit: restarts of failed replicas before the job fails "
        "(None: the operator's default).").tag(config=True)
    default_image = Unicode(
        None, allow_none=True, help="Image of replicas whose role and experiment name none.").tag(config=True)
    delete_propagation = Enum(
        PROPAGATION_POLICIES, "Background", help="propagationPolicy of deletes ('Foreground': the job goes after "
        "its pods).").tag(config=True)
    watch_timeout = Int(
        300, min=1, help="Seconds one watch request lasts before it is renewed from where it ended.").tag(config=True)
    reconnect_max = Float(
        30.0, min=0.0, help="Most seconds between attempts to resume a watch whose API server is away "
        "(exponential backoff from half a second).").tag(config=True)
    tensorboard_mount_path = Unicode(
        None, allow_none=True, help="Where replicas find the TensorBoard volume: each gets SUBMARINE_TENSORBOARD_LOG_DIR="
        "<this>/<experimentId>/<pod name> (default: none, no variable).").tag(config=True)
    tensorboard_volume = Dict(
        None, allow_none=True, help="The volume mounted at tensorboard_mount_path, as a pod spec's volume without its "
        "name, e.g. {'persistentVolumeClaim': {'claimName': 'tensorboard'}} (default: none mounted).").tag(config=True)
    code_git_image = Unicode(
        ManifestConfig.code_git_image, help="The image of the init container that clones an experiment's code.git "
        "(it needs sh and git; on Trainer v2 it runs in a TrainingRuntime of the experiment's own).").tag(config=True)
    tensorboard_server_dir = Unicode(
        None, allow_none=True, help="Where this server sees the same volume, to read the scalars replicas write "
        "there (default: not read).").tag(config=True)

    def __init__(self, *, paths: ServerPaths | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The logs of stopped experiments, whose pods are gone (kept under the server's state).
        self.archive = LogArchive(paths.state_dir / "logs") if paths is not None else None
        #: Where a script named in a command is looked for (``code.script_of``).
        self._script_root = paths.root_dir if paths is not None else Path.cwd()
        self.manifest_config = ManifestConfig(
            namespace=self.namespace, allowed_namespaces=tuple(self.allowed_namespaces),
            image_pull_secrets=tuple(self.image_pull_secrets), service_account=self.service_account,
            restart_policy=self.restart_policy, clean_pod_policy=self.clean_pod_policy,
            backoff_limit=self.backoff_limit, default_image=self.default_image, code_git_image=self.code_git_image,
            tensorboard_mount_path=self.tensorboard_mount_path, tensorboard_volume=self.tensorboard_volume,
        )
        self._connector = Connector(self.kubeconfig, self.context, self.in_cluster)
        self._runtimes = Runtimes(self._connector, dict(self.trainer_runtimes))
        self.companions = Companions(self._connector)
        self._logs = LogReader(self._connector)
        self._collector_reader = LogReader(self._connector, max_streams=COLLECTOR_STREAMS)
        #: ``api: auto`` until the cluster has said which it serves (``_discover``), and why not yet.
        self._unbound: str | None = "the cluster has not answered yet" if self.api == AUTO else None
        self._bind(APIS.get(self.api, TRAINING_OPERATOR))
        self._discovery: asyncio.Task[None] | None = None
        #: Set once this target speaks its API: what metric collection waits for (``api: auto``).
        self._bound = asyncio.Event()
        if self._unbound is None:
            self._bound.set()
        self._watchers: list[ListWatcher] = []
        self._consumer: asyncio.Task[None] | None = None
        self._sink: EventSink | None = None

    def _bind(self, kubeflow: KubeflowApi) -> None:
        """Speak ``kubeflow``: its jobs, the cache of their status, the log followers over it."""
        self.kubeflow = kubeflow
        namespaces: list[str | None] = (
            [None] if self.manifest_config.any_namespace else list(self.manifest_config.namespaces))
        self.jobs = Jobs(self._connector, kubeflow, namespaces, propagation=self.delete_propagation)
        self.cache = JobCache(kubeflow)
        self._follower = LogFollower(self._logs, self.cache.watched)
        self._collector = LogFollower(self._collector_reader, self.cache.watched)

    # lifecycle

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        self._sink = sink
        if self._unbound is None:
            self._watch(adopt)
        else:
            self._discovery = asyncio.create_task(self._discover(adopt))

    async def _discover(self, adopt: list[Adoption]) -> None:
        """``api: auto``: ask the cluster's API groups until it answers with a Kubeflow API,
        then bind to it and watch (the server's start never waits for this)."""
        delay = 0.5
        while True:
            try:
                host, groups = await self.jobs.call(lambda apis: (apis.host, [
                    g.name for g in ApisApi(apis.api_client).get_api_versions(_request_timeout=(2, 3)).groups]))
                chosen = discovered(groups)
                if chosen is not None:
                    break
                self._unbound = neither_message()
            except BackendError as error:
                self._unbound = error.message
            except Exception as error:  # an answer this client cannot read: say so, and ask again
                if self._unbound != (reason := f"the cluster's API groups could not be read: {error!r}"):
                    self.log.exception("submarine_jupyter: %s", reason)
                self._unbound = reason
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max)
        self._bind(chosen)
        self._unbound = None
        self._bound.set()
        self.log.info("submarine_jupyter: %s serves %s", host, chosen.name)
        self._watch(adopt)

    def _watch(self, adopt: list[Adoption]) -> None:
        """Adopt the experiments this server runs here, and start the watches."""
        for adoption in adopt:
            self.cache.adopt(adoption.submission, self._namespace(adoption.submission), adoption.status)
        namespaces: list[str | None] = (
            [None] if self.manifest_config.any_namespace
            else [*sorted({*self.manifest_config.namespaces, *self.cache.namespaces})]
        )
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
        for namespace in namespaces:
            self._watchers += watchers(self._connector, self.kubeflow, namespace, queue,
                                       watch_timeout=self.watch_timeout, reconnect_max=self.reconnect_max)
        self._consumer = asyncio.create_task(self._consume(queue))
        for watcher in self._watchers:
            watcher.start()

    async def stop(self) -> None:
        if self._discovery is not None:
            self._discovery.cancel()
            await asyncio.gather(self._discovery, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self._watchers))
        self._watchers = []
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None
        self._logs.close()
        self._collector_reader.close()
        self._connector.close()

    # requests

    async def submit(self, submission: Submission) -> None:
        kind, manifest, companions = await self._manifest(submission)
        self.cache.track(submission, self._namespace(submission))
        namespace = manifest["metadata"]["namespace"]
        try:
            for companion in companions:
                await self.companions.put(companion)
            created = await self.jobs.create(kind, manifest)
        except BackendError as error:
            self.cache.untrack(submission.experiment_id)
            if companions and error.code != 409:  # a job of that name (and its companions) was there
                await self._forget_companions(namespace, submission.experiment_id)
            raise
        await self._own_companions(companions, created)

    async def _own_companions(self, companions: list[dict[str, Any]], job: dict[str, Any]) -> None:
        for companion in companions:
            try:
                await self.companions.own(companion, job)
            except BackendError as error:  # this server still deletes it with the job
                self.log.warning("submarine_jupyter: %s", error.message)

    async def patch(self, submission: Submission) -> None:
        kind, manifest, companions = await self._manifest(submission)
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        found = await self._find(submission.experiment_id)
        if found is None:
            raise BackendError(f"{kind.kind} {name} is no longer on the cluster (was it deleted?)", 404)
        if self.kubeflow.name == "trainer":  # its JobSet is built once (jobset.go: "Do not update the JobSet if
            raise BackendError(  # it already exists and is not suspended"): a change would never reach the pods
                f"TrainJob {name} cannot change while it runs: Kubeflow Trainer builds its nodes once; stop it and "
                f"re-run it with the changes (POST /api/v1/experiment/{submission.experiment_id}/rerun)", 409)
        if (found.kind, found.namespace) != (kind, namespace):
            raise BackendError(
                f"cannot move {found.kind.kind} {name} from namespace '{found.namespace}' to a "
                f"{kind.kind} in '{namespace}'; create a new experiment instead"
            )
        for companion in companions:
            await self.companions.put(companion)
        replaced = await self.jobs.replace(kind, manifest)
        await self._own_companions(companions, replaced)
        tracked = self.cache.tracked(submission.experiment_id) or self.cache.track(
            submission, self._namespace(submission))
        tracked.submission = submission

    async def delete(self, experiment_id: str) -> None:
        found = await self._find(experiment_id)
        await self._delete_job(experiment_id, found)
        if self.archive is not None:
            await self.archive.forget(experiment_id)

    async def stop_experiment(self, experiment_id: str) -> None:
        """Keep the replicas' logs (this server's copy), then delete the job and its pods."""
        found = await self._find(experiment_id)
        tracked = self.cache.tracked(experiment_id)
        replicas = [r if r.state in ("Succeeded", "Failed") else replace(r, state="Stopped")
                    for r in (tracked.replicas.values() if tracked else ())]
        try:
            if found is not None and self.archive is not None:
                await self.archive.keep(self._logs, found)
            await self._delete_job(experiment_id, found)
        except BackendError:  # still running: its logs come from its pods, not a partial copy
            if self.archive is not None:
                await self.archive.forget(experiment_id)
            raise
        await self._emit(BackendEvent(experiment_id, status="Stopped", message=STOPPED, replicas=replicas or None))

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        _, manifest, companions = await self._manifest(submission)
        plan = {"manifest": manifest}
        for companion in companions:
            plan[KINDS[companion["kind"]].plan_key] = companion
        return plan

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> list[PodLog]:
        if self._kept(experiment_id):
            return self.archive.logs(experiment_id, pod_name, tail_lines)  # type: ignore[union-attr]
        found = await self._find(experiment_id)
        names = _names(found, pod_name)
        return await self._logs.snapshot(found, names, tail_lines) if found and names else []

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogChunk], None]:
        if self._kept(experiment_id):
            async for batch in self.archive.follow(experiment_id, pod_name, tail_lines):  # type: ignore[union-attr]
                yield batch
            return
        found = await self._find(experiment_id)
        names = _names(found, pod_name)
        if found and names:
            async for batch in self._follower.lines(found, names, tail_lines):
                yield batch

    async def follow_from(
        self, experiment_id: str, positions: Mapping[str, LogPosition], *, max_line: int
    ) -> AsyncGenerator[list[LogChunk], None]:
        if self._kept(experiment_id):  # stopped: what this server kept of its logs
            async for chunks in self.archive.follow_from(experiment_id, positions, max_line):  # type: ignore[union-attr]
                yield chunks
            return
        await self._bound.wait()  # collection resumed at start outlasts an ``api: auto`` discovery
        found = await self._find(experiment_id)
        if found and found.replicas:
            names = [r.name for r in found.replicas]
            async for batch in self._collector.chunks(found, names, dict(positions), max_line=max_line):
                yield batch

    async def describe(self) -> TargetState:
        """Reachable when the API server answers its version within a few seconds (``api:
        auto``: and has said which Kubeflow API it serves)."""
        api, namespace = self.kubeflow.name, self.manifest_config.namespace
        if self._unbound is not None:
            return TargetState(reachable=False, message=self._unbound, api=None, namespace=namespace)
        try:
            await self.jobs.call(lambda apis: VersionApi(apis.api_client).get_code(_request_timeout=(2, 3)))
        except BackendError as error:
            return TargetState(reachable=False, message=error.message, api=api, namespace=namespace)
        return TargetState(reachable=True, api=api, namespace=namespace)

    def metric_files(self, experiment_id: str) -> MetricFiles:
        folder = self.tensorboard_server_dir if self.tensorboard_mount_path else None
        return MetricFiles(tensorboard=Path(folder) / experiment_id if folder else None)

    # helpers

    async def _manifest(self, submission: Submission) -> tuple[JobKind, dict[str, Any], list[dict[str, Any]]]:
        """The kind and object ``submission`` becomes here (a TrainJob's runtime looked up
        first), and the objects that carry its code (``companions``), to create before it."""
        self._check_bound()
        kind = self.kubeflow.kind_for(submission.spec)
        runtime, companions = None, []
        if self.kubeflow.name == "trainer":
            namespace = namespace_of(submission.spec, self.manifest_config)
            runtime = await self._runtimes.find(submission.spec, namespace)
            if clones(submission):
                own = code_runtime(submission, self.manifest_config, await self._runtimes.read(runtime, namespace),
                                   runtime)
                runtime = RuntimeRef(own["metadata"]["name"], own["kind"])
                companions.append(own)
        script = await asyncio.to_thread(script_for, submission.spec, self._script_root)
        manifest = self.kubeflow.manifest(submission, self.manifest_config, runtime, script)
        if script is not None:
            companions.append(script_map(script, manifest))
        return kind, manifest, companions

    def _kept(self, experiment_id: str) -> bool:
        """Whether this server kept the experiment's logs (it was stopped: its pods are gone)."""
        return self.archive is not None and bool(self.archive.paths(experiment_id))

    def _namespace(self, submission: Submission) -> str:
        try:
            return namespace_of(submission.spec, self.manifest_config)
        except BackendError:  # adopted from a configuration that allowed it
            return submission.spec.meta.namespace

    async def _delete_job(self, experiment_id: str, found: JobRef | None) -> None:
        """Stop reporting on the experiment (its job's deletion is no vanishing), then delete
        the job; when that fails (the API server is away) the job stays, and so does the tracking."""
        tracked = self.cache.untrack(experiment_id)
        if found is None:
            if tracked is not None:
                await self._forget_companions(tracked.namespace, experiment_id)
            return
        try:
            await self.jobs.delete(found)
        except BackendError:
            if tracked is not None:
                self.cache.restore(tracked)
            raise
        await self._forget_companions(found.namespace, experiment_id)

    async def _forget_companions(self, namespace: str, experiment_id: str) -> None:
        """Delete what carried the experiment's code; one left behind is its job's to take along."""
        kinds = [CONFIG_MAP, TRAINING_RUNTIME] if self.kubeflow.name == "trainer" else [CONFIG_MAP]
        for kind in kinds:
            try:
                await self.companions.forget(kind, namespace, experiment_id)
            except BackendError as error:
                self.log.warning("submarine_jupyter: %s (its owner reference lets the cluster delete it)",
                                 error.message)

    def _check_bound(self) -> None:
        if self._unbound is not None:
            raise BackendError(f"this target does not know yet which Kubeflow API its cluster serves (api: auto): "
                               f"{self._unbound}", 503)

    async def _find(self, experiment_id: str) -> JobRef | None:
        """Where the experiment's job is: tracked, seen by a watch, else asked for."""
        self._check_bound()
        found = self.cache.find(experiment_id)
        return found if found is not None else await self.jobs.lookup(experiment_id)

    async def _consume(self, queue: asyncio.Queue[WatchEvent]) -> None:
        while True:
            event, kind, namespace, payload = await queue.get()
            try:
                reports = self.cache.apply(event, kind, namespace, payload)
            except Exception:  # one bad event must not stop the reporting of all the others
                self.log.exception("submarine_jupyter: cannot apply a %s event from the cluster", event)
                continue
            for report in reports:
                await self._emit(report)

    async def _emit(self, event: BackendEvent) -> None:
        if self._sink is None:
            return
        try:
            await self._sink(event)
        except Exception:
            self.log.exception("submarine_jupyter: the event sink failed on an event of %s", event.experiment_id)


def _names(found: JobRef | None, pod_name: str | None) -> list[str]:
    """The replica names of ``found`` that ``pod_name`` (``None``: all) selects."""
    replicas = found.replicas if found else ()
    return [r.name for r in replicas if pod_name is None or r.name == pod_name]
