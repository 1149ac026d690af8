"""An experiment's times: set once each, from the backend's times when it has them, in order."""

from __future__ import annotations

from datetime import datetime

from ..wire.constants import TERMINAL_STATUSES
from .domain import ExperimentRecord, Status

#: The times each status implies have been reached.
_TIMES_REACHED: dict[str, tuple[str, ...]] = {
    "Accepted": (),
    "Created": ("created_time",),
    "Running": ("created_time", "running_time"),
    "Succeeded": ("created_time", "running_time", "finished_time"),
    "Failed": ("created_time", "running_time", "finished_time"),
    "Stopped": ("finished_time",),  # whatever it reached before it was stopped
}


def now_iso() -> str:
    """Local time, ISO-8601 with milliseconds and offset, as the API document shows."""
    return iso(datetime.now())


def iso(when: datetime) -> str:
    return when.astimezone().isoformat(timespec="milliseconds")


def set_times(record: ExperimentRecord, status: Status, began: dict[Status, datetime]) -> None:
    """Set, once each, the times that reaching ``status`` implies: from ``began`` (when the
    backend says each status began) else now, never before the time before it
    (accepted <= created <= running <= finished, whatever the clocks or precision say)."""
    reached = _TIMES_REACHED[status]
    now = datetime.now().astimezone()
    wanted: dict[str, datetime | None] = {
        "created_time": began.get("Created") or began.get(status) or now,
        "running_time": began.get("Running") or (now if status == "Running" else None),
        "finished_time": (began.get(status) or now) if status in TERMINAL_STATUSES else None,
    }
    floor = datetime.fromisoformat(record.accepted_time) if record.accepted_time else None
    for name in ("created_time", "running_time", "finished_time"):
        if name in reached and getattr(record, name) is None and (when := wanted[name]) is not None:
            setattr(record, name, iso(when if floor is None else max(when, floor)))
        if (current := getattr(record, name)) is not None:
            stamp = datetime.fromisoformat(current)
            floor = stamp if floor is None else max(floor, stamp)
