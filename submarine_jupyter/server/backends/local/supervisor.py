"""Replica processes of running experiments: spawn, watch, restart, stop, and the verdict.

The ``Supervisor`` owns what happens to a run once admitted: it starts every replica,
restarts one that fails while restarts are left, decides the experiment's fate as the
training-operator would (``outcome``), and stops every process group when it is over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ...domain import Status
from ..logfiles import read_tail
from . import processes as proc
from .outcome import outcome
from .plan import Plan
from .run import Replica, Run

FAILURE_LOG_LINES = 5
Emit = Callable[..., Awaitable[None]]


class Supervisor:
    """Runs replicas as process groups; ``emit(run, status=, message=)`` reports,
    ``finished(run)`` hands a run back once it has ended."""

    def __init__(self, plan: Plan, emit: Emit, finished: Callable[[Run], None], *, grace_period: float,
                 max_restarts: int, log: logging.Logger) -> None:
        self.plan = plan
        self.emit = emit
        self.finished = finished
        self.grace_period = grace_period
        self.max_restarts = max_restarts
        self.log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        """Stop watching; replicas keep running and are re-adopted by the next server."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("submarine_jupyter: local backend task failed", exc_info=task.exception())

    async def spawn(self, run: Run, rep: Replica) -> None:
        submission = run.submission
        try:
            for folder in (self.plan.tensorboard(run.experiment_id, rep.status.name), self.plan.tracking_dir):
                folder.mkdir(parents=True, exist_ok=True)
            child = await proc.spawn(
                self.plan.command(submission, rep.status.role), env=self.plan.process_env(submission, run.ports, rep),
                cwd=self.plan.cwd(submission), log_path=rep.log_path, exit_path=rep.exit_path,
                log_limit=self.plan.log_limit(submission),
            )
        except (OSError, ValueError) as error:  # ValueError: what no process can be given
            rep.status.state = "Running"
            reason = f"replica {rep.status.name} could not start: {error}"
            self.background(self.exited(run, rep, run.generation, 127, reason))
            return
        rep.pid = proc.ProcessId(child.pid, proc.start_ticks(child.pid))
        rep.status.state = "Running"
        rep.status.exit_code = None
        self.background(self._watch_child(run, rep, child, run.generation))

    async def _watch_child(self, run: Run, rep: Replica, child: asyncio.subprocess.Process, generation: int) -> None:
        returncode = await child.wait()
        await self.exited(run, rep, generation, proc.exit_code_of(returncode, rep.exit_path))

    def watch_adopted(self, run: Run, rep: Replica) -> None:
        """Watch a replica a previous server started (not our child: polled by pid)."""
        pid, generation = rep.pid, run.generation
        assert pid is not None

        async def watch() -> None:
            await proc.wait_gone(pid)
            await self.exited(run, rep, generation, proc.read_exit_code(rep.exit_path))

        self.background(watch())

    async def exited(self, run: Run, rep: Replica, generation: int, code: int | None, reason: str | None = None) -> None:
        """A replica ended: restart it, or decide the experiment's fate as the operator would."""
        async with run.lock:
            if generation != run.generation or run.phase != "running" or rep.status.state != "Running":
                return
            rep.status.exit_code = code
            rep.pid = None
            if code == 0:
                rep.status.state = "Succeeded"
            elif rep.status.restarts < self.max_restarts:
                rep.status.restarts += 1
                await self.spawn(run, rep)
                await self.emit(run)
                return
            else:
                rep.status.state = "Failed"
                rep.status.message = reason or _failure(rep, code, self.plan.log_folder_problem())
            verdict = outcome(run)
            if verdict is None:
                await self.emit(run)
                return
            await self._finish(run, *verdict)

    async def fail(self, run: Run, message: str) -> None:
        """End a run before any replica started (its code could not be fetched)."""
        await self._finish(run, "Failed", message)

    async def _finish(self, run: Run, status: Status, message: str) -> None:
        run.phase = "done"
        await self.stop_replicas(run)
        try:
            await self.emit(run, status=status, message=message)
        finally:
            run.finished.set()  # after the status is stored: a follower that sees the end can read it
        self.finished(run)

    async def stop_replicas(self, run: Run) -> None:
        live = [rep for rep in run.replicas.values() if rep.pid is not None]
        await asyncio.gather(*(proc.stop_group(rep.pid.pid, self.grace_period) for rep in live if rep.pid))
        for rep in live:
            rep.pid = None
            if rep.status.state == "Running":
                rep.status.state = "Stopped"


def _failure(rep: Replica, code: int | None, folder_problem: str | None) -> str:
    tail = read_tail(rep.log_path, FAILURE_LOG_LINES).rstrip("\n")
    how = "ended while the server was down (exit code unknown)" if code is None else proc.describe_exit(code)
    why = f"; {folder_problem}" if folder_problem else ""
    return f"replica {rep.status.name} {how}{why}" + (f"; last lines:\n{tail}" if tail else "")

