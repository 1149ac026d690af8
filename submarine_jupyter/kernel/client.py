"""A small HTTP client for Submarine's Experiment REST API as served by a Jupyter server.

Standard library HTTP, so it works the same in a kernel and in a plain script::

    from submarine_jupyter.kernel import SubmarineClient
    client = SubmarineClient()                  # finds the Jupyter server by itself
    exp = client.create({"meta": {...}, "spec": {"Worker": {"replicas": 2}}})
    for pod, line in client.logs(exp["experimentId"], follow=True):
        print(pod, line)
    client.wait(exp["experimentId"], timeout=600, raise_on_failure=True)
    client.metrics_frame(exp["experimentId"])   # every point, as a DataFrame (needs pandas)

How it finds the server: :mod:`.discovery`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from ..wire.constants import TERMINAL_STATUSES as TERMINAL
from ..wire.constants import pod_name, replica_label
from . import frames
from .compare import Comparison, trial_columns
from .discovery import ServerInfo, discover_server
from .errors import ExperimentFailed, SubmarineError, SweepTimeout, WaitTimeout
from .templates_sweeps import TemplatesAndSweeps
from .transport import LogStream, quote
from .types import (
    DryRun,
    Environment,
    Experiment,
    ExperimentSpec,
    Metrics,
    MetricSeries,
    Param,
    Replica,
    Sweep,
    Target,
    Template,
    Trial,
)

__all__ = [
    "TERMINAL_STATUSES",
    "DryRun",
    "Environment",
    "Experiment",
    "ExperimentFailed",
    "LogStream",
    "MetricSeries",
    "Metrics",
    "Param",
    "Replica",
    "ServerInfo",
    "SubmarineClient",
    "SubmarineError",
    "Sweep",
    "SweepTimeout",
    "Target",
    "Template",
    "Trial",
    "WaitTimeout",
    "discover_server",
    "pod_name",
    "replica_label",
]

#: Statuses an experiment never leaves (``Deleted`` only appears in a DELETE response).
TERMINAL_STATUSES = frozenset(TERMINAL | {"Deleted"})

# Named so that annotations inside SubmarineClient (which has a ``list`` method) stay clear.
ExperimentList = list[Experiment]
EnvironmentList = list[Environment]
ParamList = list[Param]
TargetList = list[Target]


class SubmarineClient(TemplatesAndSweeps):
    """Typed methods for every route of the API: experiments, environments, metrics, and
    (inherited) templates and sweeps."""

    # -- experiments -----------------------------------------------------------------

    def ping(self) -> str:
        """``GET /experiment/ping``: ``"Pong"`` when the API is served."""
        return self._call("GET", "experiment/ping")

    @overload
    def create(self, spec: Mapping[str, Any] | str, *, dry_run: Literal[False] = False) -> Experiment: ...
    @overload
    def create(self, spec: Mapping[str, Any] | str, *, dry_run: Literal[True]) -> DryRun: ...

    def create(self, spec: Mapping[str, Any] | str, *, dry_run: bool = False) -> Experiment | DryRun:
        """Submit an experiment spec (a dict, or JSON or YAML text); ``dry_run`` only plans it."""
        params = {"dryRun": "true"} if dry_run else None
        return self._call("POST", "experiment", body=spec, params=params)

    def list(self, status: str | None = None, target: str | None = None) -> ExperimentList:
        """All experiments, or those with ``status`` (case-insensitive) and on ``target``."""
        return self._call("GET", "experiment", params={"status": status, "target": target})

    def targets(self) -> TargetList:
        """``GET /target``: where experiments can run (``local`` and each configured cluster),
        with the API flavour, reachability and capacity where known."""
        return self._call("GET", "target")

    def get(self, experiment_id: str) -> Experiment:
        return self._call("GET", f"experiment/{quote(experiment_id)}")

    def patch(self, experiment_id: str, spec: Mapping[str, Any] | str) -> ExperimentSpec:
        """Replace an experiment's spec; returns the new spec."""
        return self._call("PATCH", f"experiment/{quote(experiment_id)}", body=spec)

    def resize(self, experiment_id: str, replicas: Mapping[str, int]) -> ExperimentSpec:
        """Patch the replica counts of some roles (e.g. ``{"Worker": 3}``), keeping the rest."""
        spec = self.get(experiment_id)["spec"]
        for role, count in replicas.items():
            spec["spec"].setdefault(role, {})["replicas"] = count
        return self.patch(experiment_id, spec)

    def delete(self, experiment_id: str) -> Experiment:
        """Stop and remove an experiment with its logs and metrics; the answer has ``"status": "Deleted"``."""
        return self._call("DELETE", f"experiment/{quote(experiment_id)}")

    def stop(self, experiment_id: str) -> Experiment:
        """End every replica and keep the experiment, its logs and metrics (status ``Stopped``);
        one that has ended already is refused (409)."""
        return self._call("POST", f"experiment/{quote(experiment_id)}/stop")

    @overload
    def rerun(self, experiment_id: str, changes: Mapping[str, Any] | None = None, *,
              dry_run: Literal[False] = False) -> Experiment: ...
    @overload
    def rerun(self, experiment_id: str, changes: Mapping[str, Any] | None = None, *,
              dry_run: Literal[True]) -> DryRun: ...

    def rerun(self, experiment_id: str, changes: Mapping[str, Any] | None = None, *,
              dry_run: bool = False) -> Experiment | DryRun:
        """A new experiment from this one's spec (the one PATCHed after it ended, if any) with
        ``changes`` merged in as a JSON merge patch (objects merge, ``None`` removes a key);
        it records ``rerunOf``, and this one lists it in ``reruns``. ``dry_run`` only plans it."""
        params = {"dryRun": "true"} if dry_run else None
        return self._call("POST", f"experiment/{quote(experiment_id)}/rerun", body=changes or None, params=params)

    @overload
    def promote(self, experiment_id: str, target: str, changes: Mapping[str, Any] | None = None, *,
                dry_run: Literal[False] = False) -> Experiment: ...
    @overload
    def promote(self, experiment_id: str, target: str, changes: Mapping[str, Any] | None = None, *,
                dry_run: Literal[True]) -> DryRun: ...

    def promote(self, experiment_id: str, target: str, changes: Mapping[str, Any] | None = None, *,
                dry_run: bool = False) -> Experiment | DryRun:
        """Re-run an experiment on another target (a cluster, or ``local`` to debug a cluster
        spec) with ``changes``; ``dry_run`` answers the exact manifest instead."""
        merged = dict(changes or {})
        merged["meta"] = {**(merged.get("meta") or {}), "target": target}
        return self.rerun(experiment_id, merged, dry_run=dry_run)  # type: ignore[call-overload]

    @overload
    def logs(
        self, experiment_id: str, *, follow: Literal[False] = False,
        replica: str | None = None, tail: int | None = None,
    ) -> dict[str, str]: ...
    @overload
    def logs(
        self, experiment_id: str, *, follow: Literal[True],
        replica: str | None = None, tail: int | None = None,
    ) -> LogStream: ...

    def logs(
        self, experiment_id: str, *, follow: bool = False,
        replica: str | None = None, tail: int | None = None,
    ) -> dict[str, str] | LogStream:
        """A replica's logs: ``{podName: text}``, or with ``follow`` ``(podName, line)`` pairs
        as they are written, in that order, until the experiment ends (``close()`` stops it).

        ``replica`` is a pod name or its short form (``worker-1``); ``tail`` keeps the last lines.
        """
        pod = pod_name(experiment_id, replica) if replica else None
        path = f"experiment/logs/{quote(experiment_id)}"
        params = {"podName": pod, "tailLines": tail}
        if not follow:
            result = self._call("GET", path, params=params)
            return {item["podName"]: item.get("podLog") or "" for item in result["logContent"]}
        return self.log_stream(experiment_id, replica=replica, tail=tail).open()

    def log_stream(self, experiment_id: str, *, replica: str | None = None, tail: int | None = None) -> LogStream:
        """``logs(..., follow=True)`` not yet opened: a thread may :meth:`~LogStream.close` it
        even while :meth:`~LogStream.open` waits for the first line."""
        pod = pod_name(experiment_id, replica) if replica else None
        params = {"podName": pod, "tailLines": tail, "follow": "true"}
        return self._stream(f"experiment/logs/{quote(experiment_id)}", params, pod)

    def all_logs(self) -> dict[str, dict[str, str]]:
        """``GET /experiment/logs``: ``{experimentId: {podName: text}}`` for every experiment."""
        return {
            entry["experimentId"]: {
                item["podName"]: item.get("podLog") or "" for item in entry["logContent"]
            }
            for entry in self._call("GET", "experiment/logs")
        }

    def wait(
        self,
        experiment_id: str,
        timeout: float | None = None,
        *,
        raise_on_failure: bool = False,
        until: Iterable[str] = (),
        poll_interval: float = 0.5,
    ) -> Experiment:
        """Block until the experiment is terminal (Succeeded, Failed or Stopped), or has one of the
        statuses in ``until`` (e.g. ``("Running",)``), and return it.

        Raises :class:`WaitTimeout` after ``timeout`` seconds and, with ``raise_on_failure``,
        :class:`ExperimentFailed` when it failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted = TERMINAL_STATUSES.union(until)
        while True:
            experiment = self.get(experiment_id)
            if experiment.get("status") in wanted:
                if raise_on_failure and experiment.get("status") == "Failed":
                    raise ExperimentFailed(experiment)
                return experiment
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(experiment, timeout or 0)
                time.sleep(min(poll_interval, left))
            else:
                time.sleep(poll_interval)

    # -- metrics --------------------------------------------------------------------

    def metrics(
        self, experiment_id: str, *, since: int | None = None, name: str | None = None,
        replica: str | None = None, max_points: int | None = None,
    ) -> Metrics:
        """``{experimentId, cursor, series}``: every series (one metric of one replica from one
        source), or only ``name``'s / ``replica``'s (``worker-1`` or the pod name).

        ``since`` (an earlier answer's ``cursor``) keeps only newer points; a series longer
        than ``max_points`` (server default 1000) comes downsampled, keeping its extremes and
        its newest point.
        """
        params = {
            "since": since, "name": name, "maxPoints": max_points,
            "replica": pod_name(experiment_id, replica) if replica else None,
        }
        return self._call("GET", f"experiment/{quote(experiment_id)}/metrics", params=params)

    def params(self, experiment_id: str) -> ParamList:
        """The parameters the replicas logged: ``[{key, value, replica}]``."""
        return self._call("GET", f"experiment/{quote(experiment_id)}/params")

    def metrics_frame(
        self, experiment_id: str, *, name: str | None = None, replica: str | None = None,
        max_points: int | None = None,
    ) -> Any:
        """:meth:`metrics` as a pandas DataFrame, one row per point: name, replica (short),
        source, step, value, time (UTC). Needs pandas."""
        frames.pandas()
        return frames.metrics_frame(self.metrics(experiment_id, name=name, replica=replica, max_points=max_points))

    def params_frame(self, experiment_id: str) -> Any:
        """:meth:`params` as a pandas DataFrame (key, value, replica). Needs pandas."""
        frames.pandas()
        return frames.params_frame(experiment_id, self.params(experiment_id))

    def comparison(
        self, ids: Sequence[str] = (), *, prefix: str | None = None, status: str | None = None,
        metric: str | None = None, max_points: int | None = None, sweep: str | None = None,
    ) -> Comparison:
        """The experiments ``ids`` (in that order), or the trials of ``sweep`` (best first, with
        their parameters and objective), else every experiment; kept when their name starts
        with ``prefix`` and their status is ``status`` (any case); with their metrics (only
        ``metric``'s when given) and parameters."""
        columns: dict[str, dict[str, Any]] = {}
        labels: dict[str, str] = {}
        if sweep is not None:
            if ids:
                raise ValueError("give experiment ids or a sweep, not both")
            columns, labels = trial_columns(self.get_sweep(sweep))
            ids = list(columns)
        chosen = [self.get(i) for i in ids] if ids or sweep else self.list(status)
        kept = [
            e for e in chosen
            if e["name"].startswith(prefix or "") and (not status or e["status"].lower() == status.lower())
        ]
        if not kept:
            given = (" ".join(ids) if not sweep else f"sweep {sweep}", prefix and f"name {prefix}*", status)
            wanted = ", ".join(filter(None, given))
            raise ValueError(f"no experiment to compare ({wanted or 'none exists'})")
        ids = [e["experimentId"] for e in kept]
        return Comparison(
            experiments=kept,
            metrics={i: self.metrics(i, name=metric, max_points=max_points) for i in ids},
            params={i: self.params(i) for i in ids},
            metric=metric,
            columns=columns,
            labels=labels,
        )

    def compare(
        self, ids: Sequence[str] = (), *, prefix: str | None = None, status: str | None = None,
        metric: str | None = None, sweep: str | None = None,
    ) -> Any:
        """A pandas DataFrame, one row per experiment (see :meth:`comparison` for which):
        name, status, duration, a sweep's trial parameters and objective, the env vars /
        command options / parameters that differ, and ``<metric>.last``/``.min``/``.max`` of
        each metric (or of ``metric``). Needs pandas."""
        frames.pandas()
        return self.comparison(ids, prefix=prefix, status=status, metric=metric, sweep=sweep).frame()

    # -- environments ----------------------------------------------------------------

    def create_environment(self, spec: Mapping[str, Any] | str) -> Environment:
        """Store an EnvironmentSpec (``name``, ``dockerImage``, ``kernelSpec`` ...)."""
        return self._call("POST", "environment", body=spec)

    def list_environments(self) -> EnvironmentList:
        return self._call("GET", "environment")

    def get_environment(self, name: str) -> Environment:
        return self._call("GET", f"environment/{quote(name)}")

    def patch_environment(self, name: str, spec: Mapping[str, Any] | str) -> Environment:
        return self._call("PATCH", f"environment/{quote(name)}", body=spec)

    def delete_environment(self, name: str) -> Environment:
        return self._call("DELETE", f"environment/{quote(name)}")
