"""Experiment specs from command-line style options (pure; the server validates the result).

Defaults when a flag is absent, chosen so a job is distributed the way the Kubeflow
training-operator wires it (it sets ``MASTER_ADDR``/``RANK``/``WORLD_SIZE`` for PyTorch only
when the job has a Master):

- framework ``PyTorch``;
- PyTorch and XGBoost jobs get one ``Master`` (``--no-master`` drops it), TensorFlow jobs
  none (``--master``/``--chief`` add one);
- ``Worker`` replicas: ``--workers N``; without it 1, or 0 when there is a Master or Chief.

So ``%submarine run -- CMD`` is a single PyTorch Master (rank 0 of 1), ``--workers 2`` is a
Master and two Workers (world size 3, log prefixes ``master-0``, ``worker-0``, ``worker-1``),
and ``--framework TensorFlow --workers 2 --ps 1`` is two Workers and a parameter server.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FRAMEWORK = "PyTorch"
MASTER_BY_DEFAULT = ("pytorch", "xgboost")
SCRIPT_DIR = ".submarine"


def parse_pairs(items: Iterable[str], flag: str) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``; a pair without ``=`` is an error."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def default_name(text: str) -> str:
    """A DNS-1123 label from a script or command: ``python train_mnist.py`` -> ``train-mnist``."""
    words = shlex.split(text) if text.strip() else []
    scripts = [w for w in words if w.endswith(".py")]
    base = Path(scripts[0]).stem if scripts else Path(words[0]).name if words else "experiment"
    label = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:63].strip("-")
    return label or "experiment"


def build_spec(
    *,
    cmd: str,
    name: str | None = None,
    framework: str | None = None,
    workers: int | None = None,
    ps: int | None = None,
    chief: bool = False,
    master: bool | None = None,
    resources: str | None = None,
    image: str | None = None,
    environment: str | None = None,
    env: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    namespace: str | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """The experiment spec ``%submarine run`` submits (see the module docstring for defaults)."""
    framework = framework or DEFAULT_FRAMEWORK
    if master is None:
        master = framework.lower() in MASTER_BY_DEFAULT
    roles: dict[str, dict[str, Any]] = {}
    if chief:
        roles["Chief"] = {"replicas": 1}
    if master:
        roles["Master"] = {"replicas": 1}
    if ps:
        roles["Ps"] = {"replicas": ps}
    worker_count = (0 if roles else 1) if workers is None else workers
    if worker_count < 0:
        raise ValueError(f"--workers {worker_count}: must be 0 or more")
    if worker_count:
        roles["Worker"] = {"replicas": worker_count}
    if not roles:
        raise ValueError("nothing to run: give --workers N (N >= 1), --master or --chief")
    if resources:
        for task in roles.values():
            task["resources"] = resources
    meta: dict[str, Any] = {
        "name": name or default_name(cmd),
        "framework": framework,
        "cmd": cmd,
    }
    if namespace:
        meta["namespace"] = namespace
    if target:
        meta["target"] = target
    if env:
        meta["envVars"] = dict(env)
    if tags:
        meta["tags"] = list(tags)
    spec: dict[str, Any] = {"meta": meta, "spec": roles}
    if image and environment:
        raise ValueError("give --image or --environment, not both")
    if image:
        spec["environment"] = {"image": image}
    elif environment:
        spec["environment"] = {"name": environment}
    return spec


def patch_spec(
    spec: Mapping[str, Any],
    *,
    workers: int | None = None,
    ps: int | None = None,
    resources: str | None = None,
    env: Mapping[str, str] | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """A copy of ``spec`` with new replica counts, resources (every role), variables or image."""
    patched = copy.deepcopy(dict(spec))
    roles = patched.setdefault("spec", {})
    for role, count in (("Worker", workers), ("Ps", ps)):
        if count is not None:
            if count < 1:
                raise ValueError(f"{role} replicas must be at least 1, got {count}")
            roles.setdefault(role, {})["replicas"] = count
    if resources:
        for task in roles.values():
            task["resources"] = resources
    if env:
        patched["meta"]["envVars"] = {**patched["meta"].get("envVars", {}), **env}
    if image:
        patched["environment"] = {"image": image}
    if patched == spec:
        raise ValueError("nothing to change: give --workers, --ps, --resources, --env or --image")
    return patched


def script_command(script: str, name: str, workdir: Path, args: str = "") -> str:
    """Save a cell's ``script`` under ``workdir/.submarine/`` and return the command that runs
    it from ``workdir`` (so relative paths resolve from the notebook's folder)."""
    digest = hashlib.sha256(script.encode()).hexdigest()[:10]
    path = workdir.resolve() / SCRIPT_DIR / f"{name}-{digest}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    command = f"cd {shlex.quote(str(workdir.resolve()))} && python {shlex.quote(str(path))}"
    return f"{command} {args}".rstrip()


def missing_master_warning(spec: Mapping[str, Any] | str) -> str | None:
    """A warning for a PyTorch job (a spec, or its YAML or JSON text) with Workers and no
    Master: the training-operator then wires no ``MASTER_ADDR``/``RANK``/``WORLD_SIZE``, so
    ``env://`` initialisation fails. Text that does not parse gets none (the server says why)."""
    if isinstance(spec, str):
        try:
            spec = yaml.safe_load(spec)
        except yaml.YAMLError:
            return None
    if not isinstance(spec, Mapping):
        return None
    meta, roles = spec.get("meta") or {}, spec.get("spec") or {}
    if not isinstance(meta, Mapping) or not isinstance(roles, Mapping):
        return None
    workers = roles.get("Worker")
    has_workers = isinstance(workers, Mapping) and workers.get("replicas", 1) != 0
    if str(meta.get("framework", "")).lower() != "pytorch" or not has_workers or "Master" in roles:
        return None
    return (
        "Warning: this PyTorch job has Workers and no Master, so the training-operator sets no "
        "MASTER_ADDR, RANK or WORLD_SIZE and torch.distributed's env:// init fails "
        "(KeyError: 'RANK'); add a Master (leave out --no-master, or add a Master role)."
    )


def rerun_changes(
    spec: Mapping[str, Any],
    *,
    workers: int | None = None,
    ps: int | None = None,
    resources: str | None = None,
    env: Mapping[str, str] | None = None,
    image: str | None = None,
    cmd: str | None = None,
    name: str | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """The JSON merge patch (RFC 7396) that re-runs ``spec`` with new replica counts (0 drops
    the role), resources (every role), variables (added or changed), image, command, name or
    target; ``{}`` when nothing changes."""
    roles: dict[str, Any] = {}
    for role, count in (("Worker", workers), ("Ps", ps)):
        if count is not None:
            roles[role] = {"replicas": count} if count else None
    if resources:
        for role in dict.fromkeys([*(spec.get("spec") or {}), *roles]):
            if role not in roles or roles[role] is not None:
                roles.setdefault(role, {})["resources"] = resources
    meta: dict[str, Any] = {}
    if cmd:
        meta["cmd"] = cmd
    if name:
        meta["name"] = name
    if target:
        meta["target"] = target
    if env:
        meta["envVars"] = dict(env)
    changes: dict[str, Any] = {}
    if meta:
        changes["meta"] = meta
    if roles:
        changes["spec"] = roles
    if image:  # an image replaces a stored environment's name
        dropped = {"name": None} if "name" in (spec.get("environment") or {}) else {}
        changes["environment"] = {"image": image, **dropped}
    return changes


def patch_paths(changes: Mapping[str, Any], prefix: str = "") -> list[str]:
    """A merge patch as ``path=value`` items (``path removed`` for ``None``), e.g.
    ``["meta.envVars.LR=0.01", "spec.Worker removed"]``."""
    items: list[str] = []
    for key, value in changes.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(patch_paths(value, f"{path}."))
        elif value is None:
            items.append(f"{path} removed")
        else:
            items.append(f"{path}={value}")
    return items
