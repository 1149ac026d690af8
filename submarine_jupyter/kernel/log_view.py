"""The widget's log box: followed lines in arrival order, with replica prefixes.

The box is the HTML widget's own element, which persists across updates (only its content
is replaced) and lays its content out bottom-up (``column-reverse``): the newest line is
visible by default, and a reader who scrolled up keeps their place as lines arrive. It holds
``tail`` to twice ``tail`` lines, shedding the oldest ``tail`` at once, so that place moves
only then (once per ``tail`` new lines), not on every update. A failed experiment shows its
failed replica's lines first (until the reader chooses another).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import ipywidgets as widgets

from ..wire.constants import replica_label, replica_sort_key
from . import render
from .types import Experiment

ALL_REPLICAS = ""
BOX_LAYOUT = {
    "display": "flex", "flex_flow": "column-reverse", "overflow": "auto", "max_height": "240px",
    "width": "100%", "padding": "4px", "border": "1px solid var(--jp-border-color2, #ccc)",
}


class LogView(widgets.VBox):
    """A replica selector over a bounded log box (``tail`` lines, see the module docstring)."""

    def __init__(self, experiment_id: str, tail: int = 200) -> None:
        self.experiment_id = experiment_id
        self.tail = tail
        self._lock = threading.RLock()
        self._all: list[tuple[str, str]] = []
        self._by_pod: dict[str, list[str]] = {}
        self._pods: set[str] = set()
        self._failed: list[str] = []
        self._chosen = False  # the reader picked a replica: automatic choices stop
        self._choosing = False
        self._dirty = False
        self.text = ""
        self.select = widgets.Dropdown(
            options=[("all replicas", ALL_REPLICAS)], value=ALL_REPLICAS, description="Logs:"
        )
        self.box = widgets.HTML(layout=widgets.Layout(**BOX_LAYOUT))
        self.select.observe(self._on_select, names="value")
        super().__init__(children=[self.select, self.box])
        self._render()

    def add(self, lines: Iterable[tuple[str, str]]) -> None:
        """Keep ``(podName, line)`` pairs, in the order given; :meth:`flush` shows them."""
        with self._lock:
            for pod, line in lines:
                own = self._by_pod.setdefault(pod, [])
                self._all.append((pod, line))
                own.append(line)
                for held in (self._all, own):
                    if len(held) > 2 * self.tail:
                        del held[: -self.tail]
                self._dirty = True
            if not self._pods.issuperset(self._by_pod):
                self._pods.update(self._by_pod)
                self._update_options(None)

    def flush(self) -> None:
        """Show the lines added since the last flush (one widget update, if any)."""
        with self._lock:
            if self._dirty:
                self._render()

    def show_replicas(self, experiment: Experiment) -> None:
        """Offer the experiment's replicas, failed ones first; a failed experiment shows the
        failed replica's log unless the reader has chosen one."""
        with self._lock:
            replicas = experiment.get("replicas") or []
            self._pods.update(r["name"] for r in replicas)
            self._failed = [r["name"] for r in replicas if r.get("state") == "Failed"]
            failed = self._failed if experiment.get("status") == "Failed" else []
            self._update_options(failed[0] if failed else None)
            self.flush()

    def _update_options(self, pick: str | None) -> None:
        failed_first = sorted(self._pods, key=lambda pod: (pod not in self._failed, replica_sort_key(pod)))
        options = [("all replicas", ALL_REPLICAS)] + [
            (replica_label(self.experiment_id, pod), pod) for pod in failed_first
        ]
        selected = pick if pick and not self._chosen else self.select.value
        self._choosing = True
        try:
            if tuple(options) != tuple(self.select.options):
                self.select.options = options
            self.select.value = selected if selected in self._pods else ALL_REPLICAS
        finally:
            self._choosing = False

    def _on_select(self, _change: object) -> None:
        with self._lock:
            if self._choosing:  # shown at the next flush
                self._dirty = True
                return
            self._chosen = True
            self._render()

    def _render(self) -> None:
        selected = self.select.value
        if selected:
            lines = self._by_pod.get(selected, [])
        else:
            lines = [f"[{replica_label(self.experiment_id, pod)}] {line}" for pod, line in self._all]
        self._dirty = False
        text = "\n".join(lines)
        if text != self.text or not self.box.value:
            self.text = text
            self.box.value = render.pre_html(text) if text else "<i>No log lines yet.</i>"
