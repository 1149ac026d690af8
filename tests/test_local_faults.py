"""Faults of the local backend: replicas killed by signals, processes that cannot start,
output without end, and a log folder that is full or read-only."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.server.backends.local import processes

from .conftest import Api, experiment

LOG_LIMIT = 200_000  # the experiments' logs in all, in the runaway tests
TAIL = LOG_LIMIT // 4  # what is kept of a limited log's end (a quarter of the limit, under 64 KiB)


@pytest.fixture
def log_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs for the replicas' logs (the database stays on the test's own disk)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.fail(f"these tests mount a small tmpfs (as root on this machine kind): {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def submarine_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, dict[str, Any]]:
    if "log_disk" in request.fixturenames:
        return {"LocalBackend": {"log_dir": str(request.getfixturevalue("log_disk"))}}
    return {"LocalBackend": {"max_log_bytes": LOG_LIMIT}}


def worker_of(experiment_id: str) -> str:
    return experiment_id.replace("_", "-") + "-worker-0"


async def wait_for_log(api: Api, experiment_id: str, text: str, timeout: float = 30) -> str:
    async def seen() -> str:
        while text not in (log := await api.log_of(experiment_id, worker_of(experiment_id))):
            await asyncio.sleep(0.05)
        return log

    return await asyncio.wait_for(seen(), timeout)


async def test_a_replica_killed_by_a_signal_fails_naming_the_signal(api: Api) -> None:
    """As the kernel's OOM killer would: SIGKILL from outside."""
    created = await api.ok("POST", "api/v1/experiment", experiment(
        "python -c 'import os, time; print(\"pid\", os.getpid(), flush=True); time.sleep(60)'", name="oom"))
    pid = int((await wait_for_log(api, created["experimentId"], "pid ")).split()[1])
    os.kill(pid, signal.SIGKILL)
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Failed"
    assert f"replica {worker_of(created['experimentId'])} was killed by SIGKILL (exit code 137)" in done["statusMessage"]
    assert done["replicas"][0]["exitCode"] == 137


async def test_a_replica_that_crashes_names_its_signal(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment(
        "python -c 'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)'", name="segv"))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Failed"
    assert "was killed by SIGSEGV (exit code 139)" in done["statusMessage"], done["statusMessage"]


async def test_an_exit_code_above_128_without_a_signal_of_that_number_is_an_exit_code(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("exit 200", name="odd"))
    done = await api.wait(created["experimentId"])
    assert "failed with exit code 200" in done["statusMessage"]


@pytest.mark.parametrize("where", ["cmd", "env"])
async def test_text_no_process_can_be_given_is_refused_naming_the_field(api: Api, where: str) -> None:
    spec = experiment("echo \ud800") if where == "cmd" else experiment("true", env={"TOKEN": "a\ud800b"})
    code, answer = await api.call("POST", "api/v1/experiment", spec)
    assert code == 400, answer
    fields = [problem["field"] for problem in answer["attributes"]["fieldErrors"]]
    assert fields == (["meta.cmd"] if where == "cmd" else ["meta.envVars"]), answer
    assert "lone surrogate" in answer["message"]
    assert await api.ok("GET", "api/v1/experiment") == []


