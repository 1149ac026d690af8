"""Shared fixtures: an in-process Jupyter server with the extension, and a small API client."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .openapi_check import ResponseChecker

pytest_plugins = ("pytest_jupyter.jupyter_server", "tests.k8s.fixtures", "tests.kernel_helpers")

REPO = Path(__file__).resolve().parents[1]
TERMINAL = ("Succeeded", "Failed")


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs the test cluster (``cluster``) or Chromium (``browser``), so an
    edit-test loop can leave them out: ``scripts/test.sh -m "not cluster and not browser"``."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = set(getattr(item, "fixturenames", ()))
        if params.get("backend_config") in ("kubernetes", "trainer") or fixtures & {"kube_cluster", "kube_cluster_clean"}:
            item.add_marker(pytest.mark.cluster)
        if "ui" in item.path.relative_to(REPO / "tests").parts:
            item.add_marker(pytest.mark.browser)


def merged(*configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Traitlets configs (``{"LocalBackend": {...}, ...}``) merged class by class, later wins."""
    result: dict[str, dict[str, Any]] = {}
    for config in configs:
        for section, values in config.items():
            result[section] = {**result.get(section, {}), **values}
    return result


@pytest.fixture
def submarine_config() -> dict[str, dict[str, Any]]:
    """Extra settings for a test, by class (``SubmarineJupyter``, ``LocalBackend``,
    ``KubernetesBackend``); override in a module to change them."""
    return {}


#: Every backend a contract runs on: ``@THREE_BACKENDS`` on a test that holds on Kubeflow
#: Trainer v2 too (PyTorch and XGBoost only); a module's ``BACKENDS`` does it for all its tests.
ALL_BACKENDS = ("local", "kubernetes", "trainer")
THREE_BACKENDS = pytest.mark.parametrize("backend_config", ALL_BACKENDS, indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test of a module with ``BACKENDS = ALL_BACKENDS`` on those backends (a test's
    own ``backend_config`` parametrization wins), as if it were marked ``@THREE_BACKENDS``."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    marked = any("backend_config" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize"))
    if backends and "backend_config" in metafunc.fixturenames and not marked:
        metafunc.definition.add_marker(pytest.mark.parametrize("backend_config", backends, indirect=True))


