"""Faults: what the server must survive without losing or corrupting what it acknowledged."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from jsonschema import Draft202012Validator
from tornado.httpclient import HTTPClientError

from submarine_jupyter.wire.openapi import document

from .conftest import experiment
from .servers import JupyterProcess


def experiment_schema() -> Draft202012Validator:
    doc = document()
    return Draft202012Validator({"$ref": "#/components/schemas/Experiment", "components": doc["components"]})


def test_kill_9_in_the_middle_of_creates_and_patches(tmp_path: Path) -> None:
    """Every acknowledged write is there after a restart; nothing is half-written."""
    server = JupyterProcess(tmp_path, "--LocalBackend.cpu_capacity=64").start()
    target = server.ok("POST", "/api/v1/experiment", experiment("sleep 60", name="patched", roles={"Worker": 1}))
    created: list[dict[str, Any]] = []
    patched: list[int] = []  # replica counts PATCH acknowledged, in order
    sent: list[int] = []  # every count a PATCH was sent with
    lock, stop = threading.Lock(), threading.Event()

    def create(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                code, data = server.call("POST", "/api/v1/experiment", experiment("true", name=f"w{worker}-{n}"))
            except OSError:
                return
            if code == 200:
                with lock:
                    created.append(data["result"])

    def patch() -> None:
        n = 1
        while not stop.is_set():
            n += 1
            with lock:
                sent.append(n)
            try:
                code, _ = server.call("PATCH", f"/api/v1/experiment/{target['experimentId']}",
                                      experiment("sleep 60", name="patched", roles={"Worker": n}))
            except OSError:
                return
            if code == 200:
                with lock:
                    patched.append(n)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)] + [threading.Thread(target=patch)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while (len(created) < 20 or len(patched) < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(created) >= 20 and len(patched) >= 3, (len(created), len(patched))

    db = tmp_path / "state" / "submarine.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = JupyterProcess(tmp_path).start()
    try:
        listed = {e["experimentId"]: e for e in again.ok("GET", "/api/v1/experiment")}
        validator = experiment_schema()
        for item in listed.values():
            assert not list(validator.iter_errors(item)), item
        for acknowledged in created:
            assert acknowledged["experimentId"] in listed, acknowledged["experimentId"]
            assert listed[acknowledged["experimentId"]]["spec"] == acknowledged["spec"]
        assert len({e["experimentId"] for e in created}) == len(created)
        workers = listed[target["experimentId"]]["spec"]["spec"]["Worker"]["replicas"]
        assert workers >= patched[-1] and workers in sent, (workers, patched[-1])
        again.ok("DELETE", f"/api/v1/experiment/{target['experimentId']}")
    finally:
        again.stop()


@pytest.fixture
def submarine_config() -> dict[str, dict[str, Any]]:
    return {"SubmarineJupyter": {"db_busy_timeout": 0.5}}


async def test_database_locked_by_another_writer(api: Any, tmp_path: Path) -> None:
    """A write that finds the database locked past the busy timeout is refused with a 503
    envelope and changes nothing; reads go on; a status reported meanwhile is kept and
    written once the lock is gone; nothing is corrupted."""
    done = await api.ok("POST", "api/v1/experiment", experiment("true", name="done"))
    await api.wait(done["experimentId"])
    running = await api.ok("POST", "api/v1/experiment", experiment("sleep 1", name="running"))
    await api.wait(running["experimentId"], ("Running",))

    other = sqlite3.connect(tmp_path / "state" / "submarine.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        for method, path, body in (
            ("POST", "api/v1/experiment", experiment("true", name="refused")),
            ("PATCH", f"api/v1/experiment/{done['experimentId']}", experiment("true", name="renamed")),
            ("DELETE", f"api/v1/experiment/{done['experimentId']}", None),
            ("POST", "api/v1/environment", {"name": "env-refused", "dockerImage": "python:3.11"}),
        ):
            code, answer = await api.call(method, path, body)
            assert code == 503, (method, path, code, answer)
            assert answer["code"] == 503 and answer["success"] is None, answer
            assert "locked by another process" in answer["message"] and "nothing was changed" in answer["message"]
        assert time.monotonic() - started < 20, "each refusal waits about the busy timeout, not for the lock"
        listed = await api.ok("GET", "api/v1/experiment")
        assert [item["name"] for item in listed] == ["done", "running"]
        await asyncio.sleep(2)  # "running" ends meanwhile: its status cannot be written yet
        assert (await api.ok("GET", f"api/v1/experiment/{running['experimentId']}"))["status"] == "Running"
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert (await api.wait(running["experimentId"]))["status"] == "Succeeded"
    created = await api.ok("POST", "api/v1/experiment", experiment("true", name="after"))
    listed = await api.ok("GET", "api/v1/experiment")
    assert [item["name"] for item in listed] == ["done", "running", "after"]
    assert (await api.ok("GET", f"api/v1/experiment/{done['experimentId']}"))["spec"] == done["spec"]
    assert await api.call("GET", "api/v1/environment/env-refused") == (404, ANY)
    await api.wait(created["experimentId"])
    with sqlite3.connect(tmp_path / "state" / "submarine.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_refusal_for_a_locked_database_says_when_to_try_again(
    jp_fetch: Any, api: Any, tmp_path: Path
) -> None:
    await api.ok("GET", "api/v1/experiment")
    other = sqlite3.connect(tmp_path / "state" / "submarine.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("api", "v1", "experiment", method="POST", body=json.dumps(experiment("true")))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert refused.value.code == 503
    assert refused.value.response is not None and refused.value.response.headers["Retry-After"] == "1"


def test_a_second_server_on_the_same_state_refuses_to_start(tmp_path: Path) -> None:
    first = JupyterProcess(tmp_path / "first").start()
    try:
        running = first.ok("POST", "/api/v1/experiment", experiment("sleep 60", name="supervised"))
        second = JupyterProcess(tmp_path / "second", state_dir=first.state_dir)
        with pytest.raises(RuntimeError, match="server did not start"):
            second.start(timeout=30)
        assert second.process is not None and second.process.wait(10) != 0
        assert (f"another Jupyter server (pid {first.process.pid if first.process else '?'}) is already running the "
                f"experiments of {first.state_dir}") in second.log_text()
        assert first.ok("GET", f"/api/v1/experiment/{running['experimentId']}")["status"] == "Running"
        first.kill9()  # the kernel lets the lock go with the process: a later server takes over
        again = JupyterProcess(tmp_path / "again", state_dir=first.state_dir)
        again.start()
        try:
            assert again.ok("GET", f"/api/v1/experiment/{running['experimentId']}")["status"] == "Running"
            again.ok("DELETE", f"/api/v1/experiment/{running['experimentId']}")
        finally:
            again.stop()
    finally:
        first.stop()
