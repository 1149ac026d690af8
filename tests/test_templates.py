"""Submarine's experiment templates: its own test template, each route, each refusal, on both backends."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from .conftest import ALL_BACKENDS, Api

# Submarine's test template (server-core/src/test/resources/experimentTemplate/test_template_1.json):
# numbers and booleans where its JSON has them, the image replaced by one this suite runs.
SUBMARINE_TEMPLATE: dict[str, Any] = {
    "name": "tf-mnist-test_1",
    "author": "test_author_1",
    "description": "This is a test template to run tf-mnist\n",
    "parameters": [
        {"name": "training.learning_rate", "value": 0.1, "required": True, "description": " mnist learning_rate "},
        {"name": "training.batch_size", "value": 150, "required": False,
         "description": "This is batch size of training"},
    ],
    "experimentSpec": {
        "meta": {
            "cmd": "echo --learning_rate={{training.learning_rate}} --batch_size={{training.batch_size}}",
            "name": "tf-mnist-template-test1", "envVars": {"ENV1": "ENV1"}, "framework": "TensorFlow",
            "namespace": "default",
        },
        "spec": {"Ps": {"replicas": 1, "resources": "cpu=0.1,memory=64M"},
                 "Worker": {"replicas": 1, "resources": "cpu=0.1,memory=64M"}},
        "environment": {"image": "python:3.11-slim"},
    },
}
ROLE_PARAMETERS = [
    ("spec.Ps.replicas", "1"), ("spec.Ps.resourceMap.cpu", "0.1"), ("spec.Ps.resourceMap.memory", "64M"),
    ("spec.Worker.replicas", "1"), ("spec.Worker.resourceMap.cpu", "0.1"), ("spec.Worker.resourceMap.memory", "64M"),
]


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


def changed(path: str, value: Any) -> dict[str, Any]:
    """SUBMARINE_TEMPLATE with ``path`` (dotted) set to ``value``."""
    template = copy.deepcopy(SUBMARINE_TEMPLATE)
    *parents, leaf = path.split(".")
    node = template
    for key in parents:
        node = node[key]
    node[leaf] = value
    return template


async def test_create_list_get_patch_delete(api: Api) -> None:
    created = await api.ok("POST", "api/v1/template", SUBMARINE_TEMPLATE)
    assert re.fullmatch(r"experimentTemplate_\d{13}_\d{4,}", created["experimentTemplateId"]), created
    spec = created["experimentTemplateSpec"]
    assert spec["name"] == "tf-mnist-test_1" and spec["experimentSpec"] == SUBMARINE_TEMPLATE["experimentSpec"]
    assert [(p["name"], p["value"]) for p in spec["parameters"]] == [
        ("training.learning_rate", "0.1"), ("training.batch_size", "150"), *ROLE_PARAMETERS]
    assert await api.ok("GET", "api/v1/template") == [created]
    assert await api.ok("GET", "api/v1/template/tf-mnist-test_1") == created
    code, data = await api.call("POST", "api/v1/template", SUBMARINE_TEMPLATE)
    assert (code, data["message"]) == (409, "name: template 'tf-mnist-test_1' already exists")
    updated = await api.ok("PATCH", "api/v1/template/tf-mnist-test_1", changed("description", "newdescription"))
    assert updated["experimentTemplateSpec"]["description"] == "newdescription"
    assert updated["experimentTemplateId"] == created["experimentTemplateId"]
    assert (await api.ok("DELETE", "api/v1/template/tf-mnist-test_1"))["experimentTemplateSpec"]["name"] == "tf-mnist-test_1"
    for method in ("GET", "DELETE"):
        code, data = await api.call(method, "api/v1/template/tf-mnist-test_1")
        assert (code, data["message"]) == (404, "ExperimentTemplate not found.")
    assert await api.ok("GET", "api/v1/template") == []


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # TensorFlow: Trainer v2 has no runtime for it
async def test_submit_with_and_without_params(api: Api) -> None:
    await api.ok("POST", "api/v1/template", SUBMARINE_TEMPLATE)
    experiment = await api.ok("POST", "api/v1/experiment/tf-mnist-test_1", {"params": {"training.learning_rate": 0.2}})
    assert experiment["template"] == "tf-mnist-test_1"
    meta = experiment["spec"]["meta"]
    assert meta["cmd"] == "echo --learning_rate=0.2 --batch_size=150" and meta["name"] == "tf-mnist-template-test1"
    assert experiment["spec"]["spec"] == SUBMARINE_TEMPLATE["experimentSpec"]["spec"]
    done = await api.wait(experiment["experimentId"], timeout=90)
    assert done["status"] == "Succeeded", done
    # the per-role parameters Submarine adds: replicas and the resources' cpu and memory
    resized = await api.ok("POST", "api/v1/experiment/tf-mnist-test_1", {"params": {
        "training.learning_rate": "0.3", "training.batch_size": "64", "spec.Worker.replicas": "2",
        "spec.Worker.resourceMap.memory": "128M"}})
    assert resized["spec"]["meta"]["cmd"] == "echo --learning_rate=0.3 --batch_size=64"
    assert resized["spec"]["spec"]["Worker"] == {"replicas": 2, "resources": "cpu=0.1,memory=128M"}
    # without params: the required one is missing
    code, data = await api.call("POST", "api/v1/experiment/tf-mnist-test_1", {"params": {}})
    assert (code, data["message"]) == (400, "Template contains unmapped value: "
                                            "['meta.cmd:training.learning_rate', 'training.learning_rate']")


REFUSALS = [
    ("illegal key", {"params": {"training.learning_rate": "0.1", "nope": "1"}}, 400,
     "Parameters contains illegal key: ['nope']"),
    ("missing required", {"params": {"training.batch_size": "8"}}, 400,
     "Template contains unmapped value: ['meta.cmd:training.learning_rate', 'training.learning_rate']"),
    ("replicas not a number", {"params": {"training.learning_rate": "0.1", "spec.Worker.replicas": "two"}}, 400,
     "spec.Worker.replicas: 'two' is not a whole number"),
    ("no params object", {"parameters": {}}, 400, "parameters: is not a known field"),
    ("a resulting spec the server refuses", {"params": {"training.learning_rate": "0.1", "spec.Ps.resourceMap.cpu": "abc"}},
     400, "Invalid experiment spec: spec.Ps.resources"),
]


@pytest.mark.parametrize(("body", "code", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_submissions_refused_with_the_keys(api: Api, body: Any, code: int, message: str) -> None:
    await api.ok("POST", "api/v1/template", SUBMARINE_TEMPLATE)
    got, data = await api.call("POST", "api/v1/experiment/tf-mnist-test_1", body)
    assert got == code and message in data["message"], data
    assert await api.ok("GET", "api/v1/experiment") == []


REGISTRATION_REFUSALS = [
    ("unused key", changed("parameters", [*SUBMARINE_TEMPLATE["parameters"], {"name": "unused", "value": "1"}]),
     "Parameters contains unused key: ['unused']"),
    ("unmapped value", changed("experimentSpec.meta.cmd", "echo {{missing}} {{training.learning_rate}} "
                                                          "{{training.batch_size}}"),
     "Template contains unmapped value: ['meta.cmd:missing']"),
    ("bad name", changed("name", "no spaces allowed"), "Invalid template spec: name"),
    ("no spec", {k: v for k, v in SUBMARINE_TEMPLATE.items() if k != "experimentSpec"},
     "Invalid template spec: experimentSpec: is required"),
]


@pytest.mark.parametrize(("body", "message"), [r[1:] for r in REGISTRATION_REFUSALS], ids=[r[0] for r in REGISTRATION_REFUSALS])
async def test_templates_refused_at_registration(api: Api, body: Any, message: str) -> None:
    code, data = await api.call("POST", "api/v1/template", body)
    assert code == 400 and message in data["message"], data
    assert await api.ok("GET", "api/v1/template") == []


async def test_submitting_an_unknown_template(api: Api) -> None:
    code, data = await api.call("POST", "api/v1/experiment/nope", {"params": {}})
    assert (code, data["message"]) == (404, "ExperimentTemplate not found.")
