"""The fake training-operator (tests/k8s/operator.py) runs a pod as a kubelet would: volumes
(configMap, emptyDir) as local directories bind-mounted at their mountPath, ``workingDir``,
init containers one after the other before the main container, a missing ConfigMap keeping
the pod ``ContainerCreating``. Proven with plain kubernetes-client calls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from .test_k8s_harness import conditions, pods_of, wait_for

G, V = "kubeflow.org", "v1"
NS = "default"
ROOT = "/opt/submarine-harness"  # mount targets absent on this machine: only a bind mount makes them
CODE, WORK = f"{ROOT}/code", f"{ROOT}/work"

TRAIN_PY = """\
import os
print(f"train.py from {os.getcwd()}: rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}")
"""


def master_job(name: str, pod_spec: dict[str, Any], restart: str = "Never") -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "PyTorchJob", "metadata": {"name": name, "namespace": NS},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": restart,
                                                        "template": {"spec": pod_spec}}}}}


def sh(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c"], "args": [script], **extra}


def waiting_message(core: client.CoreV1Api, pod: str, container: str) -> str:
    with pytest.raises(client.ApiException) as error:
        core.read_namespaced_pod_log(pod, NS, container=container)
    assert error.value.status == 400
    return json.loads(error.value.body)["message"]


@pytest.fixture
def k8s(kube_cluster_clean):
    with kube_cluster_clean.api_client() as api:
        yield kube_cluster_clean, client.CoreV1Api(api), client.CustomObjectsApi(api)


def test_init_container_copies_configmap_code_into_emptydir_then_main_runs_it(k8s, tmp_path: Path) -> None:
    cluster, core, co = k8s
    gate = tmp_path / "gate"
    core.create_namespaced_config_map(NS, {"metadata": {"name": "train-code"}, "data": {"train.py": TRAIN_PY}})
    try:
        pod_spec = {
            "volumes": [{"name": "code", "configMap": {"name": "train-code"}}, {"name": "work", "emptyDir": {}}],
            "initContainers": [sh(
                "fetch", f'cp train.py {WORK}/ && echo "$STAGE: copied to $(ls {WORK}) from $(pwd), '
                         f'RANK=${{RANK:-unset}}"; while [ ! -f {gate} ]; do sleep 0.05; done',
                workingDir=CODE, env=[{"name": "STAGE", "value": "init"}],
                volumeMounts=[{"name": "code", "mountPath": CODE, "readOnly": True},
                              {"name": "work", "mountPath": WORK}])],
            "containers": [{"name": "pytorch", "image": "python:3.11", "command": [sys.executable],
                            "args": ["train.py"], "workingDir": WORK,
                            "volumeMounts": [{"name": "work", "mountPath": WORK}]}],
        }
        co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", master_job("mounted", pod_spec))

        # the init container runs (it waits for the gate): Pending, main container PodInitializing
        def initializing() -> Any:
            pods = pods_of(core, "mounted")
            status = pods[0].status if pods else None
            inits = (status and status.init_container_statuses) or []
            return inits and inits[0].state.running and status
        status = wait_for(initializing, what="the init container running")
        assert status.phase == "Pending"
        assert status.container_statuses[0].state.waiting.reason == "PodInitializing"
        assert {c.type: c.status for c in status.conditions}["Initialized"] == "False"
        assert waiting_message(core, "mounted-master-0", "pytorch") == \
            'container "pytorch" in pod "mounted-master-0" is waiting to start: PodInitializing'
        assert "Running" not in conditions(co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "mounted"))
        gate.touch()

        cluster.wait_for_job_condition("pytorchjobs", NS, "mounted", "Succeeded")
        pod = core.read_namespaced_pod("mounted-master-0", NS)
        assert pod.status.phase == "Succeeded"
        (init,) = pod.status.init_container_statuses
        assert (init.name, init.state.terminated.exit_code, init.restart_count) == ("fetch", 0, 0)
        assert pod.status.container_statuses[0].state.terminated.exit_code == 0
        assert core.read_namespaced_pod_log("mounted-master-0", NS, container="fetch") == \
            f"init: copied to train.py from {CODE}, RANK=unset\n"
        # the script the init container copied, run from the emptyDir (the main container does
        # not mount the ConfigMap), in workingDir, with the operator's env
        assert core.read_namespaced_pod_log("mounted-master-0", NS, container="pytorch") == \
            f"train.py from {WORK}: rank 0 of 1\n"
    finally:
        core.delete_namespaced_config_map("train-code", NS)


def test_failed_init_container_with_never_fails_the_pod_and_the_job(k8s, tmp_path: Path) -> None:
    cluster, core, co = k8s
    marker = tmp_path / "main-ran"
    pod_spec = {"initContainers": [sh("check", "echo checking; exit 3")],
                "containers": [sh("pytorch", f"touch {marker}; echo main")]}
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", master_job("badinit", pod_spec, restart="Never"))
    job = cluster.wait_for_job_condition("pytorchjobs", NS, "badinit", "Failed")
    assert conditions(job)["Failed"]["message"] == \
        "PyTorchJob default/badinit has failed because 1 Master replica(s) failed."
    assert job["status"]["replicaStatuses"]["Master"]["failed"] == 1
    cluster.operator.wait_idle()
    pod = core.read_namespaced_pod("badinit-master-0", NS)
    assert pod.status.phase == "Failed"
    (init,) = pod.status.init_container_statuses
    assert (init.name, init.state.terminated.exit_code, init.restart_count) == ("check", 3, 0)
    assert pod.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    assert core.read_namespaced_pod_log("badinit-master-0", NS, container="check") == "checking\n"
    assert waiting_message(core, "badinit-master-0", "pytorch").endswith("is waiting to start: PodInitializing")
    assert not marker.exists()  # the main container never ran
    assert cluster.operator.replicas(NS, "badinit")["badinit-master-0"]["exit_code"] is None


def test_failed_init_container_with_onfailure_is_restarted_in_place(k8s, tmp_path: Path) -> None:
    cluster, core, co = k8s
    tries = tmp_path / "tries"
    script = f'echo x >> {tries}; n=$(wc -l < {tries}); echo "try $n"; [ "$n" -ge 3 ]'
    pod_spec = {"initContainers": [sh("flaky", script)], "containers": [sh("pytorch", "echo main ran")]}
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", master_job("retryinit", pod_spec,
                                                                           restart="OnFailure"))
    cluster.wait_for_job_condition("pytorchjobs", NS, "retryinit", "Succeeded")
    cluster.operator.wait_idle()
    pod = core.read_namespaced_pod("retryinit-master-0", NS)
    (init,) = pod.status.init_container_statuses
    assert (init.state.terminated.exit_code, init.restart_count) == (0, 2)
    assert init.last_state.terminated.exit_code == 1
    assert pod.status.container_statuses[0].restart_count == 0
    assert core.read_namespaced_pod_log("retryinit-master-0", NS, container="flaky") == "try 3\n"
    assert core.read_namespaced_pod_log("retryinit-master-0", NS, container="flaky", previous=True) == "try 2\n"
    assert core.read_namespaced_pod_log("retryinit-master-0", NS, container="pytorch") == "main ran\n"


def test_failed_init_container_with_exitcode_recreates_the_pod(k8s, tmp_path: Path) -> None:
    # the operator reads the main container's exit code; it has none (0xbeef), which is retryable
    cluster, core, co = k8s
    tried = tmp_path / "tried"
    script = f"if [ -f {tried} ]; then echo second pod; else touch {tried}; echo first pod; exit 1; fi"
    pod_spec = {"initContainers": [sh("once", script)], "containers": [sh("pytorch", "echo main ran")]}
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", master_job("exitinit", pod_spec,
                                                                           restart="ExitCode"))
    cluster.wait_for_job_condition("pytorchjobs", NS, "exitinit", "Succeeded")
    assert core.read_namespaced_pod_log("exitinit-master-0", NS, container="once") == "second pod\n"
    assert core.read_namespaced_pod_log("exitinit-master-0", NS, container="pytorch") == "main ran\n"
    assert any("Restarting" in e for _, e in cluster.operator.events if "default/exitinit" in e)


def test_pod_waits_for_its_configmap(k8s) -> None:
    cluster, core, co = k8s
    pod_spec = {"volumes": [{"name": "cfg", "configMap": {"name": "late-config"}}],
                "containers": [sh("pytorch", f"cat {CODE}/message",
                                  volumeMounts=[{"name": "cfg", "mountPath": CODE}])]}
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", master_job("late", pod_spec))
    try:
        wait_for(lambda: any("late-master-0" in e and '"late-config" not found' in e
                             for _, e in cluster.operator.events), what="a start attempt without the ConfigMap")
        cluster.operator.wait_idle()
        status = core.read_namespaced_pod("late-master-0", NS).status
        assert status.phase == "Pending"
        assert status.container_statuses[0].state.waiting.reason == "ContainerCreating"
        assert waiting_message(core, "late-master-0", "pytorch").endswith("is waiting to start: ContainerCreating")
        assert "Running" not in conditions(co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "late"))

        core.create_namespaced_config_map(NS, {"metadata": {"name": "late-config"},
                                               "data": {"message": "configured at last\n"}})
        cluster.wait_for_job_condition("pytorchjobs", NS, "late", "Succeeded")
        assert core.read_namespaced_pod_log("late-master-0", NS) == "configured at last\n"
    finally:
        try:
            core.delete_namespaced_config_map("late-config", NS)
        except client.ApiException as error:
            if error.status != 404:
                raise
