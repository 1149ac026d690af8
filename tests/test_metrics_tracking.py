"""Submarine's own tracking SDK (apache-submarine 0.8, the real package in a venv of its own):
``submarine.log_metric``/``log_param`` in local replicas land in the experiment's metrics and
params, named by replica, through the SQLite file the local backend points them at."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import Api, experiment

SDK = "apache-submarine==0.8.0"
#: Built once and kept: the SDK needs sqlalchemy<2, boto3, pyarrow, pandas ..., none of
#: which belongs in the server's environment.
SDK_VENV = Path.home() / ".cache" / "submarine-jupyter" / "apache-submarine-0.8.0"

TRACK = textwrap.dedent("""
    import os
    import submarine

    rank = int(os.environ["RANK"])
    submarine.log_param("lr", f"0.0{rank + 1}")
    submarine.log_param("rank", rank)
    for step in range(5):
        submarine.log_metric("loss", 1.0 / (step + 1) + rank, step)
    submarine.log_metric("broken", float("nan"), 0)  # stored with is_nan: left out
""")


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    """The Python of a venv with the SDK; fails under CI (skips elsewhere) if it cannot be built."""
    python = SDK_VENV / "bin" / "python"
    if (SDK_VENV / ".complete").exists():
        return python
    shutil.rmtree(SDK_VENV, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", SDK], check=True, capture_output=True,
                       timeout=1800)
        subprocess.run([str(python), "-c", "import submarine"], check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as error:
        output = getattr(error, "stderr", b"") or b""
        message = f"cannot build a venv with {SDK} at {SDK_VENV}: {error}\n{output.decode(errors='replace')[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    (SDK_VENV / ".complete").touch()
    return python


async def test_tracking_sdk_metrics_and_params(api: Api, work_dir: Path, sdk_python: Path) -> None:
    (work_dir / "track.py").write_text(TRACK)
    marks = work_dir / "marks"
    marks.mkdir()
    track = f"{sdk_python} {work_dir / 'track.py'}"
    # the Master logs first (the SDK creates its tables then; it does not guard against two
    # processes creating them at once), the Workers next; the Master ends the job last
    cmd = (f"if [ $RANK = 0 ]; then {track} && touch {marks}/0 && until [ -e {marks}/1 ] && [ -e {marks}/2 ]; "
           f"do sleep 0.1; done; else until [ -e {marks}/0 ]; do sleep 0.1; done; {track} && touch {marks}/$RANK; fi")
    spec = experiment(cmd, name="tracked", framework="PyTorch", roles={"Master": 1, "Worker": 2})
    plan = await api.ok("POST", "api/v1/experiment", spec, params={"dryRun": "true"})
    env = plan["plan"]["replicas"][1]["env"]
    assert env["JOB_ID"].startswith("experiment_") and env["SUBMARINE_DB_URI"].startswith("sqlite:////")
    assert env["SUBMARINE_DB_URI"].endswith(f"/tracking/{env['JOB_ID']}.db")
    assert env["SUBMARINE_TENSORBOARD_LOG_DIR"].endswith(f"/tensorboard/{env['JOB_ID']}/{plan['plan']['replicas'][1]['name']}")

    experiment_id = (await api.ok("POST", "api/v1/experiment", spec))["experimentId"]
    done = await api.wait(experiment_id, timeout=300)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}")
    assert done["status"] == "Succeeded", (done, logs)
    prefix = experiment_id.replace("_", "-")
    replicas = {f"{prefix}-master-0": 0, f"{prefix}-worker-0": 1, f"{prefix}-worker-1": 2}  # pod -> RANK
    for _ in range(100):
        answer = await api.ok("GET", f"api/v1/experiment/{experiment_id}/metrics")
        if sum(s["count"] for s in answer["series"]) == 15:
            break
        await asyncio.sleep(0.2)
    found = {(s["name"], s["replica"], s["source"]): (s["steps"], s["values"]) for s in answer["series"]}
    assert found == {("loss", pod, "tracking"): ([0, 1, 2, 3, 4], [1.0 / (s + 1) + rank for s in range(5)])
                     for pod, rank in replicas.items()}
    params = await api.ok("GET", f"api/v1/experiment/{experiment_id}/params")
    assert sorted((p["replica"], p["key"], p["value"]) for p in params) == sorted(
        [(pod, "lr", f"0.0{rank + 1}") for pod, rank in replicas.items()]
        + [(pod, "rank", str(rank)) for pod, rank in replicas.items()])
