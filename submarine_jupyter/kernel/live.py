"""What keeps an experiment's widget current: two daemon threads, one view per experiment.

One thread polls (the widget's ``refresh`` every ``interval`` seconds until the experiment
is terminal and the server says its metrics are complete); one follows the log
stream (``logs/{id}?follow=true``), so lines arrive once, in the order written. Daemon
threads keep updating while other cells run (an asyncio task would stall behind a busy cell).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from .errors import SubmarineError
from .transport import LogStream

if TYPE_CHECKING:
    from .widgets import ExperimentWidget

#: The updates of each experiment's latest view (weakly held: updates nobody runs can go away).
_LIVE: weakref.WeakValueDictionary[str, LiveUpdates] = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


class LiveUpdates:
    """Updates ``widget`` from its client until its experiment ends or :meth:`stop` is called."""

    def __init__(self, widget: ExperimentWidget) -> None:
        self.widget = widget
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stream: LogStream | None = None

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        """Start both threads; updates of an older view of the experiment stop (e.g. the
        widget of a cell run again), so re-running cells does not pile up threads."""
        if self.running:
            return
        experiment_id = self.widget.experiment_id
        with _LIVE_LOCK:
            older = _LIVE.get(experiment_id)
            if older is not None and older is not self:
                older.stop()
            _LIVE[experiment_id] = self
        self._stopped.clear()
        self._threads = [
            threading.Thread(target=target, name=f"submarine-{name}-{experiment_id}", daemon=True)
            for name, target in (("poll", self._poll), ("logs", self._follow))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._stream is not None:
            self._stream.close()

    def _poll(self) -> None:
        widget = self.widget
        while not self._stopped.is_set():
            widget.refresh()
            if widget.terminal and not widget.collecting:
                return
            self._stopped.wait(widget.interval)

    def _follow(self) -> None:
        """Follow the log stream; after a break, go on with the lines written from then."""
        widget = self.widget
        tail: int | None = widget.tail
        while not self._stopped.is_set():
            try:
                self._stream = widget.client.log_stream(widget.experiment_id, tail=tail)
                if self._stopped.is_set():  # stopped before the stream was known
                    return
                for pair in self._stream.open():
                    widget.logs.add([pair])
                return
            except SubmarineError as error:
                if error.code is not None or widget.terminal:
                    return
                tail = 0
                self._stopped.wait(widget.interval)
            finally:
                widget.logs.flush()
