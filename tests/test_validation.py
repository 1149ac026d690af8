"""Bad input gets a 4xx envelope whose message names the field and the problem."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from .conftest import Api, experiment


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


GOOD = experiment("echo hi", roles={"Ps": 1, "Worker": 1})


def with_change(path: str, value: Any) -> dict[str, Any]:
    """GOOD with ``path`` (dotted) set to ``value``, or removed when value is ``...``."""
    body = copy.deepcopy(GOOD)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return body


CASES = [
    ("not json", b"{meta: nope", 400, ["body", "not valid JSON"]),
    ("a list", b"[1, 2]", 400, ["body", "must be an object"]),
    ("empty body", b"", 400, ["body", "empty"]),
    ("not utf-8", b"\xff\xfe", 400, ["body", "UTF-8"]),
    ("no meta", with_change("meta", ...), 400, ["meta", "required"]),
    ("no name", with_change("meta.name", ...), 400, ["meta.name", "required"]),
    ("no cmd", with_change("meta.cmd", ...), 400, ["meta.cmd", "required"]),
    ("empty cmd", with_change("meta.cmd", "  "), 400, ["meta.cmd", "must not be empty"]),
    ("no spec", with_change("spec", ...), 400, ["spec", "required"]),
    ("empty spec", with_change("spec", {}), 400, ["spec", "at least one role"]),
    ("unknown framework", with_change("meta.framework", "Caffe"), 400, ["meta.framework", "Caffe"]),
    ("framework not a string", with_change("meta.framework", 3), 400, ["meta.framework", "string"]),
    ("role of another framework", with_change("meta.framework", "PyTorch"), 400, ["spec.Ps", "PyTorch has no role 'Ps'"]),
    ("role in the wrong case", with_change("spec", {"worker": {"replicas": 1}}), 400, ["spec.worker", "no role 'worker'"]),
    ("cpu=abc", with_change("spec.Worker.resources", "cpu=abc"), 400, ["spec.Worker.resources", "cpu=abc", "not a quantity"]),
    ("memory=lots", with_change("spec.Worker.resources", "memory=lots"), 400, ["spec.Worker.resources", "memory=lots"]),
    ("unknown resource", with_change("spec.Worker.resources", "disk=1"), 400, ["spec.Worker.resources", "unknown resource 'disk'"]),
    ("resource not k=v", with_change("spec.Worker.resources", "cpu"), 400, ["spec.Worker.resources", "key=value"]),
    ("fractional gpu", with_change("spec.Worker.resources", "gpu=0.5"), 400, ["spec.Worker.resources", "whole number"]),
    ("huge exponent", with_change("spec.Worker.resources", "cpu=1e999999999"), 400, ["spec.Worker.resources", "exponent"]),
    ("zero replicas", with_change("spec.Worker.replicas", 0), 400, ["spec.Worker.replicas", "at least 1"]),
    ("negative replicas", with_change("spec.Worker.replicas", -2), 400, ["spec.Worker.replicas", "at least 1"]),
    ("replicas as a string", with_change("spec.Worker.replicas", "2"), 400, ["spec.Worker.replicas", "integer"]),
    ("replicas as a bool", with_change("spec.Worker.replicas", True), 400, ["spec.Worker.replicas", "integer"]),
    ("name not DNS-1123", with_change("meta.name", "My_Experiment"), 400, ["meta.name", "DNS-1123"]),
    ("name too long", with_change("meta.name", "a" * 64), 400, ["meta.name", "63"]),
    ("env var not a string", with_change("meta.envVars", {"A": 1}), 400, ["meta.envVars.A", "string"]),
    ("env var name with =", with_change("meta.envVars", {"A=B": "x"}), 400, ["meta.envVars", "'A=B' is not an environment variable name"]),
    ("empty env var name", with_change("spec.Worker.envVars", {"": "x"}), 400, ["spec.Worker.envVars", "is not an environment variable name"]),
    ("NUL in an env var", with_change("meta.envVars", {"A": "x\0y"}), 400, ["meta.envVars", "NUL"]),
    ("NUL in the command", with_change("meta.cmd", "echo \0"), 400, ["meta.cmd", "NUL"]),
    ("NUL in a role's command", with_change("spec.Worker.cmd", "echo \0"), 400, ["spec.Worker.cmd", "NUL"]),
    ("unknown field", with_change("meta.nmae", "x"), 400, ["meta.nmae", "not a known field"]),
    ("environment with neither", with_change("environment", {}), 400, ["environment", "either"]),
    ("unknown stored environment", with_change("environment", {"name": "nope"}), 404, ["Environment not found."]),
    ("environment name not valid", with_change("environment", {"name": "../x"}), 400, ["environment.name", "not a valid environment name"]),
    ("empty image", with_change("environment", {"image": " "}), 400, ["environment.image", "must not be empty"]),
]


@pytest.mark.parametrize(("body", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_experiment_is_refused_with_a_message(api: Api, body: Any, code: int, words: list[str]) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    for params in ({}, {"dryRun": "true"}):
        got, data = await api.call("POST", "api/v1/experiment", raw=raw, params=params)
        assert got == code, data
        assert data["code"] == code and data["success"] is None and data["result"] is None
        for word in words:
            assert word in data["message"], (word, data["message"])
    assert await api.ok("GET", "api/v1/experiment") == []


async def test_bad_patch_keeps_the_stored_spec(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", GOOD)
    path = f"api/v1/experiment/{created['experimentId']}"
    for body, word in (
        (with_change("spec.Worker.replicas", 0), "spec.Worker.replicas"),
        ({**with_change("meta.framework", "PyTorch"), "spec": {"Worker": {"replicas": 1}}}, "meta.framework"),
        (with_change("meta.namespace", "other"), "meta.namespace"),
    ):
        code, data = await api.call("PATCH", path, body)
        assert code == 400 and word in data["message"], data
    assert (await api.ok("GET", path))["spec"] == GOOD


@pytest.mark.parametrize(("method", "path", "code", "message"), [
    ("GET", "api/v1/experiment/experiment_1_0001", 404, "Not found experiment."),
    ("PATCH", "api/v1/experiment/experiment_1_0001", 404, "Not found experiment."),
    ("DELETE", "api/v1/experiment/experiment_1_0001", 404, "Not found experiment."),
    ("GET", "api/v1/experiment/logs/experiment_1_0001", 404, "Not found experiment."),
    ("GET", "api/v1/environment/nope", 404, "Environment not found."),
    ("DELETE", "api/v1/environment/nope", 404, "Environment not found."),
    ("PUT", "api/v1/experiment", 405, "Method Not Allowed"),
])
async def test_unknown_things_are_enveloped(api: Api, method: str, path: str, code: int, message: str) -> None:
    body = GOOD if method in ("PATCH", "PUT") else None
    got, data = await api.call(method, path, body)
    assert (got, data["code"], data["message"]) == (code, code, message)


async def test_bad_query_arguments(api: Api) -> None:
    code, data = await api.call("GET", "api/v1/experiment", params={"status": "sleeping"})
    assert code == 400 and "status: unknown status 'sleeping'" in data["message"]
    created = await api.ok("POST", "api/v1/experiment", GOOD)
    logs = f"api/v1/experiment/logs/{created['experimentId']}"
    for params, word in (({"tailLines": "-1"}, "tailLines"), ({"tailLines": "ten"}, "tailLines"),
                         ({"follow": "maybe"}, "follow"), ({"podName": "nope"}, "podName")):
        code, data = await api.call("GET", logs, params=params)
        assert code in (400, 404) and word in data["message"], data
    code, data = await api.call("POST", "api/v1/experiment", GOOD, params={"dryRun": "perhaps"})
    assert code == 400 and "dryRun" in data["message"]


ENV_CASES = [
    ({"dockerImage": "x"}, "name: is required"),
    ({"name": "bad name!"}, "not a valid environment name"),
    ({"name": "ok", "kernelSpec": {"pipDependencies": "numpy"}}, "kernelSpec.pipDependencies"),
]


@pytest.mark.parametrize(("body", "words"), ENV_CASES)
async def test_bad_environment(api: Api, body: dict[str, Any], words: str) -> None:
    code, data = await api.call("POST", "api/v1/environment", body)
    assert code == 400 and words in data["message"], data


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9)
)


@pytest.mark.parametrize(("raw", "content_type", "code", "words"), [
    ("[" * 100_000 + "]" * 100_000, "application/json", 400, ["body", "nested deeper than 32 levels"]),
    ('{"meta": ' * 40 + "1" + "}" * 40, "application/json", 400, ["body", "nested deeper than 32 levels"]),
    ("meta: " + "[" * 5_000 + "]" * 5_000, "application/yaml", 400, ["body", "nested deeper than 32 levels"]),
    (BOMB, "application/yaml", 400, ["body", "not valid YAML", "aliases"]),
    ("meta:\n  name: [unclosed", "application/yaml", 400, ["body", "not valid YAML"]),
    ('{"meta": "' + "x" * (1 << 20) + '"}', "application/json", 413, ["body", "larger than 1048576 bytes"]),
], ids=["deep JSON list", "deep JSON objects", "deep YAML", "YAML alias bomb", "truncated YAML", "oversized"])
async def test_bodies_are_bounded(api: Api, raw: str, content_type: str, code: int, words: list[str]) -> None:
    for method, path in (("POST", "api/v1/experiment"), ("POST", "api/v1/environment")):
        got, data = await api.call(method, path, raw=raw, headers={"Content-Type": content_type})
        assert got == code, (method, data)
        for word in words:
            assert word in data["message"], (word, data["message"])
    assert await api.ok("GET", "api/v1/experiment") == []
