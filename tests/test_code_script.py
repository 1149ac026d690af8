"""A local script reaches the pods: the script a ``%%submarine run`` cell becomes, or one
named in the command, travels as a ConfigMap mounted at ``/code`` in every replica, owned by
the job and deleted with the experiment; on the training-operator and on Trainer v2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.kernel.spec_builder import script_command
from submarine_jupyter.server.backends.kubernetes.code import MAX_SCRIPT_BYTES

from .conftest import Api, experiment
from .k8s.cluster import EXPERIMENT_LABEL
from .rendezvous import WAIT_FOR_EVERY_REPLICA, printed_env

pytestmark = pytest.mark.parametrize("backend_config", ["kubernetes", "trainer"], indirect=True)

CELL = """import os, sys
print("args", sys.argv[1:], "file", __file__, "code", os.environ["CODE_PATH"], "rank", os.environ["RANK"], flush=True)
""" + WAIT_FOR_EVERY_REPLICA


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


def torch(cmd: str) -> dict[str, Any]:
    return experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 1})


def config_maps(cluster: Any, experiment_id: str | None = None) -> list[dict[str, Any]]:
    """The ConfigMaps this server made (for one experiment, or for any)."""
    selector = EXPERIMENT_LABEL + (f"={experiment_id}" if experiment_id else "")
    listed = cluster.core_v1().list_namespaced_config_map("default", label_selector=selector)
    return [cluster.core_v1().api_client.sanitize_for_serialization(item) for item in listed.items]


async def test_a_cell_runs_from_its_configmap_on_every_replica(api: Api, tmp_path: Path,
                                                               kube_cluster_clean: Any) -> None:
    notebook = tmp_path / "notebooks"
    notebook.mkdir()
    cmd = script_command(CELL, "demo", notebook, "--lr 0.1")
    spec = torch(cmd)
    spec["meta"]["envVars"] = printed_env(tmp_path)
    plan = await api.ok("POST", "api/v1/experiment", spec, params={"dryRun": "true"})
    config_map = plan["plan"]["configMap"]
    (name, text), = config_map["data"].items()
    assert text == CELL and name.startswith("demo-") and name.endswith(".py")

    created = await api.ok("POST", "api/v1/experiment", spec)
    done = await api.wait(created["experimentId"], timeout=120)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert done["status"] == "Succeeded", (done, logs)
    lines = sorted(pod["podLog"].strip() for pod in logs["logContent"])
    assert lines == [f"args ['--lr', '0.1'] file /code/{name} code /code rank {rank}" for rank in (0, 1)], lines

    (stored,) = config_maps(kube_cluster_clean, created["experimentId"])
    job_name = created["experimentId"].replace("_", "-")
    assert stored["metadata"]["name"] == f"{job_name}-code" and stored["data"] == {name: CELL}
    (owner,) = stored["metadata"]["ownerReferences"]
    plural = "trainjobs" if owner["kind"] == "TrainJob" else "pytorchjobs"
    group, version = owner["apiVersion"].split("/")
    job = kube_cluster_clean.custom_objects().get_namespaced_custom_object(group, version, "default", plural, job_name)
    assert (owner["name"], owner["uid"]) == (job_name, job["metadata"]["uid"])

    await api.ok("DELETE", f"api/v1/experiment/{created['experimentId']}")
    assert config_maps(kube_cluster_clean, created["experimentId"]) == []


async def test_a_script_too_big_to_travel_is_refused_naming_it(api: Api, tmp_path: Path,
                                                               kube_cluster_clean: Any) -> None:
    big = tmp_path / "big.py"
    big.write_text("#" * (MAX_SCRIPT_BYTES + 1))
    code, data = await api.call("POST", "api/v1/experiment", torch(f"python {big}"))
    assert code == 400 and data["message"].startswith("meta.cmd: ") and "at most 256 KiB" in data["message"], data
    assert await api.ok("GET", "api/v1/experiment") == [] and config_maps(kube_cluster_clean) == []


async def test_a_script_not_on_this_machine_is_left_to_the_image(api: Api) -> None:
    plan = await api.ok("POST", "api/v1/experiment", torch("python /opt/in-the-image/train.py"),
                        params={"dryRun": "true"})
    assert "configMap" not in plan["plan"]
    assert "python /opt/in-the-image/train.py" in str(plan["plan"]["manifest"])
    assert "/code" not in str(plan["plan"]["manifest"])


async def test_a_script_runs_where_the_image_puts_it_so_it_can_write_there(api: Api, tmp_path: Path) -> None:
    """The ConfigMap is read-only: the script runs from it, in the image's working directory."""
    (tmp_path / "train.py").write_text(
        "open('model.txt', 'w').write('saved'); print(open('model.txt').read(), flush=True)\n" + WAIT_FOR_EVERY_REPLICA)
    spec = torch(f"cd {tmp_path} && python train.py")
    spec["meta"]["envVars"] = printed_env(tmp_path)
    created = await api.ok("POST", "api/v1/experiment", spec)
    done = await api.wait(created["experimentId"], timeout=120)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert done["status"] == "Succeeded", (done, logs)
    assert [pod["podLog"] for pod in logs["logContent"]] == ["saved\n"] * 2
