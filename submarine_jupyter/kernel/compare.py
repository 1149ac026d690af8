"""Runs side by side (pure): what differs between experiments, and where their metrics ended.

A run's value of a metric is its *primary* series: the first replica that reports it in the
order replicas are listed (Chief or Master, else worker-0), from the first source that has
it (``log``, then ``tracking``, then ``tensorboard``). What differs: ``meta.envVars``, the
options of ``meta.cmd`` (``--lr 0.1``, ``--lr=0.1``; the whole command as ``cmd`` when its
other words differ) and logged parameters.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..wire.constants import replica_label, replica_sort_key
from . import frames, render
from .charts import ChartSeries, series_key
from .types import Experiment, Metrics, MetricSeries, Param, Sweep

SOURCE_ORDER = ("log", "tracking", "tensorboard")
#: The metric a chart shows when none is chosen and the runs report it.
PREFERRED_METRIC = "loss"
STATS = ("last", "min", "max")


def primary(series: Sequence[MetricSeries], name: str) -> MetricSeries | None:
    """The series of ``name`` that stands for the run (see the module docstring)."""
    candidates = [s for s in series if s["name"] == name]
    return min(
        candidates,
        key=lambda s: (replica_sort_key(s["replica"]), SOURCE_ORDER.index(s["source"])),
        default=None,
    )


def command_options(cmd: str) -> tuple[dict[str, str], list[str]]:
    """``python t.py --lr 0.1 --fast`` -> ``({"lr": "0.1", "fast": "true"}, ["python", "t.py"])``."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    options: dict[str, str] = {}
    positional: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if _is_option(word):
            key, sep, value = word.lstrip("-").partition("=")
            if not sep:
                following = words[index + 1] if index + 1 < len(words) else None
                if following is not None and not _is_option(following):
                    value, index = following, index + 1
                else:
                    value = "true"
            options[key] = value
        else:
            positional.append(word)
        index += 1
    return options, positional


def _is_option(word: str) -> bool:
    if len(word) < 2 or not word.startswith("-"):
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False  # a negative number


def _differing(values: Sequence[Mapping[str, str]]) -> list[str]:
    """Keys whose value is not the same in every mapping (missing counts as different)."""
    keys = sorted({key for mapping in values for key in mapping})
    return [key for key in keys if len({mapping.get(key) for mapping in values}) > 1]