@pytest.fixture(params=["local", "kubernetes"])
def backend_config(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Settings that put the server on one backend: a test whose ``submarine_config`` uses
    this runs once per backend (Kubernetes: the test cluster, cleaned after the test, with a
    default image as an administrator would set, so specs without one run as they do locally;
    ``trainer``: the same cluster through Kubeflow Trainer v2 TrainJobs)."""
    if request.param == "local":
        return {"SubmarineJupyter": {"backend": "local"}}
    cluster = request.getfixturevalue("kube_cluster_clean")
    settings: dict[str, Any] = {"kubeconfig": str(cluster.kubeconfig), "context": cluster.context,
                                "backoff_limit": 0, "default_image": "python:3.11-slim"}
    if request.param == "trainer":
        settings["api"] = "trainer"
    return {"SubmarineJupyter": {"backend": "kubernetes"}, "KubernetesBackend": settings}


@pytest.fixture
def jp_server_config(work_dir: Path, tmp_path: Path, submarine_config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    settings = merged(
        {"SubmarineJupyter": {"state_dir": str(tmp_path / "state")},
         "LocalBackend": {"working_dir": str(work_dir), "grace_period": 3.0}},
        submarine_config,
    )
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab": True, "submarine_jupyter": True}},
        **settings,
        "LabServerApp": {
            "extra_labextensions_path": [os.path.join(sys.prefix, "share", "jupyter", "labextensions")]
        },
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }


@pytest.fixture
def response_checker(jp_base_url: str) -> ResponseChecker:
    """Checks every answer of the in-process server against the OpenAPI document."""
    return ResponseChecker(jp_base_url)


@pytest.fixture
def jp_serverapp(jp_serverapp: Any, response_checker: ResponseChecker) -> Any:
    """pytest-jupyter's server, each of its API answers validated against the OpenAPI
    document; a test whose server sent an undocumented answer fails."""
    response_checker.install(jp_serverapp.web_app)
    yield jp_serverapp
    assert not response_checker.problems, "answers that do not match the OpenAPI document:\n" + "\n".join(
        response_checker.problems
    )


class Api:
    """Calls the REST API of the in-process server; returns (HTTP code, decoded body)."""

    def __init__(self, fetch: Callable[..., Awaitable[Any]], base: str = "", token: str = "") -> None:
        self._fetch = fetch
        self.base = base
        self.token = token

    async def follow(
        self, experiment_id: str, on_line: Callable[[dict[str, str]], None] | None = None,
        timeout: float = 120, **params: str,
    ) -> list[dict[str, str]]:
        """Stream ``logs/{id}?follow=true`` and return every ``{podName, line}`` it sent."""
        received: list[dict[str, str]] = []
        pending = b""

        def chunk(data: bytes) -> None:
            nonlocal pending
            *lines, pending = (pending + data).split(b"\n")
            for raw in lines:
                item = json.loads(raw)
                received.append(item)
                if on_line:
                    on_line(item)

        query = urlencode({"follow": "true", **params})
        await AsyncHTTPClient().fetch(
            f"{self.base}api/v1/experiment/logs/{experiment_id}?{query}",
            headers={"Authorization": f"token {self.token}"},
            streaming_callback=chunk, request_timeout=timeout,
        )
        assert pending == b""
        return received

    async def call(
        self, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None,
        headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "headers": headers or {}}
        if params:
            kwargs["params"] = params
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = ""
        try:
            response = await self._fetch(*path.strip("/").split("/"), **kwargs)
        except HTTPClientError as error:
            if error.response is None:  # no answer at all (a timeout): nothing to return
                raise
            response = error.response
        text = response.body.decode()
        try:
            return response.code, json.loads(text)
        except json.JSONDecodeError:
            return response.code, text

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        code, data = await self.call(method, path, body, **kwargs)
        assert code == 200, (code, data)
        assert data["success"] is True and data["code"] == 200, data
        return data["result"]

    async def wait(self, experiment_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 60) -> dict[str, Any]:
        """Poll until the experiment reaches one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            experiment = await self.ok("GET", f"api/v1/experiment/{experiment_id}")
            if experiment["status"] in statuses:
                return experiment
            assert time.monotonic() < deadline, f"still {experiment['status']}: {experiment}"
            await asyncio.sleep(0.1)

    async def complete_metrics(self, experiment_id: str, timeout: float = 60, **params: str) -> dict[str, Any]:
        """The experiment's metrics once the server says they are complete (``collecting`` false)."""
        deadline = time.monotonic() + timeout
        while True:
            answer: dict[str, Any] = await self.ok("GET", f"api/v1/experiment/{experiment_id}/metrics", params=params)
            if not answer["collecting"]:
                return answer
            assert time.monotonic() < deadline, f"still collecting: {answer}"
            await asyncio.sleep(0.1)

    async def log_of(self, experiment_id: str, pod: str) -> str:
        result = await self.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"podName": pod})
        return result["logContent"][0]["podLog"] or ""


@pytest.fixture
def api(
    jp_fetch: Callable[..., Awaitable[Any]], jp_serverapp: Any, jp_asyncio_loop: Any,
    jp_http_port: int, jp_base_url: str,
) -> Any:
    """The API client; afterwards, deletes what is still running so no process outlives a test."""
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    yield Api(jp_fetch, base, jp_serverapp.identity_provider.token)
    service = jp_serverapp.web_app.settings["submarine"].experiments

    async def cleanup() -> None:
        for item in await service.list_experiments():
            if item.status not in TERMINAL:
                await service.delete(item.experiment_id)

    jp_asyncio_loop.run_until_complete(cleanup())


def experiment(
    cmd: str = "echo hello", *, name: str = "demo", framework: str = "TensorFlow",
    roles: dict[str, int] | None = None, env: dict[str, str] | None = None, **extra: Any,
) -> dict[str, Any]:
    """A valid experiment spec for tests."""
    return {
        "meta": {"name": name, "namespace": "default", "framework": framework, "cmd": cmd,
                 "envVars": env or {}},
        "environment": {"image": "apache/submarine:test"},
        "spec": {role: {"replicas": n, "resources": "cpu=0.1,memory=64M"} for role, n in (roles or {"Worker": 1}).items()},
        **extra,
    }
