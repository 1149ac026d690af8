"""A test-side stand-in for the Kubeflow Trainer v2 controller (``trainer.kubeflow.org/v1alpha1``,
kubeflow/trainer v2.3 line) with the parts of the JobSet (v0.12), Job and kubelet controllers
a TrainJob needs: the nodes run as REAL local processes (see tests/k8s/README.md).

What it does, on the real wire protocol (``kube_cluster.trainer``):

- Watches TrainJobs and JobSets in all namespaces and the pods on the fake node (list, then
  watch; relist on 410 Gone; reconnect with backoff while the API server is away).
  TrainJobs whose ``spec.managedBy`` is not ``trainer.kubeflow.org/trainjob-controller``
  are left alone, as are TrainJobs already Complete/Failed when first seen.
- Resolves ``spec.runtimeRef`` once (the real controller keeps a runtime snapshot):
  ClusterTrainingRuntime, or TrainingRuntime in the TrainJob's namespace; another kind or
  group is ``Failed``/``TrainingRuntimeNotSupported`` (``unsupported runtime: <Kind>.<group>``).
- Builds the JobSet as the runtime framework does: the runtime's template, the
  ``runtimePatches`` applied in order (a strategic merge: replicatedJobs, containers,
  volumes, env by name, volumeMounts by mountPath), then for the replicated job labelled
  ``trainer.kubeflow.org/trainjob-ancestor-step: trainer``: ``numNodes`` (TrainJob, else
  ``mlPolicy.numNodes``, else 1) as parallelism = completions, ``replicas: 1``,
  ``resourcesPerNode`` merged into the ``node`` container, its ``image``/``command``/``args``
  replaced, its ``env`` upserted (in place by name, else appended), then the plugin's env:
  torch ``PET_NNODES``, ``PET_NPROC_PER_NODE`` (``numProcPerNode``; else "auto": the GPUs
  per node, or with none the CPUs, at least 1), ``PET_NODE_RANK`` (fieldRef to the
  completion-index annotation), ``PET_MASTER_ADDR`` (``<job>-node-0-0.<job>``),
  ``PET_MASTER_PORT`` (29500); xgboost ``DMLC_TRACKER_URI``, ``DMLC_TRACKER_PORT``,
  ``DMLC_TASK_ID``, ``DMLC_NUM_WORKER`` (nodes x GPUs per node, at least 1 each); both add
  container port 29500. The JobSet webhook's defaults are written into it (Indexed
  completion, pod ``restartPolicy: OnFailure`` when unset, DNS hostnames, successPolicy
  All, startupPolicy AnyOrder). It is created named like the TrainJob, owned by it.
- Pods (what JobSet + the Job controller make): per replicated job ``replicas`` Jobs
  ``<job>-<rjob>-<i>``, per Job ``completions`` pods (at most ``parallelism`` at once),
  ``generateName: <job>-<rjob>-<i>-<index>-`` (the server adds 5 random characters),
  hostname ``<job>-<rjob>-<i>-<index>``, subdomain the JobSet's, on the fake node; labels
  and annotations of the JobSet (``jobset.sigs.k8s.io/jobset-name``, ``jobset-uid``,
  ``replicatedjob-name``, ``restart-attempt``, ``replicatedjob-replicas``,
  ``global-replicas``, ``job-index``, ``job-key``, ``job-global-index``, ``group-name``,
  ``group-replicas``, ``job-group-index``) and of the Job controller
  (``batch.kubernetes.io/job-name``, ``batch.kubernetes.io/controller-uid``, ``job-name``,
  ``controller-uid``, ``batch.kubernetes.io/job-completion-index`` label and annotation).
  Replicated jobs with ``dependsOn`` start once those are Ready/Complete.
- After ``pending_delay`` (or when ``hold_pending()`` ends) the pod's volumes become local
  directories (``emptyDir`` per pod, ``configMap``/``secret`` files, a PVC one directory per
  claim, ``hostPath`` itself), its init containers run one after the other to completion,
  then its main container (``node``, else the first): ``command + args`` with ``$(VAR)``
  expanded, the kubelet's env, ``volumeMounts`` bind-mounted at their mountPath in a
  private mount namespace. Pod status Pending -> Running -> Succeeded/Failed with the real
  exit codes, ``initContainerStatuses``; logs through the fake kubelet (per container).
- Failures as the Job controller counts them: ``OnFailure`` restarts the container in
  place until the Job's pods' restarts reach ``backoffLimit`` (default 6, as batch/v1);
  ``Never`` replaces a failed pod until more than ``backoffLimit`` failed. A failed Job
  deletes its running pods and fails the JobSet (no ``failurePolicy``: reason
  ``FailedJobs``; with ``maxRestarts`` the whole JobSet is recreated that many times, then
  ``ReachedMaxRestarts``). All Jobs complete (successPolicy All; ``Any`` and
  ``targetReplicatedJobs`` too) -> JobSet ``Completed``. A finished JobSet's still running
  pods are deleted.
- TrainJob status, as the real controller writes it: conditions only ``Suspended``
  (``Suspended``/``TrainJob is suspended``; after resume status False, ``Resumed``/``TrainJob
  is resumed``), ``Complete`` and ``Failed`` copied from the JobSet's conditions (reasons
  ``AllJobsCompleted``, ``FailedJobs``...; messages ``jobset completed successfully``,
  ``jobset failed due to one or more job failures (first failed job: <job>-node-0)``);
  ``jobsStatus`` per replicated job counting Jobs (ready/active/succeeded/failed/suspended)
  as JobSet does. The JobSet gets its status too (conditions, replicatedJobsStatus,
  restarts, terminalState).
- ``spec.suspend: true``: the JobSet is created suspended, no pods; suspending a running
  TrainJob deletes its running pods; resuming rebuilds the JobSet from the current spec
  and starts the missing pods.
- A pod deleted by someone while it runs counts as a failed pod of its Job, which creates
  a replacement for that index (new name, fresh process). A JobSet deleted by someone:
  its pods are deleted and, while the TrainJob is not finished, it is built again.
- TrainJob deleted (there is no garbage collector in this cluster, so the fake does its
  work): processes killed, pods and the JobSet deleted; ``Foreground`` finalizer removed once
  they are gone; ``Orphan`` leaves JobSet and pods running (owner reference dropped).

Deliberate deviations: a missing runtime makes the TrainJob ``Failed`` with reason
``TrainingRuntimeNotFound`` and a ``fake trainer:`` message (the real admission webhook
refuses such a TrainJob; without it the real controller only emits events and retries).
A runtime the fake cannot build (MPI/JAX/Flux ``mlPolicy``, no replicated jobs, a pod
``restartPolicy: Always``) or a JobSet/pod the API server refuses also FAIL the TrainJob
with a ``fake trainer:`` message. No batch/v1 Job objects (1.20 has no Indexed Jobs): pods
are owned by the JobSet, the Job UIDs in their labels are made up. No Services, Events,
runtime-snapshot ConfigMap, pod finalizers; ``activeDeadlineSeconds``,
``ttlSecondsAfterFinished``, failurePolicy rules, torchtune, envInjection, startupPolicy
InOrder, coscheduling are ignored; spec changes of a running TrainJob other than
``suspend`` are ignored (as the real controller does). Images are ignored (commands run
on this machine); ``<job>-node-0-0.<job>`` does not resolve here. Only the main container
of a pod runs (other containers are reported terminated, "not run by the fake kubelet").
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import JOBSET_GROUP, JOBSET_VERSION, TRAINER_GROUP, TRAINER_VERSION
from .control import (
    ConfigError,
    Container,
    Controller,
    container_env,
    container_mounts,
    expand,
    materialize_volumes,
    now_rfc3339,
    status_of,
)

MANAGED_BY = "trainer.kubeflow.org/trainjob-controller"
ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"
NODE = "node"
TRAINER_PORT = 29500
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JS = "jobset.sigs.k8s.io/"
JOBSET_NAME = JS + "jobset-name"
REPLICATED_JOB = JS + "replicatedjob-name"
DEFAULT_BACKOFF_LIMIT = 6  # batch/v1 Job default
RUNTIME_KINDS = {"ClusterTrainingRuntime": "clustertrainingruntimes", "TrainingRuntime": "trainingruntimes"}
_NOT_FOUND = {"ClusterTrainingRuntime": "not found ClusterTrainingRuntime specified in TrainJob",
              "TrainingRuntime": "TrainingRuntime specified in TrainJob is not found"}


class BuildError(Exception):
    """The fake cannot build a JobSet from this runtime (the TrainJob fails with the message)."""


# --------------------------------------------------------------------------- building the JobSet
_MERGE_KEYS = {"replicatedJobs": "name", "containers": "name", "initContainers": "name", "volumes": "name",
               "env": "name", "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
               "dependsOn": "name", "resourceClaims": "name"}


def strategic_merge(base: Any, patch: Any) -> Any:
    """A strategic merge patch as far as JobSet specs need it: maps merge (null deletes),
    the lists of ``_MERGE_KEYS`` merge by their key, other lists are replaced."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif k in _MERGE_KEYS and isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _upsert(out[k], v, _MERGE_KEYS[k], merge=True)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = strategic_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _upsert(items: list[dict], new: list[dict], key: str = "name", merge: bool = False) -> list[dict]:
    """``apply.Upsert*``: an item with the same key replaces (or, with ``merge``, is merged into)
    the one in place; others are appended."""
    out = [copy.deepcopy(i) for i in items]
    for item in new:
        at = next((i for i, old in enumerate(out) if old.get(key) == item.get(key)), None)
        if at is None:
            out.append(copy.deepcopy(item))
        else:
            out[at] = strategic_merge(out[at], item) if merge else copy.deepcopy(item)
    return out


