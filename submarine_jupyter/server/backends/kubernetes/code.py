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
  it. Trainer v2's TrainJob cannot add an init container to its runtime's pods, so there
  every node clones before its command instead, with the image's own ``git``. Credentials
  come only from the Secret the spec names, as environment variables the clone's credential
  helper reads: the manifest, and every answer, holds only the Secret's name.

``script_of`` reads a file; everything else here is pure.
"""

from __future__ import annotations

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
#: The clone, from the variables ``git_env`` sets; the credential helper answers from the Secret's keys.
CLONE = ('git ${CODE_GIT_USERNAME:+-c credential.helper="!f() { echo username=\\$CODE_GIT_USERNAME; '
         'echo password=\\$CODE_GIT_PASSWORD; }; f"} clone --quiet --depth 1 --single-branch '
         f'--branch "$CODE_GIT_BRANCH" -- "$CODE_GIT_URL" {CODE_PATH}')


@dataclass(frozen=True)
class Script:
    """A script named in the command, carried to the pods in a ConfigMap."""

    name: str
    text: str
    #: The command, with the script run from ``/code``.
    command: str


def config_map_name(experiment_id: str) -> str:
    return f"{dns_name(experiment_id)}-code"


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
        body = body[body.index("&&") + 2:].lstrip()
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
    name = Path(script).name
    for quoted in (shlex.quote(script), script):
        at = body.find(quoted)
        if at >= 0:
            command = f"cd {CODE_PATH} && {body[:at]}{shlex.quote(name)}{body[at + len(quoted):]}"
            return Script(name, text, command)
    return None


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
    """The job as the owner of its ConfigMap: deleted with it by the garbage collector."""
    return {"apiVersion": job["apiVersion"], "kind": job["kind"], "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"]}


def git_env(git: GitCode) -> list[dict[str, Any]]:
    """What ``CLONE`` reads: the repository, the branch, and the Secret's keys when one is named."""
    env: list[dict[str, Any]] = [{"name": "CODE_GIT_URL", "value": git.url},
                                 {"name": "CODE_GIT_BRANCH", "value": git.branch}]
    if git.trust_certs:
        env.append({"name": "GIT_SSL_NO_VERIFY", "value": "true"})
    if git.secret:
        env += [{"name": f"CODE_GIT_{key.upper()}",
                 "valueFrom": {"secretKeyRef": {"name": git.secret, "key": key}}} for key in ("username", "password")]
    return env


@dataclass(frozen=True)
class PodCode:
    """What a replica's pod gets so its code is at ``/code``."""

    volume: dict[str, Any]
    mount: dict[str, Any]
    env: list[dict[str, Any]]
    #: The command instead of the spec's (the script's, run from ``/code``).
    command: str | None = None
    #: Shell run before the command (Trainer v2: the clone).
    prelude: str | None = None
    init_container: dict[str, Any] | None = None

    def wrap(self, command: str) -> str:
        """``command`` as the replica runs it."""
        command = self.command or command
        return f"{self.prelude} && {command}" if self.prelude else command


def pod_code(spec: ExperimentSpec, experiment_id: str, script: Script | None, git_image: str,
             init_container: bool = True) -> PodCode | None:
    """The volume, mount, variables (and init container, or the command that clones first) of
    ``spec``'s code; ``None`` when it has none to bring."""
    code_path = {"name": "CODE_PATH", "value": CODE_PATH}
    if script is not None:
        return PodCode({"name": CODE_VOLUME, "configMap": {"name": config_map_name(experiment_id)}},
                       {"name": CODE_VOLUME, "mountPath": CODE_PATH, "readOnly": True}, [code_path], script.command)
    if spec.code is None or spec.code.git is None:
        return None
    volume, mount = {"name": CODE_VOLUME, "emptyDir": {}}, {"name": CODE_VOLUME, "mountPath": CODE_PATH}
    env = git_env(spec.code.git)
    if not init_container:
        return PodCode(volume, mount, [code_path, *env], prelude=f"{CLONE} && cd {CODE_PATH}")
    localizer = {"name": LOCALIZER, "image": git_image, "command": ["sh", "-c", CLONE], "env": env,
                 "volumeMounts": [mount]}
    return PodCode(volume, mount, [code_path], init_container=localizer)
