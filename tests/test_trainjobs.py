"""Experiments as Kubeflow Trainer v2 TrainJobs, without a cluster: the manifest (checked
against the real TrainJob CRD's schema), the refusals, the v1 variables its command derives
from v2's (run in a real shell), and what a TrainJob and its pods say."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from submarine_jupyter.server.backends.base import BackendError, Submission
from submarine_jupyter.server.backends.kubernetes.apis import TRAINER
from submarine_jupyter.server.backends.kubernetes.manifests import ManifestConfig
from submarine_jupyter.server.backends.kubernetes.runtimes import configured_runtime
from submarine_jupyter.server.backends.kubernetes.status import replicas_of
from submarine_jupyter.server.backends.kubernetes.trainjobs import TRAINJOB, RuntimeRef, trainjob_manifest
from submarine_jupyter.wire.requests import ExperimentSpec

from .k8s.cluster import shared_dir

ID = "experiment_1700000000000_0007"
JOB = "experiment-1700000000000-0007"


def submission(framework: str = "PyTorch", roles: dict[str, int] | None = None, **task: Any) -> Submission:
    spec = ExperimentSpec.model_validate({
        "meta": {"name": "mnist", "framework": framework, "cmd": "python train.py --epochs 2",
                 "envVars": {"LR": "0.1"}},
        "spec": {role: {"replicas": n, **task} for role, n in (roles or {"Master": 1, "Worker": 2}).items()},
    })
    return Submission(ID, spec, "pytorch/pytorch:2.5")


@pytest.fixture(scope="module")
def trainjob_schema() -> dict[str, Any]:
    crd = yaml.safe_load((shared_dir() / "kubeflow-crds/trainer-v2/trainer.kubeflow.org_trainjobs.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_a_master_and_two_workers_become_three_nodes_of_the_torch_runtime(trainjob_schema: dict[str, Any]) -> None:
    manifest = trainjob_manifest(submission(resources="cpu=2,memory=4Gi,gpu=1"), ManifestConfig(), None)
    jsonschema.validate(manifest, trainjob_schema)
    assert (manifest["apiVersion"], manifest["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert manifest["metadata"]["name"] == JOB
    assert json.loads(manifest["metadata"]["annotations"]["submarine.apache.org/roles"]) == {"Master": 1, "Worker": 2}
    spec = manifest["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "torch-distributed"}
    trainer = spec["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"], trainer["image"]) == (3, 1, "pytorch/pytorch:2.5")
    assert trainer["command"][:2] == ["sh", "-c"] and trainer["command"][2].endswith("\npython train.py --epochs 2")
    assert {e["name"]: e.get("value") for e in trainer["env"]} == {
        "PYTHONUNBUFFERED": "1", "SUBMARINE_NODE_INDEX": None, "LR": "0.1"}
    assert trainer["resourcesPerNode"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                           "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}}
    labels = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    assert labels["template"]["spec"]["template"]["metadata"]["labels"]["submarine.apache.org/experiment-id"] == ID


def test_a_configured_or_namespaced_runtime_is_named(trainjob_schema: dict[str, Any]) -> None:
    assert configured_runtime("my-torch") == RuntimeRef("my-torch", "ClusterTrainingRuntime")
    assert configured_runtime("TrainingRuntime/team-torch") == RuntimeRef("team-torch", "TrainingRuntime")
    manifest = trainjob_manifest(submission("XGBoost"), ManifestConfig(), RuntimeRef("team-xgb", "TrainingRuntime"))
    jsonschema.validate(manifest, trainjob_schema)
    assert manifest["spec"]["runtimeRef"]["kind"] == "TrainingRuntime"
    assert "numProcPerNode" not in manifest["spec"]["trainer"]


def test_the_tensorboard_volume_is_patched_into_every_node(trainjob_schema: dict[str, Any]) -> None:
    config = ManifestConfig(tensorboard_mount_path="/tb", tensorboard_volume={"persistentVolumeClaim": {"claimName": "tb"}},
                            image_pull_secrets=("regcred",), service_account="trainer")
    manifest = trainjob_manifest(submission(), config, None)
    jsonschema.validate(manifest, trainjob_schema)
    pod = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
        "template"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "submarine-tensorboard", "persistentVolumeClaim": {"claimName": "tb"}}]
    assert pod["containers"] == [{"name": "node", "volumeMounts": [
        {"name": "submarine-tensorboard", "mountPath": "/tb"}]}]
    assert (pod["imagePullSecrets"], pod["serviceAccountName"]) == ([{"name": "regcred"}], "trainer")
    assert f"/tb/{ID}/$SUBMARINE_REPLICA" in manifest["spec"]["trainer"]["command"][2]


@pytest.mark.parametrize(("field", "value"), [("cmd", "python other.py"), ("image", "other:1"),
                                              ("envVars", {"X": "1"}), ("resources", "cpu=4")])
def test_roles_that_differ_are_refused_naming_the_field(field: str, value: Any) -> None:
    spec = submission().spec.model_dump(by_alias=True, exclude_none=True)
    spec["spec"]["Worker"][field] = value
    with pytest.raises(BackendError) as refused:
        trainjob_manifest(Submission(ID, ExperimentSpec.model_validate(spec), "img"), ManifestConfig(), None)
    assert refused.value.code == 400 and refused.value.message.startswith(f"spec.Worker.{field}: ")


def test_tensorflow_has_no_trainer_runtime() -> None:
    with pytest.raises(BackendError) as refused:
        TRAINER.kind_for(submission("TensorFlow", {"Chief": 1, "Worker": 1}).spec)
    assert refused.value.code == 400
    assert refused.value.message.startswith("meta.framework: TensorFlow cannot run on a Kubeflow trainer target")


def run_node(command: list[str], env: dict[str, str]) -> dict[str, str]:
    """What the node's command sees, run in a real shell with ``env`` as the plugin injects it."""
    probe = [*command[:2], command[2].rsplit("\n", 1)[0] + "\nenv"]
    out = subprocess.run(probe, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("node", [0, 1, 2])
def test_a_torch_node_sees_the_training_operators_variables(node: int) -> None:
    command = trainjob_manifest(submission(), ManifestConfig(), None)["spec"]["trainer"]["command"]
    env = run_node(command, {"PET_NNODES": "3", "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": str(node),
                             "PET_MASTER_ADDR": f"{JOB}-node-0-0.{JOB}", "PET_MASTER_PORT": "29500",
                             "SUBMARINE_NODE_INDEX": str(node)})
    replica = f"{JOB}-master-0" if node == 0 else f"{JOB}-worker-{node - 1}"
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SUBMARINE_REPLICA")} == {
        "RANK": str(node), "WORLD_SIZE": "3", "MASTER_ADDR": f"{JOB}-node-0-0.{JOB}", "MASTER_PORT": "29500",
        "SUBMARINE_REPLICA": replica}


