"""The Kubernetes backend: pure mappings, and the backend object against API servers.

Tests that need a cluster use the ``kube_cluster`` fixture (tests/k8s): a real
kube-apiserver + etcd with the real Kubeflow CRDs, a stand-in training-operator that
runs replica commands as local processes, and a stand-in kubelet serving their logs.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from submarine_jupyter.server.backends.base import BackendError, BackendEvent, Submission
from submarine_jupyter.server.backends.k8s_client import api_error
from submarine_jupyter.server.backends.k8s_status import (
    Replica,
    job_status,
    replica_from_pod,
    replicas_of,
)
from submarine_jupyter.server.backends.kubernetes import KubernetesBackend
from submarine_jupyter.server.backends.manifests import JOB_KINDS
from submarine_jupyter.spec import ExperimentSpec

TF = JOB_KINDS["tensorflow"]
PYTORCH = JOB_KINDS["pytorch"]


def experiment(framework: str = "PyTorch", roles: dict[str, Any] | None = None, **meta: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "meta": {"name": "demo", "framework": framework, "cmd": "echo hello", **meta},
        "environment": {"image": "python:3.11"},
        "spec": roles or {"Master": {"replicas": 1}, "Worker": {"replicas": 2}},
    })


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


def test_replicas_in_role_order_with_operator_names() -> None:
    names = [r.name for r in replicas_of("experiment_1_0002", TF, {"Worker": 2, "Ps": 1, "Chief": 1})]
    assert names == [
        "experiment-1-0002-chief-0", "experiment-1-0002-ps-0",
        "experiment-1-0002-worker-0", "experiment-1-0002-worker-1",
    ]


def pod(phase: str, **container: Any) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [{"name": "pytorch", **container}]}}


def test_replica_states_from_pods() -> None:
    replica = Replica("e-master-0", "Master", 0)
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
                                reconnect_max_s=0.2)
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
