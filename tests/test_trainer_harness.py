"""The test Kubernetes environment's Kubeflow Trainer v2 part (tests/k8s/trainer.py), proven
with plain kubernetes-client calls.

The real TrainJob/TrainingRuntime/ClusterTrainingRuntime/JobSet CRDs on kube-apiserver 1.20;
a fake Trainer v2 controller runs each TrainJob node as a local process, the fake kubelet
serves its output as the pod's log.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from kubernetes import client

from .test_k8s_harness import _alive, conditions, wait_for

G, V = "trainer.kubeflow.org", "v1alpha1"
JS_G, JS_V = "jobset.x-k8s.io", "v1alpha2"
NS = "default"


def trainjob(name: str, script: str, runtime: str = "torch-distributed", namespace: str = NS,
             kind: str | None = None, **trainer: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": runtime}
    if kind:
        ref["kind"] = kind
    return {"apiVersion": f"{G}/{V}", "kind": "TrainJob", "metadata": {"name": name, "namespace": namespace},
            "spec": {"runtimeRef": ref, "trainer": {"command": ["sh", "-c", script], **trainer}}}


def pods_of(core: client.CoreV1Api, job: str, namespace: str = NS) -> list[Any]:
    return core.list_namespaced_pod(namespace, label_selector=f"jobset.sigs.k8s.io/jobset-name={job}").items


def by_index(pods: list[Any]) -> dict[int, Any]:
    return {int(p.metadata.labels["batch.kubernetes.io/job-completion-index"]): p for p in pods}


def running(cluster: Any, job: str, nodes: int, namespace: str = NS) -> dict[str, dict[str, Any]]:
    """The fake's view of the TrainJob's pods once ``nodes`` of them run a process, else {}."""
    replicas = cluster.trainer.replicas(namespace, job)
    live = {name: r for name, r in replicas.items() if r["pid"]}
    return live if len(live) == nodes else {}


def gone(fn, *args: Any) -> bool:
    try:
        fn(*args)
        return False
    except client.ApiException as e:
        return e.status == 404


@pytest.fixture
def k8s(kube_cluster_clean):
    with kube_cluster_clean.api_client() as api:
        yield kube_cluster_clean, client.CoreV1Api(api), client.CustomObjectsApi(api)


def test_crds_validate_and_default(k8s) -> None:
    _, _, co = k8s
    runtimes = co.list_cluster_custom_object(G, V, "clustertrainingruntimes")["items"]
    assert {r["metadata"]["name"] for r in runtimes} >= {"torch-distributed", "xgboost-distributed"}
    body = trainjob("invalid", "true", numNodes="three")
    with pytest.raises(client.ApiException) as error:
        co.create_namespaced_custom_object(G, V, NS, "trainjobs", body)
    assert error.value.status == 422
    assert "spec.trainer.numNodes" in json.loads(error.value.body)["message"]
    body = trainjob("defaults", "true", numNodes=1)
    body["spec"]["suspend"] = True  # nothing needs to run here
    body["spec"]["bogusField"] = 1
    created = co.create_namespaced_custom_object(G, V, NS, "trainjobs", body)["spec"]
    assert created["runtimeRef"] == {"apiGroup": G, "kind": "ClusterTrainingRuntime", "name": "torch-distributed"}
    assert created["managedBy"] == "trainer.kubeflow.org/trainjob-controller"
    assert "bogusField" not in created


def test_torch_trainjob_runs_every_node_as_a_process(k8s) -> None:
    cluster, core, co = k8s
    script = ('echo "rank=$PET_NODE_RANK of $PET_NNODES nproc=$PET_NPROC_PER_NODE '
              'master=$PET_MASTER_ADDR:$PET_MASTER_PORT host=$HOSTNAME lr=$LR index=$INDEX"; sleep 0.5')
    body = trainjob("hello", script, numNodes=3, image="example/train:1",
                    env=[{"name": "LR", "value": "0.1"},
                         {"name": "INDEX", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}],
                    resourcesPerNode={"limits": {"cpu": "2", "memory": "1Gi"}})
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", body)
    pods = by_index(wait_for(lambda: len(pods_of(core, "hello")) == 3 and pods_of(core, "hello"), what="3 pods"))
    tj = co.get_namespaced_custom_object(G, V, NS, "trainjobs", "hello")
    jobset = co.get_namespaced_custom_object(JS_G, JS_V, NS, "jobsets", "hello")
    owner = jobset["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainJob", tj["metadata"]["uid"], True)
    rjob = jobset["spec"]["replicatedJobs"][0]
    assert (rjob["name"], rjob["replicas"], rjob["template"]["spec"]["parallelism"]) == ("node", 1, 3)
    for index, pod in pods.items():
        assert re.fullmatch(rf"hello-node-0-{index}-[a-z0-9]{{5}}", pod.metadata.name), pod.metadata.name
        labels = pod.metadata.labels
        assert labels["jobset.sigs.k8s.io/jobset-name"] == "hello"
        assert labels["jobset.sigs.k8s.io/replicatedjob-name"] == "node"
        assert labels["jobset.sigs.k8s.io/jobset-uid"] == jobset["metadata"]["uid"]
        assert labels["batch.kubernetes.io/job-name"] == "hello-node-0"
        assert pod.metadata.annotations["batch.kubernetes.io/job-completion-index"] == str(index)
        assert (pod.spec.hostname, pod.spec.subdomain) == (f"hello-node-0-{index}", "hello")
        assert pod.spec.restart_policy == "OnFailure" and pod.spec.node_name == cluster.node_name
        (node,) = pod.spec.containers
        assert (node.name, node.image, node.resources.limits) == ("node", "example/train:1",
                                                                  {"cpu": "2", "memory": "1Gi"})
        assert [e.name for e in node.env] == ["LR", "INDEX", "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK",
                                              "PET_MASTER_ADDR", "PET_MASTER_PORT"]
        assert node.ports[0].container_port == 29500
    live = wait_for(lambda: running(cluster, "hello", 3), what="3 running processes")
    assert len({r["pid"] for r in live.values()}) == 3

    tj = cluster.wait_for_job_condition("trainjobs", NS, "hello", "Complete")
    complete = conditions(tj)["Complete"]
    assert (complete["reason"], complete["message"]) == ("AllJobsCompleted", "jobset completed successfully")
    assert set(conditions(tj)) == {"Complete"}
    assert tj["status"]["jobsStatus"] == [{"name": "node", "ready": 0, "succeeded": 1, "failed": 0, "active": 0,
                                           "suspended": 0}]
    for index, pod in pods.items():
        log = core.read_namespaced_pod_log(pod.metadata.name, NS, container="node")
        assert log == (f"rank={index} of 3 nproc=2 master=hello-node-0-0.hello:29500 host=hello-node-0-{index} "
                       f"lr=0.1 index={index}\n")
        status = core.read_namespaced_pod(pod.metadata.name, NS).status
        assert status.phase == "Succeeded" and status.container_statuses[0].state.terminated.exit_code == 0
    jobset = co.get_namespaced_custom_object(JS_G, JS_V, NS, "jobsets", "hello")
    assert jobset["status"]["terminalState"] == "Completed"


def test_failing_node_fails_the_trainjob(k8s) -> None:
    cluster, core, co = k8s
    script = 'if [ "$PET_NODE_RANK" = 1 ]; then echo oops >&2; exit 3; fi; sleep 30'
    co.create_namespaced_custom_object(G, V, "team-a", "trainjobs", trainjob("broken", script, numNodes=2,
                                                                             namespace="team-a"))
    tj = cluster.wait_for_job_condition("trainjobs", "team-a", "broken", "Failed")
    failed = conditions(tj)["Failed"]
    assert failed["reason"] == "FailedJobs"
    assert failed["message"] == "jobset failed due to one or more job failures (first failed job: broken-node-0)"
    assert "Complete" not in conditions(tj)
    assert tj["status"]["jobsStatus"][0]["failed"] == 1
    # OnFailure (the JobSet default): restarted in place until the Job's backoffLimit (6), then the
    # Job controller deletes the Job's running pods
    exits = [e for _, e in cluster.trainer.events if e.startswith("team-a/broken-node-0-1-") and "exited 3" in e]
    assert len(exits) == 6, exits
    wait_for(lambda: not pods_of(core, "broken", "team-a"), what="the failed Job's pods deleted")


def test_namespaced_runtime_with_init_container_volumes_and_never(k8s) -> None:
    cluster, core, co = k8s
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "code"},
                                                 "data": {"train.sh": "echo training from a configmap"}})
    pod_spec = {
        "restartPolicy": "Never",
        "initContainers": [{"name": "fetch", "image": "alpine/git", "command": ["sh", "-c"],
                            "args": ["cp /opt/submarine-harness/code/train.sh $(WS)/ && echo fetched"],
                            "env": [{"name": "WS", "value": "/opt/submarine-harness/ws"}],
                            "volumeMounts": [{"name": "code", "mountPath": "/opt/submarine-harness/code"},
                                             {"name": "ws", "mountPath": "/opt/submarine-harness/ws"}]}],
        "containers": [{"name": "node", "image": "python:3.11",
                        "volumeMounts": [{"name": "ws", "mountPath": "/opt/submarine-harness/ws"}]}],
        "volumes": [{"name": "code", "configMap": {"name": "code", "defaultMode": 0o755}},
                    {"name": "ws", "emptyDir": {}}],
    }
    runtime = {"apiVersion": f"{G}/{V}", "kind": "TrainingRuntime", "metadata": {"name": "team-torch"},
               "spec": {"mlPolicy": {"numNodes": 1, "torch": {}}, "template": {"spec": {"replicatedJobs": [{
                   "name": "node", "template": {
                       "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                       "spec": {"backoffLimit": 1, "template": {"spec": pod_spec}}}}]}}}}
    co.create_namespaced_custom_object(G, V, "team-a", "trainingruntimes", runtime)
    try:
        co.create_namespaced_custom_object(G, V, "team-a", "trainjobs", trainjob(
            "mounted", "cd /opt/submarine-harness/ws && sh ./train.sh", runtime="team-torch",
            kind="TrainingRuntime", namespace="team-a"))
        cluster.wait_for_job_condition("trainjobs", "team-a", "mounted", "Complete")
        (pod,) = pods_of(core, "mounted", "team-a")
        assert core.read_namespaced_pod_log(pod.metadata.name, "team-a", container="fetch") == "fetched\n"
        assert core.read_namespaced_pod_log(pod.metadata.name, "team-a", container="node") == \
            "training from a configmap\n"
        assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0

        # restartPolicy Never: a failed pod is replaced until more than backoffLimit (1) failed
        co.create_namespaced_custom_object(G, V, "team-a", "trainjobs", trainjob(
            "never", "echo attempt; exit 2", runtime="team-torch", kind="TrainingRuntime", namespace="team-a"))
        cluster.wait_for_job_condition("trainjobs", "team-a", "never", "Failed")
        pods = pods_of(core, "never", "team-a")
        assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
        assert all(core.read_namespaced_pod_log(p.metadata.name, "team-a") == "attempt\n" for p in pods)
    finally:
        co.delete_namespaced_custom_object(G, V, "team-a", "trainingruntimes", "team-torch")
        core.delete_namespaced_config_map("code", "team-a")


def test_xgboost_env_runtime_patches_and_pending_pods(k8s) -> None:
    cluster, core, co = k8s
    script = 'echo "$DMLC_TASK_ID/$DMLC_NUM_WORKER $DMLC_TRACKER_URI:$DMLC_TRACKER_PORT" | tee /opt/submarine-harness/tb/$DMLC_TASK_ID'
    body = trainjob("xgb", script, runtime="xgboost-distributed", numNodes=2,
                    resourcesPerNode={"limits": {"nvidia.com/gpu": "2"}})
    pod_patch = {"metadata": {"labels": {"experiment": "e1"}},
                 "spec": {"volumes": [{"name": "tb", "persistentVolumeClaim": {"claimName": "tb"}}],
                          "containers": [{"name": "node", "volumeMounts": [
                              {"name": "tb", "mountPath": "/opt/submarine-harness/tb"}]}]}}
    body["spec"]["runtimePatches"] = [{"manager": "test.example.com/harness", "trainingRuntimeSpec": {"template": {
        "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": pod_patch}}}]}}}}]
    with cluster.trainer.hold_pending():
        co.create_namespaced_custom_object(G, V, NS, "trainjobs", body)
        pods = wait_for(lambda: len(pods_of(core, "xgb")) == 2 and pods_of(core, "xgb"), what="2 pods")
        time.sleep(0.5)
        assert {p.status.phase for p in pods_of(core, "xgb")} == {"Pending"}
        with pytest.raises(client.ApiException) as error:
            core.read_namespaced_pod_log(pods[0].metadata.name, NS, container="node")
        assert error.value.status == 400
        assert json.loads(error.value.body)["message"] == \
            f'container "node" in pod "{pods[0].metadata.name}" is waiting to start: ContainerCreating'
    cluster.wait_for_job_condition("trainjobs", NS, "xgb", "Complete")
    pods = by_index(pods_of(core, "xgb", NS))
    logs = {i: core.read_namespaced_pod_log(p.metadata.name, NS) for i, p in pods.items()}
    assert logs == {0: "0/4 xgb-node-0-0.xgb:29500\n", 1: "1/4 xgb-node-0-0.xgb:29500\n"}
    assert {p.metadata.labels["experiment"] for p in pods.values()} == {"e1"}
    claim = cluster.workdir / "pvcs" / NS / "tb"  # one folder per claim, shared by the pods
    assert sorted(f.name for f in claim.iterdir()) == ["0", "1"]


def test_suspend_then_resume(k8s) -> None:
    cluster, core, co = k8s
    body = trainjob("held", "echo resumed", numNodes=2)
    body["spec"]["suspend"] = True
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", body)
    tj = cluster.wait_for_job_condition("trainjobs", NS, "held", "Suspended")
    suspended = conditions(tj)["Suspended"]
    assert (suspended["reason"], suspended["message"]) == ("Suspended", "TrainJob is suspended")
    cluster.trainer.wait_idle()
    tj = co.get_namespaced_custom_object(G, V, NS, "trainjobs", "held")
    assert tj["status"]["jobsStatus"] == [{"name": "node", "ready": 0, "succeeded": 0, "failed": 0, "active": 0,
                                           "suspended": 1}]
    assert co.get_namespaced_custom_object(JS_G, JS_V, NS, "jobsets", "held")["spec"]["suspend"] is True
    time.sleep(0.5)
    assert not pods_of(core, "held")

    co.patch_namespaced_custom_object(G, V, NS, "trainjobs", "held", {"spec": {"suspend": False}})
    tj = cluster.wait_for_job_condition("trainjobs", NS, "held", "Complete")
    suspended = conditions(tj)["Suspended"]
    assert (suspended["status"], suspended["reason"], suspended["message"]) == \
        ("False", "Resumed", "TrainJob is resumed")
    assert [core.read_namespaced_pod_log(p.metadata.name, NS) for p in pods_of(core, "held")] == ["resumed\n"] * 2


def test_delete_kills_processes_and_a_deleted_pod_is_replaced(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", trainjob("long", "sleep 120", numNodes=2))
    pods = wait_for(lambda: running(cluster, "long", 2), what="2 running processes")
    victim = next(name for name, r in pods.items() if r["index"] == 1)
    core.delete_namespaced_pod(victim, NS)  # graceful: the Job makes a new pod for index 1
    wait_for(lambda: not _alive(pods[victim]["pid"]), timeout=10, what="its process killed")
    replaced = wait_for(lambda: [n for n, r in cluster.trainer.replicas(NS, "long").items()
                                 if r["index"] == 1 and r["pid"] and n != victim], what="a new pod for index 1")
    assert replaced[0].startswith("long-node-0-1-")
    pids = [r["pid"] for r in cluster.trainer.replicas(NS, "long").values()]

    co.delete_namespaced_custom_object(G, V, NS, "trainjobs", "long", propagation_policy="Foreground")
    wait_for(lambda: not pods_of(core, "long"), what="pods deleted")
    wait_for(lambda: gone(co.get_namespaced_custom_object, JS_G, JS_V, NS, "jobsets", "long"), what="JobSet deleted")
    wait_for(lambda: gone(co.get_namespaced_custom_object, G, V, NS, "trainjobs", "long"),
             what="TrainJob deleted (foreground)")
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=10, what="processes killed")


def test_missing_or_unsupported_runtime_fails(k8s) -> None:
    cluster, _, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", trainjob("lost", "true", runtime="no-such-runtime"))
    failed = conditions(cluster.wait_for_job_condition("trainjobs", NS, "lost", "Failed"))["Failed"]
    assert failed["reason"] == "TrainingRuntimeNotFound"
    assert 'clustertrainingruntimes.trainer.kubeflow.org "no-such-runtime" not found' in failed["message"]
    co.create_namespaced_custom_object(G, V, "team-a", "trainjobs", trainjob(
        "lost", "true", runtime="torch-distributed", kind="TrainingRuntime", namespace="team-a"))
    failed = conditions(cluster.wait_for_job_condition("trainjobs", "team-a", "lost", "Failed"))["Failed"]
    assert 'trainingruntimes.trainer.kubeflow.org "torch-distributed" not found' in failed["message"]
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", trainjob("odd", "true", kind="MyRuntime"))
    failed = conditions(cluster.wait_for_job_condition("trainjobs", NS, "odd", "Failed"))["Failed"]
    assert (failed["reason"], failed["message"]) == ("TrainingRuntimeNotSupported",
                                                     "unsupported runtime: MyRuntime.trainer.kubeflow.org")
    assert not cluster.trainer.errors, cluster.trainer.errors


def test_orphan_delete_keeps_the_jobset_until_it_is_deleted(k8s) -> None:
    cluster, core, co = k8s
    co.create_namespaced_custom_object(G, V, NS, "trainjobs", trainjob("orphan", "sleep 60", numNodes=1))
    pid = next(iter(wait_for(lambda: running(cluster, "orphan", 1), what="a running process").values()))["pid"]
    co.delete_namespaced_custom_object(G, V, NS, "trainjobs", "orphan", propagation_policy="Orphan")
    wait_for(lambda: gone(co.get_namespaced_custom_object, G, V, NS, "trainjobs", "orphan"), what="TrainJob deleted")
    wait_for(lambda: not co.get_namespaced_custom_object(JS_G, JS_V, NS, "jobsets", "orphan")["metadata"].get(
        "ownerReferences"), what="the JobSet's owner reference removed")
    assert _alive(pid) and [p.status.phase for p in pods_of(core, "orphan")] == ["Running"]
    co.delete_namespaced_custom_object(JS_G, JS_V, NS, "jobsets", "orphan")
    wait_for(lambda: not pods_of(core, "orphan"), what="its pods deleted with it")
    wait_for(lambda: not _alive(pid), timeout=10, what="the process killed")
