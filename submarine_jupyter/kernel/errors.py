"""What the client raises: the API's error answers, failed and overdue experiments and sweeps."""

from __future__ import annotations

from .types import Experiment, Sweep


class SubmarineError(Exception):
    """An error answer of the API (its envelope's message and code) or an unreachable server."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class ExperimentFailed(SubmarineError):
    """Raised by :meth:`SubmarineClient.wait` with ``raise_on_failure=True``."""

    def __init__(self, experiment: Experiment) -> None:
        reason = experiment.get("statusMessage")
        text = f"experiment {experiment.get('experimentId')} Failed"
        super().__init__(f"{text}: {reason}" if reason else text)
        self.experiment = experiment


class WaitTimeout(SubmarineError, TimeoutError):
    """Raised by :meth:`SubmarineClient.wait` when the timeout passes first."""

    def __init__(self, experiment: Experiment, timeout: float) -> None:
        super().__init__(
            f"experiment {experiment.get('experimentId')} is still "
            f"{experiment.get('status')} after {timeout:g} s"
        )
        self.experiment = experiment


class SweepTimeout(SubmarineError, TimeoutError):
    """Raised by :meth:`SubmarineClient.wait_sweep` when the timeout passes first."""

    def __init__(self, sweep: Sweep, timeout: float) -> None:
        super().__init__(f"sweep {sweep.get('name')} is still {sweep.get('status')} after {timeout:g} s")
        self.sweep = sweep