def _quantity(q: Any) -> int:
    """``resource.Quantity.Value()``: rounded up to an integer ("500m" -> 1, "2" -> 2)."""
    text = str(q)
    scale = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3}
    for suffix in sorted(scale, key=len, reverse=True):
        if text.endswith(suffix):
            return math.ceil(float(text[: -len(suffix)]) * scale[suffix])
    return math.ceil(float(text))


def _gpus(res: dict) -> int:
    """``runtime.GetNumGPUPerNode``: the first resource named like a GPU, requests before limits."""
    for section in ("requests", "limits"):
        n = next((_quantity(v) for k, v in (res.get(section) or {}).items() if "gpu" in k.lower()), 0)
        if n:
            return n
    return 0


def _cpus(res: dict) -> int:
    request = (res.get("requests") or {}).get("cpu")
    if request is None or _quantity(request) == 0:
        limit = (res.get("limits") or {}).get("cpu")
        return _quantity(limit) if limit is not None else 0
    return _quantity(request)


def _index_ref(name: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}


def build_jobset(trainjob: dict, runtime: dict) -> tuple[dict, dict, dict]:
    """(labels, annotations, spec) of the JobSet the real controller applies for ``trainjob``
    on ``runtime``, with the JobSet webhook's defaults. BuildError when the fake cannot."""
    tj_spec = trainjob.get("spec") or {}
    name = trainjob["metadata"]["name"]
    trainer = tj_spec.get("trainer") or {}
    template = copy.deepcopy((runtime.get("spec") or {}).get("template") or {})
    ml = (runtime.get("spec") or {}).get("mlPolicy")
    for unsupported in ("mpi", "jax", "flux"):
        if (ml or {}).get(unsupported) is not None:
            raise BuildError(f"fake trainer: mlPolicy.{unsupported} is not supported")
    meta = template.get("metadata") or {}
    labels, annotations = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    spec = template.get("spec") or {}
    for patch in tj_spec.get("runtimePatches") or []:
        t = (patch.get("trainingRuntimeSpec") or {}).get("template") or {}
        labels.update((t.get("metadata") or {}).get("labels") or {})
        annotations.update((t.get("metadata") or {}).get("annotations") or {})
        if t.get("spec"):
            spec = strategic_merge(spec, t["spec"])
    if not spec.get("replicatedJobs"):
        raise BuildError("fake trainer: the runtime's template has no replicatedJobs")
    for rj in spec["replicatedJobs"]:
        job = rj.setdefault("template", {})
        job_spec = job.setdefault("spec", {})
        pod_spec = job_spec.setdefault("template", {}).setdefault("spec", {})
        is_trainer = ((job.get("metadata") or {}).get("labels") or {}).get(ANCESTOR) == "trainer"
        count = job_spec.get("parallelism", 1)
        if is_trainer:
            count = (ml or {}).get("numNodes", 1) if ml is not None else count
            count = trainer.get("numNodes", count)
            rj["replicas"] = 1
            node = next((c for c in pod_spec.get("containers") or [] if c.get("name") == NODE), None)
            if node is not None and tj_spec.get("trainer") is not None:  # the plugins need spec.trainer
                _apply_trainer(node, trainer, ml, count, name)
        job_spec["parallelism"] = job_spec["completions"] = max(int(count), 1)
        job_spec.setdefault("completionMode", "Indexed")
        pod_spec.setdefault("restartPolicy", "OnFailure")
        if pod_spec["restartPolicy"] == "Always":
            raise BuildError(f"fake trainer: replicated job {rj['name']}: the Job API refuses restartPolicy Always")
    spec.setdefault("successPolicy", {"operator": "All"})
    spec.setdefault("startupPolicy", {"startupPolicyOrder": "AnyOrder"})
    network = spec.setdefault("network", {})
    network.setdefault("enableDNSHostnames", True)
    network.setdefault("publishNotReadyAddresses", True)
    spec["suspend"] = bool(tj_spec.get("suspend"))
    return labels, annotations, spec


