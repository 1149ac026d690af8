"""A live view of a sweep: its trials with their parameters, status and objective, best first.

It reads the sweep (``GET /api/v1/sweep/{name}``) from a daemon thread until the sweep has
ended, so it keeps updating while other cells run; one view per sweep updates (a newer one
takes over, as with experiments). The tables are pure functions of a sweep, as HTML and as
text; where widgets cannot render, the text is shown.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Sequence

import ipywidgets as widgets

from . import render
from .errors import SubmarineError
from .templates_sweeps import TemplatesAndSweeps
from .types import Sweep, Trial

#: Statuses a sweep never leaves.
SWEEP_ENDED = frozenset({"Succeeded", "Failed", "Stopped"})

_VIEWS: weakref.WeakValueDictionary[str, SweepView] = weakref.WeakValueDictionary()
_VIEWS_LOCK = threading.Lock()


# -- pure: a sweep as text and tables ---------------------------------------------------


def format_objective(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def trial_text(trial: Trial) -> str:
    """``#2 lr=0.01 batch=32``."""
    return " ".join([f"#{trial['index']}", *(f"{k}={v}" for k, v in trial["params"].items())])


def best_trial(sweep: Sweep) -> Trial | None:
    return next((t for t in sweep["trials"] if t["index"] == sweep.get("best")), None)


def progress(sweep: Sweep) -> str:
    """``3 of 4 trials ended``."""
    ended = sum(1 for t in sweep["trials"] if t["status"] in SWEEP_ENDED)
    return f"{ended} of {len(sweep['trials'])} trials ended"


def objective_name(sweep: Sweep) -> str | None:
    """``loss (min)``, or ``None`` without an objective."""
    objective = sweep.get("objective")
    return f"{objective['metric']} ({objective.get('goal', 'min')})" if objective else None


def facts(sweep: Sweep) -> str:
    """``template train, 1 of 4 trials ended, 2 at a time, objective loss (min)``."""
    text = f"template {sweep['template']}, {progress(sweep)}, {sweep['parallel']} at a time"
    objective = objective_name(sweep)
    return f"{text}, objective {objective}" if objective else text


def headline(sweep: Sweep) -> str:
    """``grid: Running; template train, 1 of 4 trials ended, ...``."""
    return f"{sweep['name']}: {sweep['status']}; {facts(sweep)}"


def best_text(sweep: Sweep) -> str | None:
    """``best: #2 lr=0.01 batch=32, loss 0.032 (experiment_..)`` once a trial has an objective."""
    best = best_trial(sweep)
    objective = sweep.get("objective")
    if best is None or objective is None:
        return None
    return (
        f"best: {trial_text(best)}, {objective['metric']} {format_objective(best['objective'])} "
        f"({best['experimentId']})"
    )


def trials_table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (text) of the trials, in the sweep's order (best first)."""
    names = list(dict.fromkeys(key for trial in sweep["trials"] for key in trial["params"]))
    objective = sweep.get("objective")
    headers = ["TRIAL", *names, "STATUS", objective["metric"] if objective else "OBJECTIVE", "EXPERIMENT"]
    rows = [
        [
            str(trial["index"]), *(trial["params"].get(name, "") for name in names), trial["status"],
            format_objective(trial["objective"]), trial["experimentId"] or "",
        ]
        for trial in sweep["trials"]
    ]
    return headers, rows


def sweep_text(sweep: Sweep) -> str:
    """The whole view as text: headline, status message, best trial, the trials' table."""
    lines = [headline(sweep)]
    if sweep.get("statusMessage"):
        lines.append(f"  {sweep['statusMessage']}")
    best = best_text(sweep)
    if best:
        lines.append(best)
    headers, rows = trials_table(sweep)
    lines.append(render.text_table(headers, rows) if rows else "No trials.")
    return "\n".join(lines)


def trials_html(sweep: Sweep) -> str:
    headers, rows = trials_table(sweep)
    status_column = headers.index("STATUS")
    cells = [
        [render.status_badge(c) if i == status_column else html.escape(c) for i, c in enumerate(row)]
        for row in rows
    ]
    best = sweep.get("best")
    for row, trial in zip(cells, sweep["trials"], strict=True):
        if trial["index"] == best:
            row[0] = f"<b>{row[0]} ★</b>"
    return render.html_table(headers, cells)


