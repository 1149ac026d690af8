"""The Kubernetes backend: pure mappings, and the backend object against API servers.

Tests that need a cluster use the ``kube_cluster`` fixture (tests/k8s): a real
kube-apiserver + etcd with the real Kubeflow CRDs, a stand-in training-operator that
runs replica commands as local processes, and a stand-in kubelet serving their logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from traitlets import TraitError
from traitlets.config import Config, Configurable

from submarine_jupyter.server.backends.base import (
    Adoption,
    BackendError,
    BackendEvent,
    ServerPaths,
    Submission,
)
from submarine_jupyter.server.backends.kubernetes import KubernetesBackend
from submarine_jupyter.server.backends.kubernetes.client import api_error
from submarine_jupyter.server.backends.kubernetes.kinds import JOB_KINDS, JobKind
from submarine_jupyter.server.backends.kubernetes.status import (
    Replica,
    condition_times,
    job_status,
    replica_from_pod,
    replicas_of,
)
from submarine_jupyter.wire.requests import ExperimentSpec
from tests.k8s.cluster import free_port

TF = JOB_KINDS["tensorflow"]
PYTORCH = JOB_KINDS["pytorch"]


def experiment(framework: str = "PyTorch", roles: dict[str, Any] | None = None, **meta: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "meta": {"name": "demo", "framework": framework, "cmd": "echo hello", **meta},
        "environment": {"image": "python:3.11"},
        "spec": roles or {"Master": {"replicas": 1}, "Worker": {"replicas": 2}},
    })


async def read_logs(backend: KubernetesBackend, experiment_id: str, **options: Any) -> list[tuple[str, str | None]]:
    """Each replica's (name, whole log), reading the backend's log streams to their end."""
    texts: list[tuple[str, str | None]] = []
    for log in await backend.logs(experiment_id, **options):
        texts.append((log.pod_name, None if log.chunks is None else "".join([piece async for piece in log.chunks])))
    return texts


class Recorder:
    """An event sink that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[BackendEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: BackendEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def statuses(self, experiment_id: str) -> list[str]:
        return [e.status for e in self.events if e.experiment_id == experiment_id and e.status]

    async def wait_status(self, experiment_id: str, status: str, timeout: float = 30) -> BackendEvent:
        async def wait() -> BackendEvent:
            while True:
                for event in self.events:
                    if event.experiment_id == experiment_id and event.status == status:
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{experiment_id} never reported {status}; statuses: {self.statuses(experiment_id)}"
            ) from None


# pure: job conditions, pods, replica order


def condition(kind: str, status: str = "True", message: str | None = None) -> dict[str, Any]:
    return {"type": kind, "status": status, "message": message or f"job is {kind.lower()}"}


@pytest.mark.parametrize(("conditions", "expected"), [
    ([], (None, None)),
    ([condition("Created")], ("Created", "job is created")),
    ([condition("Created"), condition("Running")], ("Running", "job is running")),
    ([condition("Created"), condition("Running", "False"), condition("Restarting", message="worker 1 restarts")],
     ("Running", "worker 1 restarts")),
    ([condition("Created"), condition("Running", "False"), condition("Succeeded")], ("Succeeded", "job is succeeded")),
    ([condition("Created"), condition("Failed", message="Worker 0 exited 3"), condition("Running")],
     ("Failed", "Worker 0 exited 3")),
])
def test_job_conditions_map_to_statuses(conditions, expected) -> None:
    assert job_status({"status": {"conditions": conditions}}) == expected


def test_condition_times_are_when_conditions_began() -> None:
    def at(kind: str, status: str, stamp: Any) -> dict[str, Any]:
        return {**condition(kind, status), "lastTransitionTime": stamp}

    job = {"status": {"conditions": [
        at("Created", "True", "2026-11-27T10:00:00Z"),
        at("Running", "False", "2026-11-27T10:00:05Z"),  # the job ended: only its status flipped
        at("Restarting", "True", "not a time"),
        at("Failed", "False", "2026-11-27T10:01:00Z"),
        at("Succeeded", "True", "2026-11-27T10:01:30Z"),
    ]}}
    assert condition_times(job) == {
        "Created": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        "Running": datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC),
        "Succeeded": datetime(2026, 11, 27, 10, 1, 30, tzinfo=UTC),
    }
    assert condition_times({}) == {}


