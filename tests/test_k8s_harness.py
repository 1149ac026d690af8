"""The test Kubernetes environment itself (tests/k8s), proven with plain kubernetes-client calls.

A real kube-apiserver 1.20.2 + etcd with the Kubeflow CRDs; a fake training-operator runs
the replicas as local processes and a fake kubelet serves their output as pod logs.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from kubernetes import client

G, V = "kubeflow.org", "v1"
NS = "default"


def container(cmd: str, name: str = "pytorch", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "python:3.11", "command": ["sh", "-c"], "args": [cmd], **extra}


def pytorchjob(name: str, master: str | None, worker: str | None, workers: int = 1, namespace: str = NS,
               restart: str = "Never", **spec: Any) -> dict[str, Any]:
    replicas: dict[str, Any] = {}
    if master is not None:
        replicas["Master"] = {"replicas": 1, "restartPolicy": restart,
                              "template": {"spec": {"containers": [container(master)]}}}
    if worker is not None:
        replicas["Worker"] = {"replicas": workers, "restartPolicy": restart,
                              "template": {"spec": {"containers": [container(worker)]}}}
    return {"apiVersion": f"{G}/{V}", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": {"test": "harness"}},
            "spec": {"pytorchReplicaSpecs": replicas, **spec}}


def wait_for(check, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def pods_of(core: client.CoreV1Api, job: str, namespace: str = NS) -> list[Any]:
    return core.list_namespaced_pod(namespace, label_selector=f"training.kubeflow.org/job-name={job}").items


def phase(core: client.CoreV1Api, pod: str, namespace: str = NS) -> str | None:
    try:
        return core.read_namespaced_pod(pod, namespace).status.phase
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []}


@pytest.fixture
def k8s(kube_cluster_clean):
    with kube_cluster_clean.api_client() as api:
        yield kube_cluster_clean, client.CoreV1Api(api), client.CustomObjectsApi(api)


def test_pytorchjob_pods_logs_and_success(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
        "hello", master='echo "hello from $RANK of $WORLD_SIZE"; echo master done',
        worker='echo "hello from $RANK of $WORLD_SIZE"; echo "MASTER_ADDR=$MASTER_ADDR"', workers=2))

    pods = wait_for(lambda: len(pods_of(core, "hello")) == 3 and pods_of(core, "hello"), what="3 pods")
    by_name = {p.metadata.name: p for p in pods}
    assert set(by_name) == {"hello-master-0", "hello-worker-0", "hello-worker-1"}
    job = co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "hello")
    for name, pod in by_name.items():
        _, role, index = name.split("-")
        labels = pod.metadata.labels
        assert labels["training.kubeflow.org/job-name"] == "hello"
        assert labels["training.kubeflow.org/replica-type"] == role
        assert labels["training.kubeflow.org/replica-index"] == index
        assert labels["training.kubeflow.org/operator-name"] == "pytorchjob-controller"
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == ("PyTorchJob", "hello", job["metadata"]["uid"], True)
        assert pod.spec.node_name == cluster.node_name
    # set-based selector, as a backend would use
    masters = core.list_namespaced_pod(NS, label_selector="training.kubeflow.org/job-name=hello,"
                                                          "training.kubeflow.org/replica-type in (master)").items
    assert [p.metadata.name for p in masters] == ["hello-master-0"]

    job = cluster.wait_for_job_condition("pytorchjobs", NS, "hello", "Succeeded")
    conds = conditions(job)
    assert conds["Created"]["status"] == "True" and conds["Created"]["reason"] == "PyTorchJobCreated"
    assert conds["Running"]["status"] == "False"  # as the operator leaves it after success
    assert conds["Succeeded"]["reason"] == "PyTorchJobSucceeded"
    assert conds["Succeeded"]["message"] == "PyTorchJob default/hello successfully completed."
    assert conds["Succeeded"]["lastTransitionTime"]
    status = job["status"]
    assert status["startTime"] and status["completionTime"]
    assert status["replicaStatuses"]["Master"]["succeeded"] == 1
    # the status is frozen once the job finished (workers may still have been starting then);
    # with cleanPodPolicy None (PyTorchJob default) the workers run to their end anyway
    wait_for(lambda: all(p.status.phase == "Succeeded" for p in pods_of(core, "hello")), what="all pods done")

    # the pods' logs, through the API server's pods/log proxy, are the processes' real output
    assert core.read_namespaced_pod_log("hello-master-0", NS) == "hello from 0 of 3\nmaster done\n"
    assert core.read_namespaced_pod_log("hello-worker-1", NS, container="pytorch") == \
        "hello from 2 of 3\nMASTER_ADDR=hello-master-0\n"
    assert core.read_namespaced_pod_log("hello-master-0", NS, tail_lines=1) == "master done\n"
    stamped = core.read_namespaced_pod_log("hello-master-0", NS, timestamps=True).splitlines()
    assert stamped[0].endswith(" hello from 0 of 3") and stamped[0][:4].isdigit()
    pod = core.read_namespaced_pod("hello-worker-0", NS)
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0


def test_follow_waits_for_pending_then_streams(k8s) -> None:
    cluster, core, co = k8s
    with cluster.operator.hold_pending():
        co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
            "slow", master="echo one; sleep 1.5; echo two", worker=None))
        wait_for(lambda: pods_of(core, "slow"), what="the pod")
        time.sleep(0.5)
        pod = core.read_namespaced_pod("slow-master-0", NS)
        assert pod.status.phase == "Pending"
        assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
        # what a real kubelet answers for a container that has not started
        with pytest.raises(client.ApiException) as error:
            core.read_namespaced_pod_log("slow-master-0", NS)
        assert error.value.status == 400
        assert "is waiting to start: ContainerCreating" in error.value.body

    wait_for(lambda: phase(core, "slow-master-0") == "Running", what="Running")
    t0 = time.monotonic()
    resp = core.read_namespaced_pod_log("slow-master-0", NS, follow=True, _preload_content=False)
    arrivals = []
    for chunk in resp.stream(64):
        for line in chunk.decode().splitlines():
            arrivals.append((line, time.monotonic() - t0))
    assert [line for line, _ in arrivals] == ["one", "two"]
    assert arrivals[0][1] < 1.0 <= arrivals[1][1], arrivals  # streamed as written, ended with the process
    cluster.wait_for_job_condition("pytorchjobs", NS, "slow", "Succeeded")


def test_failing_replica_fails_the_job(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, "team-a", "pytorchjobs", pytorchjob(
        "broken", master="sleep 5; echo fine", worker="echo oops >&2; exit 3", namespace="team-a"))
    job = cluster.wait_for_job_condition("pytorchjobs", "team-a", "broken", "Failed")
    failed = conditions(job)["Failed"]
    assert failed["reason"] == "PyTorchJobFailed"
    assert failed["message"] == "PyTorchJob team-a/broken has failed because 1 Worker replica(s) failed."
    assert "Succeeded" not in conditions(job)
    pod = core.read_namespaced_pod("broken-worker-0", "team-a")
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3
    assert core.read_namespaced_pod_log("broken-worker-0", "team-a") == "oops\n"


def test_onfailure_restarts_in_place_until_backoff_limit(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
        "flaky", master="echo try; exit 1", worker=None, restart="OnFailure", runPolicy={"backoffLimit": 2}))
    job = cluster.wait_for_job_condition("pytorchjobs", NS, "flaky", "Failed")
    assert "backoff limit" in conditions(job)["Failed"]["message"]
    status = core.read_namespaced_pod("flaky-master-0", NS).status.container_statuses[0]
    assert status.restart_count == 3
    assert core.read_namespaced_pod_log("flaky-master-0", NS, previous=True) == "try\n"


def test_crd_schema_refuses_invalid_job(k8s) -> None:
    _, _, co = k8s
    body = pytorchjob("invalid", master="true", worker=None)
    body["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "two"
    with pytest.raises(client.ApiException) as error:
        co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", body)
    assert error.value.status == 422
    assert "must be of type integer" in json.loads(error.value.body)["message"]
    # unknown fields are pruned, not refused
    body = pytorchjob("pruned", master="true", worker=None)
    body["spec"]["bogusField"] = 1
    created = co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", body)
    assert "bogusField" not in created["spec"]


def test_limited_user_is_forbidden(kube_cluster) -> None:
    with kube_cluster.api_client(kube_cluster.limited_context) as api, pytest.raises(client.ApiException) as error:
        client.CustomObjectsApi(api).list_namespaced_custom_object(G, V, NS, "pytorchjobs")
    assert error.value.status == 403


def test_spec_replace_scales_and_delete_cleans_up(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
        "scaled", master="sleep 60", worker="echo worker $RANK; sleep 60", workers=1))
    cluster.wait_for_job_condition("pytorchjobs", NS, "scaled", "Running")
    wait_for(lambda: len(cluster.operator.replicas(NS, "scaled")) == 2, what="2 replicas")
    job = co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "scaled")
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 2
    co.replace_namespaced_custom_object(G, V, NS, "pytorchjobs", "scaled", job)
    # a stale resourceVersion is a conflict
    with pytest.raises(client.ApiException) as error:
        co.replace_namespaced_custom_object(G, V, NS, "pytorchjobs", "scaled", job)
    assert error.value.status == 409
    wait_for(lambda: phase(core, "scaled-worker-1") == "Running",
             what="the added worker running")
    wait_for(lambda: core.read_namespaced_pod_log("scaled-worker-1", NS) == "worker 2\n", what="its log")
    replicas = cluster.operator.replicas(NS, "scaled")
    pids = [r["pid"] for r in replicas.values()]
    assert len(pids) == 3 and all(pids)

    co.delete_namespaced_custom_object(G, V, NS, "pytorchjobs", "scaled", propagation_policy="Foreground")
    wait_for(lambda: not pods_of(core, "scaled"), what="pods deleted")

    def gone() -> bool:
        try:
            co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "scaled")
            return False
        except client.ApiException as e:
            return e.status == 404

    wait_for(gone, what="job deleted (foreground)")
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=10, what="processes killed")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before open, or between open and read
        return False


def test_tfjob_and_xgboostjob_are_served(k8s) -> None:
    cluster, core, co = k8s
    tf = {"apiVersion": f"{G}/{V}", "kind": "TFJob", "metadata": {"name": "tf"},
          "spec": {"runPolicy": {"cleanPodPolicy": "None"}, "tfReplicaSpecs": {"worker": {"replicas": 2, "template": {"spec": {"containers": [
              container('echo "$TF_CONFIG"', name="tensorflow")]}}}}}}
    xgb = {"apiVersion": f"{G}/{V}", "kind": "XGBoostJob", "metadata": {"name": "xgb"},
           "spec": {"xgbReplicaSpecs": {
               "Master": {"replicas": 1, "template": {"spec": {"containers": [container("echo $RANK", name="xgboost")]}}},
               "Worker": {"replicas": 1, "template": {"spec": {"containers": [container("echo $RANK", name="xgboost")]}}}}}}
    co.create_namespaced_custom_object(G, V, NS, "tfjobs", tf)
    co.create_namespaced_custom_object(G, V, NS, "xgboostjobs", xgb)
    cluster.wait_for_job_condition("tfjobs", NS, "tf", "Succeeded")  # worker 0 done is enough for a TFJob
    wait_for(lambda: phase(core, "tf-worker-1") == "Succeeded", what="worker 1 done")
    tf_config = json.loads(core.read_namespaced_pod_log("tf-worker-1", NS))
    assert tf_config["task"] == {"type": "worker", "index": 1}
    assert len(tf_config["cluster"]["worker"]) == 2
    cluster.wait_for_job_condition("xgboostjobs", NS, "xgb", "Succeeded")
    assert core.read_namespaced_pod_log("xgb-worker-0", NS) == "1\n"


def test_apiserver_restart_keeps_data_and_the_operator_resumes(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob("before", master="echo before", worker=None))
    cluster.wait_for_job_condition("pytorchjobs", NS, "before", "Succeeded")
    uid = co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "before")["metadata"]["uid"]

    # a resourceVersion taken before the restart, with a write after it
    rv = co.list_namespaced_custom_object(G, V, NS, "pytorchjobs")["metadata"]["resourceVersion"]
    core.create_namespaced_config_map(NS, {"metadata": {"name": "bump"}, "data": {"a": "b"}})
    seconds = cluster.restart_apiserver()
    assert seconds < 120

    with cluster.api_client() as api:  # a fresh connection
        co2, core2 = client.CustomObjectsApi(api), client.CoreV1Api(api)
        job = co2.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "before")
        assert job["metadata"]["uid"] == uid and conditions(job)["Succeeded"]["status"] == "True"
        assert core2.read_namespaced_pod_log("before-master-0", NS) == "before\n"
        assert "team-a" in [n.metadata.name for n in core2.list_namespace().items]
        core2.delete_namespaced_config_map("bump", NS)

        # what a real restarted API server does: its watch cache starts at the current revision,
        # so resuming a watch from an older resourceVersion gets 410 Gone -> a client must relist
        resp = co2.list_namespaced_custom_object(G, V, NS, "pytorchjobs", watch=True, resource_version=rv,
                                                 timeout_seconds=2, _preload_content=False)
        first = json.loads(next(iter(resp.stream())).decode().splitlines()[0])
        resp.release_conn()
        assert first["type"] == "ERROR" and first["object"]["code"] == 410, first
        assert "too old resource version" in first["object"]["message"]

        # the fake operator's watch reconnected (relisting) by itself and handles a new job
        co2.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob("after", master="echo after",
                                                                              worker=None))
        cluster.wait_for_job_condition("pytorchjobs", NS, "after", "Succeeded", timeout=60)
        assert core2.read_namespaced_pod_log("after-master-0", NS) == "after\n"
    assert not cluster.operator.errors, cluster.operator.errors


def test_no_processes_left_after_delete_all(k8s) -> None:
    cluster, _, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob("long", master="sleep 120", worker=None))
    cluster.wait_for_job_condition("pytorchjobs", NS, "long", "Running")
    pid = wait_for(lambda: cluster.operator.replicas(NS, "long").get("long-master-0", {}).get("pid"))
    assert _alive(pid)
    cluster.delete_all_jobs()
    wait_for(lambda: not _alive(pid), timeout=10, what="process killed")
    assert os.getpid() != pid


def test_deleted_pod_is_recreated_and_exitcode_policy_retries(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
        "phoenix", master="echo run $HOSTNAME; sleep 60", worker=None))
    cluster.wait_for_job_condition("pytorchjobs", NS, "phoenix", "Running")
    old = core.read_namespaced_pod("phoenix-master-0", NS).metadata.uid
    core.delete_namespaced_pod("phoenix-master-0", NS)  # graceful: the fake kubelet confirms it

    def recreated() -> bool:
        try:
            pod = core.read_namespaced_pod("phoenix-master-0", NS)
        except client.ApiException:
            return False
        return pod.metadata.uid != old and pod.status.phase == "Running"

    wait_for(recreated, what="the pod recreated by the operator and running")

    # restartPolicy ExitCode: 137 (>= 128) is retryable -> the pod is recreated, job Restarting
    script = "if [ -f tried ]; then echo second try; else touch tried; echo first try; exit 137; fi"
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob(
        "retry", master=script, worker=None, restart="ExitCode"))
    job = cluster.wait_for_job_condition("pytorchjobs", NS, "retry", "Succeeded")
    assert conditions(job)["Created"]["status"] == "True"
    assert "Restarting" not in conditions(job)  # replaced by Running, as the operator does
    assert core.read_namespaced_pod_log("retry-master-0", NS) == "second try\n"
    assert any("Restarting" in e for _, e in cluster.operator.events if "default/retry" in e)


def test_orphan_delete_keeps_pods(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "pytorchjobs", pytorchjob("orphan", master="sleep 60", worker=None))
    cluster.wait_for_job_condition("pytorchjobs", NS, "orphan", "Running")
    co.delete_namespaced_custom_object(G, V, NS, "pytorchjobs", "orphan", propagation_policy="Orphan")

    def job_gone() -> bool:
        try:
            co.get_namespaced_custom_object(G, V, NS, "pytorchjobs", "orphan")
            return False
        except client.ApiException as e:
            return e.status == 404

    wait_for(job_gone, what="job deleted")
    wait_for(lambda: not core.read_namespaced_pod("orphan-master-0", NS).metadata.owner_references,
             what="owner reference removed")
    assert core.read_namespaced_pod("orphan-master-0", NS).status.phase == "Running"
    core.delete_namespaced_pod("orphan-master-0", NS)
    wait_for(lambda: phase(core, "orphan-master-0") is None, what="orphan pod deleted")