def test_an_xgboost_node_sees_the_training_operators_variables() -> None:
    command = trainjob_manifest(submission("XGBoost"), ManifestConfig(), None)["spec"]["trainer"]["command"]
    env = run_node(command, {"DMLC_TRACKER_URI": f"{JOB}-node-0-0.{JOB}", "DMLC_TRACKER_PORT": "9091",
                             "DMLC_TASK_ID": "2", "DMLC_NUM_WORKER": "3", "SUBMARINE_NODE_INDEX": "2"})
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SUBMARINE_REPLICA")} == {
        "RANK": "2", "WORLD_SIZE": "3", "MASTER_ADDR": f"{JOB}-node-0-0.{JOB}", "MASTER_PORT": "9091",
        "SUBMARINE_REPLICA": f"{JOB}-worker-1"}


def test_a_variable_the_spec_sets_wins_over_the_derived_one() -> None:
    command = trainjob_manifest(submission(roles={"Worker": 2}), ManifestConfig(), None)["spec"]["trainer"]["command"]
    env = run_node(command, {"PET_NODE_RANK": "1", "PET_NNODES": "2", "MASTER_ADDR": "127.0.0.1",
                             "SUBMARINE_NODE_INDEX": "1"})
    assert (env["MASTER_ADDR"], env["RANK"], env["SUBMARINE_REPLICA"]) == ("127.0.0.1", "1", f"{JOB}-worker-1")


def pod(index: int, phase: str, uid: str = "u") -> dict[str, Any]:
    return {"metadata": {"name": f"{JOB}-node-0-{index}-x7k2q", "uid": uid, "labels": {
        "jobset.sigs.k8s.io/jobset-name": JOB, "jobset.sigs.k8s.io/replicatedjob-name": "node",
        "batch.kubernetes.io/job-completion-index": str(index)}}, "status": {"phase": phase}}


def trainjob(*conditions: tuple[str, str]) -> dict[str, Any]:
    manifest = trainjob_manifest(submission(), ManifestConfig(), None)
    manifest["status"] = {"conditions": [
        {"type": kind, "status": "True", "message": message, "lastTransitionTime": "2026-12-02T10:00:00Z"}
        for kind, message in conditions]}
    return manifest


def test_status_from_conditions_and_pods() -> None:
    replicas = replicas_of(ID, TRAINJOB, TRAINJOB.counts(trainjob()))
    assert [(r.name, r.slot) for r in replicas] == [
        (f"{JOB}-master-0", f"{JOB}-node-0"), (f"{JOB}-worker-0", f"{JOB}-node-1"), (f"{JOB}-worker-1", f"{JOB}-node-2")]
    assert [TRAINJOB.pod_slot(pod(i, "Running")) for i in range(3)] == [r.slot for r in replicas]
    assert TRAINJOB.status(trainjob(), [pod(0, "Running"), pod(1, "Pending"), None]) == ("Created", None)
    assert TRAINJOB.status(trainjob(), [pod(0, "Running"), pod(1, "Running"), pod(2, "Succeeded")]) == ("Running", None)
    assert TRAINJOB.status(trainjob(("Suspended", "queued"))) == ("Accepted", "queued")
    assert TRAINJOB.status(trainjob(("Complete", "done"))) == ("Succeeded", "done")
    assert TRAINJOB.status(trainjob(("Complete", "done"), ("Failed", "node 1 failed"))) == ("Failed", "node 1 failed")
    assert set(TRAINJOB.times(trainjob(("Complete", "done")))) == {"Succeeded"}
    initializer = pod(0, "Running")
    initializer["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"] = "dataset-initializer"
    assert TRAINJOB.pod_slot(initializer) is None


def test_a_trainjob_made_elsewhere_counts_its_nodes_as_workers() -> None:
    job = {"metadata": {"name": "theirs"}, "spec": {"trainer": {"numNodes": 4}}}
    assert TRAINJOB.counts(job) == {"Worker": 4}
