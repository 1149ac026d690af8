"""How code reaches the pods, without a cluster: the ``code-localizer`` init container of a
v1 job and of a Trainer v2 experiment's own runtime (all valid against the real CRDs),
credentials only as Secret references, the clone's credential helper run by a real git, and
which commands carry a script."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from submarine_jupyter.server.backends.base import BackendError, Submission
from submarine_jupyter.server.backends.kubernetes.code import CLONE, MAX_SCRIPT_BYTES, git_env, script_of
from submarine_jupyter.server.backends.kubernetes.code_runtime import code_runtime
from submarine_jupyter.server.backends.kubernetes.manifests import ManifestConfig, job_manifest
from submarine_jupyter.server.backends.kubernetes.trainjobs import RuntimeRef, trainjob_manifest
from submarine_jupyter.wire.requests import ExperimentSpec

from .k8s.cluster import shared_dir
from .test_manifests import EXPERIMENT_ID, validate, validators  # noqa: F401 (a fixture)
from .test_trainjobs import trainjob_schema  # noqa: F401 (a fixture)

JOB = EXPERIMENT_ID.replace("_", "-")
GIT = {"url": "https://git.example.com/team/models.git", "branch": "exp/lr", "secret": "git-token"}


def cloning(**git: Any) -> Submission:
    spec = ExperimentSpec.model_validate({
        "meta": {"name": "mnist", "framework": "PyTorch", "cmd": "python train.py"},
        "code": {"syncMode": "git", "git": {**GIT, **git}},
        "spec": {"Master": {"replicas": 1}, "Worker": {"replicas": 2}},
    })
    return Submission(EXPERIMENT_ID, spec, "pytorch/pytorch:2.5")


def test_a_v1_job_clones_in_an_init_container_into_code(validators: Any) -> None:  # noqa: F811
    manifest = job_manifest(cloning(), ManifestConfig(code_git_image="alpine/git:2.47.2"))
    validate(validators, manifest)
    for replica in manifest["spec"]["pytorchReplicaSpecs"].values():
        pod = replica["template"]["spec"]
        (init,) = pod["initContainers"]
        assert (init["name"], init["image"], init["command"]) == ("code-localizer", "alpine/git:2.47.2",
                                                                   ["sh", "-c", CLONE])
        env = {e["name"]: e for e in init["env"]}
        assert env["CODE_GIT_URL"]["value"] == GIT["url"] and env["CODE_GIT_BRANCH"]["value"] == "exp/lr"
        assert env["CODE_GIT_PASSWORD"] == {"name": "CODE_GIT_PASSWORD", "valueFrom": {
            "secretKeyRef": {"name": "git-token", "key": "password"}}}
        assert pod["volumes"] == [{"name": "submarine-code", "emptyDir": {}}]
        (container,) = pod["containers"]
        assert container["volumeMounts"] == [{"name": "submarine-code", "mountPath": "/code"}]
        assert container["workingDir"] == "/code" and container["command"] == ["sh", "-c", "python train.py"]
        assert {"name": "CODE_PATH", "value": "/code"} in container["env"]
        assert not any(e["name"].startswith("CODE_GIT") for e in container["env"])  # the clone's alone


@pytest.fixture(scope="module")
def torch_runtime() -> dict[str, Any]:
    return yaml.safe_load((shared_dir() / "kubeflow-crds/trainer-v2/runtimes/torch_distributed.yaml").read_text())


@pytest.fixture(scope="module")
def runtime_schema() -> dict[str, Any]:
    path = shared_dir() / "kubeflow-crds/trainer-v2/trainer.kubeflow.org_trainingruntimes.yaml"
    return yaml.safe_load(path.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_a_trainjob_clones_in_a_runtime_of_its_own(trainjob_schema: Any, runtime_schema: Any,  # noqa: F811
                                                   torch_runtime: dict[str, Any]) -> None:
    """Trainer's own torch runtime, copied with the ``code-localizer`` before the node, which
    works in ``/code``; the TrainJob names that copy and carries no clone, volume nor credential."""
    submission, config = cloning(), ManifestConfig(code_git_image="alpine/git:2.47.2")
    original = copy.deepcopy(torch_runtime)
    runtime = code_runtime(submission, config, torch_runtime, RuntimeRef("torch-distributed"))
    assert torch_runtime == original
    jsonschema.validate(runtime, runtime_schema)
    assert (runtime["kind"], runtime["metadata"]["name"]) == ("TrainingRuntime", f"{JOB}-code")
    assert runtime["metadata"]["namespace"] == "default"
    assert "trainer.kubeflow.org/framework" not in runtime["metadata"]["labels"]  # no other experiment picks it
    assert runtime["spec"]["mlPolicy"] == torch_runtime["spec"]["mlPolicy"]
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    pod = job["template"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert (init["name"], init["image"], init["command"]) == ("code-localizer", "alpine/git:2.47.2", ["sh", "-c", CLONE])
    env = {e["name"]: e for e in init["env"]}
    assert env["CODE_GIT_USERNAME"]["valueFrom"] == {"secretKeyRef": {"name": "git-token", "key": "username",
                                                                      "optional": True}}
    assert pod["volumes"] == [{"name": "submarine-code", "emptyDir": {}}]
    (node,) = pod["containers"]
    assert node["image"] == torch_runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"][
        "template"]["spec"]["containers"][0]["image"]
    assert node["workingDir"] == "/code"
    assert node["volumeMounts"] == [{"name": "submarine-code", "mountPath": "/code"}]

    manifest = trainjob_manifest(submission, config, RuntimeRef(runtime["metadata"]["name"], "TrainingRuntime"))
    jsonschema.validate(manifest, trainjob_schema)
    assert manifest["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime",
                                              "name": f"{JOB}-code"}
    trainer = manifest["spec"]["trainer"]
    assert trainer["command"][2].endswith("\npython train.py") and "git" not in trainer["command"][2]
    assert {e["name"]: e.get("value") for e in trainer["env"]}["CODE_PATH"] == "/code"
    assert not any(e["name"].startswith("CODE_GIT") for e in trainer["env"])  # the clone's alone
    assert "spec" not in manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"][0]["template"]["spec"]["template"]


def test_a_runtime_without_a_node_container_cannot_clone() -> None:
    other = {"spec": {"template": {"spec": {"replicatedJobs": [{"name": "launcher", "template": {}}]}}}}
    with pytest.raises(BackendError, match=r"code\.git: the runtime TrainingRuntime mine has no 'node' container"):
        code_runtime(cloning(), ManifestConfig(), other, RuntimeRef("mine", "TrainingRuntime"))


def test_without_a_secret_the_clone_reads_no_credentials() -> None:
    assert "secretKeyRef" in str(job_manifest(cloning(), ManifestConfig()))
    plain = job_manifest(cloning(secret=None), ManifestConfig())
    init = plain["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]
    assert [e["name"] for e in init["env"]] == ["CODE_GIT_URL", "CODE_GIT_BRANCH"]  # no credential helper
    assert "secretKeyRef" not in str(plain)


def run_clone(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``CLONE`` in a real shell with a real git, with ``/code`` replaced by a folder of the test."""
    return subprocess.run(["sh", "-c", CLONE.replace("/code", str(tmp_path / "code"))], text=True,
                          capture_output=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **env})


