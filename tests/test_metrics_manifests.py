"""Pure: the TensorBoard folder each Kubernetes replica gets (``c.KubernetesBackend.tensorboard_*``),
in manifests that still validate against the real Kubeflow CRD schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from submarine_jupyter.server.backends.base import Submission
from submarine_jupyter.server.backends.kubernetes.manifests import ManifestConfig, job_manifest

from .test_manifests import EXPERIMENT_ID, spec, validate
from .test_manifests import validators as crd_validators  # noqa: F401  (a fixture)

VOLUME = {"persistentVolumeClaim": {"claimName": "tensorboard"}}


def containers(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every role."""
    roles = manifest["spec"]["pytorchReplicaSpecs"].values()
    return [(role["template"]["spec"], role["template"]["spec"]["containers"][0]) for role in roles]


def test_each_replica_gets_a_folder_of_its_own_on_the_volume(request: pytest.FixtureRequest) -> None:
    schemas: dict[str, jsonschema.Draft4Validator] = request.getfixturevalue("crd_validators")
    config = ManifestConfig(default_image="python:3.11", tensorboard_mount_path="/tensorboard/",
                            tensorboard_volume=VOLUME)
    submission = Submission(EXPERIMENT_ID, spec("PyTorch", {"Master": {}, "Worker": {"replicas": 2}},
                                                envVars={"SUBMARINE_TENSORBOARD_LOG_DIR": "/mine"}))
    manifest = job_manifest(submission, config)
    validate(schemas, manifest)
    for pod, container in containers(manifest):
        assert container["env"] == [
            {"name": "SUBMARINE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SUBMARINE_TENSORBOARD_LOG_DIR", "value": f"/tensorboard/{EXPERIMENT_ID}/$(SUBMARINE_POD_NAME)"},
            {"name": "SUBMARINE_TENSORBOARD_LOG_DIR", "value": "/mine"},  # the spec's own wins (it comes last)
        ]
        assert container["volumeMounts"] == [{"name": "submarine-tensorboard", "mountPath": "/tensorboard/"}]
        assert pod["volumes"] == [{"name": "submarine-tensorboard", **VOLUME}]


def test_a_mount_path_without_a_volume_and_nothing_when_unset() -> None:
    submission = Submission(EXPERIMENT_ID, spec("PyTorch", {"Master": {}}))
    mounted = job_manifest(submission, ManifestConfig(default_image="python:3.11", tensorboard_mount_path="/tb"))
    ((pod, container),) = containers(mounted)
    assert [e["name"] for e in container["env"]] == ["SUBMARINE_POD_NAME", "SUBMARINE_TENSORBOARD_LOG_DIR"]
    assert "volumeMounts" not in container and "volumes" not in pod
    ((pod, container),) = containers(job_manifest(submission, ManifestConfig(default_image="python:3.11")))
    assert "env" not in container and "volumes" not in pod
