"""Backends by name, from the ``submarine_jupyter.backends`` entry-point group.

A third party adds a backend by installing a package that declares, in its
``pyproject.toml``::

    [project.entry-points."submarine_jupyter.backends"]
    mine = "my_package.backend:MyBackend"

and setting ``c.SubmarineJupyter.backend = "mine"``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import cast

from .base import BackendClass

GROUP = "submarine_jupyter.backends"


def available() -> list[str]:
    """The names of the installed backends."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load(name: str) -> BackendClass:
    """The backend class registered as ``name``; ``ValueError`` naming the installed ones."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ValueError(f"no backend named '{name}' is installed (installed: {', '.join(available()) or 'none'})")
    return cast(BackendClass, found[0].load())