def test_replicas_in_role_order_with_operator_names() -> None:
    names = [r.name for r in replicas_of("experiment_1_0002", TF, {"Worker": 2, "Ps": 1, "Chief": 1})]
    assert names == [
        "experiment-1-0002-chief-0", "experiment-1-0002-ps-0",
        "experiment-1-0002-worker-0", "experiment-1-0002-worker-1",
    ]


def pod(phase: str, **container: Any) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [{"name": "pytorch", **container}]}}


def test_replica_states_from_pods() -> None:
    replica = Replica("e-master-0", "Master", 0, "e-master-0")
    assert replica_from_pod(replica, None, "pytorch", None).state == "Pending"
    running = replica_from_pod(replica, pod("Running", restartCount=2, state={"running": {}}), "pytorch", None)
    assert (running.state, running.restarts, running.exit_code) == ("Running", 2, None)
    failed = replica_from_pod(
        replica, pod("Failed", state={"terminated": {"exitCode": 3, "reason": "Error"}}), "pytorch", None)
    assert (failed.state, failed.exit_code, failed.message) == ("Failed", 3, "Error")
    done = replica_from_pod(replica, pod("Succeeded", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
                            "pytorch", None)
    assert (done.state, done.exit_code, done.message) == ("Succeeded", 0, None)
    pulling = replica_from_pod(replica, pod("Pending", state={"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope\""}}), "pytorch", None)
    assert (pulling.state, pulling.message) == ("Pending", 'ImagePullBackOff: Back-off pulling image "nope"')
    assert replica_from_pod(replica, None, "pytorch", done) == done
    assert replica_from_pod(replica, None, "pytorch", running).state == "Stopped"


