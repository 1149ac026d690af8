"""The local backend: every replica a process on this machine, wired as the
training-operator wires pods, sharing the machine's cpu, memory and GPUs first come,
first served, and surviving restarts of the Jupyter server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import local_proc as proc
from .base import (
    Adoption,
    BackendError,
    BackendEvent,
    Capabilities,
    EventSink,
    LogLine,
    PodLog,
    ReplicaStatus,
    Status,
    Submission,
    replica_name,
)
from .capacity import Capacity, Demand, experiment_demand, replica_demand
from .distenv import replica_env
from .local_logs import follow_files, log_chunks, read_tail

Phase = Literal["queued", "running", "done"]
FAILURE_LOG_LINES = 5
ROLE_ORDER = ("Chief", "Master", "Ps", "Worker", "Evaluator")


@dataclass
class _Replica:
    status: ReplicaStatus
    log_path: Path
    exit_path: Path
    gpus: list[str] = field(default_factory=list)
    pid: proc.ProcessId | None = None

    def to_state(self) -> dict[str, Any]:
        return {
            **self.status.to_wire(), "gpus": self.gpus,
            "pid": self.pid.pid if self.pid else None,
            "startTicks": self.pid.start_ticks if self.pid else None,
        }


@dataclass
class _Run:
    submission: Submission
    demand: Demand
    replicas: dict[str, _Replica]
    phase: Phase = "queued"
    generation: int = 0
    ports: dict[str, list[int]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def experiment_id(self) -> str:
        return self.submission.experiment_id

    def to_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "generation": self.generation, "ports": self.ports,
            "replicas": {name: rep.to_state() for name, rep in self.replicas.items()},
        }


class LocalBackend:
    """Runs experiments as process groups on this machine."""

    name = "local"
    capabilities = Capabilities(patch_running=True, dry_run=True)

    def __init__(
        self,
        log_dir: Path,
        working_dir: Path,
        capacity: Capacity,
        grace_period: float = 10.0,
        max_restarts: int = 0,
        log: logging.Logger | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.working_dir = working_dir
        self.capacity = capacity
        self.grace_period = grace_period
        self.max_restarts = max_restarts
        self.log = log or logging.getLogger(__name__)
        self._sink: EventSink | None = None
        self._runs: dict[str, _Run] = {}
        self._queue: list[str] = []
        self._used = Demand()
        self._gpu_owner: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # lifecycle of the backend

    async def start(self, sink: EventSink, adopt: list[Adoption]) -> None:
        self._sink = sink
        for adoption in sorted(adopt, key=lambda a: a.submission.experiment_id):
            await self._adopt(adoption)
        self._schedule()

    async def stop(self) -> None:
        """Stop watching; replicas keep running and are re-adopted by the next server."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # requests

    async def submit(self, submission: Submission) -> None:
        run = self._new_run(submission)
        self._runs[run.experiment_id] = run
        self._queue.append(run.experiment_id)
        await self._emit(run, message=self._waiting_message(run))
        self._schedule()

    async def patch(self, submission: Submission) -> None:
        run = self._runs.get(submission.experiment_id)
        if run is None:
            raise BackendError(f"Experiment {submission.experiment_id} is not running.", 409)
        demand = experiment_demand(submission.spec)
        self._check_ever_fits(demand)
        async with run.lock:
            if run.phase == "running":
                run.generation += 1
                await self._stop_replicas(run)
                self._release(run)
            run.submission = submission
            run.demand = demand
            run.replicas = self._plan_replicas(submission)
            if run.phase == "running":
                run.phase = "queued"
                self._queue.insert(0, run.experiment_id)
            await self._emit(run, message=self._waiting_message(run))
        self._schedule()

    async def delete(self, experiment_id: str) -> None:
        run = self._runs.get(experiment_id)
        if run is not None:
            async with run.lock:
                run.generation += 1
                if experiment_id in self._queue:
                    self._queue.remove(experiment_id)
                if run.phase == "running":
                    await self._stop_replicas(run)
                    self._release(run)
                run.phase = "done"
                run.finished.set()
                self._runs.pop(experiment_id, None)
            self._schedule()
        await asyncio.to_thread(shutil.rmtree, self.log_dir / experiment_id, True)

    async def dry_run(self, submission: Submission) -> dict[str, Any]:
        run = self._new_run(submission)
        run.ports = self._allocate_ports(submission, {})
        return {
            "workingDir": str(self.working_dir),
            "fitsNow": run.demand.fits(self._free()),
            "replicas": [
                {
                    "name": name, "role": rep.status.role, "index": rep.status.index,
                    "command": ["sh", "-c", self._cmd(submission, rep.status.role)],
                    "workingDir": str(self.working_dir),
                    "env": self._replica_env(run, rep),
                    "resources": submission.spec.spec[rep.status.role].parsed_resources.raw,
                    "log": str(rep.log_path),
                }
                for name, rep in run.replicas.items()
            ],
        }

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> list[PodLog]:
        paths = self._log_paths(experiment_id)
        if pod_name is not None:
            paths = {pod_name: paths[pod_name]} if pod_name in paths else {}
        return [PodLog(name, log_chunks(path, tail_lines)) for name, path in paths.items()]

    def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogLine], None]:
        def paths() -> dict[str, Path]:
            found = self._log_paths(experiment_id)
            return {pod_name: found[pod_name]} if pod_name in found else ({} if pod_name else found)

        def finished() -> bool:
            run = self._runs.get(experiment_id)
            return run is None or run.finished.is_set()

        return follow_files(paths, finished, tail_lines)

    # planning

    def _new_run(self, submission: Submission) -> _Run:
        demand = experiment_demand(submission.spec)
        self._check_ever_fits(demand)
        return _Run(submission, demand, self._plan_replicas(submission))

    def _plan_replicas(self, submission: Submission) -> dict[str, _Replica]:
        folder = self.log_dir / submission.experiment_id
        replicas = {}
        for role in sorted(submission.spec.spec, key=ROLE_ORDER.index):
            for index in range(submission.spec.spec[role].replicas):
                name = replica_name(submission.experiment_id, role, index)
                replicas[name] = _Replica(
                    ReplicaStatus(name, role, index), folder / f"{name}.log", folder / f"{name}.exit"
                )
        return replicas

    def _check_ever_fits(self, demand: Demand) -> None:
        total = self.capacity.total
        if not demand.fits(total):
            raise BackendError(
                f"spec: asks for more than this machine can ever give ({demand.shortfall(total)}); "
                "lower the resources or raise c.SubmarineJupyter.cpu_capacity/memory_capacity/gpus",
                422,
            )

    def _free(self) -> Demand:
        return self.capacity.total - self._used

    def _waiting_message(self, run: _Run) -> str | None:
        if run.phase != "queued":
            return None
        if not run.demand.fits(self._free()):
            return f"Waiting for resources: {run.demand.shortfall(self._free())} free"
        return None

    @staticmethod
    def _cmd(submission: Submission, role: str) -> str:
        return submission.spec.spec[role].cmd or submission.spec.meta.cmd

    def _replica_env(self, run: _Run, rep: _Replica) -> dict[str, str]:
        """What the replica gets on top of the server's environment."""
        spec = run.submission.spec
        roles = {role: task.replicas for role, task in spec.spec.items()}
        env = {**spec.meta.env_vars, **spec.spec[rep.status.role].env_vars}
        env.update(replica_env(spec.meta.framework_key, roles, rep.status.role, rep.status.index, run.ports))
        if self.capacity.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(rep.gpus)
        return env

    def _allocate_ports(self, submission: Submission, keep: dict[str, list[int]]) -> dict[str, list[int]]:
        """One free loopback port per replica, never one another run holds."""
        taken = {port for run in self._runs.values() for ports in run.ports.values() for port in ports}
        ports: dict[str, list[int]] = {}
        for role, task in submission.spec.spec.items():
            ports[role] = list(keep.get(role, []))[: task.replicas]
            while len(ports[role]) < task.replicas:
                port = _free_port()
                if port not in taken:
                    taken.add(port)
                    ports[role].append(port)
        return ports

    # scheduling

    def _schedule(self) -> None:
        """Start queued runs in order while the first one fits (FIFO, no overtaking)."""
        while self._queue:
            run = self._runs[self._queue[0]]
            if not run.demand.fits(self._free()):
                return
            self._queue.pop(0)
            self._reserve(run)
            run.phase = "running"
            self._spawn_task(self._launch(run, run.generation))

    def _reserve(self, run: _Run, gpus: dict[str, list[str]] | None = None) -> None:
        self._used = self._used + run.demand
        free_gpus = [g for g in self.capacity.gpus if g not in self._gpu_owner]
        for name, rep in run.replicas.items():
            if gpus is not None:
                rep.gpus = gpus.get(name, [])
            else:
                count = replica_demand(run.submission.spec, rep.status.role).gpu
                rep.gpus, free_gpus = free_gpus[:count], free_gpus[count:]
            for gpu in rep.gpus:
                self._gpu_owner[gpu] = run.experiment_id

    def _release(self, run: _Run) -> None:
        self._used = self._used - run.demand
        for gpu, owner in list(self._gpu_owner.items()):
            if owner == run.experiment_id:
                del self._gpu_owner[gpu]

    async def _launch(self, run: _Run, generation: int) -> None:
        async with run.lock:
            if run.generation != generation or run.phase != "running":
                return
            run.ports = self._allocate_ports(run.submission, run.ports)
            await self._emit(run, status="Created")
            for rep in run.replicas.values():
                await self._spawn(run, rep)
            await self._emit(run, status="Running")

    async def _spawn(self, run: _Run, rep: _Replica) -> None:
        # the interpreter Jupyter runs on comes first, as in the kernels this server starts
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        env = {**os.environ, "PATH": path, **self._replica_env(run, rep)}
        try:
            child = await proc.spawn(
                self._cmd(run.submission, rep.status.role), env=env, cwd=self.working_dir,
                log_path=rep.log_path, exit_path=rep.exit_path,
            )
        except OSError as error:
            rep.status.state = "Running"
            self._spawn_task(self._exited(run, rep, run.generation, 127, f"could not start: {error}"))
            return
        rep.pid = proc.ProcessId(child.pid, proc.start_ticks(child.pid))
        rep.status.state = "Running"
        rep.status.exit_code = None
        self._spawn_task(self._watch_child(run, rep, child, run.generation))

    async def _watch_child(
        self, run: _Run, rep: _Replica, child: asyncio.subprocess.Process, generation: int
    ) -> None:
        returncode = await child.wait()
        await self._exited(run, rep, generation, proc.exit_code_of(returncode, rep.exit_path))

    async def _watch_adopted(self, run: _Run, rep: _Replica, generation: int) -> None:
        assert rep.pid is not None
        await proc.wait_gone(rep.pid)
        await self._exited(run, rep, generation, proc.read_exit_code(rep.exit_path))

    async def _exited(
        self, run: _Run, rep: _Replica, generation: int, code: int | None, reason: str | None = None
    ) -> None:
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
                await self._spawn(run, rep)
                await self._emit(run)
                return
            else:
                rep.status.state = "Failed"
                rep.status.message = reason or self._failure(rep, code)
            outcome = _outcome(run)
            if outcome is None:
                await self._emit(run)
                return
            await self._finish(run, *outcome)

    def _failure(self, rep: _Replica, code: int | None) -> str:
        tail = read_tail(rep.log_path, FAILURE_LOG_LINES).rstrip("\n")
        how = "ended while the server was down (exit code unknown)" if code is None else f"failed with exit code {code}"
        return f"replica {rep.status.name} {how}" + (f"; last lines:\n{tail}" if tail else "")

    async def _finish(self, run: _Run, status: Status, message: str) -> None:
        run.phase = "done"
        await self._stop_replicas(run)
        self._release(run)
        run.finished.set()
        await self._emit(run, status=status, message=message)
        self._runs.pop(run.experiment_id, None)
        self._schedule()

    async def _stop_replicas(self, run: _Run) -> None:
        live = [rep for rep in run.replicas.values() if rep.pid is not None]
        await asyncio.gather(*(proc.stop_group(rep.pid.pid, self.grace_period) for rep in live if rep.pid))
        for rep in live:
            rep.pid = None
            if rep.status.state == "Running":
                rep.status.state = "Stopped"

    # re-adoption after a server restart

    async def _adopt(self, adoption: Adoption) -> None:
        state = adoption.state
        run = self._new_run(adoption.submission)
        self._runs[run.experiment_id] = run
        if state.get("phase") != "running":
            self._queue.append(run.experiment_id)
            return
        run.phase = "running"
        run.generation = int(state.get("generation", 0))
        run.ports = {role: list(ports) for role, ports in state.get("ports", {}).items()}
        saved = state.get("replicas", {})
        self._reserve(run, {name: list(s.get("gpus", [])) for name, s in saved.items()})
        ended = []
        for name, rep in run.replicas.items():
            info = saved.get(name, {})
            rep.status.state = info.get("state", "Pending")
            rep.status.restarts = int(info.get("restarts", 0))
            rep.status.exit_code = info.get("exitCode")
            rep.status.message = info.get("message")
            if info.get("pid"):
                rep.pid = proc.ProcessId(int(info["pid"]), info.get("startTicks"))
            if rep.status.state == "Pending":
                await self._spawn(run, rep)
            elif rep.status.state == "Running" and rep.pid and proc.is_alive(rep.pid):
                self._spawn_task(self._watch_adopted(run, rep, run.generation))
            elif rep.status.state == "Running":
                ended.append(rep)
        self.log.info("submarine_jupyter: re-adopted %s", run.experiment_id)
        await self._emit(run, status="Running")
        for rep in ended:
            await self._exited(run, rep, run.generation, proc.read_exit_code(rep.exit_path))

    # helpers

    def _log_paths(self, experiment_id: str) -> dict[str, Path]:
        """Every replica's log: the current plan's, then any earlier one's still on disk."""
        run = self._runs.get(experiment_id)
        paths = {name: rep.log_path for name, rep in run.replicas.items()} if run else {}
        folder = self.log_dir / experiment_id
        if folder.is_dir():
            extra = {p.stem: p for p in folder.glob("*.log") if p.stem not in paths}
            paths.update(sorted(extra.items(), key=lambda item: _replica_sort_key(item[0])))
        return paths

    async def _emit(self, run: _Run, *, status: Status | None = None, message: str | None = None) -> None:
        if self._sink is None:
            return
        await self._sink(BackendEvent(
            run.experiment_id, status=status, message=message,
            replicas=[rep.status for rep in run.replicas.values()], state=run.to_state(),
        ))

    def _spawn_task(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("submarine_jupyter: local backend task failed", exc_info=task.exception())


def _outcome(run: _Run) -> tuple[Status, str] | None:
    """The training-operator's rule: any failure fails the job; the Chief (or Master)
    completing succeeds it; without one, worker 0 (TensorFlow) or every worker does."""
    reps = run.replicas
    for rep in reps.values():
        if rep.status.state == "Failed":
            return "Failed", rep.status.message or f"replica {rep.status.name} failed"
    spec = run.submission.spec
    roles = spec.spec
    decider: str | None = next((r for r in ("Chief", "Master") if r in roles), None)
    if decider is None and spec.meta.framework_key == "tensorflow" and "Worker" in roles:
        decider = "Worker"
    if decider is not None:
        name = replica_name(run.experiment_id, decider, 0)
        if reps[name].status.state == "Succeeded":
            return "Succeeded", f"replica {name} completed"
    if all(rep.status.state == "Succeeded" for rep in reps.values()):
        return "Succeeded", "every replica completed"
    workers = [rep for rep in reps.values() if rep.status.role == "Worker"]
    if decider is None and workers and all(rep.status.state == "Succeeded" for rep in workers):
        return "Succeeded", "every worker completed"
    return None


def _replica_sort_key(name: str) -> tuple[int, int, str]:
    """Order replica names as the plan does: by role, then index."""
    parts = name.rsplit("-", 2)
    role, index = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    order = [r.lower() for r in ROLE_ORDER]
    return (order.index(role) if role in order else len(order), int(index) if index.isdigit() else 0, name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
