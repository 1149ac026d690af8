"""Code that reaches the pods: a local script in a ConfigMap, or ``code.git`` cloned.

Both put the code at ``/code`` in every replica, with ``CODE_PATH=/code``:

- **A script named in the command** (``python train.py ...``, or the ``cd DIR && python
  DIR/.submarine/cell-<hash>.py`` a ``%%submarine run`` cell becomes), found on this
  machine (relative to the command's ``cd``, else the server's root folder), up to
  ``MAX_SCRIPT_BYTES`` of UTF-8 text, when the spec has no ``code``: it travels as the
  ConfigMap ``<job>-code``, mounted read-only, and the command runs it from ``/code``. A
  script that is not on this machine is left to the image.
- **code.git**: an emptyDir at ``/code`` that the ``code-localizer`` init container (the
  name Submarine gives it) fills with a clone of the branch, before the replica starts in
  it (on Trainer v2, in a TrainingRuntime of the experiment's own: ``code_runtime``).
  Credentials come only from the Secret the spec names, as environment variables of the
  init container that the clone's credential helper reads: the manifest, and every answer,
  holds only the Secret's name.

``script_of`` reads a file; everything else here is pure.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....wire.code import GitCode
from ....wire.constants import dns_name
from ....wire.requests import ExperimentSpec
from ..base import BackendError

CODE_PATH = "/code"
CODE_VOLUME = "submarine-code"
#: The init container that clones (Submarine's ``CODE_LOCALIZER_INIT_CONTAINER_NAME``).
LOCALIZER = "code-localizer"
MAX_SCRIPT_BYTES = 256 << 10
INTERPRETER_NAMES = ("python", "python3")
#: The clone, from the variables ``git_env`` sets (a container restarted over the same
#: volume finds its clone there).
CLONE = (f'[ -d {CODE_PATH}/.git ] || git clone --quiet --depth 1 --single-branch --branch "$CODE_GIT_BRANCH" '
         f'-- "$CODE_GIT_URL" {CODE_PATH}')
#: The credential helper git runs (given by ``GIT_CONFIG_*`` variables): it answers from the Secret's keys.
CREDENTIAL_HELPER = "!f() { printf 'username=%s\\npassword=%s\\n' \"$CODE_GIT_USERNAME\" \"$CODE_GIT_PASSWORD\"; }; f"
#: What a ConfigMap key may be; a script named otherwise travels as ``script.py``.
CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class Script:
    """A script named in the command, carried to the pods in a ConfigMap."""

    name: str
    text: str
    #: The command, with the script run from ``/code``.
    command: str


def code_name(job_name: str) -> str:
    """The name of what carries the code of the job named ``job_name`` (``dns_name`` of its
    experiment's id): its script's ConfigMap, its code.git TrainingRuntime."""
    return f"{job_name}-code"


def _interpreter(word: str) -> bool:
    name = Path(word).name
    return name in INTERPRETER_NAMES or (name.startswith("python3.") and name[8:].isdigit())


def script_of(cmd: str, root: Path) -> Script | None:
    """The local script ``cmd`` runs (``[cd DIR &&] python [-u ...] SCRIPT.py [args]``), if it
    is a file here; a 400 naming ``meta.cmd`` when it cannot travel."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    folder, body = root, cmd.strip()
    if len(words) > 3 and words[0] == "cd" and words[2] == "&&":
        folder = root / words[1]
        body = _after_cd(body, words[1])
        words = words[3:]
    if not words or not _interpreter(words[0]):
        return None
    script_index = next((i for i, word in enumerate(words[1:], 1) if not word.startswith("-")), None)
    if script_index is None or any(w in ("-c", "-m") for w in words[1:script_index]):
        return None
    script = words[script_index]
    path = folder / script
    if not script.endswith(".py") or not path.is_file():
        return None
    size = path.stat().st_size
    if size > MAX_SCRIPT_BYTES:
        raise BackendError(f"meta.cmd: {script} is {size / 1024:.0f} KiB; a script travels to the cluster in a "
                           f"ConfigMap of at most {MAX_SCRIPT_BYTES >> 10} KiB (larger code: use code.git, or the "
                           "image)")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise BackendError(f"meta.cmd: {script} cannot travel to the cluster: {error}") from None
    name = Path(script).name if CONFIG_MAP_KEY.match(Path(script).name) else "script.py"
    start = len(body) - len(body.lstrip()) + len(shlex.split(body)[0]) if body else 0
    for written in (shlex.quote(script), f'"{script}"', f"'{script}'", script):
        at = body.find(written, start)
        if at >= 0:
            return Script(name, text, f"{body[:at]}{shlex.quote(f'{CODE_PATH}/{name}')}{body[at + len(written):]}")
    return None


def _after_cd(body: str, folder: str) -> str:
    """``body`` after its ``cd FOLDER &&`` (the first ``&&`` that ends it, not one quoted in FOLDER)."""
    at = body.find("&&")
    while at >= 0:
        try:
            if shlex.split(body[:at]) == ["cd", folder]:
                return body[at + 2:].lstrip()
        except ValueError:
            pass
        at = body.find("&&", at + 2)
    return body


def script_for(spec: ExperimentSpec, root: Path) -> Script | None:
    """The script that travels with ``spec``: none with ``code`` (the code comes from git),
    nor when roles run different commands (each would need its own)."""
    if spec.code is not None:
        return None
    commands = {task.cmd or spec.meta.cmd for task in spec.spec.values()}
    return script_of(commands.pop(), root) if len(commands) == 1 else None


def config_map(script: Script, name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {script.name: script.text}}


def owner_reference(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the owner of what carries its code: deleted with it by the garbage collector."""
    return {"apiVersion": job["apiVersion"], "kind": job["kind"], "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"]}


def git_env(git: GitCode) -> list[dict[str, Any]]:
    """What ``CLONE`` reads: the repository, the branch, and the Secret's keys when one is named."""
    env: list[dict[str, Any]] = [{"name": "CODE_GIT_URL", "value": git.url},
                                 {"name": "CODE_GIT_BRANCH", "value": git.branch}]
    if git.trust_certs:
        env.append({"name": "GIT_SSL_NO_VERIFY", "value": "true"})
    if git.secret:
        username = {"name": git.secret, "key": "username", "optional": True}  # a token alone needs none
        env += [{"name": "CODE_GIT_USERNAME", "valueFrom": {"secretKeyRef": username}},
                {"name": "CODE_GIT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": git.secret, "key": "password"}}}]
        env += [{"name": "GIT_CONFIG_COUNT", "value": "1"}, {"name": "GIT_CONFIG_KEY_0", "value": "credential.helper"},
                {"name": "GIT_CONFIG_VALUE_0", "value": CREDENTIAL_HELPER}]
    return env


