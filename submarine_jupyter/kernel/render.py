"""How experiments look in a notebook: status badges, tables and text summaries.

Every view comes as HTML (for rich front-ends) and as plain text (terminals, logs, tests);
the magics and the widget share these so a status looks the same everywhere.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..wire.constants import replica_label
from .types import Experiment, Target

STATUS_COLOURS = {
    "Accepted": "#757575",
    "Created": "#00838f",
    "Running": "#1565c0",
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "Deleted": "#424242",
    "Pending": "#757575",
    "Stopped": "#424242",
}


def status_badge(status: str | None) -> str:
    """A coloured pill with the status (replica states too) as HTML."""
    text = status or "Unknown"
    colour = STATUS_COLOURS.get(text, "#616161")
    return (
        f'<span class="submarine-status" style="background:{colour};color:#fff;'
        f'border-radius:8px;padding:1px 8px;font-size:90%">{html.escape(text)}</span>'
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def elapsed(experiment: Experiment, now: datetime | None = None) -> timedelta | None:
    """Time from acceptance to the end (or to ``now`` while it runs)."""
    start = _parse_time(experiment.get("acceptedTime"))
    if start is None:
        return None
    end = _parse_time(experiment.get("finishedTime")) or now or datetime.now(UTC)
    return max(end - start, timedelta(0))


def duration(experiment: Experiment, now: datetime | None = None) -> timedelta | None:
    """Time from start (running, else created) to the end, or to ``now`` while it runs (as the
    panel counts it); ``None`` before it started."""
    start = _parse_time(experiment.get("runningTime") or experiment.get("createdTime"))
    if start is None:
        return None
    end = _parse_time(experiment.get("finishedTime")) or now or datetime.now(UTC)
    return max(end - start, timedelta(0))


def format_elapsed(delta: timedelta | None) -> str:
    """``1:02:03`` style, whole seconds; ``-`` when unknown."""
    if delta is None:
        return "-"
    return str(timedelta(seconds=int(delta.total_seconds())))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, a header underline, one row per line."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


CELL_STYLE = "text-align:left;padding:2px 16px 2px 0"


#: Cells of a table beside something else (a chart): tighter, in a smaller font.
COMPACT_CELL_STYLE = "text-align:left;padding:0 10px 0 0;font-size:90%;line-height:1.6"


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]], cell_style: str = CELL_STYLE) -> str:
    """An HTML table; cells are HTML already (escape text before passing it)."""
    head = "".join(f"<th style='{cell_style}'>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{cell_style}'>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table class='submarine-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def roles_summary(spec: Mapping[str, Any] | None) -> str:
    """``Master x1, Worker x2`` for an experiment spec (``meta``/``environment``/``spec``)."""
    roles = (spec or {}).get("spec") or {}
    return ", ".join(f"{role} x{task.get('replicas', 1)}" for role, task in roles.items())


EXPERIMENT_HEADERS = ("ID", "NAME", "STATUS", "TARGET", "FRAMEWORK", "ROLES", "ELAPSED")


def experiment_row(experiment: Experiment) -> list[str]:
    meta = (experiment.get("spec") or {}).get("meta") or {}
    return [
        experiment.get("experimentId", ""),
        experiment.get("name", ""),
        experiment.get("status", ""),
        experiment.get("target", ""),
        str(meta.get("framework", "")),
        roles_summary(experiment.get("spec")),
        format_elapsed(elapsed(experiment)),
    ]


def experiments_table(experiments: Sequence[Experiment]) -> tuple[str, str]:
    """The ``%submarine list`` table as (HTML with coloured statuses, plain text)."""
    if not experiments:
        return "<i>No experiments.</i>", "No experiments."
    rows = [experiment_row(e) for e in experiments]
    html_rows = [
        [html.escape(c) if i != 2 else status_badge(c) for i, c in enumerate(row)] for row in rows
    ]
    return html_table(EXPERIMENT_HEADERS, html_rows), text_table(EXPERIMENT_HEADERS, rows)


REPLICA_HEADERS = ("REPLICA", "STATE", "RESTARTS", "EXIT CODE")


TARGET_HEADERS = ("TARGET", "BACKEND", "API", "REACHABLE", "NAMESPACE", "CAPACITY")


def targets_table(targets: Sequence[Target]) -> tuple[str, str]:
    """The ``%submarine targets`` table as (HTML, plain text); the default is starred."""
    rows = []
    for t in targets:
        capacity: Mapping[str, Any] = t.get("capacity") or {}
        shown = [f"{k}={v}" for k, v in capacity.items() if v is not None]
        reachable = "yes" if t["reachable"] else f"no: {t.get('message') or 'unreachable'}"
        rows.append([t["name"] + (" *" if t["default"] else ""), t["backend"], t.get("api") or "",
                     reachable, t.get("namespace") or "", ", ".join(shown)])
    cells = [[html.escape(c) for c in row] for row in rows]
    return html_table(TARGET_HEADERS, cells), text_table(TARGET_HEADERS, rows)


def replica_rows(experiment: Experiment) -> list[list[str]]:
    """One row per replica: short name, state, restarts, exit code."""
    experiment_id = experiment.get("experimentId", "")
    return [
        [
            replica_label(experiment_id, replica["name"]),
            replica.get("state") or "",
            str(replica.get("restarts") or 0),
            "" if replica.get("exitCode") is None else str(replica["exitCode"]),
        ]
        for replica in experiment.get("replicas") or []
    ]


def replicas_html(experiment: Experiment) -> str:
    rows = replica_rows(experiment)
    if not rows:
        return "<i>No replicas started yet.</i>"
    cells = [
        [html.escape(r[0]), status_badge(r[1]), html.escape(r[2]), html.escape(r[3])] for r in rows
    ]
    return html_table(REPLICA_HEADERS, cells)


#: Text that keeps its line breaks and wraps at word boundaries (a long word still wraps).
PRE_STYLE = "margin:0;font-size:12px;line-height:1.35;white-space:pre-wrap;word-break:normal;overflow-wrap:anywhere"


def pre_html(text: str, colour: str | None = None) -> str:
    """Text as a ``<pre>`` block (logs, tracebacks): line breaks kept, wrapped at words."""
    style = PRE_STYLE + (f";color:{colour}" if colour else "")
    return f"<pre style='{style}'>{html.escape(text)}</pre>"


def lineage(experiment: Experiment) -> list[str]:
    """Where an experiment comes from and what came of it: ``re-run of ID``, ``re-run as
    ID, ID``, ``from template NAME``, ``trial of sweep NAME``."""
    parts = []
    if experiment.get("rerunOf"):
        parts.append(f"re-run of {experiment['rerunOf']}")
    if experiment.get("reruns"):
        parts.append("re-run as " + ", ".join(experiment["reruns"]))
    if experiment.get("template"):
        parts.append(f"from template {experiment['template']}")
    if experiment.get("sweep"):
        parts.append(f"trial of sweep {experiment['sweep']}")
    return parts


def pending_text(experiment: Experiment) -> str | None:
    """What to say about a spec PATCHed after the end (recorded, never run), if any."""
    pending = experiment.get("pendingSpec")
    if not pending:
        return None
    return (
        f"a new spec ({roles_summary(pending)}) was recorded after it ended and has not run; "
        f"%submarine rerun {experiment.get('experimentId', '')} runs it"
    )


def details_html(experiment: Experiment) -> str:
    """Lineage and a pending spec as HTML (empty when there is neither)."""
    parts = [html.escape(part) for part in lineage(experiment)]
    pending = pending_text(experiment)
    if pending:
        parts.append(f"<span style='color:#ef6c00'>{html.escape(pending)}</span>")
    return "<span style='font-size:90%'>" + " · ".join(parts) + "</span>" if parts else ""


def summary_text(experiment: Experiment) -> str:
    """A few lines that say what the widget shows, for front-ends without widgets."""
    lines = [
        f"{experiment.get('name', '')} ({experiment.get('experimentId', '')}): "
        f"{experiment.get('status', '')}, elapsed {format_elapsed(elapsed(experiment))}"
    ]
    if lineage(experiment):
        lines.append("  " + "; ".join(lineage(experiment)))
    pending = pending_text(experiment)
    if pending:
        lines.append(f"  {pending}")
    if experiment.get("statusMessage"):
        lines.append(f"  {experiment['statusMessage']}")
    rows = replica_rows(experiment)
    if rows:
        lines.extend("  " + line for line in text_table(REPLICA_HEADERS, rows).splitlines())
    return "\n".join(lines)


class TextFallback:
    """Mixed into a widget: its ``summary()`` is its ``text/plain`` (front-ends without
    widgets, terminals, nbconvert) and what IPython's pretty printer shows."""

    summary: Callable[[], str]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is not None:
            bundle["text/plain"] = self.summary()
        return bundle

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())
