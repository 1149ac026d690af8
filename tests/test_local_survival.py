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


RUNS = 200


def test_readoption_runs_in_the_background_and_a_request_waits_for_its_own_run(tmp_path: Path) -> None:
    """The restarted server answers before its runs are re-adopted; a stop of the run whose
    turn comes last is served at once (its run re-adopted first), and every other run is
    re-adopted still running."""
    marker = new_marker()
    args = ("--LocalBackend.grace_period=2", "--LocalBackend.cpu_capacity=1000", "--LocalBackend.memory_capacity=1000Gi")
    first = JupyterProcess(tmp_path, *args).start()
    try:
        ids = [first.ok("POST", "/api/v1/experiment", experiment(
            "sleep 600", name=f"sleeper-{n}", env={"SUBMARINE_TEST_MARKER": marker}))["experimentId"]
            for n in range(RUNS)]
        for experiment_id in ids:
            first.wait(experiment_id, ("Running",))
    finally:
        first.kill9()

    second = JupyterProcess(tmp_path, *args).start(poll=0.005)
    try:
        stopped = second.ok("POST", f"/api/v1/experiment/{ids[-1]}/stop")
        assert stopped["status"] == "Stopped" and stopped["replicas"][0]["state"] == "Stopped"
        deadline = time.monotonic() + 30
        while second.log_text().count("re-adopted") < len(ids):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        log = second.log_text()
        assert log.index(f"re-adopted {ids[-1]}") < log.index(f"re-adopted {ids[-2]}"), "the stop waited for its run only"
        assert [second.ok("GET", f"/api/v1/experiment/{i}")["status"] for i in ids] == ["Running"] * (RUNS - 1) + ["Stopped"]
        assert len(groups_with(marker)) == RUNS - 1
        for experiment_id in ids:
            second.ok("DELETE", f"/api/v1/experiment/{experiment_id}")
        assert not pids_with(marker)
    finally:
        second.stop()