def test_a_restarting_replica_keeps_its_last_exit_code_and_an_init_failure_says_so() -> None:
    replica = Replica("e-master-0", "Master", 0, "e-master-0")
    backing_off = pod("Running", restartCount=1, state={"waiting": {"reason": "CrashLoopBackOff"}},
                      lastState={"terminated": {"exitCode": 3, "reason": "Error"}})
    crashing = replica_from_pod(replica, backing_off, "pytorch", None)
    assert (crashing.exit_code, crashing.message) == (3, "CrashLoopBackOff")
    gone = replica_from_pod(replica, None, "pytorch", crashing)  # the Job controller deleted it
    assert (gone.state, gone.exit_code) == ("Stopped", 3)
    rerun = pod("Running", restartCount=1, state={"running": {}}, lastState={"terminated": {"exitCode": 3}})
    assert replica_from_pod(replica, rerun, "pytorch", None).exit_code is None
    initializing = pod("Pending", state={"waiting": {"reason": "PodInitializing"}})
    initializing["status"]["initContainerStatuses"] = [{"name": "code-localizer", "restartCount": 2, "state": {
        "waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 128}}}]
    assert replica_from_pod(replica, initializing, "pytorch", None).message == \
        "init container code-localizer failed (exit code 128, CrashLoopBackOff)"


# pure: API server refusals -> BackendError


def refusal(code: int, message: str, reason: str = "", details: dict[str, Any] | None = None) -> ApiException:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "details": details or {}, "code": code}
    return ApiException(status=code, reason=reason, body=json.dumps(body))


@pytest.mark.parametrize(("error", "code", "message"), [
    (refusal(403, 'tfjobs.kubeflow.org is forbidden: User "u" cannot create resource "tfjobs"', "Forbidden"),
     403, 'forbidden by the Kubernetes cluster: tfjobs.kubeflow.org is forbidden: User "u" cannot create resource "tfjobs"'),
    (refusal(404, "the server could not find the requested resource", "NotFound"),
     503, "TFJob is not installed on this cluster (Kubeflow training-operator CRDs missing)"),
    (ApiException(status=404, reason="Not Found", body="404 page not found\n"),
     503, "TFJob is not installed on this cluster (Kubeflow training-operator CRDs missing)"),
    (refusal(404, 'namespaces "ml" not found', "NotFound", {"name": "ml", "kind": "namespaces"}),
     404, "namespace 'ml' does not exist on the cluster"),
    (refusal(404, 'tfjobs.kubeflow.org "j" not found', "NotFound", {"name": "j", "kind": "tfjobs"}),
     404, "TFJob j was not found in namespace 'ns' on the cluster"),
    (refusal(409, 'tfjobs.kubeflow.org "j" already exists', "AlreadyExists"),
     409, "a TFJob j already exists in namespace 'ns'"),
    (refusal(422, 'TFJob.kubeflow.org "j" is invalid: spec.tfReplicaSpecs.Worker.replicas: Invalid value', "Invalid"),
     422, 'the Kubernetes API server refused TFJob j: TFJob.kubeflow.org "j" is invalid: '
          "spec.tfReplicaSpecs.Worker.replicas: Invalid value"),
    (refusal(400, 'admission webhook "x" denied the request: no GPUs here', "BadRequest"),
     400, 'the Kubernetes API server refused TFJob j: admission webhook "x" denied the request: no GPUs here'),
    (ApiException(status=401, reason="Unauthorized"), 503,
     "the Kubernetes API server at https://k rejected this server's credentials (401 Unauthorized): "
     "check the kubeconfig or service account token"),
])
def test_api_refusals_become_clear_errors(error, code, message) -> None:
    mapped = api_error(error, host="https://k", kind=TF, namespace="ns", name="j")
    assert (mapped.code, mapped.message) == (code, message)


# the backend without a cluster


def write_kubeconfig(path: Path, server: str, token: str = "t") -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    return path


async def test_unreachable_api_server_is_503_and_watches_keep_retrying(tmp_path) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    backend = KubernetesBackend(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", server)),
                                reconnect_max=0.2)
    await backend.start(Recorder(), [])
    try:
        with pytest.raises(BackendError) as refused:
            await backend.submit(Submission("experiment_1_0001", experiment(), "python:3.11"))
        assert refused.value.code == 503
        assert refused.value.message.startswith(f"the Kubernetes API server at {server} is unreachable: ")
        assert "Connection refused" in refused.value.message
        await asyncio.sleep(0.5)
        assert all(w._thread.is_alive() for w in backend._watchers)
    finally:
        await backend.stop()
    assert not any(w._thread.is_alive() for w in backend._watchers)


async def test_missing_kubeconfig_is_503(tmp_path) -> None:
    backend = KubernetesBackend(kubeconfig=str(tmp_path / "absent"))
    with pytest.raises(BackendError) as refused:
        await backend.logs("experiment_1_0001")
    assert refused.value.code == 503
    assert refused.value.message.startswith(f"cannot load the Kubernetes client configuration ({tmp_path / 'absent'})")


async def test_namespace_not_allowed_is_refused_before_any_call(tmp_path) -> None:
    backend = KubernetesBackend(kubeconfig=str(tmp_path / "absent"), namespace="team")
    with pytest.raises(BackendError) as refused:
        await backend.submit(Submission("experiment_1_0001", experiment(namespace="other"), "python:3.11"))
    assert (refused.value.code, refused.value.message) == (
        403, "namespace 'other' is not allowed on this server (allowed: team)")


async def test_dry_run_returns_the_manifest(tmp_path) -> None:
    backend = KubernetesBackend(kubeconfig=str(tmp_path / "absent"), namespace="team")
    plan = await backend.dry_run(Submission("experiment_1_0001", experiment(), "python:3.11"))
    manifest = plan["manifest"]
    assert (manifest["kind"], manifest["metadata"]["namespace"]) == ("PyTorchJob", "team")
    assert manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2


async def test_settings_come_from_the_servers_config(tmp_path) -> None:
    """As the app builds it: ``c.KubernetesBackend.*`` of its parent, and every job shaped by them."""
    config = Config({"KubernetesBackend": {
        "kubeconfig": str(tmp_path / "absent"), "namespace": "team", "allowed_namespaces": ["ml"],
        "image_pull_secrets": ["regcred"], "service_account": "trainer", "restart_policy": "Never",
        "clean_pod_policy": "All", "backoff_limit": 0, "default_image": "site:1",
        "delete_propagation": "Foreground", "watch_timeout": 60, "reconnect_max": 2.5,
    }})
    backend = KubernetesBackend(parent=Configurable(config=config), paths=ServerPaths(tmp_path, tmp_path))
    assert (backend.delete_propagation, backend.watch_timeout, backend.reconnect_max) == ("Foreground", 60, 2.5)
    plan = await backend.dry_run(Submission("experiment_1_0001", experiment(namespace="ml"), None))
    manifest = plan["manifest"]
    assert manifest["metadata"]["namespace"] == "ml"
    assert manifest["spec"]["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 0}
    worker = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["restartPolicy"] == "Never"
    assert worker["template"]["spec"]["containers"][0]["image"] == "site:1"
    assert worker["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert worker["template"]["spec"]["serviceAccountName"] == "trainer"


def test_settings_defaults() -> None:
    backend = KubernetesBackend()
    assert (backend.kubeconfig, backend.context, backend.in_cluster, backend.namespace) == (None, None, None, "default")
    assert (backend.allowed_namespaces, backend.image_pull_secrets, backend.service_account) == ([], [], None)
    assert (backend.restart_policy, backend.clean_pod_policy, backend.backoff_limit) == ("OnFailure", "None", 3)
    assert (backend.default_image, backend.delete_propagation) == (None, "Background")
    assert (backend.watch_timeout, backend.reconnect_max) == (300, 30.0)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("restart_policy", "Sometimes",
     "expected any of ['Always', 'OnFailure', 'Never', 'ExitCode'], not the str 'Sometimes'"),
    ("clean_pod_policy", "Some", "expected any of ['None', 'Running', 'All'], not the str 'Some'"),
    ("delete_propagation", "Orphan", "expected any of ['Background', 'Foreground'], not the str 'Orphan'"),
    ("backoff_limit", -1, "should not be less than 0, but a value of -1 was specified"),
])
def test_settings_refuse_unknown_policies(setting, value, message) -> None:
    with pytest.raises(TraitError, match=re.escape(f"'{setting}' trait")) as given:
        KubernetesBackend(**{setting: value})
    assert message in str(given.value)
    with pytest.raises(TraitError, match=re.escape(message)):
        KubernetesBackend(config=Config({"KubernetesBackend": {setting: value}}))


# the backend against a real API server (tests/k8s)

_SEQ = itertools.count(1)
_SESSION_MS = int(time.time() * 1000)


def new_id() -> str:
    return f"experiment_{_SESSION_MS}_{next(_SEQ):04d}"


@contextlib.asynccontextmanager
async def running(cluster: Any, **options: Any) -> AsyncIterator[tuple[KubernetesBackend, Recorder]]:
    """A started backend on the test cluster (``team-a`` allowed besides ``default``)."""
    settings: dict[str, Any] = {
        "kubeconfig": str(cluster.kubeconfig), "context": cluster.context,
        "allowed_namespaces": ("team-a",), "reconnect_max": 1.0, **options,
    }
    recorder = Recorder()
    backend = KubernetesBackend(**settings)
    await backend.start(recorder, [])
    try:
        yield backend, recorder
    finally:
        await backend.stop()


def stored_job(cluster: Any, plural: str, experiment_id: str, namespace: str = "default") -> dict[str, Any]:
    with cluster.api_client() as api:
        return client.CustomObjectsApi(api).get_namespaced_custom_object(
            "kubeflow.org", "v1", namespace, plural, experiment_id.replace("_", "-"))


def job_exists(cluster: Any, plural: str, experiment_id: str, namespace: str = "default") -> bool:
    try:
        stored_job(cluster, plural, experiment_id, namespace)
    except client.ApiException as error:
        if error.status != 404:
            raise
        return False
    return True


async def eventually(check: Any, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def last_replicas(recorder: Recorder, experiment_id: str) -> list[dict[str, Any]]:
    events = [e for e in recorder.events if e.experiment_id == experiment_id and e.replicas is not None]
    assert events, f"no replica report for {experiment_id}"
    return [dataclasses.asdict(replica) for replica in events[-1].replicas]


async def test_create_runs_to_succeeded_with_real_logs(kube_cluster_clean) -> None:
    experiment_id = new_id()
    spec = experiment(cmd='echo "hello from rank $RANK of $WORLD_SIZE"; echo "last line"',
                      roles={"Master": {"replicas": 1}, "Worker": {"replicas": 1}})
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(experiment_id, spec, "python:3.11"))
        done = await recorder.wait_status(experiment_id, "Succeeded")
        statuses = recorder.statuses(experiment_id)
        assert statuses[0] == "Created" and statuses[-1] == "Succeeded", statuses
        assert "successfully" in (done.message or ""), done.message
        await eventually(lambda: all(r["state"] == "Succeeded" for r in last_replicas(recorder, experiment_id)),
                         what="both replicas reported Succeeded")
        master, worker = last_replicas(recorder, experiment_id)
        prefix = experiment_id.replace("_", "-")
        assert (master["name"], worker["name"]) == (f"{prefix}-master-0", f"{prefix}-worker-0")
        assert (master["exit_code"], worker["exit_code"]) == (0, 0)

        assert await read_logs(backend, experiment_id) == [
            (f"{prefix}-master-0", "hello from rank 0 of 2\nlast line\n"),
            (f"{prefix}-worker-0", "hello from rank 1 of 2\nlast line\n"),
        ]
        tail = await read_logs(backend, experiment_id, pod_name=f"{prefix}-worker-0", tail_lines=1)
        assert tail == [(f"{prefix}-worker-0", "last line\n")]
        assert await backend.logs(experiment_id, pod_name="nobody") == []

        followed = [(chunk.pod_name, line) async for batch in backend.follow(experiment_id)
                    for chunk in batch for line in chunk.lines]
        assert sorted(followed) == sorted([
            (f"{prefix}-master-0", "hello from rank 0 of 2"), (f"{prefix}-master-0", "last line"),
            (f"{prefix}-worker-0", "hello from rank 1 of 2"), (f"{prefix}-worker-0", "last line"),
        ])
        tailed = [(chunk.pod_name, line) async for batch in
                  backend.follow(experiment_id, pod_name=f"{prefix}-master-0", tail_lines=1)
                  for chunk in batch for line in chunk.lines]
        assert tailed == [(f"{prefix}-master-0", "last line")]

    job = await asyncio.to_thread(stored_job, kube_cluster_clean, "pytorchjobs", experiment_id)
    assert job["metadata"]["labels"]["submarine.apache.org/experiment-id"] == experiment_id


async def test_follow_waits_for_pending_pods_and_ends_with_the_job(kube_cluster_clean) -> None:
    experiment_id = new_id()
    spec = experiment(cmd="echo one; sleep 0.5; echo two", roles={"Master": {"replicas": 1}})
    prefix = experiment_id.replace("_", "-")
    async with running(kube_cluster_clean) as (backend, recorder):
        with kube_cluster_clean.operator.hold_pending():
            await backend.submit(Submission(experiment_id, spec, "python:3.11"))
            await recorder.wait_status(experiment_id, "Created")
            assert await read_logs(backend, experiment_id) == [(f"{prefix}-master-0", None)]

            async def collect() -> list[str]:
                return [line async for batch in backend.follow(experiment_id) for chunk in batch for line in chunk.lines]

            follower = asyncio.create_task(collect())
            await asyncio.sleep(1.5)
            assert not follower.done()
        assert await asyncio.wait_for(follower, 30) == ["one", "two"]
        assert recorder.statuses(experiment_id)[-1] == "Succeeded"


async def test_failing_replica_fails_the_experiment(kube_cluster_clean) -> None:
    experiment_id = new_id()
    spec = experiment(cmd="echo working", roles={
        "Master": {"replicas": 1, "cmd": "sleep 30"},
        "Worker": {"replicas": 1, "cmd": "echo broken >&2; exit 3"},
    })
    async with running(kube_cluster_clean, backoff_limit=1) as (backend, recorder):
        await backend.submit(Submission(experiment_id, spec, "python:3.11"))
        failed = await recorder.wait_status(experiment_id, "Failed")
        assert "backoff limit" in (failed.message or ""), failed.message
        worker = last_replicas(recorder, experiment_id)[1]
        assert (worker["state"], worker["exit_code"], worker["restarts"]) == ("Failed", 3, 2)
        assert await read_logs(backend, experiment_id, pod_name=worker["name"]) == [(worker["name"], "broken\n")]


async def test_restarted_replica_runs_again_and_succeeds(kube_cluster_clean) -> None:
    experiment_id = new_id()
    once = "if [ -f tried ]; then echo second try; else touch tried; echo first try; exit 1; fi"
    spec = experiment(cmd=once, roles={"Master": {"replicas": 1}})
    async with running(kube_cluster_clean, backoff_limit=2) as (backend, recorder):
        await backend.submit(Submission(experiment_id, spec, "python:3.11"))
        await recorder.wait_status(experiment_id, "Succeeded")
        (master,) = last_replicas(recorder, experiment_id)
        assert (master["state"], master["restarts"], master["exit_code"]) == ("Succeeded", 1, 0)
        assert [text for _, text in await read_logs(backend, experiment_id)] == ["second try\n"]


async def test_patch_replaces_the_spec_of_a_running_job(kube_cluster_clean) -> None:
    experiment_id = new_id()
    roles = {"Master": {"replicas": 1}, "Worker": {"replicas": 1}}
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(experiment_id, experiment(cmd="sleep 60", roles=roles), "python:3.11"))
        await recorder.wait_status(experiment_id, "Running")
        roles["Worker"] = {"replicas": 3, "resources": "cpu=1"}
        await backend.patch(Submission(experiment_id, experiment(cmd="sleep 60", roles=roles), "python:3.11"))
        job = await asyncio.to_thread(stored_job, kube_cluster_clean, "pytorchjobs", experiment_id)
        worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]
        assert worker["replicas"] == 3
        assert worker["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1"}
        await eventually(lambda: len(last_replicas(recorder, experiment_id)) == 4, what="4 replicas reported")
        names = [log.pod_name for log in await backend.logs(experiment_id, tail_lines=0)]
        prefix = experiment_id.replace("_", "-")
        assert names == [f"{prefix}-master-0", *(f"{prefix}-worker-{i}" for i in range(3))]
        await backend.delete(experiment_id)


