"""submarine-jupyter: Apache Submarine's Experiment API, magics and panel inside Jupyter."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import SubmarineJupyter

    return [{"module": "submarine_jupyter", "app": SubmarineJupyter}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "submarine-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext submarine_jupyter``: register the ``%submarine`` magics."""
    from .kernel.magics import SubmarineMagics

    ipython.register_magics(SubmarineMagics)
