"""Experiments, statuses, times, logs and environments outlive the server; ids stay unique."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .conftest import Api, experiment
from .servers import JupyterProcess


def test_two_server_lifetimes_over_one_database(tmp_path: Path) -> None:
    first = JupyterProcess(tmp_path).start()
    try:
        ok = first.ok("POST", "/api/v1/experiment", experiment("echo persisted-output", name="keeps"))
        bad = first.ok("POST", "/api/v1/experiment", experiment("exit 7", name="fails"))
        env = first.ok("POST", "/api/v1/environment", {"name": "team-env", "dockerImage": "python:3.11"})
        before = [first.wait(ok["experimentId"]), first.wait(bad["experimentId"])]
        logs_before = first.ok("GET", f"/api/v1/experiment/logs/{ok['experimentId']}")
    finally:
        first.stop()

    second = JupyterProcess(tmp_path).start()
    try:
        after = second.ok("GET", "/api/v1/experiment")
        assert after == before
        assert [e["status"] for e in after] == ["Succeeded", "Failed"]
        assert "exit code 7" in after[1]["statusMessage"]
        assert second.ok("GET", f"/api/v1/experiment/logs/{ok['experimentId']}") == logs_before
        assert "persisted-output" in logs_before["logContent"][0]["podLog"]
        assert second.ok("GET", "/api/v1/environment") == [env]
        new = second.ok("POST", "/api/v1/experiment", experiment("true", name="later"))
        assert new["experimentId"] not in {ok["experimentId"], bad["experimentId"]}
        seqs = [int(e["experimentId"].rsplit("_", 1)[1]) for e in (ok, bad, new)]
        assert seqs == sorted(set(seqs))
        second.wait(new["experimentId"])
    finally:
        second.stop()


async def test_concurrent_requests_lose_no_write(api: Api) -> None:
    bodies = [experiment("true", name=f"burst-{i}") for i in range(25)]
    created = await asyncio.gather(*(api.ok("POST", "api/v1/experiment", body) for body in bodies))
    ids = [c["experimentId"] for c in created]
    assert len(set(ids)) == 25
    envs = await asyncio.gather(*(api.ok("POST", "api/v1/environment", {"name": f"env-{i}"}) for i in range(10)))
    assert len({e["environmentId"] for e in envs}) == 10
    listed = await api.ok("GET", "api/v1/experiment")
    assert sorted(e["experimentId"] for e in listed) == sorted(ids)
    finished = await asyncio.gather(*(api.wait(i) for i in ids))
    assert {f["status"] for f in finished} == {"Succeeded"}
    assert {f["name"] for f in finished} == {f"burst-{i}" for i in range(25)}
