"""Load: many clients at once on one real server process, on the same experiments."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .conftest import experiment
from .procs import new_marker, pids_with
from .servers import JupyterProcess

CREATES = 200
CLIENTS = 32


def test_concurrent_creates_patches_stops_and_deletes(tmp_path: Path) -> None:
    """200 creates at once, then PATCH, stop and DELETE racing on the same ids: exactly the
    expected experiments are left, ids are unique, every answer is a 200 or a refusal that
    says why (never a 5xx), no replica process outlives its experiment, and the database
    passes its integrity check."""
    marker = new_marker()
    server = JupyterProcess(tmp_path, "--LocalBackend.cpu_capacity=64", "--LocalBackend.memory_capacity=100Gi",
                            "--LocalBackend.grace_period=2").start()
    answers: list[tuple[str, int, Any]] = []

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        code, data = server.call(method, path, body)
        answers.append((f"{method} {path}", code, data))
        return code, data

    def spec(n: int, workers: int = 1) -> dict[str, Any]:
        return experiment("sleep 600", name=f"load-{n}", roles={"Worker": workers},
                          env={"SUBMARINE_TEST_MARKER": marker})

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            created = list(pool.map(lambda n: call("POST", "/api/v1/experiment", spec(n)), range(CREATES)))
        assert all(code == 200 for code, _ in created), [a for a in created if a[0] != 200][:3]
        ids = [data["result"]["experimentId"] for _, data in created]
        assert len(set(ids)) == CREATES
        deadline = time.monotonic() + 120
        while len(pids_with(marker)) < CREATES:  # every replica started: the races below meet running ones
            assert time.monotonic() < deadline, len(pids_with(marker))
            time.sleep(0.2)

        # a third stopped while patched twice; a third stopped and deleted; a third patched and deleted
        stopped, stop_deleted, patch_deleted = ids[0::3], ids[1::3], ids[2::3]
        races: list[tuple[str, str, Any]] = []
        for n, eid in enumerate(ids):
            patch = ("PATCH", f"/api/v1/experiment/{eid}", spec(n, workers=2))
            stop = ("POST", f"/api/v1/experiment/{eid}/stop", None)
            delete = ("DELETE", f"/api/v1/experiment/{eid}", None)
            races += {0: [patch, patch, stop], 1: [stop, delete], 2: [patch, delete]}[n % 3]
        with ThreadPoolExecutor(CLIENTS) as pool:
            raced = list(pool.map(lambda op: (op, call(*op)), races))
            pool.map(lambda _: call("GET", "/api/v1/experiment"), range(20))
        for (method, path, _), (code, data) in raced:
            assert code == 200 or (code in (404, 409) and data["message"]), (method, path, code, data)
        for eid in stopped:  # a stop is refused only once it has ended: then it was stopped already
            assert any(op[1] == f"/api/v1/experiment/{eid}/stop" and result[0] == 200 for op, result in raced), [(op[0], r) for op, r in raced if eid in op[1]]
        for (method, path, _), (code, _) in raced:
            if method == "DELETE":
                assert code == 200, path

        listed = server.ok("GET", "/api/v1/experiment")
        assert sorted(item["experimentId"] for item in listed) == sorted(stopped)
        assert all(item["status"] == "Stopped" for item in listed), {item["status"] for item in listed}
        for eid in stop_deleted + patch_deleted:
            assert server.call("GET", f"/api/v1/experiment/{eid}")[0] == 404
        deadline = time.monotonic() + 60
        while pids_with(marker):
            assert time.monotonic() < deadline, f"orphaned replicas: {pids_with(marker)[:10]}"
            time.sleep(0.2)
        assert not [a for a in answers if a[1] >= 500], [a for a in answers if a[1] >= 500][:3]
    finally:
        server.stop()
    with sqlite3.connect(server.state_dir / "submarine.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM experiments").fetchone()[0] == len(stopped)