async def test_a_process_that_cannot_be_started_fails_its_experiment(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever ``spawn`` raises (an OSError or a ValueError) ends in a clear failure, with
    the run's resources given back, never an experiment stuck in Created."""
    real = processes.spawn

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("embedded null byte")

    monkeypatch.setattr(processes, "spawn", refuse)
    created = await api.ok("POST", "api/v1/experiment", experiment("true", name="unstartable"))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Failed"
    assert f"replica {worker_of(created['experimentId'])}" in done["statusMessage"]
    assert "could not start: embedded null byte" in done["statusMessage"]
    monkeypatch.setattr(processes, "spawn", real)
    after = await api.ok("POST", "api/v1/experiment", experiment("true", name="after"))
    assert (await api.wait(after["experimentId"]))["status"] == "Succeeded"


async def test_a_runaway_log_is_capped_with_a_marker_and_keeps_its_end(api: Api) -> None:
    lines = 200_000  # about 2.3 MB, over ten times the limit
    created = await api.ok("POST", "api/v1/experiment", experiment(
        f"python -c 'import sys\nfor i in range({lines}): print(\"line\", i)\nprint(\"THE END\")'", name="runaway"))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done["statusMessage"]  # the exit code comes through the cap
    log = await api.log_of(created["experimentId"], worker_of(created["experimentId"]))
    head, marker, tail = log.partition("\n[submarine-jupyter: output dropped here")
    assert marker, log[:300]
    assert len(log.encode()) < LOG_LIMIT + 200
    assert head.startswith("line 0\nline 1\n") and len(head.encode()) == LOG_LIMIT - TAIL
    assert f"the log reached {LOG_LIMIT - TAIL} bytes, its limit; the last {TAIL} bytes" in tail
    assert tail.endswith(f"line {lines - 1}\nTHE END\n")
    assert len(tail.encode()) - len(tail.split("]\n", 1)[0].encode()) - 2 == TAIL


async def test_output_without_end_never_grows_the_log_past_its_limit(api: Api, tmp_path: Path) -> None:
    """``yes`` printing as fast as it can: the log stays at its limit while it runs; a stop
    still writes the end of its output."""
    created = await api.ok("POST", "api/v1/experiment", experiment("yes running", name="forever"))
    log_path = tmp_path / "state" / "logs" / created["experimentId"] / f"{worker_of(created['experimentId'])}.log"
    await wait_for_log(api, created["experimentId"], "output dropped here")
    sizes = []
    for _ in range(10):
        await asyncio.sleep(0.1)
        sizes.append(log_path.stat().st_size)
    assert max(sizes) < LOG_LIMIT - TAIL + 200, sizes
    assert (await api.ok("GET", f"api/v1/experiment/{created['experimentId']}"))["status"] == "Running"
    await api.ok("POST", f"api/v1/experiment/{created['experimentId']}/stop")
    assert (await api.wait(created["experimentId"], ("Stopped",)))["status"] == "Stopped"
    for _ in range(100):
        if log_path.stat().st_size > LOG_LIMIT - TAIL + 200:
            break
        await asyncio.sleep(0.05)
    log = log_path.read_bytes()
    assert LOG_LIMIT - 100 < len(log) < LOG_LIMIT + 200 and log.endswith(b"running\n"), len(log)


async def test_a_full_log_disk_fails_only_the_experiment_that_filled_it(
    api: Api, log_disk: Path, tmp_path: Path
) -> None:
    kept = await api.ok("POST", "api/v1/experiment", experiment("echo kept", name="kept"))
    await api.wait(kept["experimentId"])
    quiet = await api.ok("POST", "api/v1/experiment", experiment("sleep 30", name="quiet"))
    await api.wait(quiet["experimentId"], ("Running",))
    filler = await api.ok("POST", "api/v1/experiment", experiment(
        "python -c 'while True: print(\"x\" * 1000, flush=True)'", name="filler"))
    done = await api.wait(filler["experimentId"])
    assert done["status"] == "Failed"
    assert f"; the log folder {log_disk} has no space left" in done["statusMessage"], done["statusMessage"]

    assert (await api.ok("GET", f"api/v1/experiment/{quiet['experimentId']}"))["status"] == "Running"
    assert await api.log_of(kept["experimentId"], worker_of(kept["experimentId"])) == "kept\n"
    await api.ok("DELETE", f"api/v1/experiment/{filler['experimentId']}")  # its logs go: the disk has room again
    after = await api.ok("POST", "api/v1/experiment", experiment("echo after", name="after"))
    assert (await api.wait(after["experimentId"]))["status"] == "Succeeded"
    assert await api.log_of(after["experimentId"], worker_of(after["experimentId"])) == "after\n"
    await api.ok("POST", f"api/v1/experiment/{quiet['experimentId']}/stop")
    assert [item["name"] for item in await api.ok("GET", "api/v1/experiment")] == ["kept", "quiet", "after"]
    with sqlite3.connect(tmp_path / "state" / "submarine.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_read_only_log_folder_fails_new_experiments_clearly(api: Api, log_disk: Path) -> None:
    before = await api.ok("POST", "api/v1/experiment", experiment("echo before", name="before"))
    await api.wait(before["experimentId"])
    subprocess.run(["mount", "-o", "remount,ro", str(log_disk)], check=True)
    created = await api.ok("POST", "api/v1/experiment", experiment("echo never", name="readonly"))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Failed"
    assert "could not start" in done["statusMessage"] and "Read-only file system" in done["statusMessage"]
    assert await api.log_of(before["experimentId"], worker_of(before["experimentId"])) == "before\n"
    assert (await api.ok("GET", "api/v1/experiment/ping")) == "Pong"
    subprocess.run(["mount", "-o", "remount,rw", str(log_disk)], check=True)
    again = await api.ok("POST", f"api/v1/experiment/{created['experimentId']}/rerun")
    assert (await api.wait(again["experimentId"]))["status"] == "Succeeded"
