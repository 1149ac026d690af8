"""Metric collection survives restarts of a real ``jupyter server``: a clean stop and a
``kill -9`` while a replica prints metrics and writes TensorBoard scalars; the next server
resumes where the last stored batch ended, so every point is there exactly once."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from .servers import JupyterProcess

if os.environ.get("CI") != "true":
    pytest.importorskip("torch.utils.tensorboard", reason="install the test extra: pip install -e '.[test]'")

PRINTER = textwrap.dedent("""
    import os, sys, time, pathlib
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(os.environ["SUBMARINE_TENSORBOARD_LOG_DIR"])
    stop, done = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    step = 0
    while not stop.exists():
        step += 1
        print(f"step={step} loss={1 / step}", flush=True)
        writer.add_scalar("loss", 1 / step, step)
        writer.flush()
        time.sleep(0.01)
    writer.close()
    done.write_text(str(step))
""")


def counts(server: JupyterProcess, experiment_id: str) -> dict[str, int]:
    series = server.ok("GET", f"/api/v1/experiment/{experiment_id}/metrics?maxPoints=2")["series"]
    return {s["source"]: s["count"] for s in series}


def wait_for(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_collection_resumes_after_restarts_without_duplicates(tmp_path: Path) -> None:
    script, stop, done = tmp_path / "printer.py", tmp_path / "stop", tmp_path / "done"
    script.write_text(PRINTER)
    server = JupyterProcess(tmp_path / "home").start()
    try:
        spec = {"meta": {"name": "resumed", "framework": "PyTorch", "cmd": f"{sys.executable} {script} {stop} {done}"},
                "spec": {"Worker": {"replicas": 1}}}
        experiment_id = server.ok("POST", "/api/v1/experiment", spec)["experimentId"]
        wait_for(lambda: min(counts(server, experiment_id).values() or [0]) >= 20 and len(counts(server, experiment_id)) == 2)
        server.stop()  # a clean stop: collectors cancelled mid-stream
        server.start()
        seen = counts(server, experiment_id)["log"]
        wait_for(lambda: counts(server, experiment_id)["log"] >= seen + 50)
        server.kill9()  # while lines are written and batches stored
        time.sleep(1)  # the replica goes on printing while no server runs
        server.start()
        wait_for(lambda: counts(server, experiment_id)["log"] >= seen + 150)
        stop.touch()
        assert server.wait(experiment_id)["status"] == "Succeeded"
        wait_for(done.exists)
        steps = int(done.read_text())
        wait_for(lambda: counts(server, experiment_id) == {"log": steps, "tensorboard": steps})
        answer = server.ok("GET", f"/api/v1/experiment/{experiment_id}/metrics?maxPoints=10000")
        for series in answer["series"]:
            assert series["steps"] == list(range(1, steps + 1)), series["source"]
            assert series["values"] == pytest.approx([1 / s for s in range(1, steps + 1)], rel=1e-6)
    finally:
        stop.touch()
        server.stop()
