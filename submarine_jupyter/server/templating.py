"""Pure: a template's parameters filled into its experiment spec, as Submarine fills them.

Submarine adds three parameters per role: ``spec.<Role>.replicas`` and
``spec.<Role>.resourceMap.cpu`` / ``.memory`` (defaults: the role's own values). Then a
parameter ``name`` fills every ``{{name}}`` in the spec's string values; ``path:name`` fills
``{{name}}`` at that path only; a parameter named by a path (``meta.cmd``,
``spec.Worker.replicas``) sets the value there. Refusals, in Submarine's words: a given
parameter the template lacks ("illegal key"), a placeholder or required parameter without a
value ("unmapped value"), a parameter nothing uses ("unused key").
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..wire.quantity import Resources
from ..wire.templates import PLACEHOLDER, TemplateParam, TemplateSpec, as_text


class TemplateError(ValueError):
    """The template and the parameters do not fit; the message says which keys."""


def with_role_parameters(template: TemplateSpec) -> TemplateSpec:
    """``template`` with Submarine's per-role parameters added (those it lacks)."""
    have = {p.name for p in template.parameters}
    added = list(template.parameters)
    for role, task in (template.experiment_spec.get("spec") or {}).items():
        task = task if isinstance(task, dict) else {}
        resources = _resources(task.get("resources"))
        for name, value in ((f"spec.{role}.replicas", str(task.get("replicas", 1))),
                            (f"spec.{role}.resourceMap.cpu", resources.get("cpu")),
                            (f"spec.{role}.resourceMap.memory", resources.get("memory"))):
            if name not in have:
                added.append(TemplateParam(name=name, value=value, required=False, description=""))
    return template.model_copy(update={"parameters": added})


def fill(template: TemplateSpec, given: dict[str, str]) -> dict[str, Any]:
    """The experiment spec of ``template`` with ``given`` parameter values (the others'
    defaults); ``TemplateError`` naming the keys when they do not fit."""
    declared = {p.name: p for p in template.parameters}
    illegal = sorted(set(given) - set(declared))
    if illegal:
        raise TemplateError(f"Parameters contains illegal key: {illegal}")
    values: dict[str, str] = {}
    unmapped: set[str] = set()
    for name, param in declared.items():
        if name in given:
            values[name] = given[name]
        elif param.is_required:
            unmapped.add(name)
        elif param.value is not None:
            values[name] = as_text(param.value)
    unused = set(values)
    spec = copy.deepcopy(template.experiment_spec)
    _resources_from(spec, values, unused)
    for path, value in list(_leaves(spec)):
        matched = False
        if isinstance(value, str) and PLACEHOLDER.search(value):
            filled, matched = _placeholders(path, value, values, unused, unmapped)
            if matched:
                _set(spec, path, filled)
        if not matched and path in values:
            _set(spec, path, _typed(values[path], value, path))
            unused.discard(path)
    if unused:
        raise TemplateError(f"Parameters contains unused key: {sorted(unused)}")
    if unmapped:
        raise TemplateError(f"Template contains unmapped value: {sorted(unmapped)}")
    return spec


def check(template: TemplateSpec) -> None:
    """At registration, as Submarine checks: every parameter used, every placeholder mapped
    (parameters without a value count as given, empty)."""
    defaults = {p.name: as_text(p.value) if p.value is not None else "" for p in template.parameters}
    fill(template.model_copy(update={"parameters": [p.model_copy(update={"required": False, "value": defaults[p.name]})
                                                    for p in template.parameters]}), {})


def _placeholders(path: str, value: str, values: dict[str, str], unused: set[str],
                  unmapped: set[str]) -> tuple[str, bool]:
    matched = False

    def replace(found: re.Match[str]) -> str:
        nonlocal matched
        name = found.group(1)
        for key in (f"{path}:{name}", name):
            if key in values:
                matched = True
                unused.discard(key)
                unmapped.discard(key)
                return values[key]
        unmapped.add(f"{path}:{name}")
        return found.group(0)

    return PLACEHOLDER.sub(replace, value), matched


def _resources_from(spec: dict[str, Any], values: dict[str, str], unused: set[str]) -> None:
    """Each role's ``resources`` from its ``resourceMap`` parameters (other pairs kept)."""
    for role, task in (spec.get("spec") or {}).items():
        if not isinstance(task, dict):
            continue
        cpu, memory = values.get(f"spec.{role}.resourceMap.cpu"), values.get(f"spec.{role}.resourceMap.memory")
        unused.discard(f"spec.{role}.resourceMap.cpu")
        unused.discard(f"spec.{role}.resourceMap.memory")
        pairs = _resources(task.get("resources"))
        pairs.update({key: value for key, value in (("cpu", cpu), ("memory", memory)) if value})
        if pairs:
            task["resources"] = ",".join(f"{key}={value}" for key, value in pairs.items())


def _resources(text: Any) -> dict[str, str]:
    """``cpu=1,memory=2Gi`` as pairs, in order ({} when absent or not a valid string)."""
    if not isinstance(text, str):
        return {}
    try:
        Resources.parse(text)
    except ValueError:
        return {}
    return {key.strip(): value.strip() for key, _, value in (pair.partition("=") for pair in text.split(",") if pair.strip())}


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every scalar in ``node`` (list items as ``path[i]``)."""
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, f"{path}.{key}" if path else str(key))]
    if isinstance(node, list):
        return [leaf for index, value in enumerate(node) for leaf in _leaves(value, f"{path}[{index}]")]
    return [(path, node)]


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(path)]
    node: Any = spec
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = value


def _typed(text: str, like: Any, path: str) -> Any:
    """A parameter's text as the type of the value it replaces (``replicas`` is a number)."""
    if isinstance(like, bool):
        if text.lower() not in ("true", "false"):
            raise TemplateError(f"{path}: '{text}' is not true or false")
        return text.lower() == "true"
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            raise TemplateError(f"{path}: '{text}' is not a whole number") from None
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            raise TemplateError(f"{path}: '{text}' is not a number") from None
    return text
