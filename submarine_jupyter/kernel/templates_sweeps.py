"""The client's template and sweep methods: Submarine's experiment templates, submitted with
parameters, and sweeps that run one experiment per trial of a template's parameters."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .errors import SweepTimeout
from .transport import Transport, quote
from .types import Experiment, Sweep, Template

# Named so that annotations inside the class stay clear of its methods' names.
TemplateList = list[Template]
SweepList = list[Sweep]


class TemplatesAndSweeps(Transport):
    """``/api/v1/template``, ``POST /api/v1/experiment/{templateName}`` and ``/api/v1/sweep``."""

    # -- templates ------------------------------------------------------------------

    def create_template(self, spec: Mapping[str, Any] | str) -> Template:
        """Store a template (a dict, or JSON or YAML text): ``name``, ``author``,
        ``description``, ``parameters`` ``[{name, value, required, description}]`` and an
        ``experimentSpec`` whose string values hold ``{{name}}`` placeholders."""
        return self._call("POST", "template", body=spec)

    def list_templates(self) -> TemplateList:
        return self._call("GET", "template")

    def get_template(self, name: str) -> Template:
        return self._call("GET", f"template/{quote(name)}")

    def patch_template(self, name: str, spec: Mapping[str, Any] | str) -> Template:
        """Replace a template's spec (its ``name`` may be left out; it cannot change)."""
        return self._call("PATCH", f"template/{quote(name)}", body=spec)

    def delete_template(self, name: str) -> Template:
        return self._call("DELETE", f"template/{quote(name)}")

    def submit_template(self, name: str, params: Mapping[str, Any] | None = None) -> Experiment:
        """An experiment from a template, ``params`` filling its parameters (those Submarine adds
        per role too: ``spec.Worker.replicas``, ``spec.Worker.resourceMap.cpu``, ...)."""
        return self._call("POST", f"experiment/{quote(name)}", body={"params": dict(params or {})})

    # -- sweeps ---------------------------------------------------------------------

    def create_sweep(self, spec: Mapping[str, Any] | str) -> Sweep:
        """Start a sweep (a SweepSpec: ``name``, ``template``, ``params``, ``grid`` or
        ``random``, ``parallel``, ``objective``); its trials are submitted in order."""
        return self._call("POST", "sweep", body=spec)

    def list_sweeps(self) -> SweepList:
        return self._call("GET", "sweep")

    def get_sweep(self, name: str) -> Sweep:
        """A sweep with its trials, best first when it has an objective."""
        return self._call("GET", f"sweep/{quote(name)}")

    def stop_sweep(self, name: str) -> Sweep:
        """Stop the running trials and never start the waiting ones."""
        return self._call("POST", f"sweep/{quote(name)}/stop")

    def wait_sweep(self, name: str, timeout: float | None = None, *, poll_interval: float = 0.5) -> Sweep:
        """Block until the sweep has ended (Succeeded, Failed or Stopped) and return it; raises
        :class:`SweepTimeout` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (sweep := self.get_sweep(name))["status"] == "Running":
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise SweepTimeout(sweep, timeout or 0)
            time.sleep(poll_interval if left is None else min(poll_interval, left))
        return sweep
