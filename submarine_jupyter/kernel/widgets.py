"""A live view of one experiment: status, lineage, replicas, metrics, logs; stop, resize, delete.

It keeps itself current (:mod:`.live`) until the experiment is terminal. Everything shown
is widget state, so a notebook saved with its widget state shows it without a kernel;
where widgets cannot render, a text summary is shown instead.
"""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Sequence

import ipywidgets as widgets

from . import render
from .client import TERMINAL_STATUSES, Experiment, SubmarineClient, SubmarineError
from .live import LiveUpdates
from .log_view import LogView
from .metrics_view import MetricsView


class ExperimentWidget(render.TextFallback, widgets.VBox):
    """Shows an experiment and keeps it up to date until it ends.

    ``interval`` is the polling period in seconds, ``tail`` the log lines kept, ``charts``
    the metrics charted (default: the first reported; the widget offers the others).
    """

    def __init__(
        self,
        client: SubmarineClient,
        experiment: Experiment | str,
        *,
        interval: float = 1.0,
        tail: int = 200,
        charts: Sequence[str] | None = None,
        autostart: bool = True,
    ) -> None:
        self.client = client
        self.interval = interval
        self.tail = tail
        if isinstance(experiment, str):
            experiment = client.get(experiment)
        self.experiment: Experiment = experiment
        self.experiment_id: str = experiment["experimentId"]
        self._workers_shown = False
        self._lock = threading.RLock()
        self._metrics_served = True

        self.header = widgets.HTML()
        self.details = widgets.HTML()
        self.status_message = widgets.HTML()
        self.replicas = widgets.HTML()
        self.metrics = MetricsView(
            self.experiment_id, functools.partial(client.metrics, self.experiment_id), charts
        )
        self.logs = LogView(self.experiment_id, tail)
        self.workers = widgets.BoundedIntText(
            min=1, max=1024, description="Workers:", layout=widgets.Layout(width="160px")
        )
        self.resize_button = widgets.Button(description="Resize", icon="arrows-v")
        self.stop_button = widgets.Button(
            description="Stop", button_style="warning", icon="stop",
            tooltip="End every replica; the experiment, its logs and metrics are kept",
        )
        self.delete_button = widgets.Button(
            description="Delete", button_style="danger", icon="trash",
            tooltip="Stop it and remove it with its logs and metrics (asks first)",
        )
        self.confirm_button = widgets.Button(description="Yes, delete it", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.confirm = widgets.HBox(
            [
                widgets.HTML(
                    f"Delete <b>{html.escape(self.experiment_id)}</b> with its logs and metrics? "
                    "(Stop keeps them.)"
                ),
                self.confirm_button,
                self.cancel_button,
            ],
            layout=widgets.Layout(display="none"),
        )
        self.message = widgets.HTML()
        self.live = LiveUpdates(self)

        self.resize_button.on_click(lambda _: self.resize(self.workers.value))
        self.stop_button.on_click(lambda _: self.stop_experiment())
        self.delete_button.on_click(lambda _: self._ask_confirmation(True))
        self.cancel_button.on_click(lambda _: self._ask_confirmation(False))
        self.confirm_button.on_click(lambda _: self.delete())

        super().__init__(
            children=[
                self.header,
                self.details,
                self.status_message,
                self.replicas,
                self.metrics,
                self.logs,
                widgets.HBox([self.workers, self.resize_button, self.stop_button, self.delete_button]),
                self.confirm,
                self.message,
            ]
        )
        self.apply(experiment)
        if autostart:
            self._read_metrics()  # shown at once (and in the state of the cell that showed it)
            self.start()

    # -- state ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.experiment.get("status", "")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def collecting(self) -> bool:
        """Whether the server may still add metric points to what this widget shows."""
        return self._metrics_served and self.status != "Deleted" and self.metrics.collecting

    def apply(self, experiment: Experiment) -> None:
        """Show ``experiment`` (no I/O, safe from any thread)."""
        with self._lock:
            self.experiment = experiment
            self.header.value = (
                f"<b>{html.escape(experiment.get('name', ''))}</b> "
                f"<code>{html.escape(self.experiment_id)}</code> "
                f"{render.status_badge(experiment.get('status'))} "
                f"elapsed {render.format_elapsed(render.elapsed(experiment))}"
            )
            self.details.value = render.details_html(experiment)
            message = experiment.get("statusMessage")
            colour = "#c62828" if self.status == "Failed" else None
            self.status_message.value = render.pre_html(message, colour) if message else ""
            self.replicas.value = render.replicas_html(experiment)
            roles = (experiment.get("spec") or {}).get("spec") or {}
            if "Worker" in roles and not self._workers_shown:
                self.workers.value = int(roles["Worker"].get("replicas", 1))
                self._workers_shown = True
            can_resize = "Worker" in roles and not self.terminal
            self.workers.disabled = self.resize_button.disabled = not can_resize
            self.stop_button.disabled = self.terminal
            self.delete_button.disabled = self.status == "Deleted" or self.confirm.layout.display != "none"
            self.logs.show_replicas(experiment)

    # -- I/O ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch the experiment and its new metric points once and show them, with the log
        lines followed since the last refresh."""
        try:
            self.apply(self.client.get(self.experiment_id))
        except SubmarineError as error:
            if error.code == 404:
                self.apply({**self.experiment, "status": "Deleted"})
            self._show_error(error)
        else:
            self._read_metrics()
        finally:
            self.logs.flush()

    def _read_metrics(self) -> None:
        """The new metric points; a server without the metrics routes (an older release)
        gets no more requests for them."""
        if not self._metrics_served:
            return
        try:
            self.metrics.refresh()
        except SubmarineError as error:
            if error.code == 404 and "Not found experiment" not in error.message:
                self._metrics_served = False
            else:
                self._show_error(error)

    def start(self) -> None:
        """Keep updating until the experiment is terminal or :meth:`stop` is called (one
        view per experiment updates: starting this one stops an older one)."""
        self.live.start()

    def stop(self) -> None:
        """Stop the updates (the experiment keeps running)."""
        self.live.stop()

    @property
    def polling(self) -> bool:
        return self.live.running

    def close(self) -> None:
        self.stop()
        super().close()

    # -- actions --------------------------------------------------------------------

    def resize(self, workers: int) -> None:
        """Patch the experiment to ``workers`` Worker replicas."""
        try:
            spec = self.client.resize(self.experiment_id, {"Worker": workers})
        except SubmarineError as error:
            self._show_error(error)
            return
        self.message.value = f"Resized to {spec['spec']['Worker']['replicas']} workers."
        self._workers_shown = False
        self.refresh()

    def _show_error(self, error: SubmarineError) -> None:
        self.message.value = f"<span style='color:#c62828'>{html.escape(str(error))}</span>"

    def _ask_confirmation(self, show: bool) -> None:
        self.confirm.layout.display = "flex" if show else "none"
        self.delete_button.disabled = show

    def stop_experiment(self) -> None:
        """Stop the experiment: every replica ends, its record, logs and metrics stay (``Stopped``)."""
        try:
            stopped = self.client.stop(self.experiment_id)
        except SubmarineError as error:
            self._show_error(error)
            return
        self.apply(stopped)
        self.message.value = f"Stopped {html.escape(self.experiment_id)}; its logs and metrics are kept."

    def delete(self) -> None:
        """Delete the experiment (stops its replicas, removes its logs and metrics) and stop updating."""
        self._ask_confirmation(False)
        try:
            deleted = self.client.delete(self.experiment_id)
        except SubmarineError as error:
            self._show_error(error)
            return
        self.stop()
        self.apply(deleted)
        self.message.value = f"Deleted {html.escape(self.experiment_id)}."

    # -- text fallback --------------------------------------------------------------

    def summary(self) -> str:
        """What the widget shows, as text: the experiment and its metrics' latest values."""
        metrics = self.metrics.summary()
        text = render.summary_text(self.experiment)
        return f"{text}\n{metrics}" if metrics else text
