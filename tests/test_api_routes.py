"""Every route: authentication, YAML bodies, environments, list filters."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ALL_BACKENDS, Api, experiment


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2

ROUTES = [
    ("GET", "api/v1/experiment/ping"),
    ("GET", "api/v1/experiment"),
    ("POST", "api/v1/experiment"),
    ("GET", "api/v1/experiment/{id}"),
    ("PATCH", "api/v1/experiment/{id}"),
    ("DELETE", "api/v1/experiment/{id}"),
    ("GET", "api/v1/experiment/logs"),
    ("GET", "api/v1/experiment/logs/{id}"),
    ("GET", "api/v1/environment"),
    ("POST", "api/v1/environment"),
    ("GET", "api/v1/environment/env-a"),
    ("PATCH", "api/v1/environment/env-a"),
    ("DELETE", "api/v1/environment/env-a"),
]


@pytest.mark.parametrize("authorization", ["", "token not-the-token"], ids=["no token", "wrong token"])
async def test_every_route_needs_the_token(api: Api, authorization: str) -> None:
    await api.ok("POST", "api/v1/environment", {"name": "env-a", "dockerImage": "img"})
    created = await api.ok("POST", "api/v1/experiment", experiment("sleep 30", framework="PyTorch"))
    for method, path in ROUTES:
        body = {"name": "env-a", "dockerImage": "other"} if "environment" in path else experiment(
            "echo changed", framework="PyTorch", roles={"Worker": 3})
        code, data = await api.call(
            method, path.format(id=created["experimentId"]),
            body if method in ("POST", "PATCH") else None,
            headers={"Authorization": authorization},
        )
        assert code == 403, (method, path, code, data)
        assert data["code"] == 403 and data["success"] is None and data["status"] == "FORBIDDEN"
    # nothing was done
    assert [e["experimentId"] for e in await api.ok("GET", "api/v1/experiment")] == [created["experimentId"]]
    assert (await api.ok("GET", f"api/v1/experiment/{created['experimentId']}"))["spec"]["meta"]["cmd"] == "sleep 30"
    assert (await api.ok("GET", "api/v1/environment/env-a"))["environmentSpec"]["dockerImage"] == "img"


async def test_token_as_query_parameter(api: Api, jp_serverapp: Any) -> None:
    token = jp_serverapp.identity_provider.token
    code, data = await api.call("GET", "api/v1/experiment/ping", headers={"Authorization": ""}, params={"token": token})
    assert code == 200 and data["result"] == "Pong"


YAML_SPEC = """
meta:
  name: yaml-demo
  namespace: default
  framework: PyTorch
  cmd: echo from yaml
  envVars:
    ENV_1: "ENV1"
environment:
  image: apache/submarine:pytorch-dist-mnist-1.0
spec:
  Master:
    replicas: 1
    resources: cpu=0.1,memory=64M
  Worker:
    replicas: 1
    resources: cpu=0.1,memory=64M
"""


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # patches a running job, which Trainer v2 refuses (409: test_api_both_backends)
async def test_yaml_body(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", raw=YAML_SPEC, headers={"Content-Type": "application/yaml"})
    assert created["spec"]["meta"]["framework"] == "PyTorch"
    assert created["spec"]["spec"]["Master"] == {"replicas": 1, "resources": "cpu=0.1,memory=64M"}
    patched = await api.ok(
        "PATCH", f"api/v1/experiment/{created['experimentId']}",
        raw=YAML_SPEC.replace("cmd: echo from yaml", "cmd: echo patched"),
        headers={"Content-Type": "application/yaml; charset=utf-8"},
    )
    assert patched["meta"]["cmd"] == "echo patched"
    code, data = await api.call("POST", "api/v1/experiment", raw="meta: [unclosed", headers={"Content-Type": "application/yaml"})
    assert code == 400 and "not valid YAML" in data["message"]


async def test_environment_crud(api: Api) -> None:
    spec = {
        "name": "my-submarine-env",
        "dockerImage": "continuumio/anaconda3",
        "kernelSpec": {"name": "team_default_python_3.7", "channels": ["defaults"],
                       "condaDependencies": ["_ipyw_jlab_nb_ext_conf=0.1.0=py37_0"], "pipDependencies": []},
        "description": "the team's image",
    }
    created = await api.ok("POST", "api/v1/environment", spec)
    assert created["environmentSpec"] == spec
    assert created["environmentId"].startswith("environment_")
    code, data = await api.call("POST", "api/v1/environment", spec)
    assert code == 409 and "already exists" in data["message"]
    assert await api.ok("GET", "api/v1/environment") == [created]
    assert await api.ok("GET", "api/v1/environment/my-submarine-env") == created
    patched = await api.ok("PATCH", "api/v1/environment/my-submarine-env", {**spec, "dockerImage": "python:3.11"})
    assert patched["environmentSpec"]["dockerImage"] == "python:3.11"
    code, data = await api.call("PATCH", "api/v1/environment/my-submarine-env", {**spec, "name": "other"})
    assert code == 400 and "cannot rename" in data["message"]
    uses = await api.ok("POST", "api/v1/experiment", {**experiment(framework="PyTorch"),
                                                       "environment": {"name": "my-submarine-env"}})
    assert uses["spec"]["environment"] == {"name": "my-submarine-env"}
    assert (await api.ok("DELETE", "api/v1/environment/my-submarine-env"))["environmentId"] == created["environmentId"]
    assert await api.ok("GET", "api/v1/environment") == []


async def test_list_filters_by_status_case_insensitively(api: Api) -> None:
    done = await api.ok("POST", "api/v1/experiment", experiment("true", name="quick", framework="PyTorch"))
    await api.wait(done["experimentId"])
    running = await api.ok("POST", "api/v1/experiment", experiment("sleep 30", name="slow", framework="PyTorch"))
    await api.wait(running["experimentId"], ("Running",))
    for status, expected in (("running", [running]), ("RUNNING", [running]), ("Succeeded", [done]), ("failed", [])):
        listed = await api.ok("GET", "api/v1/experiment", params={"status": status})
        assert [e["experimentId"] for e in listed] == [e["experimentId"] for e in expected], status
