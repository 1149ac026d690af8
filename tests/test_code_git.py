"""Submarine's ``code.git`` on all three backends: the branch is cloned before the replicas
start, and they run in it with ``CODE_PATH`` (locally a folder of the experiment's own, on
Kubernetes ``/code``); a clone that fails fails the experiment; credentials are refused in
the spec."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import THREE_BACKENDS, Api, experiment

SCRIPT = """import os, pathlib, time
print("branch", open("which.txt").read().strip())
print("cwd", os.getcwd(), "code", os.environ["CODE_PATH"], "rank", os.environ["RANK"], flush=True)
printed = pathlib.Path(os.environ["PRINTED"])  # the Master's end ends the job: it waits for the others
printed.mkdir(exist_ok=True)
(printed / os.environ["RANK"]).touch()
while os.environ["RANK"] == "0" and len(list(printed.iterdir())) < int(os.environ["WORLD_SIZE"]):
    time.sleep(0.05)
"""


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


@pytest.fixture
def repository(tmp_path: Path) -> str:
    """A repository whose ``main`` and ``exp`` branches say which they are."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "t@example.com")
    git(folder, "config", "user.name", "t")
    (folder / "train.py").write_text(SCRIPT)
    for branch in ("main", "exp"):
        if branch != "main":
            git(folder, "checkout", "-q", "-b", branch)
        (folder / "which.txt").write_text(branch)
        git(folder, "add", ".")
        git(folder, "commit", "-q", "-m", branch)
    return f"file://{folder}"


def cloned(url: str, cmd: str = "python train.py", branch: str = "exp") -> dict[str, Any]:
    spec = experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 1})
    spec["code"] = {"syncMode": "git", "git": {"url": url, "branch": branch}}
    return spec


@THREE_BACKENDS
async def test_every_replica_runs_in_a_clone_of_the_branch(api: Api, repository: str, tmp_path: Path) -> None:
    spec = cloned(repository)
    spec["meta"]["envVars"] = {"PRINTED": str(tmp_path / "printed")}
    created = await api.ok("POST", "api/v1/experiment", spec)
    done = await api.wait(created["experimentId"], timeout=120)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert done["status"] == "Succeeded", (done, logs)
    assert created["spec"]["code"] == {"syncMode": "git", "git": {"url": repository, "branch": "exp"}}
    outputs = [pod["podLog"].splitlines() for pod in logs["logContent"]]
    assert [lines[0] for lines in outputs] == ["branch exp"] * 2, outputs
    ranks = set()
    for lines in outputs:
        _, cwd, _, code, _, rank = lines[1].split()
        assert cwd == code, lines
        ranks.add(rank)
    assert ranks == {"0", "1"}
    if done["target"] == "local":
        assert Path(code).parent.name == "code" and Path(code).name == created["experimentId"]
        await api.ok("DELETE", f"api/v1/experiment/{created['experimentId']}")
        assert not Path(code).exists()  # the clone goes with the experiment
    else:
        assert code == "/code"


@THREE_BACKENDS
async def test_a_clone_that_fails_fails_the_experiment_or_holds_it_saying_why(api: Api, tmp_path: Path) -> None:
    """Locally and on Trainer v2 (where the node clones) the experiment fails; on the
    training-operator the kubelet restarts a failed init container (restartPolicy
    OnFailure), and the operator, counting only running pods' restarts, waits: the replicas say why."""
    created = await api.ok("POST", "api/v1/experiment", cloned(f"file://{tmp_path}/missing"))
    api_name = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}[created["target"]]["api"]
    if api_name == "training-operator":
        deadline = time.monotonic() + 60
        while True:
            got = await api.ok("GET", f"api/v1/experiment/{created['experimentId']}")
            messages = [r["message"] or "" for r in got["replicas"]]
            if all(m.startswith("init container code-localizer failed (exit code 128") for m in messages):
                break
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.2)
        assert got["status"] == "Created"
        return
    done = await api.wait(created["experimentId"], timeout=120)
    assert done["status"] == "Failed", done
    if done["target"] == "local":
        assert done["statusMessage"].startswith(f"code.git: cloning file://{tmp_path}/missing (branch exp) failed")


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)
async def test_credentials_in_the_spec_are_refused_and_nothing_is_stored(api: Api, repository: str) -> None:
    for git_spec, problem in (({"url": repository, "password": "hunter2"}, "code.git.password: credentials are"),
                              ({"url": "https://me:hunter2@example.com/r.git"}, "code.git.url: holds credentials (or a query"),
                              ({"url": "https://ghp_token@example.com/r.git"}, "code.git.url: holds credentials (or a query")):
        spec = cloned(repository)
        spec["code"]["git"] = git_spec
        code, data = await api.call("POST", "api/v1/experiment", spec)
        assert code == 400 and data["message"].startswith(f"Invalid experiment spec: {problem}"), data
        assert "name it in code.git.secret" in data["message"]
        assert "hunter2" not in data["message"] and "ghp_token" not in data["message"]
    assert await api.ok("GET", "api/v1/experiment") == []