async def test_delete_removes_the_job_and_its_pods(kube_cluster_clean) -> None:
    experiment_id = new_id()
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(experiment_id, experiment(cmd="sleep 60"), "python:3.11"))
        await recorder.wait_status(experiment_id, "Running")
        name = experiment_id.replace("_", "-")
        assert kube_cluster_clean.operator.replicas("default", name)
        await backend.delete(experiment_id)
        assert not await asyncio.to_thread(job_exists, kube_cluster_clean, "pytorchjobs", experiment_id)

        def pods_gone() -> bool:
            with kube_cluster_clean.api_client() as api:
                pods = client.CoreV1Api(api).list_namespaced_pod(
                    "default", label_selector=f"training.kubeflow.org/job-name={name}").items
            return not pods

        await eventually(pods_gone, what="the job's pods to go")
        await backend.delete(experiment_id)  # already gone: nothing to do
        await asyncio.sleep(0.5)
        assert "Failed" not in recorder.statuses(experiment_id)


async def test_job_deleted_behind_the_servers_back_fails_the_experiment(kube_cluster_clean) -> None:
    experiment_id = new_id()
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(experiment_id, experiment(cmd="sleep 60"), "python:3.11"))
        await recorder.wait_status(experiment_id, "Running")
        with kube_cluster_clean.api_client() as api:
            await asyncio.to_thread(client.CustomObjectsApi(api).delete_namespaced_custom_object,
                                    "kubeflow.org", "v1", "default", "pytorchjobs", experiment_id.replace("_", "-"))
        failed = await recorder.wait_status(experiment_id, "Failed")
        assert "was deleted from namespace 'default' outside this server" in (failed.message or "")


