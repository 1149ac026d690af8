"""Replicas outlive a killed server; the next server re-adopts them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .conftest import experiment
from .procs import groups_with, new_marker, pids_with
from .servers import JupyterProcess


def test_kill_9_then_readopt_follow_and_delete(tmp_path: Path) -> None:
    marker = new_marker()
    env = {"SUBMARINE_TEST_MARKER": marker}
    first = JupyterProcess(tmp_path, "--LocalBackend.grace_period=2").start()
    try:
        long = first.ok("POST", "/api/v1/experiment", experiment(
            "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done", name="long", roles={"Worker": 2}, env=env))
        short = first.ok("POST", "/api/v1/experiment", experiment("sleep 2; echo bye; exit 4", name="short", env=env))
        ok = first.ok("POST", "/api/v1/experiment", experiment("sleep 2; echo fine", name="fine", env=env))
        for item in (long, short, ok):
            first.wait(item["experimentId"], ("Running",))
        groups = groups_with(marker)
        assert len(groups) == 4  # one process group per replica
    finally:
        first.kill9()

    assert groups_with(marker) == groups, "replicas must outlive the killed server"
    time.sleep(2.5)  # short and ok end while no server watches them

    second = JupyterProcess(tmp_path, "--LocalBackend.grace_period=2").start()
    try:
        assert "re-adopted" in second.log_text()
        assert second.ok("GET", f"/api/v1/experiment/{long['experimentId']}")["status"] == "Running"
        failed = second.wait(short["experimentId"])
        assert failed["status"] == "Failed" and "exit code 4" in failed["statusMessage"]
        assert failed["replicas"][0]["exitCode"] == 4
        assert second.wait(ok["experimentId"])["status"] == "Succeeded"

        worker = long["experimentId"].replace("_", "-") + "-worker-1"
        before = second.ok("GET", f"/api/v1/experiment/logs/{long['experimentId']}?podName={worker}")
        count = before["logContent"][0]["podLog"].count("tick-")
        time.sleep(1)
        after = second.ok("GET", f"/api/v1/experiment/logs/{long['experimentId']}?podName={worker}")
        assert after["logContent"][0]["podLog"].count("tick-") > count, "log keeps growing after re-adoption"

        assert second.ok("DELETE", f"/api/v1/experiment/{long['experimentId']}")["status"] == "Deleted"
        assert pids_with(marker) == []
    finally:
        second.stop()
        for group in groups_with(marker):
            os.killpg(group, 9)
