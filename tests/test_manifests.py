"""Manifests: every job manifest validates against the real Kubeflow CRD schemas.

The CRDs are read from ``<repo>/../shared/kubeflow-crds/`` (or ``$SUBMARINE_SHARED_DIR``),
never copied into the project. Object schemas are made strict (unknown fields refused)
because the API server would silently prune a misspelled field instead of refusing it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from submarine_jupyter.server.backends.base import BackendError, Submission
from submarine_jupyter.server.backends.kubernetes.kinds import JOB_KINDS, label_value
from submarine_jupyter.server.backends.kubernetes.manifests import ManifestConfig, job_manifest
from submarine_jupyter.wire.requests import ExperimentSpec

EXPERIMENT_ID = "experiment_1592057447228_0001"


def shared_dir() -> Path:
    configured = os.environ.get("SUBMARINE_SHARED_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1].parent / "shared"


def _strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever the API server would prune."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft4Validator]:
    """Kind -> a validator of the CRD's ``v1`` openAPIV3Schema."""
    crd_dir = shared_dir() / "kubeflow-crds"
    result = {}
    for job_kind in JOB_KINDS.values():
        path = crd_dir / f"kubeflow.org_{job_kind.plural}.yaml"
        if not path.is_file():
            pytest.fail(f"{path} is missing: set SUBMARINE_SHARED_DIR to the shared directory")
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = _strict(version["schema"]["openAPIV3Schema"])
        result[crd["spec"]["names"]["kind"]] = jsonschema.Draft4Validator(schema)
    return result


def validate(validators: dict[str, jsonschema.Draft4Validator], manifest: dict[str, Any]) -> None:
    errors = sorted(validators[manifest["kind"]].iter_errors(manifest), key=str)
    assert not errors, "\n".join(
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in errors
    )


def spec(framework: str, roles: dict[str, dict[str, Any]], **meta: Any) -> ExperimentSpec:
    body = {
        "meta": {"name": "mnist", "framework": framework, "cmd": "python train.py", **meta},
        "environment": {"image": "python:3.11"},
        "spec": roles,
    }
    return ExperimentSpec.model_validate(body)


FULL = ManifestConfig(
    image_pull_secrets=("regcred", "other"),
    service_account="trainer",
    clean_pod_policy="Running",
    backoff_limit=2,
)

CASES = {
    "tensorflow-all-roles": spec(
        "TensorFlow",
        {
            "Ps": {"replicas": 2, "resources": "cpu=1,memory=1Gi"},
            "Worker": {"replicas": 3, "resources": "cpu=500m,memory=2Gi,gpu=2",
                       "envVars": {"ROLE_ONLY": "w", "SHARED": "worker"}},
            "Chief": {"replicas": 1, "cmd": "python chief.py"},
            "Evaluator": {"replicas": 1, "image": "tf:eval"},
            "Master": {"replicas": 1, "resources": "nvidia.com/gpu=1"},
        },
        envVars={"SHARED": "meta", "LR": "0.1"},
    ),
    "pytorch": spec(
        "pytorch",
        {"Master": {"replicas": 1, "resources": "cpu=2,memory=4G,gpu=1"},
         "Worker": {"replicas": 4, "resources": "cpu=2,memory=4G,gpu=1"}},
        envVars={"NCCL_DEBUG": "INFO"},
    ),
    "xgboost": spec(
        "XGBoost",
        {"Master": {"replicas": 1}, "Worker": {"replicas": 2, "resources": "memory=512M"}},
    ),
}


