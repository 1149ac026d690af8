"""A test-side stand-in for the Kubeflow training-operator (v1.9 behaviour), plus the
kubelet's part of running pods: the replicas run as REAL local processes (the watch loop,
worker thread, process and env handling are ``control.py``'s, shared with ``trainer.py``).

What it does (see tests/k8s/README.md for the full contract):

- Watches ``tfjobs``, ``pytorchjobs`` and ``xgboostjobs`` in all namespaces (list, then watch
  from the list's resourceVersion; relists on 410 Gone; reconnects with backoff while the
  API server is away) and the pods on the fake node.
- For each new job: sets the ``Created`` condition and ``startTime``, creates one pod per
  replica on the fake node, named ``<job>-<replica type lower>-<index>``, labelled
  ``training.kubeflow.org/{job-name,operator-name,replica-type,replica-index}`` (and
  ``job-role=master`` for Master/Chief), owned by the job (controller owner reference), with
  the operator's environment added to the main container (``pytorch``: MASTER_ADDR,
  MASTER_PORT, WORLD_SIZE, RANK, PET_*, PYTHONUNBUFFERED; ``tensorflow``: TF_CONFIG;
  ``xgboost``: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, PYTHONUNBUFFERED, WORKER_PORT, WORKER_ADDRS).
- Pods stay ``Pending`` (container waiting ``ContainerCreating``; ``PodInitializing`` for
  every container of a pod with init containers) for ``pending_delay`` seconds, or while
  ``hold_pending()`` is in force. Then, as the kubelet (and ``trainer.py``, with
  ``control.py``'s helpers): the pod's volumes become local directories (``emptyDir`` fresh
  per pod, i.e. per pod uid, ``configMap``/``secret`` keys as files, a PVC one directory per
  claim, ``hostPath`` itself); a ConfigMap/Secret that does not exist (yet) keeps the pod
  Pending, waiting ``ContainerCreating`` (``PodInitializing`` with init containers), and is
  retried every second until it does (a missing env reference: ``CreateContainerConfigError``,
  retried alike). The ``initContainers`` run
  one after the other, each to completion, with their own env, ``volumeMounts`` and
  ``workingDir`` (the pod stays Pending, the main container waiting ``PodInitializing``,
  ``initContainerStatuses`` waiting/running/terminated with the exit code). Then the main
  container's ``command + args`` (``$(VAR)`` expanded as the kubelet does) runs as a local
  process (own process group, cwd = a per-pod directory, then ``workingDir`` when it
  exists) with the container's env and its ``volumeMounts`` bind-mounted at their mountPath
  in a private mount namespace (root or CAP_SYS_ADMIN; missing mount targets are made on
  this machine and removed at stop); stdout+stderr of each container go to the pod log the fake
  kubelet serves for that container name. Pod status: Pending -> Running ->
  Succeeded/Failed with the container's real exit code.
- A failed init container: pod ``restartPolicy`` ``OnFailure``/``Always``: restarted in place
  (its restartCount; ``CrashLoopBackOff`` meanwhile) while the pod stays Pending; like v1.9,
  which counts only Running pods' restarts, these do not count against ``backoffLimit``.
  ``Never`` (also what ``ExitCode`` replicas get): the pod fails, the main container never
  runs, and the operator handles the failed replica as any other: the job fails, or with
  ``ExitCode`` the pod is recreated (the main container has no exit code, which the real
  operator reads as 0xbeef: retryable).
- Job status (``/status`` subresource): conditions Created, Running, Restarting,
  Succeeded, Failed with the operator's reasons (``PyTorchJobRunning``...) and messages,
  ``lastTransitionTime``/``lastUpdateTime``, ``replicaStatuses`` (active/succeeded/failed,
  selector), ``startTime``, ``completionTime``. Success rule: all Chief/Master replicas
  succeed when the job has one; otherwise TFJob: Worker 0 (all workers with
  ``successPolicy: AllWorkers``), PyTorchJob/XGBoostJob: all workers. A failed replica fails
  the job (restartPolicy ``Never``, or ``ExitCode`` with a non-retryable code < 128).
  ``OnFailure``/``Always`` restart the container in place (restartCount) until
  ``runPolicy.backoffLimit`` (default here: ``default_backoff_limit``) is passed; ``ExitCode``
  with a code >= 128 recreates the pod and sets ``Restarting``.
- Spec replaced (``metadata.generation`` changed) while the job is not finished: like the
  real operator it reconciles the replica COUNT: missing pods (new indices, new replica
  types) are created and started, pods beyond the new count are deleted (process killed).
  Pods that keep existing are not restarted and keep their original command/env (pods are
  immutable; the real operator does not roll them either). A finished job is left alone.
- A pod deleted by someone else while its job runs is recreated (fresh process), as the
  real operator does.
- Job deleted (any propagation): the replicas' processes are killed and the pods deleted
  (there is no garbage collector in this cluster, so the fake does its work: for
  ``Foreground`` it removes the ``foregroundDeletion`` finalizer after the pods are gone;
  for ``Orphan`` it removes the owner references and the ``orphan`` finalizer and leaves
  the pods and processes alone).
- When a job finishes, ``runPolicy.cleanPodPolicy`` applies (``All``/``Running``: pods
  deleted, processes killed; ``None``: left). Default, as in v1.9 for all three: ``None``.

Deviations, on purpose: a replica template without a container named as the operator
expects (``tensorflow``/``pytorch``/``xgboost``), or a pod the API server refuses to create,
FAILS the job with a message saying so (the real operator would only emit events and leave
the job hanging). No Services are created; ``activeDeadlineSeconds``, ``ttlSecondsAfter
Finished``, ``suspend`` and elastic policies are not implemented; images are ignored. Only
the main container (and the init containers) run: other containers are reported terminated,
"not run by the fake kubelet". The operator's env is added to the main container only (the
real PyTorchJob controller adds it to every regular container; none adds it to init
containers), and no PyTorch worker init container (waiting for the master's DNS name) is
added.
"""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import GROUP, VERSION
from .control import (
    ConfigError,
    Container,
    Controller,
    container_env,
    container_mounts,
    expand,
    materialize_volumes,
    now_rfc3339,
)