async def test_crd_invalid_job_is_refused_with_the_api_servers_message(kube_cluster_clean) -> None:
    """``job_manifest`` cannot produce a CRD-invalid job (test_manifests proves it), so a
    manifest is broken by hand and sent through the backend's own request path."""
    experiment_id = new_id()
    name = experiment_id.replace("_", "-")
    async with running(kube_cluster_clean) as (backend, _):
        manifest = (await backend.dry_run(Submission(experiment_id, experiment(), "python:3.11")))["manifest"]
        manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "two"
        pytorch = JOB_KINDS["pytorch"]
        with pytest.raises(BackendError) as refused:
            await backend.jobs.call(lambda apis: apis.custom.create_namespaced_custom_object(
                "kubeflow.org", "v1", "default", "pytorchjobs", manifest), pytorch, "default", name)
    assert refused.value.code == 422
    assert refused.value.message.startswith(f"the Kubernetes API server refused PyTorchJob {name}: ")
    assert "spec.pytorchReplicaSpecs.Worker.replicas" in refused.value.message
    assert "integer" in refused.value.message
    assert not await asyncio.to_thread(job_exists, kube_cluster_clean, "pytorchjobs", experiment_id)


async def test_name_conflict_is_409(kube_cluster_clean) -> None:
    experiment_id = new_id()
    submission = Submission(experiment_id, experiment(cmd="sleep 30"), "python:3.11")
    async with running(kube_cluster_clean) as (first, _), running(kube_cluster_clean) as (second, _):
        await first.submit(submission)
        with pytest.raises(BackendError) as refused:
            await second.submit(submission)
    assert (refused.value.code, refused.value.message) == (
        409, f"a PyTorchJob {experiment_id.replace('_', '-')} already exists in namespace 'default'")


