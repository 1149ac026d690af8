"""Submarine's ``code.git`` on all three backends: the branch is cloned before the replicas
start, and they run in it with ``CODE_PATH`` (locally a folder of the experiment's own, on
Kubernetes ``/code``, cloned by the ``code-localizer`` init container; on Trainer v2 in a
TrainingRuntime of the experiment's own); a clone that fails fails the experiment, or holds
it saying why; credentials are refused in the spec."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import THREE_BACKENDS, Api, experiment
from .k8s.cluster import TRAINER_GROUP, TRAINER_VERSION
from .rendezvous import WAIT_FOR_EVERY_REPLICA, printed_env

SCRIPT = """import os
print("branch", open("which.txt").read().strip())
print("cwd", os.getcwd(), "code", os.environ["CODE_PATH"], "rank", os.environ["RANK"], flush=True)
""" + WAIT_FOR_EVERY_REPLICA


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
    spec["meta"]["envVars"] = printed_env(tmp_path)
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
    """The kubelet restarts a failed init container (restartPolicy OnFailure). On the
    training-operator, which counts only running pods' restarts, the experiment waits and its
    replicas say why; on Trainer v2 the Job controller counts a pending pod's restarts too, so
    its backoff limit fails the experiment; locally the experiment fails at once."""
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


@pytest.mark.parametrize("backend_config", ["trainer"], indirect=True)
async def test_on_trainer_v2_the_clone_is_an_init_container_of_a_runtime_of_the_experiments_own(
        api: Api, repository: str, tmp_path: Path, kube_cluster_clean: Any) -> None:
    """Its node pods run the ``code-localizer`` first, and carry no credentials; the runtime is
    owned by the TrainJob, goes with the experiment, and no other experiment picks it."""
    spec = cloned(repository)
    spec["meta"]["envVars"] = printed_env(tmp_path)
    spec["code"]["git"]["secret"] = "git-token"
    core = kube_cluster_clean.core_v1()
    core.create_namespaced_secret("default", {"metadata": {"name": "git-token"},
                                              "stringData": {"password": "unused-by-a-file-url"}})
    try:
        await _runs_on_its_own_runtime(api, spec, kube_cluster_clean)
    finally:
        core.delete_namespaced_secret("git-token", "default")


async def _runs_on_its_own_runtime(api: Api, spec: dict[str, Any], kube_cluster: Any) -> None:
    plan = await api.ok("POST", "api/v1/experiment", spec, params={"dryRun": "true"})
    assert plan["plan"]["trainingRuntime"]["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id, job_name = created["experimentId"], created["experimentId"].replace("_", "-")
    custom = kube_cluster.custom_objects()
    runtime = custom.get_namespaced_custom_object(TRAINER_GROUP, TRAINER_VERSION, "default", "trainingruntimes",
                                                  f"{job_name}-code")
    assert runtime["spec"] == plan["plan"]["trainingRuntime"]["spec"]
    job = custom.get_namespaced_custom_object(TRAINER_GROUP, TRAINER_VERSION, "default", "trainjobs", job_name)
    assert job["spec"]["runtimeRef"] == {"apiGroup": TRAINER_GROUP, "kind": "TrainingRuntime",
                                         "name": f"{job_name}-code"}
    (owner,) = runtime["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("TrainJob", job_name, job["metadata"]["uid"])

    done = await api.wait(experiment_id, timeout=120)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}")
    assert done["status"] == "Succeeded", (done, logs)
    assert [pod["podLog"].splitlines()[0] for pod in logs["logContent"]] == ["branch exp"] * 2
    pods = kube_cluster.core_v1().list_namespaced_pod(
        "default", label_selector=f"jobset.sigs.k8s.io/jobset-name={job_name}").items
    assert len(pods) == 2
    for pod in pods:
        assert [c.name for c in pod.spec.init_containers] == ["code-localizer"]
        assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
        (node,) = pod.spec.containers
        assert node.working_dir == "/code" and not any(e.name.startswith("CODE_GIT") for e in node.env)

    plain = await api.ok("POST", "api/v1/experiment", experiment("true", framework="PyTorch"), params={"dryRun": "true"})
    assert plain["plan"]["manifest"]["spec"]["runtimeRef"]["name"] == "torch-distributed"
    await api.ok("DELETE", f"api/v1/experiment/{experiment_id}")
    listed = custom.list_namespaced_custom_object(TRAINER_GROUP, TRAINER_VERSION, "default", "trainingruntimes")
    assert [item["metadata"]["name"] for item in listed["items"]] == []
