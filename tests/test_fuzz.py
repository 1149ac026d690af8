"""Generated bad input, from the OpenAPI document: every route and method, its query and
path parameters and its bodies, valid and mutated (Schemathesis). Every answer must be a
documented 2xx or a 4xx envelope matching the document: never a 5xx, a traceback, an
undocumented status or a hang; afterwards what was stored before reads back unchanged.

Bounded for CI: ``SUBMARINE_FUZZ_EXAMPLES`` examples per operation and mode (default 20;
e.g. 500 for a long run) and ``SUBMARINE_FUZZ_SECONDS`` per request before it counts as a
hang. Commands the generated experiments would run are replaced with ``true``: what is
fuzzed is the API, not this machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from submarine_jupyter.wire.openapi import document

from .servers import TOKEN, JupyterProcess

EXAMPLES = int(os.environ.get("SUBMARINE_FUZZ_EXAMPLES", "20"))
SECONDS = float(os.environ.get("SUBMARINE_FUZZ_SECONDS", "10"))
HEADERS = {"Authorization": f"token {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]

SCHEMA = schemathesis.openapi.from_dict(document())
SCHEMA.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, deterministic=True,
)


@SCHEMA.hook
def map_body(context: Any, body: Any) -> Any:
    """A generated experiment runs ``true``: its command is not this test's to run."""
    if isinstance(body, dict) and isinstance(body.get("meta"), dict) and isinstance(body["meta"].get("cmd"), str):
        body["meta"]["cmd"] = "true"
        for task in (body.get("spec") or {}).values() if isinstance(body.get("spec"), dict) else ():
            if isinstance(task, dict) and isinstance(task.get("cmd"), str):
                task["cmd"] = "true"
    return body


def seed(server: JupyterProcess) -> dict[str, Any]:
    """What is stored before the fuzzing, to be read back unchanged after it."""
    server.ok("POST", "/api/v1/environment", {"name": "kept-env", "dockerImage": "python:3.11"})
    created = server.ok("POST", "/api/v1/experiment", {
        "meta": {"name": "kept", "framework": "PyTorch", "cmd": "echo kept-output"},
        "spec": {"Master": {"replicas": 1}}})
    server.wait(created["experimentId"])
    return {
        "experiment": server.ok("GET", f"/api/v1/experiment/{created['experimentId']}"),
        "environment": server.ok("GET", "/api/v1/environment/kept-env"),
        "logs": server.ok("GET", f"/api/v1/experiment/logs/{created['experimentId']}"),
    }


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterProcess, dict[str, Any]]]:
    server = JupyterProcess(Path(tmp_path_factory.mktemp("fuzz")), "--LocalBackend.cpu_capacity=2",
                            "--LocalBackend.grace_period=1").start()
    try:
        yield server, seed(server)
    finally:
        server.stop()


@SCHEMA.parametrize()
def test_generated_requests_get_documented_answers(case: schemathesis.Case, fuzzed: Any) -> None:
    server, _ = fuzzed
    response = case.call(base_url=server.url, headers=HEADERS, timeout=SECONDS)
    case.validate_response(response, checks=CHECKS, headers=HEADERS)


def test_what_was_stored_before_reads_back_unchanged(fuzzed: Any) -> None:
    server, before = fuzzed
    experiment_id = before["experiment"]["experimentId"]
    assert server.ok("GET", f"/api/v1/experiment/{experiment_id}") == before["experiment"]
    assert server.ok("GET", "/api/v1/environment/kept-env") == before["environment"]
    assert server.ok("GET", f"/api/v1/experiment/logs/{experiment_id}") == before["logs"]
    log = server.log_text()
    assert "Uncaught exception" not in log and "Traceback" not in log, log[-3000:]