def test_the_clone_runs_once_per_volume(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "exp", str(repo)], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"],
                   check=True)
    env = {"CODE_GIT_URL": f"file://{repo}", "CODE_GIT_BRANCH": "exp"}
    done = run_clone(env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "code" / "train.py").read_text() == "print(1)\n"
    (tmp_path / "code" / "train.py").write_text("edited\n")
    again = run_clone(env, tmp_path)  # a container restarted over the same volume keeps its clone
    assert again.returncode == 0 and (tmp_path / "code" / "train.py").read_text() == "edited\n", again.stderr


def test_the_credential_helper_answers_git_from_the_secret_keys() -> None:
    """What git asks an HTTPS server's credentials of: the helper the Secret's variables configure
    (a password with spaces, a glob and a backslash comes out as it is)."""
    env = {e["name"]: e.get("value") for e in git_env(cloning().spec.code.git)}  # type: ignore[union-attr]
    config = {k: v for k, v in env.items() if k.startswith("GIT_CONFIG_")}
    asked = subprocess.run(
        ["git", "credential", "fill"], input="protocol=https\nhost=git.example.com\n\n", text=True,
        capture_output=True, env={**os.environ, **config, "GIT_TERMINAL_PROMPT": "0",
                                  "CODE_GIT_USERNAME": "me", "CODE_GIT_PASSWORD": "s3 c*\\cret"})
    assert asked.returncode == 0, asked.stderr
    assert "username=me\n" in asked.stdout and "password=s3 c*\\cret\n" in asked.stdout


@pytest.mark.parametrize(("cmd", "command"), [
    ("python train.py --lr 0.1", "python /code/train.py --lr 0.1"),
    ("python3 -u train.py > out.log", "python3 -u /code/train.py > out.log"),
    ("cd {root}/nb && python {root}/nb/.submarine/demo-1.py --x 'a b'", "python /code/demo-1.py --x 'a b'"),
    ("cd nb && python .submarine/demo-1.py", "python /code/demo-1.py"),
    ('cd "nb" && python "my train.py" train.py', "python /code/script.py train.py"),
    ("cd 'a && b' && python x.py", "python /code/x.py"),
])
def test_a_local_script_named_in_the_command_travels(tmp_path: Path, cmd: str, command: str) -> None:
    (tmp_path / "nb" / ".submarine").mkdir(parents=True)
    (tmp_path / "a && b").mkdir()
    for path in (tmp_path / "train.py", tmp_path / "nb" / ".submarine" / "demo-1.py", tmp_path / "nb" / "my train.py",
                 tmp_path / "a && b" / "x.py"):
        path.write_text("print('hi')\n")
    script = script_of(cmd.format(root=tmp_path), tmp_path)
    assert script is not None and script.command == command and script.text == "print('hi')\n"


@pytest.mark.parametrize("cmd", ["python -m torch.distributed.run train.py", "python -c 'print(1)'",
                                 "python /opt/train.py", "sh run.sh", "python missing.py", "echo 'unclosed"])
def test_commands_whose_script_is_not_here_travel_nothing(tmp_path: Path, cmd: str) -> None:
    (tmp_path / "run.sh").write_text("echo\n")
    assert script_of(cmd, tmp_path) is None


def test_a_script_that_cannot_travel_is_a_400_naming_meta_cmd(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("#" * (MAX_SCRIPT_BYTES + 1))
    (tmp_path / "latin1.py").write_bytes(b"# caf\xe9\n")
    for name, problem in (("big.py", "at most 256 KiB"), ("latin1.py", "codec can't decode")):
        with pytest.raises(BackendError) as raised:
            script_of(f"python {name}", tmp_path)
        assert raised.value.code == 400 and raised.value.message.startswith(f"meta.cmd: {name}")
        assert problem in raised.value.message
