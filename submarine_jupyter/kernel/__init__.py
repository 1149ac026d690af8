"""The notebook side of submarine-jupyter: an HTTP client, ``%submarine`` magics and widgets.

Nothing here imports the server package: the kernel speaks HTTP only, so the same code
works against any server that serves Submarine's Experiment REST API.
"""

from __future__ import annotations

from .client import ExperimentFailed, SubmarineClient, SubmarineError, WaitTimeout

__all__ = ["ExperimentFailed", "SubmarineClient", "SubmarineError", "WaitTimeout"]
