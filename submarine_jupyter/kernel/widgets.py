"""A live view of one experiment: status, replicas, log tail, stop and resize.

Updates come from a daemon thread that polls the API, so they keep flowing while other
cells run (an asyncio task would stall behind a busy cell); the thread stops once the
experiment is terminal. Where widgets cannot render, the text summary is shown instead.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets

from . import render
from .client import TERMINAL_STATUSES, Experiment, SubmarineClient, SubmarineError, replica_label

ALL_REPLICAS = ""

#: The polling view of each experiment (weakly held: a view nobody shows can go away).
_LIVE: weakref.WeakValueDictionary[str, ExperimentWidget] = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


class ExperimentWidget(widgets.VBox):
    """Shows an experiment and keeps it up to date until it ends.

    ``interval`` is the polling period in seconds, ``tail`` the log lines kept per replica.
    """

    def __init__(
        self,
        client: SubmarineClient,
        experiment: Experiment | str,
        *,
        interval: float = 1.0,
        tail: int = 200,
        autostart: bool = True,
    ) -> None:
        self.client = client
        self.interval = interval
        self.tail = tail
        if isinstance(experiment, str):
            experiment = client.get(experiment)
        self.experiment: Experiment = experiment
        self.experiment_id: str = experiment["experimentId"]
        self._logs: dict[str, list[str]] = {}
        self._workers_shown = False
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

        self.header = widgets.HTML()
        self.replicas = widgets.HTML()
        self.replica_select = widgets.Dropdown(
            options=[("all replicas", ALL_REPLICAS)], value=ALL_REPLICAS, description="Logs:"
        )
        self.log_text = ""
        self.log_view = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.workers = widgets.BoundedIntText(
            min=1, max=1024, description="Workers:", layout=widgets.Layout(width="160px")
        )
        self.resize_button = widgets.Button(description="Resize", icon="arrows-v")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self.confirm_button = widgets.Button(description="Yes, delete it", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.confirm = widgets.HBox(
            [
                widgets.HTML(f"Delete <b>{html.escape(self.experiment_id)}</b> and stop its replicas?"),
                self.confirm_button,
                self.cancel_button,
            ],
            layout=widgets.Layout(display="none"),
        )
        self.message = widgets.HTML()

        self.replica_select.observe(lambda _: self._render_log_locked(), names="value")
        self.resize_button.on_click(lambda _: self.resize(self.workers.value))
        self.stop_button.on_click(lambda _: self._ask_confirmation(True))
        self.cancel_button.on_click(lambda _: self._ask_confirmation(False))
        self.confirm_button.on_click(lambda _: self.delete())

        super().__init__(
            children=[
                self.header,
                self.replicas,
                self.replica_select,
                self.log_view,
                widgets.HBox([self.workers, self.resize_button, self.stop_button]),
                self.confirm,
                self.message,
            ]
        )
        self.apply(experiment)
        if autostart:
            self.start()

    # -- state ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.experiment.get("status", "")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def apply(self, experiment: Experiment, logs: Mapping[str, str] | None = None) -> None:
        """Show ``experiment`` and new ``logs`` (``{podName: text}``, the latest lines of those
        replicas); no I/O, safe from any thread."""
        with self._lock:
            self.experiment = experiment
            self._render_header()
            self.replicas.value = render.replicas_html(experiment)
            roles = (experiment.get("spec") or {}).get("spec") or {}
            if "Worker" in roles and not self._workers_shown:
                self.workers.value = int(roles["Worker"].get("replicas", 1))
                self._workers_shown = True
            can_resize = "Worker" in roles and not self.terminal
            self.workers.disabled = self.resize_button.disabled = not can_resize
            self.stop_button.description = "Delete" if self.terminal else "Stop"
            self.stop_button.disabled = self.status == "Deleted"
            for pod, text in (logs or {}).items():  # replicas gone keep their last lines
                self._logs[pod] = text.splitlines()[-self.tail:]
            self._logs = dict(sorted(self._logs.items()))
            self._update_replica_options()
            self._render_log()

    def _render_header(self) -> None:
        experiment = self.experiment
        message = experiment.get("statusMessage")
        self.header.value = (
            f"<b>{html.escape(experiment.get('name', ''))}</b> "
            f"<code>{html.escape(self.experiment_id)}</code> "
            f"{render.status_badge(experiment.get('status'))} "
            f"elapsed {render.format_elapsed(render.elapsed(experiment))}"
            + (f"<br><small>{html.escape(message)}</small>" if message else "")
        )

    def _update_replica_options(self) -> None:
        pods = {replica["name"] for replica in self.experiment.get("replicas") or []} | set(self._logs)
        options = [("all replicas", ALL_REPLICAS)] + [
            (replica_label(self.experiment_id, pod), pod) for pod in sorted(pods)
        ]
        if tuple(options) != tuple(self.replica_select.options):
            selected = self.replica_select.value
            self.replica_select.options = options
            if selected in dict(options).values():
                self.replica_select.value = selected

    def _render_log_locked(self) -> None:
        with self._lock:
            self._render_log()

    def _render_log(self) -> None:
        selected = self.replica_select.value
        if selected:
            lines = self._logs.get(selected, [])
        else:
            share = max(self.tail // max(len(self._logs), 1), 10)
            lines = [
                f"[{replica_label(self.experiment_id, pod)}] {line}"
                for pod, pod_lines in self._logs.items()
                for line in pod_lines[-share:]
            ]
        self.log_text = "\n".join(lines[-self.tail:])
        self.log_view.value = render.log_html(self.log_text)

    # -- I/O ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch the experiment and its log tail once and show them."""
        try:
            experiment = self.client.get(self.experiment_id)
            logs = self.client.logs(self.experiment_id, tail=self.tail)
        except SubmarineError as error:
            if error.code == 404:
                self.apply({**self.experiment, "status": "Deleted"})
            self._show_error(error)
            return
        self.apply(experiment, logs)

    def start(self) -> None:
        """Poll in a daemon thread until the experiment is terminal or :meth:`stop` is called.

        One view per experiment polls: starting this one stops an older one (e.g. the widget
        of a cell that was run again), so re-running cells does not pile up threads.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        with _LIVE_LOCK:
            older = _LIVE.get(self.experiment_id)
            if older is not None and older is not self:
                older.stop()
            _LIVE[self.experiment_id] = self
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._poll, name=f"submarine-{self.experiment_id}", daemon=True
        )
        self._thread.start()

    def _poll(self) -> None:
        while not self._stopped.is_set():
            self.refresh()
            if self.terminal:
                return
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        """Stop the updates (the experiment keeps running)."""
        self._stopped.set()

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
        self.stop_button.disabled = show

    def delete(self) -> None:
        """Delete the experiment (stops its replicas) and stop updating."""
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

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = render.summary_text(self.experiment)
        return bundle

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(render.summary_text(self.experiment))