def _apply_trainer(node: dict, trainer: dict, ml: dict | None, count: int, name: str) -> None:
    """The trainer overrides and the ML plugin's env on the ``node`` container."""
    if ml is not None and trainer.get("resourcesPerNode"):
        node["resources"] = strategic_merge(node.get("resources") or {}, trainer["resourcesPerNode"])
    resources = trainer.get("resourcesPerNode") or node.get("resources") or {}
    env = _upsert(node.get("env") or [], trainer.get("env") or [])
    plugin: list[dict] = []
    if (ml or {}).get("torch") is not None:
        nproc = trainer.get("numProcPerNode")
        if nproc is None:
            nproc = "auto" if _gpus(resources) else max(1, _cpus(resources))
        plugin = [{"name": "PET_NNODES", "value": str(count)}, {"name": "PET_NPROC_PER_NODE", "value": str(nproc)},
                  _index_ref("PET_NODE_RANK"), {"name": "PET_MASTER_ADDR", "value": f"{name}-{NODE}-0-0.{name}"},
                  {"name": "PET_MASTER_PORT", "value": str(TRAINER_PORT)}]
    elif (ml or {}).get("xgboost") is not None:
        plugin = [{"name": "DMLC_TRACKER_URI", "value": f"{name}-{NODE}-0-0.{name}"},
                  {"name": "DMLC_TRACKER_PORT", "value": str(TRAINER_PORT)}, _index_ref("DMLC_TASK_ID"),
                  {"name": "DMLC_NUM_WORKER", "value": str(count * max(1, _gpus(resources)))}]
    if plugin:
        node["ports"] = _upsert(node.get("ports") or [], [{"containerPort": TRAINER_PORT, "protocol": "TCP"}],
                                key="containerPort")
    node["env"] = _upsert(env, plugin)
    for key in ("image", "command", "args"):
        if trainer.get(key) is not None:
            node[key] = copy.deepcopy(trainer[key])


# --------------------------------------------------------------------------- state
@dataclass
class Pod:
    seq: int
    job: tuple[str, int]  # (replicated job, job index)
    index: int  # completion index
    containers: list[Container]  # the init containers, then the main one
    body: dict | None = None  # as created
    name: str | None = None
    uid: str | None = None
    phase: str = "Pending"
    step: int = 0  # the container running or due
    volumes: dict[str, Path] | None = None
    dirty: bool = True

    @property
    def main(self) -> Container:
        return self.containers[-1]

    @property
    def active(self) -> bool:
        return self.phase in ("Pending", "Running")


@dataclass
class JobRun:
    """One batch/v1 Job of the JobSet (not created as an object)."""

    rjob: str
    idx: int
    name: str
    uid: str
    template: dict  # the replicated job's Job template
    succeeded: set[int] = field(default_factory=set)
    failed: int = 0  # failed (or deleted while active) pods
    state: str = "Active"  # Active, Complete, Failed

    @property
    def spec(self) -> dict:
        return self.template["spec"]

    @property
    def completions(self) -> int:
        return int(self.spec.get("completions", 1))

    @property
    def backoff_limit(self) -> int:
        return int(self.spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))

    @property
    def restart_policy(self) -> str:
        return self.spec["template"]["spec"]["restartPolicy"]


@dataclass
class TrainJob:
    namespace: str
    name: str
    uid: str
    obj: dict
    generation: int
    runtime: dict | None = None
    labels: dict = field(default_factory=dict)  # of the JobSet
    annotations: dict = field(default_factory=dict)
    spec: dict | None = None  # the JobSet's spec once built
    jobset_uid: str | None = None
    jobset_dirty: bool = False  # to create, or its spec to replace
    jobs: dict[tuple[str, int], JobRun] = field(default_factory=dict)
    pods: dict[int, Pod] = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    jobset_conditions: list[dict] = field(default_factory=list)
    jobs_status: list[dict] = field(default_factory=list)
    restarts: int = 0
    jobset_finished: bool = False
    finished: bool = False  # nothing more to do (done, failed, deleted)
    detached: bool = False  # orphaned: the JobSet and its pods live on, no TrainJob status
    ignored: bool = False  # managed by another controller
    status_dirty: bool = False
    jobset_status_dirty: bool = False

    @property
    def suspended(self) -> bool:
        return bool((self.obj.get("spec") or {}).get("suspend"))

    def rjobs(self) -> list[dict]:
        return (self.spec or {}).get("replicatedJobs") or []


def _set_condition(conditions: list[dict], ctype: str, status: str, reason: str, message: str,
                   when: str | None = None) -> bool:
    """``meta.SetStatusCondition``: the time changes only with the status. True if anything changed."""
    now = when or now_rfc3339()
    for c in conditions:
        if c["type"] == ctype:
            if (c["status"], c["reason"], c["message"]) == (status, reason, message):
                return False
            if c["status"] != status:
                c["lastTransitionTime"] = now
            c.update(status=status, reason=reason, message=message)
            return True
    conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                       "lastTransitionTime": now})
    return True


def _is_true(conditions: list[dict], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions)