SWEEP_HEADERS = ("NAME", "TEMPLATE", "STATUS", "TRIALS", "BEST")


def sweeps_table(sweeps: Sequence[Sweep]) -> tuple[str, str]:
    """The ``%submarine sweep list`` table as (HTML with coloured statuses, plain text)."""
    if not sweeps:
        return "<i>No sweeps.</i>", "No sweeps."
    rows = []
    for sweep in sweeps:
        best = best_trial(sweep)
        objective = sweep.get("objective")
        shown = f"{trial_text(best)} {format_objective(best['objective'])}" if best and objective else ""
        rows.append([sweep["name"], sweep["template"], sweep["status"], progress(sweep), shown])
    html_rows = [[html.escape(c) if i != 2 else render.status_badge(c) for i, c in enumerate(row)] for row in rows]
    return render.html_table(SWEEP_HEADERS, html_rows), render.text_table(SWEEP_HEADERS, rows)


# -- the live view ----------------------------------------------------------------------


class SweepView(render.TextFallback, widgets.VBox):
    """Shows a sweep and keeps it current until it ends; its button stops the sweep."""

    def __init__(
        self, client: TemplatesAndSweeps, sweep: Sweep | str, *, interval: float = 1.0, autostart: bool = True
    ) -> None:
        self.client = client
        self.interval = interval
        self.sweep: Sweep = client.get_sweep(sweep) if isinstance(sweep, str) else sweep
        self.name: str = self.sweep["name"]
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._gone = False
        self.header = widgets.HTML()
        self.table = widgets.HTML()
        self.stop_button = widgets.Button(
            description="Stop sweep", button_style="warning", icon="stop",
            tooltip="Stop its running trials and never start the waiting ones",
        )
        self.message = widgets.HTML()
        self.stop_button.on_click(lambda _: self.stop_sweep())
        super().__init__(children=[self.header, self.table, self.stop_button, self.message])
        self.apply(self.sweep)
        if autostart:
            self.start()

    @property
    def ended(self) -> bool:
        """Whether the sweep has ended (or is gone), so nothing will change any more."""
        return self._gone or self.sweep["status"] in SWEEP_ENDED

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def apply(self, sweep: Sweep) -> None:
        """Show ``sweep`` (no I/O, safe from any thread)."""
        with self._lock:
            self.sweep = sweep
            lines = [
                f"<b>{html.escape(sweep['name'])}</b> {render.status_badge(sweep['status'])} "
                f"{html.escape(facts(sweep))}"
            ]
            for extra in (sweep.get("statusMessage"), best_text(sweep)):
                if extra:
                    lines.append(html.escape(extra))
            self.header.value = "<br>".join(lines)
            self.table.value = trials_html(sweep)
            self.stop_button.disabled = self.ended

    def refresh(self) -> None:
        """Read the sweep once and show it."""
        try:
            self.apply(self.client.get_sweep(self.name))
        except SubmarineError as error:
            self._gone = error.code == 404
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(error))}</span>"

    def start(self) -> None:
        """Keep updating until the sweep ends or :meth:`stop` is called; an older view of the
        same sweep stops updating."""
        if self.polling or self.ended:
            return
        with _VIEWS_LOCK:
            older = _VIEWS.get(self.name)
            if older is not None and older is not self:
                older.stop()
            _VIEWS[self.name] = self
        self._stopped.clear()
        self._thread = threading.Thread(target=self._poll, name=f"submarine-sweep-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the updates (the sweep goes on)."""
        self._stopped.set()

    def close(self) -> None:
        self.stop()
        super().close()

    def _poll(self) -> None:
        while not self._stopped.wait(self.interval):
            self.refresh()
            if self.ended:
                return

    def stop_sweep(self) -> None:
        """Stop the sweep: its running trials stop (kept, as Stopped), its waiting ones never run."""
        try:
            self.apply(self.client.stop_sweep(self.name))
        except SubmarineError as error:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(error))}</span>"
            return
        self.message.value = f"Stopped sweep {html.escape(self.name)}."

    def summary(self) -> str:
        return sweep_text(self.sweep)
