"""The local backend: every replica a process on this machine, wired as the
training-operator wires pods, sharing the machine's cpu, memory and GPUs first come,
first served, and surviving restarts of the Jupyter server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from traitlets import Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ....wire.constants import replica_sort_key
from ...domain import Status
from ..base import (
    Adoption,
    BackendError,
    BackendEvent,
    EventSink,
    LogChunk,
    LogFiles,
    LogPosition,
    MetricFiles,
    PodLog,
    ServerPaths,
    Submission,
    TargetState,
)
from ..logfiles import log_chunks
from ..logfollow import ended, follow_chunks, follow_files, resume_at
from . import processes as proc
from .admission import Admission
from .adoption import restore
from .capacity import Capacity, experiment_demand, format_bytes
from .checkout import checkout
from .plan import Plan, allocate_ports
from .run import Run
from .state import RunState
from .supervisor import Supervisor

STOPPED = "stopped by the user"


class LocalBackend(LoggingConfigurable):
    """Runs experiments as process groups on this machine."""

    name = "local"

    log_dir = Unicode(help="Folder of the replicas' logs (default: <state_dir>/logs).").tag(config=True)
    working_dir = Unicode(help="Working directory of the replicas (default: the server's root_dir).").tag(config=True)
    grace_period = Float(10.0, help="Seconds between SIGTERM and SIGKILL when replicas are stopped.").tag(config=True)
    max_restarts = Int(
        0, help="Times a failed replica is restarted before its experiment fails. 0 (default) fails fast: in an "
        "interactive loop a crash is usually a bug, and retrying it only delays the error. Raise it for long runs "
        "that may hit transient faults.",
    ).tag(config=True)
    max_log_bytes = Int(
        512 << 20, min=0,
        help="Bytes an experiment's logs may hold in all, split evenly among its replicas (0: no limit). Past its "
        "share, a replica's output is dropped after a marker line, and its last 64 KiB (at most a quarter of the "
        "share) are written when it ends: one replica printing without end never fills the disk.",
    ).tag(config=True)
    cpu_capacity = Float(0.0, help="CPUs experiments may request in all (default: this machine's cores).").tag(config=True)
    memory_capacity = Unicode(
        "", help="Memory experiments may request in all, a quantity like '16Gi' (default: this machine's RAM)."
    ).tag(config=True)
    clone_timeout = Float(
        600.0, min=1.0, help="Seconds a code.git clone may take before its experiment fails.").tag(config=True)
    gpus = List(
        Unicode(), default_value=None, allow_none=True, help="GPU ids experiments may be given (default: nvidia-smi's)."
    ).tag(config=True)

    def __init__(self, *, paths: ServerPaths, **kwargs: Any) -> None:
        self._paths = paths
        super().__init__(**kwargs)
        capacity = Capacity.detect(cpu=self.cpu_capacity or None, memory=self.memory_capacity or None, gpus=self.gpus)
        self.admission = Admission(capacity)
        self.plan = Plan(Path(self.working_dir), Path(self.log_dir), gpus=bool(capacity.gpus),
                         tensorboard_dir=paths.state_dir / "tensorboard", tracking_dir=paths.state_dir / "tracking",
                         code_dir=paths.state_dir / "code", max_log_bytes=self.max_log_bytes)
        self.supervisor = Supervisor(self.plan, self._emit, self._finished, grace_period=self.grace_period,
                                     max_restarts=self.max_restarts, log=self.log)
        self._sink: EventSink | None = None
        self._runs: dict[str, Run] = {}
        #: Runs taken over at start whose processes are not re-adopted yet, in order.
        self._unadopted: dict[str, RunState] = {}

    @default("log_dir")
    def _default_log_dir(self) -> str:
        return str(self._paths.state_dir / "logs")

    @default("working_dir")
    def _default_working_dir(self) -> str:
        return str(self._paths.root_dir)

    # lifecycle of the backend

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        """Take over the runs a previous server left: their capacity and ports at once, their
        processes in the background, one run at a time (see ``_adopt``)."""
        self._sink = sink
        for adoption in sorted(adopt, key=lambda a: a.submission.experiment_id):
            self._take_over(adoption)
        self._schedule()
        if self._unadopted:
            self.supervisor.background(self._adopt_all())

    async def stop(self) -> None:
        await self.supervisor.close()

    # requests

    async def submit(self, submission: Submission) -> None:
        run = self._new_run(submission)
        self._runs[run.experiment_id] = run
        self.admission.enqueue(run.experiment_id)
        self._schedule()  # first: a run that fits starts without waiting for this write (writes keep their order)
        await self._emit(run, message=self.admission.waiting_message(run))

    async def patch(self, submission: Submission) -> None:
        await self._adopted(submission.experiment_id)
        run = self._runs.get(submission.experiment_id)
        if run is None:
            raise BackendError(f"Experiment {submission.experiment_id} is not running.", 409)
        demand = experiment_demand(submission.spec)
        self.admission.check_ever_fits(demand)
        async with run.lock:
            if run.phase == "running":
                run.generation += 1
                if run.checkout is not None:
                    run.checkout.cancel()
                await self.supervisor.stop_replicas(run)
                self.admission.release(run)
            run.submission, run.demand = submission, demand
            run.replicas = self.plan.replicas(submission)
            if run.phase == "running":
                run.phase = "queued"
                self.admission.enqueue(run.experiment_id, first=True)
            await self._emit(run, message=self.admission.waiting_message(run))
        self._schedule()

    async def delete(self, experiment_id: str) -> None:
        run = await self._end(experiment_id)
        if run is not None:
            run.finished.set()
        await asyncio.to_thread(self.plan.remove, experiment_id)

    async def stop_experiment(self, experiment_id: str) -> None:
        run = await self._end(experiment_id)
        if run is not None:
            try:
                await self._emit(run, status="Stopped", message=STOPPED)
            finally:
                run.finished.set()

    async def _end(self, experiment_id: str) -> Run | None:
        """Stop every replica of the run (a queued one never starts) and forget it; the caller
        sets ``run.finished`` once what it reports is stored."""
        await self._adopted(experiment_id)
        run = self._runs.get(experiment_id)
        if run is None:
            return None
        async with run.lock:
            run.generation += 1
            if run.checkout is not None:
                run.checkout.cancel()
            self.admission.dequeue(experiment_id)
            if run.phase == "running":
                await self.supervisor.stop_replicas(run)
                self.admission.release(run)
            for rep in run.replicas.values():
                if rep.status.state == "Pending":
                    rep.status.state = "Stopped"
            run.phase = "done"
            self._runs.pop(experiment_id, None)
        self._schedule()
        return run

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        run = self._new_run(submission)
        ports = allocate_ports(submission, {}, self._ports_taken())
        return self.plan.describe(submission, run.replicas, ports, run.demand.fits(self.admission.free))

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> list[PodLog]:
        paths = self._log_paths(experiment_id)
        if pod_name is not None:
            paths = {pod_name: paths[pod_name]} if pod_name in paths else {}
        return [PodLog(name, log_chunks(path, tail_lines)) for name, path in paths.items()]

    def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogChunk], None]:
        def paths() -> dict[str, Path]:
            found = self._log_paths(experiment_id)
            return {pod_name: found[pod_name]} if pod_name in found else ({} if pod_name else found)

        return follow_files(paths, self._finished_event(experiment_id), tail_lines)

    def follow_from(
        self, experiment_id: str, positions: Mapping[str, LogPosition], *, max_line: int
    ) -> AsyncGenerator[list[LogChunk], None]:
        return follow_chunks(lambda: self._log_paths(experiment_id), self._finished_event(experiment_id),
                             resume_at(positions), max_line)

    async def describe(self) -> TargetState:
        total = self.admission.capacity.total
        return TargetState(reachable=True, cpu=float(total.cpu), memory=format_bytes(total.memory), gpu=total.gpu)

    def metric_files(self, experiment_id: str) -> MetricFiles:
        return MetricFiles(logs=LogFiles(lambda: self._log_paths(experiment_id), self._finished_event(experiment_id)),
                           tensorboard=self.plan.tensorboard(experiment_id), tracking=self.plan.tracking(experiment_id))

    # runs

    def _new_run(self, submission: Submission) -> Run:
        demand = experiment_demand(submission.spec)
        self.admission.check_ever_fits(demand)
        run = Run(submission, demand, self.plan.replicas(submission))
        run.adopted.set()
        return run

    def _schedule(self) -> None:
        """Start queued runs in order while the first one fits (FIFO, no overtaking)."""
        queue = self.admission.queue
        while queue:
            run = self._runs[queue[0]]
            if not run.demand.fits(self.admission.free):
                return
            queue.pop(0)
            self.admission.reserve(run)
            run.phase = "running"
            self.supervisor.background(self._launch(run, run.generation))

    async def _launch(self, run: Run, generation: int) -> None:
        """Start the admitted run's replicas, once its code (``code.git``) is cloned."""
        code = run.submission.spec.code
        if code is not None and code.git is not None:
            async with run.lock:
                if run.generation != generation or run.phase != "running":
                    return
                await self._emit(run, status="Created", message=f"cloning {code.git.url} ({code.git.branch})")
            run.checkout = asyncio.ensure_future(
                checkout(code.git, self.plan.code(run.experiment_id), self.clone_timeout))
            problem = await run.checkout
            if problem is not None:
                async with run.lock:
                    if run.generation == generation and run.phase == "running":
                        await self.supervisor.fail(run, problem)
                return
        async with run.lock:
            if run.generation != generation or run.phase != "running":
                return
            run.ports = allocate_ports(run.submission, run.ports, self._ports_taken())
            created = datetime.now().astimezone()
            for rep in run.replicas.values():  # first: a replica's start waits for no write
                await self.supervisor.spawn(run, rep)
            await self._emit(run, status="Running", times={"Created": created})

    def _finished(self, run: Run) -> None:
        self.admission.release(run)
        self._runs.pop(run.experiment_id, None)
        self._schedule()

    def _ports_taken(self) -> list[int]:
        return [port for run in self._runs.values() for ports in run.ports.values() for port in ports]

    # re-adoption after a server restart

    def _take_over(self, adoption: Adoption) -> None:
        """What a new run must not be given meanwhile: the run's capacity, GPUs and ports."""
        state = RunState.model_validate(adoption.state)
        run = self._new_run(adoption.submission)
        self._runs[run.experiment_id] = run
        if state.phase != "running":
            self.admission.enqueue(run.experiment_id)
            return
        run.adopted.clear()
        run.phase, run.generation, run.ports = "running", state.generation, state.ports
        self.admission.reserve(run, {name: saved.gpus for name, saved in state.replicas.items()})
        self._unadopted[run.experiment_id] = state

    async def _adopt_all(self) -> None:
        while self._unadopted:
            await self._adopt(next(iter(self._unadopted)))

    async def _adopted(self, experiment_id: str) -> None:
        """Wait until the run is re-adopted, doing it now if its turn has not come: a request
        for one run waits for that run only."""
        if experiment_id in self._unadopted:
            await self._adopt(experiment_id)
        run = self._runs.get(experiment_id)
        if run is not None:
            await run.adopted.wait()

    async def _adopt(self, experiment_id: str) -> None:
        state = self._unadopted.pop(experiment_id)
        run = self._runs[experiment_id]
        if run.submission.spec.code is not None and all(s.state == "Pending" for s in state.replicas.values()):
            run.adopted.set()  # its clone was cut short with the previous server: launch it again
            self.supervisor.background(self._launch(run, run.generation))
            return
        try:
            async with run.lock:
                ended = await restore(run, state, self.supervisor)
                self.log.info("submarine_jupyter: re-adopted %s", run.experiment_id)
                await self._emit(run, status="Running")
        finally:
            run.adopted.set()
        for rep in ended:
            await self.supervisor.exited(run, rep, run.generation, proc.read_exit_code(rep.exit_path))

    # helpers

    def _finished_event(self, experiment_id: str) -> asyncio.Event:
        """Set once the run has ended and its status is stored (already, if it is not running)."""
        run = self._runs.get(experiment_id)
        return ended() if run is None else run.finished

    def _log_paths(self, experiment_id: str) -> dict[str, Path]:
        """Every replica's log: the current plan's, then any earlier one's still on disk."""
        run = self._runs.get(experiment_id)
        paths = {name: rep.log_path for name, rep in run.replicas.items()} if run else {}
        folder = self.plan.log_dir / experiment_id
        if folder.is_dir():
            extra = {p.stem: p for p in folder.glob("*.log") if p.stem not in paths}
            paths.update(sorted(extra.items(), key=lambda item: replica_sort_key(item[0])))
        return paths

    async def _emit(self, run: Run, *, status: Status | None = None, message: str | None = None,
                    times: dict[Status, datetime] | None = None) -> None:
        if self._sink is None:
            return
        await self._sink(BackendEvent(
            run.experiment_id, status=status, message=message,
            replicas=[rep.status for rep in run.replicas.values()], state=run.state().to_json(), times=times or {},
        ))