def _qos(pod_spec: dict) -> str:
    containers = (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
    res = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    for r in res:
        limits, requests = r.get("limits") or {}, {**(r.get("limits") or {}), **(r.get("requests") or {})}
        if any(k not in limits or str(requests.get(k)) != str(limits[k]) for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


# --------------------------------------------------------------------------- the controller
class FakeTrainer(Controller):
    """See the module docstring. Created and started by KubeCluster; reach it as
    ``kube_cluster.trainer``."""

    label = "fake-trainer"

    def __init__(self, cluster, pending_delay: float = 0.3, restart_delay: float = 0.2, kill_grace: float = 2.0):
        super().__init__(cluster, pending_delay, restart_delay, kill_grace)
        self._trainjobs: dict[str, TrainJob] = {}
        self._pods_by_name: dict[tuple[str, str], tuple[str, int]] = {}  # (ns, pod) -> (trainjob uid, seq)
        self._pod_seq = 0
        self._pod_deletes: dict[tuple[str, str], str | None] = {}  # (ns, pod) -> uid
        self._jobset_deletes: dict[tuple[str, str], str] = {}  # (ns, name) -> uid
        self._finalize_pending: dict[str, dict] = {}

    # ================================================================ public
    def replicas(self, namespace: str, trainjob: str) -> dict[str, dict]:
        """Pod name -> {phase, index, exit_code, restart_count, pid, log} (main container) for
        the TrainJob's pods the fake knows (created ones)."""

        def collect() -> dict[str, dict]:
            out = {}
            for tj in self._trainjobs.values():
                if tj.namespace == namespace and tj.name == trainjob:
                    for p in tj.pods.values():
                        if p.name:
                            c = p.main
                            out[p.name] = {"phase": p.phase, "index": p.index, "exit_code": c.exit_code,
                                           "restart_count": c.restart_count, "pid": c.proc.pid if c.proc else None,
                                           "log": c.log_path}
            return out

        return self.call(collect)

    # ================================================================ watched
    def _watches(self) -> tuple[str, ...]:
        return ("trainjobs", "jobsets", "pods")

    def _resources(self) -> dict[str, tuple[str, str, str]]:
        return {"trainjobs": (TRAINER_GROUP, TRAINER_VERSION, "trainjobs"),
                "jobsets": (JOBSET_GROUP, JOBSET_VERSION, "jobsets")}

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "list":
            _, what, items = item
            {"trainjobs": self._on_trainjob_list, "jobsets": self._on_jobset_list, "pods": self._on_pod_list}[what](items)
        elif kind == "event":
            _, what, etype, obj = item
            {"trainjobs": self._on_trainjob_event, "jobsets": self._on_jobset_event,
             "pods": self._on_pod_event}[what](etype, obj)
        elif kind == "reconcile":
            tj = self._trainjobs.get(item[1])
            if tj is not None:
                self._reconcile(tj)
        elif kind == "start":
            self._start_container(*item[1:])
        elif kind == "exit":
            self._on_exit(*item[1:])

    # ================================================================ TrainJobs
    def _on_trainjob_list(self, items: list[dict]) -> None:
        seen = set()
        for obj in items:
            seen.add(obj["metadata"]["uid"])
            self._on_trainjob_event("MODIFIED", obj)
        for uid, tj in list(self._trainjobs.items()):
            if uid not in seen and not tj.detached:
                self._trainjob_gone(tj)

    def _on_trainjob_event(self, etype: str, obj: dict) -> None:
        md = obj["metadata"]
        uid = md["uid"]
        tj = self._trainjobs.get(uid)
        if etype == "DELETED":
            if tj is not None and not tj.detached:
                self._trainjob_gone(tj)
            self._finalize_pending.pop(uid, None)
            return
        if md.get("deletionTimestamp"):
            finalizers = md.get("finalizers") or []
            if tj is not None and "orphan" in finalizers:
                self._orphan(tj)
            elif tj is not None and not tj.detached:
                self._trainjob_gone(tj, keep_state=True)
            if {"foregroundDeletion", "orphan"} & set(finalizers):
                self._finalize_pending[uid] = obj
            return
        if tj is None:
            tj = TrainJob(md["namespace"], md["name"], uid, obj, md.get("generation", 0))
            self._trainjobs[uid] = tj
            status = obj.get("status") or {}
            tj.conditions = copy.deepcopy(status.get("conditions") or [])
            if (obj.get("spec") or {}).get("managedBy", MANAGED_BY) != MANAGED_BY:
                tj.ignored = tj.finished = True
                return
            if _is_true(tj.conditions, "Complete") or _is_true(tj.conditions, "Failed"):
                tj.finished = True  # finished before we saw it (e.g. an earlier harness): leave it
                return
            self._note(f"{tj.namespace}/{tj.name}: new TrainJob")
            self._reconcile(tj)
            return
        tj.obj = obj
        if tj.detached or tj.ignored or md.get("generation", 0) == tj.generation:
            return
        tj.generation = md.get("generation", 0)
        self._note(f"{tj.namespace}/{tj.name}: spec changed (generation {tj.generation})")
        self._reconcile(tj)

    def _reconcile(self, tj: TrainJob) -> None:
        """What one Reconcile of the real controller does: runtime, JobSet, Suspended, status."""
        if not tj.finished:
            if tj.runtime is None and not self._resolve_runtime(tj):
                return
            if tj.spec is None:
                self._build(tj)
            elif tj.suspended and not tj.spec.get("suspend"):
                self._suspend(tj)
            elif not tj.suspended and tj.spec.get("suspend"):
                self._build(tj)  # resumed: the JobSet again from the current spec
        if tj.detached or tj.ignored:
            return
        if tj.suspended:
            tj.status_dirty |= _set_condition(tj.conditions, "Suspended", "True", "Suspended", "TrainJob is suspended")
        elif _is_true(tj.conditions, "Suspended"):
            tj.status_dirty |= _set_condition(tj.conditions, "Suspended", "False", "Resumed", "TrainJob is resumed")
        self._update(tj)

    def _resolve_runtime(self, tj: TrainJob) -> bool:
        """Read the runtime; False when there is none (yet: retried while the API server is away)."""
        from kubernetes import client

        ref = (tj.obj.get("spec") or {}).get("runtimeRef") or {}
        kind, group = ref.get("kind", "ClusterTrainingRuntime"), ref.get("apiGroup", TRAINER_GROUP)
        if group != TRAINER_GROUP or kind not in RUNTIME_KINDS:
            self._fail(tj, f"unsupported runtime: {kind}.{group}" if group else f"unsupported runtime: {kind}",
                       "TrainingRuntimeNotSupported")
            return False
        co = client.CustomObjectsApi(self._api)
        plural = RUNTIME_KINDS[kind]
        try:
            if kind == "ClusterTrainingRuntime":
                resp = co.get_cluster_custom_object(TRAINER_GROUP, TRAINER_VERSION, plural, ref.get("name", ""),
                                                    _preload_content=False)
            else:
                resp = co.get_namespaced_custom_object(TRAINER_GROUP, TRAINER_VERSION, tj.namespace, plural,
                                                       ref.get("name", ""), _preload_content=False)
            tj.runtime = json.loads(resp.data)
            return True
        except Exception as exc:  # noqa: BLE001
            if status_of(exc) == 404:
                self._fail(tj, f'fake trainer: {_NOT_FOUND[kind]}: {plural}.{TRAINER_GROUP} "{ref.get("name")}" '
                               "not found", "TrainingRuntimeNotFound")
                return False
            self._later(1.0, ("reconcile", tj.uid))
            return False

    def _build(self, tj: TrainJob) -> None:
        """The JobSet from the runtime and the TrainJob's spec; its Jobs (kept across a resume
        when the replicated job still exists)."""
        try:
            tj.labels, tj.annotations, tj.spec = build_jobset(tj.obj, tj.runtime)
        except BuildError as exc:
            self._fail(tj, str(exc), "FakeTrainerError")
            return
        tj.jobset_dirty = True
        wanted = {}
        for rj in tj.rjobs():
            for i in range(int(rj.get("replicas", 1))):
                key = (rj["name"], i)
                job = tj.jobs.get(key) or JobRun(rj["name"], i, f"{tj.name}-{rj['name']}-{i}", str(uuid.uuid4()), {})
                job.template = copy.deepcopy(rj["template"])
                wanted[key] = job
        for key in set(tj.jobs) - set(wanted):
            for pod in self._pods_of(tj, key):
                self._remove_pod(tj, pod)
        tj.jobs = wanted
        if tj.suspended:
            self._set_jobset_condition(tj, "Suspended", "True", "SuspendedJobs", "jobset is suspended")
        elif _is_true(tj.jobset_conditions, "Suspended"):
            self._set_jobset_condition(tj, "Suspended", "False", "ResumeJobs", "jobset is resumed")
        self._note(f"{tj.namespace}/{tj.name}: JobSet built ({', '.join(j.name for j in tj.jobs.values())})")

    def _suspend(self, tj: TrainJob) -> None:
        tj.spec["suspend"] = True
        tj.jobset_dirty = True
        for pod in list(tj.pods.values()):
            if pod.active:
                self._remove_pod(tj, pod)
        self._set_jobset_condition(tj, "Suspended", "True", "SuspendedJobs", "jobset is suspended")

    def _set_jobset_condition(self, tj: TrainJob, ctype: str, status: str, reason: str, message: str) -> None:
        tj.jobset_status_dirty |= _set_condition(tj.jobset_conditions, ctype, status, reason, message)

    def _fail(self, tj: TrainJob, message: str, reason: str) -> None:
        """A Failed condition the fake sets itself (not from the JobSet)."""
        if reason == "FakeTrainerError":
            self._error(f"{tj.namespace}/{tj.name}: {message}")
        tj.status_dirty |= _set_condition(tj.conditions, "Failed", "True", reason, message)
        tj.finished = True
        for pod in list(tj.pods.values()):
            if pod.active:
                self._remove_pod(tj, pod)

    def _trainjob_gone(self, tj: TrainJob, keep_state: bool = False) -> None:
        """Deleted (or being deleted): kill the processes, delete the pods and the JobSet."""
        for pod in list(tj.pods.values()):
            self._remove_pod(tj, pod)
        if tj.jobset_uid:
            self._jobset_deletes[(tj.namespace, tj.name)] = tj.jobset_uid
        tj.jobset_uid, tj.spec, tj.jobset_dirty = None, None, False
        tj.finished, tj.status_dirty, tj.jobset_status_dirty = True, False, False
        if not keep_state:
            self._trainjobs.pop(tj.uid, None)
        self._note(f"{tj.namespace}/{tj.name}: deleted")

    def _orphan(self, tj: TrainJob) -> None:
        tj.detached = True
        tj.status_dirty = False
        tj.jobset_dirty = tj.jobset_uid is not None  # to drop the owner reference
        self._note(f"{tj.namespace}/{tj.name}: orphaned its JobSet")

    # ================================================================ Jobs and the JobSet
    def _pods_of(self, tj: TrainJob, key: tuple[str, int]) -> list[Pod]:
        return [p for p in tj.pods.values() if p.job == key]

    def _update(self, tj: TrainJob) -> None:
        """The Job, JobSet and TrainJob controllers' reaction to what changed."""
        if tj.spec is None or tj.jobset_finished:
            self._update_statuses(tj)
            return
        for key, job in tj.jobs.items():
            if job.state != "Active":
                continue
            pods = self._pods_of(tj, key)
            restarts = sum(c.restart_count for p in pods if p.active for c in p.containers)
            past_on_failure = job.restart_policy == "OnFailure" and (
                restarts > 0 if job.backoff_limit == 0 else restarts >= job.backoff_limit)
            if job.failed > job.backoff_limit or past_on_failure:
                job.state = "Failed"
                self._note(f"{tj.namespace}/{job.name}: Job failed (BackoffLimitExceeded)")
                for pod in pods:
                    if pod.active:
                        self._remove_pod(tj, pod)
            elif len(job.succeeded) >= job.completions:
                job.state = "Complete"
        failed = [j for j in tj.jobs.values() if j.state == "Failed"]
        if failed:
            policy = tj.spec.get("failurePolicy")
            if policy and tj.restarts < int(policy.get("maxRestarts", 0)):
                self._restart_jobset(tj)
                for job in tj.jobs.values():
                    self._fill(tj, job)
            elif policy:
                self._finish_jobset(tj, "Failed", "ReachedMaxRestarts",
                                    f"jobset failed due to reaching max number of restarts (first failed job: "
                                    f"{failed[0].name})")
            else:
                self._finish_jobset(tj, "Failed", "FailedJobs",
                                    f"jobset failed due to one or more job failures (first failed job: "
                                    f"{failed[0].name})")
        elif self._succeeded(tj):
            self._finish_jobset(tj, "Completed", "AllJobsCompleted", "jobset completed successfully")
        elif not tj.spec.get("suspend"):
            for job in tj.jobs.values():
                self._fill(tj, job)
        self._update_statuses(tj)

    def _succeeded(self, tj: TrainJob) -> bool:
        policy = tj.spec.get("successPolicy") or {}
        targets = policy.get("targetReplicatedJobs") or [rj["name"] for rj in tj.rjobs()]
        jobs = [j for j in tj.jobs.values() if j.rjob in targets]
        done = [j.state == "Complete" for j in jobs]
        return bool(jobs) and (any(done) if policy.get("operator") == "Any" else all(done))

    def _fill(self, tj: TrainJob, job: JobRun) -> None:
        """The Job controller: pods for the indexes neither succeeded nor running, up to parallelism."""
        if job.state != "Active" or not self._dependencies_met(tj, job.rjob):
            return
        pods = self._pods_of(tj, (job.rjob, job.idx))
        running = {p.index for p in pods if p.active}
        room = int(job.spec.get("parallelism", 1)) - len(running)
        for index in range(job.completions):
            if room <= 0:
                break
            if index not in job.succeeded and index not in running:
                self._add_pod(tj, job, index)
                room -= 1

    def _dependencies_met(self, tj: TrainJob, rjob: str) -> bool:
        spec = next(rj for rj in tj.rjobs() if rj["name"] == rjob)
        for dep in spec.get("dependsOn") or []:
            jobs = [j for j in tj.jobs.values() if j.rjob == dep["name"]]
            if dep.get("status") == "Complete":
                if not all(j.state == "Complete" for j in jobs):
                    return False
            elif not all(j.state == "Complete" or self._job_ready(tj, j) for j in jobs):
                return False
        return True

    def _job_ready(self, tj: TrainJob, job: JobRun) -> bool:
        ready = sum(p.phase == "Running" and p.main.state == "running" for p in self._pods_of(tj, (job.rjob, job.idx)))
        return ready + len(job.succeeded) >= min(int(job.spec.get("parallelism", 1)), job.completions)

    def _restart_jobset(self, tj: TrainJob) -> None:
        tj.restarts += 1
        self._note(f"{tj.namespace}/{tj.name}: JobSet restart {tj.restarts}")
        for pod in list(tj.pods.values()):
            self._remove_pod(tj, pod)
        for key, job in tj.jobs.items():
            tj.jobs[key] = JobRun(job.rjob, job.idx, job.name, str(uuid.uuid4()), job.template)
        tj.jobset_status_dirty = True

    def _finish_jobset(self, tj: TrainJob, ctype: str, reason: str, message: str) -> None:
        now = now_rfc3339()
        self._set_jobset_condition(tj, ctype, "True", reason, message)
        tj.jobset_finished = True
        for pod in list(tj.pods.values()):
            if pod.active:
                self._remove_pod(tj, pod)  # JobSet deletes its active Jobs
        if not tj.detached:
            _set_condition(tj.conditions, "Complete" if ctype == "Completed" else "Failed", "True", reason, message,
                           now)
            tj.finished = tj.status_dirty = True
        self._note(f"{tj.namespace}/{tj.name}: JobSet {ctype}: {message}")

    def _update_statuses(self, tj: TrainJob) -> None:
        """``replicatedJobsStatus`` of the JobSet = ``jobsStatus`` of the TrainJob."""
        if tj.spec is None:
            return
        out = []
        for rj in tj.rjobs():
            jobs = [j for j in tj.jobs.values() if j.rjob == rj["name"]]
            active = [j for j in jobs if j.state == "Active"]
            out.append({
                "name": rj["name"],
                "ready": sum(self._job_ready(tj, j) for j in active if not tj.spec.get("suspend")),
                "succeeded": sum(j.state == "Complete" for j in jobs),
                "failed": sum(j.state == "Failed" for j in jobs),
                "active": sum(any(p.active for p in self._pods_of(tj, (j.rjob, j.idx))) for j in active),
                "suspended": len(active) if tj.spec.get("suspend") else 0,
            })
        if out != tj.jobs_status:
            tj.jobs_status = out
            tj.jobset_status_dirty = True
            tj.status_dirty |= not tj.detached

    # ================================================================ JobSets
    def _on_jobset_list(self, items: list[dict]) -> None:
        present = {o["metadata"]["uid"] for o in items}
        for tj in list(self._trainjobs.values()):
            if tj.jobset_uid and tj.jobset_uid not in present:
                self._jobset_gone(tj)

    def _on_jobset_event(self, etype: str, obj: dict) -> None:
        if etype != "DELETED":
            return
        uid = obj["metadata"]["uid"]
        tj = next((t for t in self._trainjobs.values() if t.jobset_uid == uid), None)
        if tj is not None:
            self._jobset_gone(tj)

    def _jobset_gone(self, tj: TrainJob) -> None:
        """Deleted by someone: its pods go (the garbage collector's work); an unfinished TrainJob
        gets a new one, as the real controller applies it again."""
        self._note(f"{tj.namespace}/{tj.name}: JobSet deleted")
        for pod in list(tj.pods.values()):
            self._remove_pod(tj, pod)
        tj.jobset_uid, tj.spec, tj.jobs, tj.jobs_status = None, None, {}, []
        tj.jobset_conditions, tj.jobset_finished = [], False
        if tj.detached:
            self._trainjobs.pop(tj.uid, None)
        elif not tj.finished:
            self._reconcile(tj)

    # ================================================================ pods
    def _add_pod(self, tj: TrainJob, job: JobRun, index: int) -> None:
        pod_spec = job.spec["template"]["spec"]
        inits = [Container(c, True) for c in pod_spec.get("initContainers") or []]
        main = next((c for c in pod_spec.get("containers") or [] if c.get("name") == NODE),
                    (pod_spec.get("containers") or [None])[0])
        if main is None:
            self._fail(tj, f"fake trainer: replicated job {job.rjob} has no containers", "FakeTrainerError")
            return
        self._pod_seq += 1
        pod = Pod(self._pod_seq, (job.rjob, job.idx), index, [*inits, Container(main, False)])
        if inits:
            pod.main.reason = "PodInitializing"
        tj.pods[pod.seq] = pod

    def _pod_body(self, tj: TrainJob, pod: Pod) -> dict:
        job = tj.jobs[pod.job]
        template = copy.deepcopy(job.spec["template"])
        md = template.get("metadata") or {}
        rjobs = tj.rjobs()
        rj = next(r for r in rjobs if r["name"] == job.rjob)
        group = rj.get("groupName") or "default"
        before = rjobs[: rjobs.index(rj)]
        replicas = {r["name"]: int(r.get("replicas", 1)) for r in rjobs}
        jobset = {
            JOBSET_NAME: tj.name, JS + "jobset-uid": tj.jobset_uid, REPLICATED_JOB: job.rjob,
            JS + "restart-attempt": str(tj.restarts), JS + "replicatedjob-replicas": str(replicas[job.rjob]),
            JS + "global-replicas": str(sum(replicas.values())), JS + "job-index": str(job.idx),
            JS + "job-key": hashlib.sha1(f"{tj.namespace}/{job.name}".encode()).hexdigest(),
            JS + "job-global-index": str(sum(replicas[r["name"]] for r in before) + job.idx),
            JS + "group-name": group,
            JS + "group-replicas": str(sum(replicas[r["name"]] for r in rjobs if (r.get("groupName") or "default")
                                           == group)),
            JS + "job-group-index": str(sum(replicas[r["name"]] for r in before
                                            if (r.get("groupName") or "default") == group) + job.idx),
        }
        batch = {"batch.kubernetes.io/controller-uid": job.uid, "batch.kubernetes.io/job-name": job.name,
                 "controller-uid": job.uid, "job-name": job.name, COMPLETION_INDEX: str(pod.index)}
        spec = template.get("spec") or {}
        spec["nodeName"] = self.node_name
        spec["hostname"] = f"{job.name}-{pod.index}"
        network = tj.spec.get("network") or {}
        if network.get("enableDNSHostnames"):
            spec["subdomain"] = network.get("subdomain") or tj.name
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": f"{job.name}-{pod.index}-", "namespace": tj.namespace,
                "labels": {**(md.get("labels") or {}), **jobset, **batch},
                "annotations": {**(md.get("annotations") or {}), **jobset, COMPLETION_INDEX: str(pod.index)},
                "ownerReferences": [{"apiVersion": f"{JOBSET_GROUP}/{JOBSET_VERSION}", "kind": "JobSet",
                                     "name": tj.name, "uid": tj.jobset_uid, "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": spec,
        }

    def _remove_pod(self, tj: TrainJob, pod: Pod) -> None:
        """Kill its processes and delete it (no replacement: the caller decides)."""
        tj.pods.pop(pod.seq, None)
        for c in pod.containers:
            self._kill(c)
        if pod.name:
            self._pods_by_name.pop((tj.namespace, pod.name), None)
            self.kubelet.remove_pod(tj.namespace, pod.name)
            self._pod_deletes[(tj.namespace, pod.name)] = pod.uid
            self._note(f"{tj.namespace}/{pod.name}: removed")

    def _kill(self, c: Container) -> None:
        proc, c.proc = c.proc, None
        c.run += 1  # its exit event is stale now
        self._terminate(proc)

    def _on_pod_list(self, items: list[dict]) -> None:
        present = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["metadata"]["uid"] for p in items}
        for obj in items:
            self._on_pod_event("MODIFIED", obj)
        for (ns, name), (uid, seq) in list(self._pods_by_name.items()):
            tj = self._trainjobs.get(uid)
            pod = tj.pods.get(seq) if tj else None
            if pod is not None and present.get((ns, name)) != pod.uid:
                self._pod_vanished(tj, pod)

    def _on_pod_event(self, etype: str, obj: dict) -> None:
        md = obj["metadata"]
        where = self._pods_by_name.get((md["namespace"], md["name"]))
        tj = self._trainjobs.get(where[0]) if where else None
        pod = tj.pods.get(where[1]) if tj else None
        if pod is None or md.get("uid") != pod.uid:
            return  # not ours (the fake operator finishes graceful deletes of pods nobody runs)
        if etype == "DELETED" or md.get("deletionTimestamp"):
            self._pod_vanished(tj, pod)

    def _pod_vanished(self, tj: TrainJob, pod: Pod) -> None:
        """Deleted by someone: an active pod counts as failed; the Job replaces it."""
        self._note(f"{tj.namespace}/{pod.name}: pod deleted from the API")
        job = tj.jobs.get(pod.job)
        if pod.active and job is not None and job.state == "Active":
            job.failed += 1
        self._remove_pod(tj, pod)
        self._update(tj)

    # ================================================================ containers
    def _start_container(self, uid: str, seq: int, run: int) -> None:
        tj = self._trainjobs.get(uid)
        pod = tj.pods.get(seq) if tj else None
        if pod is None or not pod.active or pod.step >= len(pod.containers):
            return
        c = pod.containers[pod.step]
        if c.run != run or c.proc is not None:
            return
        if self._held():
            self._later(0.05, ("start", uid, seq, run))
            return
        from kubernetes import client

        core = client.CoreV1Api(self._api)
        pod_dir = self.cluster.workdir / "pods" / tj.namespace / pod.name
        try:
            if pod.volumes is None:
                pod.volumes = materialize_volumes(core, pod.body, pod_dir / "volumes", self.cluster.workdir / "pvcs")
            env = container_env(core, pod.body, pod.uid, c.spec, self.node_name, self.cluster.port)
            mounts = container_mounts(c.spec, pod.volumes)
        except ConfigError as exc:
            reason = "ContainerCreating" if pod.volumes is None else "CreateContainerConfigError"
            if c.reason != reason:
                self._note(f"{tj.namespace}/{pod.name}: {exc}")
            c.reason = reason
            self.kubelet.set_waiting(tj.namespace, pod.name, c.name, reason)
            pod.dirty = True
            self._later(1.0, ("start", uid, seq, run))
            return
        argv = [expand(a, env) for a in list(c.spec.get("command") or []) + list(c.spec.get("args") or [])]
        pod_dir.mkdir(parents=True, exist_ok=True)
        lg = self.kubelet.start_container(tj.namespace, pod.name, c.name)
        c.log_path, c.started_at, c.finished_at, c.exit_code = lg.path, now_rfc3339(), None, None
        c.run += 1
        pod.dirty = True
        if not c.init:
            pod.phase = "Running"
        item = ("exit", uid, seq, pod.step, c.run)
        if not argv:
            lg.append("fake kubelet: the container has no command/args; image entrypoints are not run here\n")
            lg.close()
            c.state = "running"
            self._later(0, (*item, 127))
            return
        proc = self._launch(argv, env, pod_dir, lg, item, mounts, c.spec.get("workingDir"))
        c.state = "running"
        if isinstance(proc, str):
            lg.append(f"fake kubelet: {proc}\n")
            lg.close()
            self._later(0, (*item, 128))
            return
        c.proc = proc
        self._note(f"{tj.namespace}/{pod.name}/{c.name}: started pid {proc.pid}: {argv}")
        self._update(tj)

    def _on_exit(self, uid: str, seq: int, step: int, run: int, rc: int) -> None:
        tj = self._trainjobs.get(uid)
        pod = tj.pods.get(seq) if tj else None
        if pod is None or pod.step != step or pod.containers[step].run != run:
            return
        c = pod.containers[step]
        c.proc, c.exit_code, c.finished_at, c.state = None, rc, now_rfc3339(), "terminated"
        pod.dirty = True
        job = tj.jobs[pod.job]
        self._note(f"{tj.namespace}/{pod.name}/{c.name}: exited {rc}")
        if rc == 0:
            pod.step += 1
            if c.init:
                self._later(0, ("start", uid, seq, pod.containers[pod.step].run))
            else:
                pod.phase = "Succeeded"
                job.succeeded.add(pod.index)
        elif job.restart_policy == "OnFailure" and job.state == "Active":
            c.last_state = c.terminated(pod.name)
            c.restart_count += 1
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            self.kubelet.set_waiting(tj.namespace, pod.name, c.name, c.reason)
            self._later(self.restart_delay, ("start", uid, seq, c.run))
        else:
            pod.phase = "Failed"
            job.failed += 1
        self._update(tj)

    def _pod_status(self, pod: Pod) -> dict:
        now = now_rfc3339()
        inits = [c for c in pod.containers if c.init]
        main = pod.main
        ready = pod.phase == "Running" and main.state == "running"
        initialized = pod.step >= len(inits)
        statuses = []
        for spec in pod.body["spec"].get("containers") or []:
            if spec["name"] == main.name:
                statuses.append(main.status(pod.name))
            else:
                statuses.append({"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": False,
                                 "restartCount": 0, "started": False,
                                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                          "message": "not run by the fake kubelet"}}})
        init_cond = {"type": "Initialized", "status": str(initialized), "lastTransitionTime": now}
        if not initialized:
            init_cond.update(reason="ContainersNotInitialized", message="containers with incomplete status: ["
                             + " ".join(c.name for c in inits[pod.step:]) + "]")
        status = {
            "phase": pod.phase, "hostIP": "127.0.0.1", "qosClass": _qos(pod.body["spec"]),
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}, init_cond,
                           {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": now},
                           {"type": "Ready", "status": str(ready), "lastTransitionTime": now}],
            "containerStatuses": statuses,
            "startTime": next((c.started_at for c in pod.containers if c.started_at), now),
        }
        if inits:
            status["initContainerStatuses"] = [c.status(pod.name) for c in inits]
        if any(c.started_at for c in pod.containers):
            status.update({"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]})
        return status

    # ================================================================ writing to the API
    def _dirty(self) -> bool:
        return bool(self._pod_deletes or self._jobset_deletes or self._finalize_pending or any(
            tj.status_dirty or tj.jobset_dirty or tj.jobset_status_dirty
            or any(p.dirty or p.name is None for p in tj.pods.values())
            for tj in self._trainjobs.values()))

    def _flush(self) -> None:
        if self._stopping.is_set():
            return
        from kubernetes import client

        core, co = client.CoreV1Api(self._api), client.CustomObjectsApi(self._api)
        attempt, retry = self._attempt_factory()
        merge = {"_content_type": "application/merge-patch+json", "_preload_content": False}

        for (ns, pod), uid in list(self._pod_deletes.items()):
            opts = {"gracePeriodSeconds": 0, **({"preconditions": {"uid": uid}} if uid else {})}
            if attempt(f"delete pod {ns}/{pod}", core.delete_namespaced_pod, pod, ns, body=opts,
                       grace_period_seconds=0, _preload_content=False, ok=(404, 409)) is not None:
                self._pod_deletes.pop((ns, pod), None)
        for (ns, name), uid in list(self._jobset_deletes.items()):
            body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
            if attempt(f"delete jobset {ns}/{name}", co.delete_namespaced_custom_object, JOBSET_GROUP,
                       JOBSET_VERSION, ns, "jobsets", name, body=body, _preload_content=False,
                       ok=(404, 409)) is not None:
                self._jobset_deletes.pop((ns, name), None)

        for tj in list(self._trainjobs.values()):
            if tj.jobset_dirty and tj.spec is not None:
                r = attempt(f"jobset {tj.namespace}/{tj.name}", self._write_jobset, co, tj)
                if r is False:
                    self._fail(tj, f"fake trainer: the API server refused JobSet {tj.name}: "
                                   f"{self.errors[-1] if self.errors else ''}", "FakeTrainerError")
                elif r:
                    tj.jobset_dirty = False
            for pod in list(tj.pods.values()):
                if pod.name is None:
                    if tj.jobset_uid is None:
                        continue
                    r = attempt(f"create pod of {tj.namespace}/{tj.name}", self._create_pod, core, tj, pod)
                    if r is False:
                        self._fail(tj, f"fake trainer: the API server refused a pod: "
                                       f"{self.errors[-1] if self.errors else ''}", "FakeTrainerError")
                        break
                    if r is None:
                        continue
                if pod.dirty:
                    r = attempt(f"pod status {tj.namespace}/{pod.name}", core.patch_namespaced_pod_status,
                                pod.name, tj.namespace, {"status": self._pod_status(pod)}, ok=(404,), **merge)
                    if r is not None:
                        pod.dirty = False
            if tj.jobset_status_dirty and tj.jobset_uid:
                status = {"conditions": tj.jobset_conditions or None, "replicatedJobsStatus": tj.jobs_status,
                          "restarts": tj.restarts, "restartsCountTowardsMax": tj.restarts,
                          "terminalState": next((c["type"] for c in tj.jobset_conditions if c["status"] == "True"
                                                 and c["type"] in ("Completed", "Failed")), None)}
                if attempt(f"jobset status {tj.namespace}/{tj.name}", co.patch_namespaced_custom_object_status,
                           JOBSET_GROUP, JOBSET_VERSION, tj.namespace, "jobsets", tj.name, {"status": status},
                           ok=(404,), **merge) is not None:
                    tj.jobset_status_dirty = False
            if tj.status_dirty and not tj.detached:
                status = {"conditions": tj.conditions or None, "jobsStatus": tj.jobs_status or None}
                if attempt(f"trainjob status {tj.namespace}/{tj.name}", co.patch_namespaced_custom_object_status,
                           TRAINER_GROUP, TRAINER_VERSION, tj.namespace, "trainjobs", tj.name, {"status": status},
                           ok=(404,), **merge) is not None:
                    tj.status_dirty = False

        for uid, obj in list(self._finalize_pending.items()):
            md = obj["metadata"]
            tj = self._trainjobs.get(uid)
            if tj is not None and not tj.detached and (tj.pods or (md["namespace"], md["name"]) in self._jobset_deletes
                                                       or any(k[0] == md["namespace"] for k in self._pod_deletes)):
                continue  # foreground: dependents first
            finalizers = [f for f in md.get("finalizers") or [] if f not in ("foregroundDeletion", "orphan")]
            if attempt(f"finalize {md['namespace']}/{md['name']}", co.patch_namespaced_custom_object, TRAINER_GROUP,
                       TRAINER_VERSION, md["namespace"], "trainjobs", md["name"],
                       {"metadata": {"finalizers": finalizers}}, ok=(404,), **merge) is not None:
                self._finalize_pending.pop(uid, None)

        if retry():
            self._later(0.3, ("tick",))

    def _write_jobset(self, co, tj: TrainJob) -> None:
        """Create the JobSet (adopting one of this TrainJob already there), or replace its spec
        (suspend/resume) or drop its owner reference (orphaned)."""
        from kubernetes.client import ApiException

        owner = {"apiVersion": f"{TRAINER_GROUP}/{TRAINER_VERSION}", "kind": "TrainJob", "name": tj.name,
                 "uid": tj.uid, "controller": True, "blockOwnerDeletion": True}
        merge = {"_content_type": "application/merge-patch+json", "_preload_content": False}
        if tj.jobset_uid is not None:
            patch = {"metadata": {"ownerReferences": None}} if tj.detached else {"spec": tj.spec}
            co.patch_namespaced_custom_object(JOBSET_GROUP, JOBSET_VERSION, tj.namespace, "jobsets", tj.name,
                                              patch, **merge)
            return
        body = {"apiVersion": f"{JOBSET_GROUP}/{JOBSET_VERSION}", "kind": "JobSet",
                "metadata": {"name": tj.name, "namespace": tj.namespace, "labels": tj.labels,
                             "annotations": tj.annotations, "ownerReferences": [owner]},
                "spec": tj.spec}
        try:
            created = json.loads(co.create_namespaced_custom_object(
                JOBSET_GROUP, JOBSET_VERSION, tj.namespace, "jobsets", body, _preload_content=False).data)
        except ApiException as exc:
            if exc.status != 409:
                raise
            created = json.loads(co.get_namespaced_custom_object(
                JOBSET_GROUP, JOBSET_VERSION, tj.namespace, "jobsets", tj.name, _preload_content=False).data)
            if tj.uid not in [o.get("uid") for o in created["metadata"].get("ownerReferences") or []]:
                if created["metadata"]["uid"] in self._jobset_deletes.values():
                    raise ApiException(status=503, reason="the old JobSet is still being deleted") from exc
                raise
            co.patch_namespaced_custom_object(JOBSET_GROUP, JOBSET_VERSION, tj.namespace, "jobsets", tj.name,
                                              {"spec": tj.spec}, **merge)
        tj.jobset_uid = created["metadata"]["uid"]
        tj.jobset_status_dirty = True
        self._note(f"{tj.namespace}/{tj.name}: JobSet created")

    def _create_pod(self, core, tj: TrainJob, pod: Pod) -> None:
        body = self._pod_body(tj, pod)
        created = json.loads(core.create_namespaced_pod(tj.namespace, body, _preload_content=False).data)
        pod.body, pod.name, pod.uid = created, created["metadata"]["name"], created["metadata"]["uid"]
        pod.dirty = True
        self._pods_by_name[(tj.namespace, pod.name)] = (tj.uid, pod.seq)
        self.kubelet.add_pod(tj.namespace, pod.name, [c.name for c in pod.containers])
        if pod.main.reason == "PodInitializing":
            self.kubelet.set_waiting(tj.namespace, pod.name, pod.main.name, "PodInitializing")
        self._note(f"{tj.namespace}/{pod.name}: pod created")
        self._later(self.pending_delay, ("start", tj.uid, pod.seq, pod.containers[0].run))
