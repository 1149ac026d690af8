"""Request bodies: JSON or YAML text to data, bounded in size and nesting, YAML without aliases.

A body is refused with a 4xx naming the problem, never parsed into something that could
take the server's memory or stack: YAML aliases are refused (an alias bomb expands
exponentially when the data is walked), and nesting deeper than the limit is refused
before any model looks at it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import ApiError

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@dataclass(frozen=True)
class BodyLimits:
    """How large and how deeply nested a request body may be."""

    max_bytes: int = 1 << 20
    max_depth: int = 32


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors' aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not accepted")
        return super().compose_node(parent, index)


def parse_body(raw: bytes, content_type: str, limits: BodyLimits) -> dict[str, Any]:
    """The request body as data: YAML when ``content_type`` says so, else JSON; an object."""
    if len(raw) > limits.max_bytes:
        raise ApiError(413, f"body: larger than {limits.max_bytes} bytes")
    if not raw.strip():
        raise ApiError(400, "body: empty; send the spec as JSON (or YAML with Content-Type: application/yaml)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body: not UTF-8 text") from None
    media = content_type.split(";")[0].strip().lower()
    try:
        if media in YAML_TYPES:
            try:
                data = yaml.load(text, Loader=_NoAliasLoader)  # a safe loader
            except yaml.YAMLError as error:
                raise ApiError(400, f"body: not valid YAML ({_one_line(error)})") from None
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                raise ApiError(400, f"body: not valid JSON ({error})") from None
    except RecursionError:
        raise ApiError(400, f"body: nested deeper than {limits.max_depth} levels") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body: must be an object (a mapping of meta, environment, spec)")
    if _depth(data) > limits.max_depth:
        raise ApiError(400, f"body: nested deeper than {limits.max_depth} levels")
    return data


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
