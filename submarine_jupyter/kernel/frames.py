"""pandas DataFrames of the API's answers; pandas is optional and imported only here."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..wire.constants import replica_label
from .types import Metrics, Param

METRIC_COLUMNS = ("name", "replica", "source", "step", "value", "time")
PARAM_COLUMNS = ("key", "value", "replica")


def pandas() -> Any:
    """The pandas module, or an ImportError that says how to get it."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ImportError("DataFrames need pandas, which is not installed: pip install pandas") from None


def metrics_frame(metrics: Metrics) -> Any:
    """One row per point: name, replica (short: ``worker-1``), source, step, value, time (UTC)."""
    pd = pandas()
    experiment_id = metrics["experimentId"]
    rows = [
        (series["name"], replica_label(experiment_id, series["replica"]), series["source"], step, value, when)
        for series in metrics["series"]
        for step, value, when in zip(series["steps"], series["values"], series["times"], strict=True)
    ]
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return frame


def params_frame(experiment_id: str, params: Sequence[Param]) -> Any:
    """One row per logged parameter: key, value, replica (short)."""
    rows = [(p["key"], p["value"], replica_label(experiment_id, p["replica"])) for p in params]
    return pandas().DataFrame(rows, columns=list(PARAM_COLUMNS))


def rows_frame(rows: Sequence[Mapping[str, Any]], index: str, durations: Sequence[str] = ()) -> Any:
    """A table of ``rows`` indexed by ``index``; the ``durations`` columns (seconds) as timedeltas."""
    pd = pandas()
    frame = pd.DataFrame([dict(row) for row in rows]).set_index(index)
    for column in durations:
        frame[column] = pd.to_timedelta(frame[column], unit="s")
    return frame