@pytest.mark.parametrize("config", [ManifestConfig(), FULL], ids=["defaults", "full-config"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_manifest_validates_against_the_crd(validators, case, config) -> None:
    manifest = job_manifest(Submission(EXPERIMENT_ID, CASES[case], image="python:3.11"), config)
    validate(validators, manifest)


def test_tensorflow_manifest_in_detail(validators) -> None:
    manifest = job_manifest(Submission(EXPERIMENT_ID, CASES["tensorflow-all-roles"], image="python:3.11"), FULL)
    assert manifest["apiVersion"] == "kubeflow.org/v1"
    assert manifest["kind"] == "TFJob"
    meta = manifest["metadata"]
    assert meta["name"] == "experiment-1592057447228-0001"
    assert meta["namespace"] == "default"
    assert meta["labels"]["submarine.apache.org/experiment-id"] == EXPERIMENT_ID
    assert meta["labels"]["submarine.apache.org/experiment-name"] == "mnist"
    assert manifest["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 2}
    roles = manifest["spec"]["tfReplicaSpecs"]
    assert set(roles) == {"PS", "Worker", "Chief", "Evaluator", "Master"}
    assert roles["PS"]["replicas"] == 2 and roles["Worker"]["replicas"] == 3
    assert {role["restartPolicy"] for role in roles.values()} == {"OnFailure"}

    def pod(role: str) -> dict[str, Any]:
        return roles[role]["template"]["spec"]

    worker = pod("Worker")["containers"][0]
    assert worker["name"] == "tensorflow"
    assert worker["command"] == ["sh", "-c", "python train.py"]
    assert worker["image"] == "python:3.11"
    assert worker["env"] == [
        {"name": "SHARED", "value": "worker"}, {"name": "LR", "value": "0.1"},
        {"name": "ROLE_ONLY", "value": "w"},
    ]
    assert worker["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "2"},
    }
    assert pod("Master")["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert "resources" not in pod("Chief")["containers"][0]
    assert pod("Chief")["containers"][0]["command"] == ["sh", "-c", "python chief.py"]
    assert pod("Evaluator")["containers"][0]["image"] == "tf:eval"
    assert pod("PS")["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
    assert pod("PS")["serviceAccountName"] == "trainer"
    assert roles["PS"]["template"]["metadata"]["labels"] == meta["labels"]


@pytest.mark.parametrize(("case", "field", "container"), [
    ("pytorch", "pytorchReplicaSpecs", "pytorch"), ("xgboost", "xgbReplicaSpecs", "xgboost"),
])
def test_container_and_roles_per_framework(case, field, container) -> None:
    manifest = job_manifest(Submission(EXPERIMENT_ID, CASES[case], image="img"), ManifestConfig())
    roles = manifest["spec"][field]
    assert set(roles) == {"Master", "Worker"}
    assert {r["template"]["spec"]["containers"][0]["name"] for r in roles.values()} == {container}
    assert "imagePullSecrets" not in roles["Master"]["template"]["spec"]


@pytest.mark.parametrize("broken", [
    lambda m: m["spec"]["tfReplicaSpecs"]["Worker"].__setitem__("replicas", "two"),
    lambda m: m["spec"]["tfReplicaSpecs"]["Worker"].__setitem__("replica", 2),
    lambda m: m["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].pop("name"),
    lambda m: m["spec"].pop("tfReplicaSpecs"),
    lambda m: m["spec"]["runPolicy"].__setitem__("backoffLimit", "3"),
], ids=["replicas-not-integer", "misspelled-field", "container-without-name", "no-roles", "backoff-string"])
def test_validation_catches_a_broken_manifest(validators, broken) -> None:
    manifest = copy.deepcopy(
        job_manifest(Submission(EXPERIMENT_ID, CASES["tensorflow-all-roles"], image="i"), ManifestConfig())
    )
    broken(manifest)
    with pytest.raises(AssertionError):
        validate(validators, manifest)


def test_namespace_default_allow_list_and_any() -> None:
    unset = spec("PyTorch", {"Master": {}})
    assert job_manifest(Submission(EXPERIMENT_ID, unset, "i"), ManifestConfig(namespace="team"))["metadata"]["namespace"] == "team"
    other = spec("PyTorch", {"Master": {}}, namespace="ml")
    with pytest.raises(BackendError) as refused:
        job_manifest(Submission(EXPERIMENT_ID, other, "i"), ManifestConfig(namespace="team"))
    assert refused.value.code == 403
    assert refused.value.message == "namespace 'ml' is not allowed on this server (allowed: team)"
    allowed = ManifestConfig(namespace="team", allowed_namespaces=("ml",))
    assert job_manifest(Submission(EXPERIMENT_ID, other, "i"), allowed)["metadata"]["namespace"] == "ml"
    anywhere = ManifestConfig(allowed_namespaces=("*",))
    assert job_manifest(Submission(EXPERIMENT_ID, other, "i"), anywhere)["metadata"]["namespace"] == "ml"


def test_image_resolution_and_missing_image() -> None:
    experiment = spec("XGBoost", {"Master": {}, "Worker": {"image": "own"}})

    def images(submission_image: str | None, default: str | None) -> dict[str, str]:
        manifest = job_manifest(Submission(EXPERIMENT_ID, experiment, submission_image),
                          ManifestConfig(default_image=default))
        return {role: r["template"]["spec"]["containers"][0]["image"]
                for role, r in manifest["spec"]["xgbReplicaSpecs"].items()}

    assert images("env", "site") == {"Master": "env", "Worker": "own"}
    assert images(None, "site") == {"Master": "site", "Worker": "own"}
    with pytest.raises(BackendError) as missing:
        images(None, None)
    assert missing.value.code == 400
    assert "spec.Master: no container image" in missing.value.message


@pytest.mark.parametrize(("framework", "roles", "message"), [
    ("PyTorch", {"Master": {"replicas": 2}}, "spec.Master.replicas: a PyTorch job has exactly one Master, got 2"),
    ("TensorFlow", {"Chief": {"replicas": 3}}, "spec.Chief.replicas: a TensorFlow job has exactly one Chief, got 3"),
    ("XGBoost", {"Worker": {"replicas": 2}}, "spec: an XGBoost job needs a Master role"),
    ("PyTorch", {"Master": {}, "Worker": {"replicas": 2**31}}, "spec.Worker.replicas: at most 10000, got 2147483648"),
])
def test_operator_rules_refused_before_submission(framework, roles, message) -> None:
    with pytest.raises(BackendError) as refused:
        job_manifest(Submission(EXPERIMENT_ID, spec(framework, roles), "i"), ManifestConfig())
    assert (refused.value.code, refused.value.message) == (400, message)


@pytest.mark.parametrize(("text", "value"), [
    ("experiment_1_0001", "experiment_1_0001"),
    ("a b/c", "a-b-c"),
    ("-x-", "x"),
    ("y" * 70, "y" * 63),
])
def test_label_value(text, value) -> None:
    assert label_value(text) == value
