"""Faults: what the server must survive without losing or corrupting what it acknowledged."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

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