@dataclass(frozen=True)
class PodCode:
    """What a replica's pod gets so its code is at ``/code``."""

    volume: dict[str, Any]
    mount: dict[str, Any]
    env: list[dict[str, Any]]
    #: The command instead of the spec's (the script's, from ``/code``).
    command: str | None = None
    #: The clone (code.git), before which the replica does not start, in ``/code``.
    init_container: dict[str, Any] | None = None


def pod_code(spec: ExperimentSpec, experiment_id: str, script: Script | None, git_image: str) -> PodCode | None:
    """The volume, mount, variables (and init container) of ``spec``'s code; ``None`` when it
    has none to bring."""
    code_path = {"name": "CODE_PATH", "value": CODE_PATH}
    if script is not None:
        return PodCode({"name": CODE_VOLUME, "configMap": {"name": code_name(dns_name(experiment_id))}},
                       {"name": CODE_VOLUME, "mountPath": CODE_PATH, "readOnly": True}, [code_path], script.command)
    if spec.code is None or spec.code.git is None:
        return None
    volume, mount = {"name": CODE_VOLUME, "emptyDir": {}}, {"name": CODE_VOLUME, "mountPath": CODE_PATH}
    env = git_env(spec.code.git)
    localizer = {"name": LOCALIZER, "image": git_image, "command": ["sh", "-c", CLONE], "env": env,
                 "volumeMounts": [mount], "terminationMessagePolicy": "FallbackToLogsOnError"}
    return PodCode(volume, mount, [code_path], init_container=localizer)