async def test_forbidden_by_rbac_is_403(kube_cluster_clean) -> None:
    async with running(kube_cluster_clean, context=kube_cluster_clean.limited_context) as (backend, _):
        with pytest.raises(BackendError) as refused:
            await backend.submit(Submission(new_id(), experiment(), "python:3.11"))
    assert refused.value.code == 403
    assert refused.value.message.startswith("forbidden by the Kubernetes cluster: ")
    assert 'cannot create resource "pytorchjobs"' in refused.value.message


async def test_quota_rejection_names_the_quota(kube_cluster_clean) -> None:
    """A real ResourceQuota, enforced by the API server's admission chain. No controller
    manager runs here, so the test fills in the quota's status as it would."""
    core = kube_cluster_clean.core_v1()
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-pytorch-jobs"),
        spec=client.V1ResourceQuotaSpec(hard={"count/pytorchjobs.kubeflow.org": "0"}),
    )
    await asyncio.to_thread(core.create_namespaced_resource_quota, "team-a", quota)
    try:
        status = {"status": {"hard": {"count/pytorchjobs.kubeflow.org": "0"},
                             "used": {"count/pytorchjobs.kubeflow.org": "0"}}}
        await asyncio.to_thread(core.patch_namespaced_resource_quota_status, "no-pytorch-jobs", "team-a", status)
        async with running(kube_cluster_clean) as (backend, _):
            with pytest.raises(BackendError) as refused:
                await backend.submit(Submission(new_id(), experiment(namespace="team-a"), "python:3.11"))
    finally:
        await asyncio.to_thread(core.delete_namespaced_resource_quota, "no-pytorch-jobs", "team-a")
    assert refused.value.code == 403
    assert refused.value.message.startswith("forbidden by the Kubernetes cluster: ")
    assert "exceeded quota: no-pytorch-jobs" in refused.value.message, refused.value.message