@dataclass(frozen=True)
class Comparison:
    """Experiments with their metrics and parameters; ``metric`` narrows the table to one."""

    experiments: list[Experiment]
    metrics: dict[str, Metrics]
    params: dict[str, list[Param]] = field(default_factory=dict)
    metric: str | None = None
    #: Columns of each run shown after its duration (a sweep's trial parameters and objective).
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Legend texts by experiment id (a sweep's trial parameters), instead of the run's name.
    labels: dict[str, str] = field(default_factory=dict)

    def metric_names(self) -> list[str]:
        if self.metric:
            return [self.metric]
        return sorted({s["name"] for answer in self.metrics.values() for s in answer["series"]})

    def chart_metric(self) -> str | None:
        """The chosen metric, else ``loss`` when reported, else the first name."""
        names = self.metric_names()
        if self.metric or PREFERRED_METRIC not in names:
            return names[0] if names else None
        return PREFERRED_METRIC

    def series(self, name: str) -> list[tuple[Experiment, MetricSeries]]:
        """Each run's primary series of ``name`` (runs without it left out)."""
        found = []
        for experiment in self.experiments:
            answer = self.metrics.get(experiment["experimentId"])
            chosen = primary(answer["series"], name) if answer else None
            if chosen is not None:
                found.append((experiment, chosen))
        return found

    def rows(self) -> list[dict[str, Any]]:
        """One dict per run: experimentId, name, status, duration (seconds), its ``columns``, what differs
        (``env.K``, ``arg.K``, ``cmd``, ``param.K``), then ``<metric>.last``/``.min``/``.max``."""
        metas = [e["spec"]["meta"] for e in self.experiments]
        envs = [dict(meta.get("envVars") or {}) for meta in metas]
        parsed = [command_options(meta["cmd"]) for meta in metas]
        params = [self._params(e["experimentId"]) for e in self.experiments]
        env_keys, arg_keys = _differing(envs), _differing([options for options, _ in parsed])
        param_keys = _differing(params)
        commands_differ = len({tuple(words) for _, words in parsed}) > 1
        rows = []
        for experiment, env, (options, _), logged in zip(self.experiments, envs, parsed, params, strict=True):
            spent = render.duration(experiment)
            row: dict[str, Any] = {
                "experimentId": experiment["experimentId"],
                "name": experiment["name"],
                "status": experiment["status"],
                "duration": None if spent is None else spent.total_seconds(),
                **self.columns.get(experiment["experimentId"], {}),
            }
            row.update({f"env.{key}": env.get(key) for key in env_keys})
            row.update({f"arg.{key}": options.get(key) for key in arg_keys})
            if commands_differ:
                row["cmd"] = experiment["spec"]["meta"]["cmd"]
            row.update({f"param.{key}": logged.get(key) for key in param_keys})
            answer = self.metrics.get(experiment["experimentId"])
            for name in self.metric_names():
                chosen = primary(answer["series"], name) if answer else None
                stats = {"last": chosen["last"], "min": chosen["min"], "max": chosen["max"]} if chosen else {}
                row.update({f"{name}.{stat}": stats.get(stat) for stat in STATS})
            rows.append(row)
        return rows

    def _params(self, experiment_id: str) -> dict[str, str]:
        """Logged parameters by key; where replicas disagree, the first listed replica's."""
        ordered = sorted(self.params.get(experiment_id, []), key=lambda p: replica_sort_key(p["replica"]), reverse=True)
        return {p["key"]: p["value"] for p in ordered}

    def frame(self) -> Any:
        """:meth:`rows` as a pandas DataFrame indexed by experimentId (duration a timedelta)."""
        return frames.rows_frame(self.rows(), "experimentId", durations=("duration",))

    def table(self) -> tuple[str, str]:
        """:meth:`rows` as (HTML, plain text)."""
        rows = self.rows()
        if not rows:
            return "<i>No experiments.</i>", "No experiments."
        headers = list(rows[0])
        cells = [[_cell(column, row[column]) for column in headers] for row in rows]
        html_rows = [
            [render.status_badge(c) if h == "status" else html.escape(c) for h, c in zip(headers, row, strict=True)]
            for row in cells
        ]
        return render.html_table(headers, html_rows), render.text_table(headers, cells)

    def chart_series(self, name: str) -> list[ChartSeries]:
        """Each run's primary series of ``name``, as lines of one chart."""
        return [
            ChartSeries(
                key=f"{experiment['experimentId']}|{series_key(series)}", label=self.label(experiment, series),
                steps=list(series["steps"]), values=list(series["values"]),
            )
            for experiment, series in self.series(name)
        ]

    def label(self, experiment: Experiment, series: MetricSeries) -> str:
        """A run's legend text: its label, else its name and id's sequence number; and the
        replica when it is not the usual first one."""
        text = self.labels.get(experiment["experimentId"]) or (
            f"{experiment['name']} #{experiment['experimentId'].rsplit('_', 1)[-1]}"
        )
        replica = replica_label(experiment["experimentId"], series["replica"])
        return text if replica in ("master-0", "chief-0") else f"{text} · {replica}"


def trial_columns(sweep: Sweep) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """A sweep's started trials that still exist, best first: their columns (``trial``,
    ``trial.<param>``, ``objective``) and legend texts (``#2 lr=0.01 batch=32``), by experiment id."""
    columns: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    for trial in sweep["trials"]:
        experiment_id = trial["experimentId"]
        if experiment_id is None or trial["status"] == "Deleted":
            continue
        columns[experiment_id] = {
            "trial": trial["index"],
            **{f"trial.{key}": value for key, value in trial["params"].items()},
            "objective": trial["objective"],
        }
        labels[experiment_id] = " ".join([f"#{trial['index']}", *(f"{k}={v}" for k, v in trial["params"].items())])
    return columns, labels


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "duration":
        return render.format_elapsed(timedelta(seconds=value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
