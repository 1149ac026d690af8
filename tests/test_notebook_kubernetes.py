"""notebooks/kubernetes.ipynb, executed by a real kernel against a server on the Kubernetes
backend (the test cluster: a real kube-apiserver with the stand-in training-operator)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_notebooks import cell_with, execute, text

pytestmark = pytest.mark.parametrize("backend_config", ["kubernetes"], indirect=True)


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


async def test_kubernetes_notebook_on_the_kubernetes_backend(server_env: dict[str, str], tmp_path: Path) -> None:
    cells = await execute("kubernetes.ipynb", tmp_path)
    assert text(cell_with(cells, "dry = client.create")).strip() == "backend: kubernetes"
    manifest = yaml.safe_load(text(cell_with(cells, 'if dry["backend"]')))
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    replicas = manifest["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    container = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("pytorch", "apache/submarine:pytorch-dist-mnist-1.0")
    assert container["command"] == ["sh", "-c", "python mnist.py --epochs 1"]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    magic_plan = text(cell_with(cells, "%submarine run --dry-run"))
    assert "kind: PyTorchJob" in magic_plan and "image: apache/submarine:pytorch-dist-mnist-1.0" in magic_plan
    hello = text(cell_with(cells, "--name k8s-hello")).splitlines()
    assert "[master-0] rank 0 of 2" in hello and "[worker-0] rank 1 of 2" in hello
    assert re.fullmatch(r"experiment_\d+_\d+ Succeeded", hello[-1])

    targets = text(cell_with(cells, "%submarine targets")).splitlines()
    assert [row.split()[:2] for row in targets[2:]] == [["local", "local"], ["kubernetes", "*"]]
    here = text(cell_with(cells, "--name promote-me")).splitlines()
    assert "[master-0] rank 0 of 2" in here and re.fullmatch(r"experiment_\d+_\d+ Succeeded", here[-1])
    promoted = text(cell_with(cells, "%submarine promote")).splitlines()
    assert re.fullmatch(r"experiment_\d+_\d+ on target kubernetes \(kubernetes\) submits:", promoted[0])
    assert "  kind: PyTorchJob" in promoted and any("image: python:3.11-slim" in line for line in promoted)
    assert "  kind: ConfigMap" in promoted  # the cell travels with the job
    assert any(line.startswith("[master-0] script /code/promote-me-") for line in promoted), promoted
    assert any(line.startswith("[worker-0] script /code/promote-me-") for line in promoted), promoted
    assert any(re.fullmatch(r"Promoted experiment_\d+_\d+ \(local\) to kubernetes as experiment_\d+_\d+", line)
               for line in promoted)
    assert "[master-0] rank 0 of 2" in promoted and re.fullmatch(r"experiment_\d+_\d+ Succeeded", promoted[-1])
    assert text(cell_with(cells, 'print(there["target"]')).strip() == "kubernetes Succeeded re-runs True"