async def test_allowed_and_forbidden_namespaces(kube_cluster_clean) -> None:
    allowed, refused_id = new_id(), new_id()
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(allowed, experiment(namespace="team-a"), "python:3.11"))
        await recorder.wait_status(allowed, "Succeeded")
        assert await asyncio.to_thread(job_exists, kube_cluster_clean, "pytorchjobs", allowed, "team-a")
        with pytest.raises(BackendError) as refused:
            await backend.submit(Submission(refused_id, experiment(namespace="kube-system"), "python:3.11"))
    assert (refused.value.code, refused.value.message) == (
        403, "namespace 'kube-system' is not allowed on this server (allowed: default, team-a)")


async def test_missing_job_kind_is_named(kube_cluster_clean) -> None:
    backend = KubernetesBackend(kubeconfig=str(kube_cluster_clean.kubeconfig), context=kube_cluster_clean.context)
    mxnet = JobKind("mxnet", "MXJob", "mxjobs", "mxReplicaSpecs", "mxnet")
    with pytest.raises(BackendError) as refused:
        await backend.jobs.call(lambda apis: apis.custom.create_namespaced_custom_object(
            "kubeflow.org", "v1", "default", "mxjobs", {"apiVersion": "kubeflow.org/v1", "kind": "MXJob",
                                                       "metadata": {"name": "x"}, "spec": {}}), mxnet, "default", "x")
    assert (refused.value.code, refused.value.message) == (
        503, "MXJob is not installed on this cluster (Kubeflow training-operator CRDs missing)")