LABEL_PREFIX = "training.kubeflow.org/"
JOB_NAME = LABEL_PREFIX + "job-name"
OPERATOR_NAME = LABEL_PREFIX + "operator-name"
REPLICA_TYPE = LABEL_PREFIX + "replica-type"
REPLICA_INDEX = LABEL_PREFIX + "replica-index"
JOB_ROLE = LABEL_PREFIX + "job-role"
NO_EXIT_CODE = 0xBEEF  # the operator's "main container has no exit code" (an init container failed)


@dataclass(frozen=True)
class JobKind:
    kind: str
    plural: str
    spec_key: str
    container: str
    port_name: str
    default_port: int
    default_restart_policy: str
    default_clean_pod_policy: str

    @property
    def operator_name(self) -> str:
        return f"{self.kind.lower()}-controller"


KINDS = {
    k.plural: k
    for k in (
        JobKind("TFJob", "tfjobs", "tfReplicaSpecs", "tensorflow", "tfjob-port", 2222, "Never", "None"),
        JobKind("PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", "pytorchjob-port", 23456,
                "OnFailure", "None"),
        JobKind("XGBoostJob", "xgboostjobs", "xgbReplicaSpecs", "xgboost", "xgboostjob-port", 9999, "Never", "None"),
    )
}


@dataclass
class Replica:
    rtype: str
    index: int
    pod: str
    container: str
    restart_policy: str  # the replica's policy (Never, OnFailure, Always, ExitCode)
    body: dict  # the pod as created
    uid: str | None = None  # pod uid once created
    created: bool = False
    phase: str = "Pending"
    waiting_reason: str = "ContainerCreating"
    start_scheduled: bool = False
    proc: subprocess.Popen | None = None
    run: int = 0  # bumped per container start: stale exit events are ignored
    exit_code: int | None = None
    restart_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    last_state: dict | None = None
    pod_dirty: bool = True
    log_path: Path | None = None
    inits: list[Container] = field(default_factory=list)  # the pod's initContainers, in order
    step: int = 0  # init containers done; == len(inits): the main container's turn
    volumes: dict[str, Path] | None = None  # materialised at the first container start
    config_error: str | None = None  # why the last start attempt had to wait (noted once)

    @property
    def key(self) -> tuple[str, int]:
        return (self.rtype, self.index)

    @property
    def initialized(self) -> bool:
        return self.step >= len(self.inits)


@dataclass
class Job:
    kind: JobKind
    namespace: str
    name: str
    uid: str
    obj: dict
    generation: int
    replicas: dict[tuple[str, int], Replica] = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    start_time: str | None = None
    completion_time: str | None = None
    finished: bool = False
    restarts: int = 0
    status_dirty: bool = True
    detached: bool = False  # orphaned: pods live on, job no longer tracked

    @property
    def specs(self) -> dict[str, dict]:
        """Replica specs, keys in the operator's camel case ("worker" -> "Worker")."""
        raw = (self.obj.get("spec") or {}).get(self.kind.spec_key) or {}
        return {_CANONICAL.get(k.lower(), k): v for k, v in raw.items()}

    @property
    def run_policy(self) -> dict:
        return (self.obj.get("spec") or {}).get("runPolicy") or {}

    def desired(self) -> list[tuple[str, int]]:
        out = []
        for rtype, spec in self.specs.items():
            n = (spec or {}).get("replicas")
            for i in range(1 if n is None else int(n)):
                out.append((rtype, i))
        return out


_CANONICAL = {n.lower(): n for n in ("PS", "Worker", "Chief", "Master", "Evaluator")}