async def test_watch_survives_an_api_server_restart(kube_cluster_clean) -> None:
    before, after = new_id(), new_id()
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(Submission(before, experiment(cmd="sleep 4; echo done"), "python:3.11"))
        await recorder.wait_status(before, "Running")
        await asyncio.to_thread(kube_cluster_clean.restart_apiserver, 1.0)
        await recorder.wait_status(before, "Succeeded", timeout=40)
        await backend.submit(Submission(after, experiment(cmd="echo again"), "python:3.11"))
        await recorder.wait_status(after, "Succeeded")
        assert [text for _, text in await read_logs(backend, before)] == ["done\n"] * 3


async def test_adopted_experiment_is_followed_to_its_end(kube_cluster_clean) -> None:
    experiment_id = new_id()
    submission = Submission(experiment_id, experiment(cmd="sleep 3"), "python:3.11")
    async with running(kube_cluster_clean) as (backend, recorder):
        await backend.submit(submission)
        await recorder.wait_status(experiment_id, "Running")
    recorder = Recorder()
    backend = KubernetesBackend(kubeconfig=str(kube_cluster_clean.kubeconfig), context=kube_cluster_clean.context)
    await backend.start(recorder, [Adoption(submission, "Running")])
    try:
        await recorder.wait_status(experiment_id, "Succeeded")
    finally:
        await backend.stop()


async def test_adopted_experiment_whose_job_vanished_fails(kube_cluster_clean) -> None:
    experiment_id = new_id()
    recorder = Recorder()
    backend = KubernetesBackend(kubeconfig=str(kube_cluster_clean.kubeconfig), context=kube_cluster_clean.context)
    await backend.start(recorder, [Adoption(Submission(experiment_id, experiment(), "python:3.11"), "Running")])
    try:
        failed = await recorder.wait_status(experiment_id, "Failed")
    finally:
        await backend.stop()
    assert failed.message == (f"PyTorchJob {experiment_id.replace('_', '-')} was deleted from namespace "
                              "'default' outside this server")