class FakeOperator(Controller):
    """See the module docstring. Created and started by KubeCluster; reach it as
    ``kube_cluster.operator``."""

    label = "fake-operator"

    def __init__(self, cluster, pending_delay: float = 0.3, default_backoff_limit: int = 3,
                 restart_delay: float = 0.2, kill_grace: float = 2.0):
        super().__init__(cluster, pending_delay, restart_delay, kill_grace)
        self.default_backoff_limit = default_backoff_limit
        self._jobs: dict[str, Job] = {}
        self._pods_by_name: dict[tuple[str, str], tuple[str, tuple[str, int]]] = {}
        self._finalize_pending: dict[str, dict] = {}
        self._pod_deletes: dict[tuple[str, str], str | None] = {}  # (ns, pod) -> uid

    # ================================================================ public
    def replicas(self, namespace: str, job_name: str) -> dict[str, dict]:
        """Pod name -> {phase, exit_code, restart_count, pid, log, init} for a tracked job (the
        main container; ``init``: init container name -> {state, exit_code, restart_count, pid, log})."""

        def collect():
            out = {}
            for job in self._jobs.values():
                if job.namespace == namespace and job.name == job_name:
                    for r in job.replicas.values():
                        out[r.pod] = {"phase": r.phase, "exit_code": r.exit_code,
                                      "restart_count": r.restart_count,
                                      "pid": r.proc.pid if r.proc else None, "log": r.log_path,
                                      "init": {c.name: {"state": c.state, "exit_code": c.exit_code,
                                                        "restart_count": c.restart_count,
                                                        "pid": c.proc.pid if c.proc else None, "log": c.log_path}
                                               for c in r.inits}}
            return out

        return self.call(collect)

    # ================================================================ watched
    def _watches(self) -> tuple[str, ...]:
        return (*KINDS, "pods")

    def _resources(self) -> dict[str, tuple[str, str, str]]:
        return {plural: (GROUP, VERSION, plural) for plural in KINDS}

    # ================================================================ handlers
    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "list":
            _, what, items = item
            if what == "pods":
                self._on_pod_list(items)
            else:
                self._on_job_list(KINDS[what], items)
        elif kind == "event":
            _, what, etype, obj = item
            if what == "pods":
                self._on_pod_event(etype, obj)
            else:
                self._on_job_event(KINDS[what], etype, obj)
        elif kind == "start":
            self._start_container(*item[1:])
        elif kind == "exit":
            self._on_exit(*item[1:])

    # ---------------------------------------------------------------- jobs
    def _on_job_list(self, kind: JobKind, items: list[dict]) -> None:
        seen = set()
        for obj in items:
            seen.add(obj["metadata"]["uid"])
            self._on_job_event(kind, "MODIFIED", obj)
        for uid, job in list(self._jobs.items()):
            if job.kind is kind and uid not in seen and not job.detached:
                self._job_gone(job)

    def _on_job_event(self, kind: JobKind, etype: str, obj: dict) -> None:
        md = obj["metadata"]
        uid = md["uid"]
        job = self._jobs.get(uid)
        if etype == "DELETED":
            if job is not None and not job.detached:
                self._job_gone(job)
            self._finalize_pending.pop(uid, None)
            return
        if md.get("deletionTimestamp"):
            finalizers = md.get("finalizers") or []
            if job is not None and "orphan" in finalizers:
                self._orphan(job)
            elif job is not None and not job.detached:
                self._job_gone(job, keep_state=True)
            if {"foregroundDeletion", "orphan"} & set(finalizers):
                self._finalize_pending[uid] = obj
            return
        if job is None:
            self._new_job(kind, obj)
            return
        job.obj = obj
        if job.detached or job.finished:
            return
        if md.get("generation", 0) != job.generation:
            job.generation = md.get("generation", 0)
            self._note(f"{job.namespace}/{job.name}: spec changed (generation {job.generation})")
            self._sync_replicas(job)
            self._update_job_status(job)

    def _new_job(self, kind: JobKind, obj: dict) -> None:
        md = obj["metadata"]
        job = Job(kind, md["namespace"], md["name"], md["uid"], obj, md.get("generation", 0))
        existing = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") in ("Succeeded", "Failed") and c.get("status") == "True" for c in existing):
            job.finished = True  # finished before we saw it (e.g. an earlier harness): leave it
            job.status_dirty = False
            self._jobs[job.uid] = job
            return
        self._jobs[job.uid] = job
        self._note(f"{job.namespace}/{job.name}: new {kind.kind}")
        job.start_time = now_rfc3339()
        self._set_condition(job, "Created", f"{kind.kind} {job.name} is created.")
        missing = [rt for rt, s in job.specs.items() if not self._main_container(kind, s)]
        if not job.specs:
            self._fail(job, f"fake operator: {kind.kind} {job.namespace}/{job.name} has no {kind.spec_key}")
            return
        if missing:
            self._fail(job, f"fake operator: replica type(s) {', '.join(missing)} of {kind.kind} "
                            f"{job.namespace}/{job.name} have no container named {kind.container!r}")
            return
        self._sync_replicas(job)

    @staticmethod
    def _main_container(kind: JobKind, spec: dict | None) -> dict | None:
        containers = (((spec or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        return next((c for c in containers if c.get("name") == kind.container), None)

    def _sync_replicas(self, job: Job) -> None:
        desired = job.desired()
        for key in desired:
            if key not in job.replicas:
                spec = job.specs[key[0]] or {}
                if not self._main_container(job.kind, spec):
                    self._fail(job, f"fake operator: replica type {key[0]} of {job.kind.kind} "
                                    f"{job.namespace}/{job.name} has no container named {job.kind.container!r}")
                    return
                self._add_replica(job, key)
        for key in list(job.replicas):
            if key not in desired:
                self._remove_replica(job, job.replicas[key])

    def _add_replica(self, job: Job, key: tuple[str, int]) -> None:
        rtype, index = key
        spec = job.specs[rtype] or {}
        policy = spec.get("restartPolicy") or job.kind.default_restart_policy
        pod = f"{job.name}-{rtype.lower()}-{index}"
        body = self._pod_body(job, rtype, index, pod, spec, policy)
        rep = Replica(rtype, index, pod, job.kind.container, policy, body)
        rep.inits = [Container(c, init=True, reason="PodInitializing")
                     for c in body["spec"].get("initContainers") or []]
        job.replicas[key] = rep
        self._pods_by_name[(job.namespace, pod)] = (job.uid, key)
        names = [c.name for c in rep.inits] + [c["name"] for c in body["spec"]["containers"]]
        self.kubelet.add_pod(job.namespace, pod, names)
        if rep.inits:  # the kubelet's default waiting reason for every container of such a pod
            rep.waiting_reason = "PodInitializing"
            for name in names:
                self.kubelet.set_waiting(job.namespace, pod, name, "PodInitializing")
        self._note(f"{job.namespace}/{pod}: to be created")

    def _pod_body(self, job: Job, rtype: str, index: int, pod: str, spec: dict, policy: str) -> dict:
        template = copy.deepcopy(spec.get("template") or {})
        meta = template.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        labels.update({
            OPERATOR_NAME: job.kind.operator_name, JOB_NAME: job.name,
            REPLICA_TYPE: rtype.lower(), REPLICA_INDEX: str(index),
        })
        if rtype.lower() in ("master", "chief"):
            labels[JOB_ROLE] = "master"
        pod_spec = template.get("spec") or {}
        pod_spec["nodeName"] = self.node_name
        pod_spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        for c in pod_spec.get("containers") or []:
            if c.get("name") == job.kind.container:
                c["env"] = list(c.get("env") or []) + self._operator_env(job, rtype, index, c)
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod, "namespace": job.namespace, "labels": labels,
                "annotations": dict(meta.get("annotations") or {}),
                "ownerReferences": [{
                    "apiVersion": f"{GROUP}/{VERSION}", "kind": job.kind.kind, "name": job.name,
                    "uid": job.uid, "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": pod_spec,
        }

    def _port(self, job: Job, rtype: str) -> int:
        c = self._main_container(job.kind, job.specs.get(rtype)) or {}
        for p in c.get("ports") or []:
            if p.get("name") == job.kind.port_name and p.get("containerPort"):
                return int(p["containerPort"])
        return job.kind.default_port

    def _operator_env(self, job: Job, rtype: str, index: int, container: dict) -> list[dict]:
        counts = {rt: n for rt, n in self._counts(job).items()}
        kind = job.kind.kind
        if kind == "TFJob":
            cluster = {}
            for rt, n in counts.items():
                if rt.lower() == "evaluator":
                    continue
                port = self._port(job, rt)
                cluster[rt.lower()] = [f"{job.name}-{rt.lower()}-{i}.{job.namespace}.svc:{port}" for i in range(n)]
            tf_config = {"cluster": cluster, "task": {"type": rtype.lower(), "index": index}, "environment": "cloud"}
            return [{"name": "TF_CONFIG", "value": json.dumps(tf_config, separators=(",", ":"))}]
        master = next((rt for rt in counts if rt.lower() == "master"), None)
        world = sum(counts.values())
        if master is not None:
            rank = 0 if rtype == master else index + 1
            master_addr, master_port = f"{job.name}-master-0", self._port(job, master)
        else:
            rank = index
            master_addr, master_port = f"{job.name}-worker-0", self._port(job, rtype)
        env = {"MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port),
               "WORLD_SIZE": str(world), "RANK": str(rank)}
        if kind == "PyTorchJob":
            env.update({"PET_MASTER_ADDR": master_addr, "PET_MASTER_PORT": str(master_port),
                        "PET_NNODES": str(world), "PET_NODE_RANK": str(rank), "PYTHONUNBUFFERED": "1"})
            nproc = (job.obj.get("spec") or {}).get("nprocPerNode")
            if nproc is not None:
                env["PET_NPROC_PER_NODE"] = str(nproc)
        else:  # XGBoostJob (xgboost.go: PYTHONUNBUFFERED "0", which Python reads as set)
            env["PYTHONUNBUFFERED"] = "0"
            workers = next((rt for rt in counts if rt.lower() == "worker"), None)
            env["WORKER_PORT"] = str(self._port(job, workers) if workers else job.kind.default_port)
            env["WORKER_ADDRS"] = ",".join(f"{job.name}-worker-{i}" for i in range(counts.get(workers, 0))) \
                if workers else ""
        return [{"name": k, "value": v} for k, v in env.items()]

    @staticmethod
    def _counts(job: Job) -> dict[str, int]:
        out: dict[str, int] = {}
        for rt, _index in job.desired():
            out[rt] = out.get(rt, 0) + 1
        return out

    def _remove_replica(self, job: Job, rep: Replica) -> None:
        job.replicas.pop(rep.key, None)
        self._pods_by_name.pop((job.namespace, rep.pod), None)
        self._kill(rep)
        self.kubelet.remove_pod(job.namespace, rep.pod)
        if rep.created:
            self._pod_deletes[(job.namespace, rep.pod)] = rep.uid
        self._note(f"{job.namespace}/{rep.pod}: removed")

    def _job_gone(self, job: Job, keep_state: bool = False) -> None:
        """The job was deleted (or is being deleted): kill processes, delete its pods."""
        for rep in list(job.replicas.values()):
            self._remove_replica(job, rep)
        job.status_dirty = False
        job.finished = True
        if not keep_state:
            self._jobs.pop(job.uid, None)
        self._note(f"{job.namespace}/{job.name}: deleted")

    def _orphan(self, job: Job) -> None:
        job.detached = True
        job.status_dirty = False
        for rep in job.replicas.values():
            rep.body["metadata"]["ownerReferences"] = []
            rep.pod_dirty = True
            self._pod_deletes.pop((job.namespace, rep.pod), None)
        self._note(f"{job.namespace}/{job.name}: orphaned its pods")

    # ---------------------------------------------------------------- conditions
    def _set_condition(self, job: Job, ctype: str, message: str) -> None:
        """The training-operator's setCondition/filterOutCondition rules."""
        if any(c["type"] == "Failed" and c["status"] == "True" for c in job.conditions):
            return
        reason = f"{job.kind.kind}{ctype}"
        now = now_rfc3339()
        current = next((c for c in job.conditions if c["type"] == ctype), None)
        if current and current["status"] == "True" and current["reason"] == reason:
            return
        cond = {"type": ctype, "status": "True", "reason": reason, "message": message,
                "lastUpdateTime": now, "lastTransitionTime": now}
        if current and current["status"] == "True":
            cond["lastTransitionTime"] = current["lastTransitionTime"]
        kept = []
        for c in job.conditions:
            if c["type"] == ctype:
                continue
            if {ctype, c["type"]} == {"Running", "Restarting"}:
                continue
            if ctype in ("Succeeded", "Failed") and c["type"] == "Running":
                c = {**c, "status": "False"}  # filterOutCondition: only the status changes
            kept.append(c)
        job.conditions = [*kept, cond]
        job.status_dirty = True
        self._note(f"{job.namespace}/{job.name}: {ctype}: {message}")

    def _fail(self, job: Job, message: str) -> None:
        if message.startswith("fake operator"):
            self._error(message)
        self._set_condition(job, "Failed", message)
        self._finish(job)

    def _finish(self, job: Job) -> None:
        job.finished = True
        job.completion_time = now_rfc3339()
        job.status_dirty = True
        policy = job.run_policy.get("cleanPodPolicy") or job.kind.default_clean_pod_policy
        for rep in list(job.replicas.values()):
            if policy == "All" or (policy == "Running" and rep.phase in ("Pending", "Running")):
                self._remove_replica(job, rep)

    def _update_job_status(self, job: Job) -> None:
        if job.finished or job.detached:
            return
        job.status_dirty = True
        kind = job.kind
        stats: dict[str, dict[str, int]] = {}
        for rt in job.specs:
            stats[rt] = {"active": 0, "succeeded": 0, "failed": 0}
        for rep in job.replicas.values():
            s = stats.setdefault(rep.rtype, {"active": 0, "succeeded": 0, "failed": 0})
            if rep.phase == "Running":
                s["active"] += 1
            elif rep.phase == "Succeeded":
                s["succeeded"] += 1
            elif rep.phase == "Failed":
                s["failed"] += 1
        counts = self._counts(job)
        full = f"{job.namespace}/{job.name}"
        failed = [(rt, s["failed"]) for rt, s in stats.items() if s["failed"]]
        if failed:
            rt, n = failed[0]
            self._fail(job, f"{kind.kind} {full} has failed because {n} {rt} replica(s) failed.")
            return
        deciders = [rt for rt in job.specs if rt.lower() in ("chief", "master")]
        if deciders:
            success = all(stats[rt]["succeeded"] >= counts.get(rt, 0) for rt in deciders)
            running = any(stats[rt]["active"] for rt in deciders)
        else:
            workers = [rt for rt in job.specs if rt.lower() == "worker"]
            running = any(stats[rt]["active"] for rt in workers)
            all_workers = all(stats[rt]["succeeded"] >= counts.get(rt, 0) for rt in workers) and bool(workers)
            if kind.kind == "TFJob" and (job.obj.get("spec") or {}).get("successPolicy") != "AllWorkers":
                w0 = [r for r in job.replicas.values() if r.rtype in workers and r.index == 0]
                success = all_workers or any(r.phase == "Succeeded" for r in w0)
            else:
                success = all_workers
        if success:
            self._set_condition(job, "Succeeded", f"{kind.kind} {full} successfully completed.")
            self._finish(job)
        elif running:
            self._set_condition(job, "Running", f"{kind.kind} {full} is running.")

    def _replica_statuses(self, job: Job) -> dict:
        out = {}
        for rt in set(job.specs) | {r.rtype for r in job.replicas.values()}:
            reps = [r for r in job.replicas.values() if r.rtype == rt]
            labels = {JOB_NAME: job.name, OPERATOR_NAME: job.kind.operator_name, REPLICA_TYPE: rt.lower()}
            out[rt] = {
                "active": sum(r.phase == "Running" for r in reps),
                "succeeded": sum(r.phase == "Succeeded" for r in reps),
                "failed": sum(r.phase == "Failed" for r in reps),
                "labelSelector": {"matchLabels": labels},
                "selector": ",".join(f"{k}={v}" for k, v in labels.items()),
            }
        return out

    # ---------------------------------------------------------------- containers
    def _start_container(self, uid: str, key: tuple[str, int], run: int) -> None:
        """Start the pod's next container, as the kubelet: on the first start the volumes are
        materialised, then each init container in turn, then the main one."""
        job = self._jobs.get(uid)
        rep = job.replicas.get(key) if job else None
        if rep is None or rep.run != run or job.detached or rep.proc is not None:
            return
        init = None if rep.initialized else rep.inits[rep.step]
        if init is not None and init.proc is not None:
            return
        if self._held():
            self._later(0.05, ("start", uid, key, run))
            return
        from kubernetes import client

        core = client.CoreV1Api(self._api)
        container = init.spec if init is not None else \
            next(c for c in rep.body["spec"]["containers"] if c["name"] == rep.container)
        name = container["name"]
        pod_dir = self.cluster.workdir / "pods" / job.namespace / rep.pod
        try:
            if rep.volumes is None:
                # per pod uid: a recreated pod of the same name gets fresh emptyDirs
                rep.volumes = materialize_volumes(core, rep.body, pod_dir / "volumes" / (rep.uid or "pod"),
                                                  self.cluster.workdir / "pvcs")
            env = self._container_env(job, rep, container)
            mounts = container_mounts(container, rep.volumes)
        except ConfigError as exc:
            if rep.volumes is None:  # FailedMount: nothing starts, the pod keeps its default reasons
                reason = "PodInitializing" if rep.inits else "ContainerCreating"
            else:
                reason = "CreateContainerConfigError"
            if rep.config_error != str(exc):
                self._note(f"{job.namespace}/{rep.pod}/{name}: {exc}")
            rep.config_error = str(exc)
            if init is not None:
                init.reason = reason
            else:
                rep.waiting_reason = reason
            self.kubelet.set_waiting(job.namespace, rep.pod, name, reason)
            rep.pod_dirty = True
            self._later(1.0, ("start", uid, key, run))
            return
        rep.config_error = None
        argv = [expand(a, env) for a in list(container.get("command") or []) + list(container.get("args") or [])]
        pod_dir.mkdir(parents=True, exist_ok=True)
        lg = self.kubelet.start_container(job.namespace, rep.pod, name)
        if init is not None:
            init.log_path, init.started_at, init.finished_at, init.exit_code = lg.path, now_rfc3339(), None, None
            init.state = "running"
            init.run += 1
        else:
            rep.log_path = lg.path
            rep.started_at = now_rfc3339()
            rep.finished_at = None
            rep.exit_code = None
            rep.phase = "Running"
        rep.run += 1
        run = rep.run
        rep.pod_dirty = True
        if not argv:
            lg.append("fake kubelet: the container has no command/args; image entrypoints are not run here\n")
            lg.close()
            self._later(0, ("exit", uid, key, run, 127))
            return
        proc = self._launch(argv, env, pod_dir, lg, ("exit", uid, key, run), mounts, container.get("workingDir"))
        if isinstance(proc, str):
            lg.append(f"fake kubelet: {proc}\n")
            lg.close()
            self._later(0, ("exit", uid, key, run, 128))
            return
        self._note(f"{job.namespace}/{rep.pod}/{name}: started pid {proc.pid}: {argv}")
        if init is not None:
            init.proc = proc
            return
        rep.proc = proc
        rep.waiting_reason = ""
        self._update_job_status(job)

    def _kill(self, rep: Replica) -> None:
        procs = [rep.proc, *(c.proc for c in rep.inits)]
        rep.proc = None
        for c in rep.inits:
            c.proc = None
        rep.run += 1  # its exit event is stale now
        for proc in procs:
            self._terminate(proc)

    def _container_env(self, job: Job, rep: Replica, container: dict) -> dict[str, str]:
        from kubernetes import client

        return container_env(client.CoreV1Api(self._api), rep.body, rep.uid, container, self.node_name,
                             self.cluster.port)

    def _on_exit(self, uid: str, key: tuple[str, int], run: int, rc: int) -> None:
        job = self._jobs.get(uid)
        rep = job.replicas.get(key) if job else None
        if rep is None or rep.run != run:
            return
        if not rep.initialized:
            self._on_init_exit(job, rep, rc)
            return
        rep.proc = None
        rep.exit_code = rc
        rep.finished_at = now_rfc3339()
        rep.pod_dirty = True
        self._note(f"{job.namespace}/{rep.pod}: exited {rc}")
        terminated = self._terminated_state(rep)
        policy = rep.restart_policy
        restart_in_place = policy == "Always" or (policy == "OnFailure" and rc != 0)
        if restart_in_place and not job.finished and not job.detached:
            job.restarts += 1
            limit = job.run_policy.get("backoffLimit")
            limit = self.default_backoff_limit if limit is None else int(limit)
            rep.last_state = terminated
            rep.restart_count += 1
            if job.restarts > limit:
                rep.phase = "Failed"
                self._fail(job, f"Job {job.name} has failed because it has reached the specified backoff limit")
                return
            rep.waiting_reason = "CrashLoopBackOff"
            self.kubelet.set_waiting(job.namespace, rep.pod, rep.container, rep.waiting_reason)
            rep.phase = "Running"
            self._later(self.restart_delay, ("start", uid, key, rep.run))
            return
        rep.phase = "Succeeded" if rc == 0 else "Failed"
        self._pod_finished(job, rep, rc)

    def _on_init_exit(self, job: Job, rep: Replica, rc: int) -> None:
        """The kubelet's rules: success runs the next container; a failure restarts the init
        container in place (pod restartPolicy OnFailure/Always: the pod stays Pending, and as
        v1.9 counts only Running pods' restarts these do not count against backoffLimit) or
        fails the pod (Never, which ExitCode replicas get)."""
        c = rep.inits[rep.step]
        c.proc, c.exit_code, c.finished_at, c.state = None, rc, now_rfc3339(), "terminated"
        rep.pod_dirty = True
        self._note(f"{job.namespace}/{rep.pod}/{c.name}: exited {rc}")
        if rc == 0:
            rep.step += 1
            self._later(0, ("start", job.uid, rep.key, rep.run))
            return
        if rep.body["spec"].get("restartPolicy") in ("OnFailure", "Always") and not job.finished \
                and not job.detached:
            c.last_state = c.terminated(rep.pod)
            c.restart_count += 1
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            self.kubelet.set_waiting(job.namespace, rep.pod, c.name, c.reason)
            self._later(self.restart_delay, ("start", job.uid, rep.key, rep.run))
            return
        rep.phase = "Failed"
        # the operator reads the exit code of the main container only: it has none here
        self._pod_finished(job, rep, NO_EXIT_CODE)

    def _pod_finished(self, job: Job, rep: Replica, rc: int) -> None:
        """The operator's view of a pod that ended (Succeeded/Failed): ``ExitCode`` with a
        retryable code recreates it, anything else goes into the job's status."""
        if (rc != 0 and rep.restart_policy == "ExitCode" and rc >= 128 and not job.finished
                and not job.detached):
            # retryable exit code: the operator deletes the pod and creates it again
            n_failed = 1
            self._set_condition(job, "Restarting", f"{job.kind.kind} {job.namespace}/{job.name} is restarting "
                                                   f"because {n_failed} {rep.rtype} replica(s) failed.")
            job.restarts += 1
            limit = job.run_policy.get("backoffLimit")
            if limit is not None and job.restarts > int(limit):
                self._fail(job, f"Job {job.name} has failed because it has reached the specified backoff limit")
                return
            self._remove_replica(job, rep)
            self._add_replica(job, rep.key)
            return
        self._update_job_status(job)

    @staticmethod
    def _terminated_state(rep: Replica) -> dict:
        rc = rep.exit_code or 0
        reason = "Completed" if rc == 0 else "Error"
        return {"terminated": {"exitCode": rc, "reason": reason, "startedAt": rep.started_at,
                               "finishedAt": rep.finished_at, "containerID": f"fake://{rep.pod}/{rep.run}"}}

    # ---------------------------------------------------------------- pods
    def _on_pod_list(self, items: list[dict]) -> None:
        present = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in items}
        for obj in items:
            self._on_pod_event("MODIFIED", obj)
        for job in list(self._jobs.values()):
            for rep in list(job.replicas.values()):
                p = present.get((job.namespace, rep.pod))
                if rep.created and (p is None or p["metadata"]["uid"] != rep.uid):
                    self._pod_vanished(job, rep)

    def _on_pod_event(self, etype: str, obj: dict) -> None:
        md = obj["metadata"]
        ns, name = md["namespace"], md["name"]
        where = self._pods_by_name.get((ns, name))
        job = self._jobs.get(where[0]) if where else None
        rep = job.replicas.get(where[1]) if job else None
        if rep is None or not rep.created or md.get("uid") != rep.uid:
            if etype != "DELETED" and md.get("deletionTimestamp"):
                # not ours (any more): finish a graceful delete as the kubelet would
                self._pod_deletes.setdefault((ns, name), md.get("uid"))
            return
        if etype == "DELETED":
            self._pod_vanished(job, rep)
        elif md.get("deletionTimestamp"):
            # graceful delete asked by someone: the kubelet kills the container and confirms
            self._kill(rep)
            self._pod_deletes[(ns, name)] = rep.uid

    def _pod_vanished(self, job: Job, rep: Replica) -> None:
        self._note(f"{job.namespace}/{rep.pod}: pod deleted from the API")
        key = rep.key
        self._remove_replica(job, rep)
        self._pod_deletes.pop((job.namespace, rep.pod), None)
        if not job.finished and not job.detached and key in job.desired():
            self._add_replica(job, key)  # the operator recreates a missing pod
            self._update_job_status(job)

    def _pod_status(self, rep: Replica) -> dict:
        now = now_rfc3339()
        ready = rep.phase == "Running" and rep.proc is not None
        if rep.proc is not None:
            state = {"running": {"startedAt": rep.started_at}}
        elif rep.started_at is None:  # never started (init containers first, or they failed)
            state = {"waiting": {"reason": rep.waiting_reason or "ContainerCreating"}}
        elif rep.phase in ("Succeeded", "Failed") or (rep.exit_code is not None and not rep.waiting_reason):
            state = self._terminated_state(rep)
        else:
            state = {"waiting": {"reason": rep.waiting_reason or "ContainerCreating"}}
        statuses = []
        for c in rep.body["spec"]["containers"]:
            if c["name"] == rep.container:
                cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                      "restartCount": rep.restart_count, "started": rep.proc is not None, "state": state,
                      "lastState": rep.last_state or {}}
                if rep.started_at:
                    cs["containerID"] = f"fake://{rep.pod}/{rep.run}"
            else:  # extra containers are not run by the fake kubelet
                cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                      "restartCount": 0, "started": False,
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                               "message": "not run by the fake kubelet"}}}
            statuses.append(cs)
        scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}
        initialized = {"type": "Initialized", "status": str(rep.initialized), "lastTransitionTime": now}
        if not rep.initialized:
            initialized.update(reason="ContainersNotInitialized", message="containers with incomplete status: ["
                               + " ".join(c.name for c in rep.inits[rep.step:]) + "]")
        conds = [scheduled, initialized,
                 {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": now},
                 {"type": "Ready", "status": str(ready), "lastTransitionTime": now}]
        status = {"phase": rep.phase, "conditions": conds, "hostIP": "127.0.0.1",
                  "containerStatuses": statuses, "qosClass": "BestEffort"}
        if rep.inits:
            status["initContainerStatuses"] = [c.status(rep.pod) for c in rep.inits]
        first_start = next((t for t in [*(c.started_at for c in rep.inits), rep.started_at] if t), None)
        if rep.phase != "Pending" or first_start:
            status.update({"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]})
        status["startTime"] = first_start or now
        return status

    # ================================================================ writing to the API
    def _dirty(self) -> bool:
        return bool(self._pod_deletes or self._finalize_pending or any(
            j.status_dirty or any(r.pod_dirty or not r.created for r in j.replicas.values())
            for j in self._jobs.values() if not j.detached or j.replicas))

    def _flush(self) -> None:
        if self._stopping.is_set():
            return
        from kubernetes import client

        core, co = client.CoreV1Api(self._api), client.CustomObjectsApi(self._api)
        attempt, retry = self._attempt_factory()

        for (ns, pod), uid in list(self._pod_deletes.items()):
            opts = {"gracePeriodSeconds": 0}
            if uid:
                opts["preconditions"] = {"uid": uid}
            r = attempt(f"delete pod {ns}/{pod}", core.delete_namespaced_pod, pod, ns, body=opts,
                        grace_period_seconds=0, _preload_content=False, ok=(404, 409))
            if r is not None:
                self._pod_deletes.pop((ns, pod), None)

        for job in list(self._jobs.values()):
            for rep in list(job.replicas.values()):
                if not rep.created:
                    r = attempt(f"create pod {job.namespace}/{rep.pod}", self._create_pod, core, job, rep)
                    if r is False:
                        if not job.finished:
                            msg = self.errors[-1] if self.errors else "pod creation failed"
                            self._fail(job, f"fake operator: the API server refused pod {rep.pod}: {msg}")
                        break
                    if r is None:
                        continue
                if rep.pod_dirty and rep.created:
                    body = {"status": self._pod_status(rep)}
                    if job.detached:
                        body["metadata"] = {"ownerReferences": None}
                    r = attempt(f"pod status {job.namespace}/{rep.pod}", self._patch_pod, core, job, rep, body,
                                ok=(404,))
                    if r is not None:
                        rep.pod_dirty = False
            if job.status_dirty and not job.detached:
                status = {"conditions": job.conditions, "replicaStatuses": self._replica_statuses(job),
                          "startTime": job.start_time, "lastReconcileTime": now_rfc3339()}
                if job.completion_time:
                    status["completionTime"] = job.completion_time
                r = attempt(f"job status {job.namespace}/{job.name}", co.patch_namespaced_custom_object_status,
                            GROUP, VERSION, job.namespace, job.kind.plural, job.name, {"status": status},
                            _content_type="application/merge-patch+json", _preload_content=False, ok=(404,))
                if r is not None:
                    job.status_dirty = False

        for uid, obj in list(self._finalize_pending.items()):
            md = obj["metadata"]
            job = self._jobs.get(uid)
            if job is not None and not job.detached and (job.replicas or any(
                    k[0] == md["namespace"] for k in self._pod_deletes)):
                continue  # foreground: dependents first
            finalizers = [f for f in md.get("finalizers") or [] if f not in ("foregroundDeletion", "orphan")]
            plural = next(k.plural for k in KINDS.values() if k.kind == obj["kind"])
            r = attempt(f"finalize {md['namespace']}/{md['name']}", co.patch_namespaced_custom_object,
                        GROUP, VERSION, md["namespace"], plural, md["name"], {"metadata": {"finalizers": finalizers}},
                        _content_type="application/merge-patch+json", _preload_content=False, ok=(404,))
            if r is not None:
                self._finalize_pending.pop(uid, None)

        if retry():
            self._later(0.3, ("tick",))

    def _create_pod(self, core, job: Job, rep: Replica) -> None:
        from kubernetes.client import ApiException

        try:
            resp = core.create_namespaced_pod(job.namespace, rep.body, _preload_content=False)
            created = json.loads(resp.data)
        except ApiException as exc:
            if exc.status != 409:
                raise
            created = json.loads(core.read_namespaced_pod(rep.pod, job.namespace, _preload_content=False).data)
            md = created["metadata"]
            owners = [o.get("uid") for o in md.get("ownerReferences") or []]
            tracked = {r.uid for j in self._jobs.values() for r in j.replicas.values()}
            if md["uid"] in self._pod_deletes.values() or md.get("deletionTimestamp") or (
                    md["uid"] not in tracked and owners and not any(o in self._jobs for o in owners)):
                # the pod of a deleted job, or the pod this one replaces, on its way out: wait
                self._pod_deletes.setdefault((job.namespace, rep.pod), md["uid"])
                raise ApiException(status=503, reason="an old pod of that name is still being deleted") from exc
            if job.uid not in owners or md["uid"] in tracked:
                raise
        rep.uid = created["metadata"]["uid"]
        rep.created = True
        rep.pod_dirty = True
        self._note(f"{job.namespace}/{rep.pod}: pod created")
        if not rep.start_scheduled:
            rep.start_scheduled = True
            self._later(self.pending_delay, ("start", job.uid, rep.key, rep.run))

    @staticmethod
    def _patch_pod(core, job: Job, rep: Replica, body: dict) -> None:
        if "metadata" in body:
            core.patch_namespaced_pod(rep.pod, job.namespace, {"metadata": body["metadata"]},
                                      _content_type="application/merge-patch+json", _preload_content=False)
        core.patch_namespaced_pod_status(rep.pod, job.namespace, {"status": body["status"]},
                                         _content_type="application/merge-patch+json", _preload_content=False)
