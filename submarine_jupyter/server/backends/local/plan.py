"""What running a submission on this machine means: replicas, commands, environments, logs
and where metrics are written.

One ``Plan`` serves both the dry run (which shows it) and the launch (which follows it).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....wire.constants import replica_name, role_rank
from ...domain import ReplicaStatus
from ..base import Submission
from . import checkout
from .operator_env import replica_env
from .run import Replica

#: A log folder with less free space than this counts as full.
FULL_BELOW_BYTES = 64 << 10


@dataclass(frozen=True)
class Plan:
    """Where replicas run, log and write metrics, and what each gets (``gpus``: whether GPUs
    are handed out; ``max_log_bytes``: an experiment's logs in all, 0 for no limit;
    ``code_dir``: where ``code.git`` experiments are cloned, one folder each)."""

    working_dir: Path
    log_dir: Path
    gpus: bool
    tensorboard_dir: Path
    tracking_dir: Path
    code_dir: Path
    max_log_bytes: int = 0

    def cwd(self, submission: Submission) -> Path:
        """Where the replicas run: the experiment's clone (``code.git``), else ``working_dir``."""
        return self.code(submission.experiment_id) if submission.spec.code is not None else self.working_dir

    def code(self, experiment_id: str) -> Path:
        return self.code_dir / experiment_id

    def replicas(self, submission: Submission) -> dict[str, Replica]:
        """Every replica of the spec, roles in their order, with its log and exit-code files."""
        folder = self.log_dir / submission.experiment_id
        replicas = {}
        for role in sorted(submission.spec.spec, key=role_rank):
            for index in range(submission.spec.spec[role].replicas):
                name = replica_name(submission.experiment_id, role, index)
                replicas[name] = Replica(
                    ReplicaStatus(name, role, index), folder / f"{name}.log", folder / f"{name}.exit"
                )
        return replicas

    def log_limit(self, submission: Submission) -> int | None:
        """The bytes each replica's log may hold: the experiment's share, split evenly."""
        if not self.max_log_bytes:
            return None
        return self.max_log_bytes // sum(task.replicas for task in submission.spec.spec.values())

    def log_folder_problem(self) -> str | None:
        """Why replicas may be unable to write their logs: the folder is read-only or full."""
        try:
            disk = os.statvfs(self.log_dir)
        except OSError:
            return None
        if disk.f_flag & os.ST_RDONLY:
            return f"the log folder {self.log_dir} is read-only"
        if disk.f_bavail * disk.f_frsize < FULL_BELOW_BYTES:
            return f"the log folder {self.log_dir} has no space left"
        return None

    @staticmethod
    def command(submission: Submission, role: str) -> str:
        return submission.spec.spec[role].cmd or submission.spec.meta.cmd

    def tensorboard(self, experiment_id: str, replica: str | None = None) -> Path:
        """The experiment's TensorBoard folder, or that of one of its replicas."""
        folder = self.tensorboard_dir / experiment_id
        return folder / replica if replica else folder

    def tracking(self, experiment_id: str) -> Path:
        """The SQLite file Submarine's tracking SDK writes for the experiment."""
        return self.tracking_dir / f"{experiment_id}.db"

    def remove(self, experiment_id: str) -> None:
        """Remove what the experiment's replicas left: logs, TensorBoard events, tracking rows, its clone."""
        for folder in (self.log_dir / experiment_id, self.tensorboard(experiment_id)):
            shutil.rmtree(folder, ignore_errors=True)
        checkout.remove(self.code(experiment_id))
        self.tracking(experiment_id).unlink(missing_ok=True)

    def metric_env(self, experiment_id: str, replica: str) -> dict[str, str]:
        """Where the replica's metrics go: the variables Submarine sets, and its SDK reads."""
        return {
            "SUBMARINE_TENSORBOARD_LOG_DIR": str(self.tensorboard(experiment_id, replica)),
            "JOB_ID": experiment_id,
            "SUBMARINE_DB_URI": f"sqlite:///{self.tracking(experiment_id)}",
        }

    def env(self, submission: Submission, ports: dict[str, list[int]], rep: Replica) -> dict[str, str]:
        """What the replica gets on top of the server's environment (what the spec says wins
        over the metric variables; the operator's variables over both)."""
        spec = submission.spec
        roles = {role: task.replicas for role, task in spec.spec.items()}
        env = {**self.metric_env(submission.experiment_id, rep.status.name), **spec.meta.env_vars,
               **spec.spec[rep.status.role].env_vars}
        if spec.code is not None:
            env["CODE_PATH"] = str(self.code(submission.experiment_id))
        env.update(replica_env(spec.meta.framework_key, roles, rep.status.role, rep.status.index, ports))
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(rep.gpus)
        return env

    def process_env(self, submission: Submission, ports: dict[str, list[int]], rep: Replica) -> dict[str, str]:
        """The whole environment of the replica's process: the server's, the interpreter Jupyter
        runs on first on ``PATH`` (as in the kernels this server starts), then ``env``."""
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        return {**os.environ, "PATH": path, **self.env(submission, ports, rep)}

    def describe(self, submission: Submission, replicas: dict[str, Replica], ports: dict[str, list[int]],
                 fits_now: bool) -> dict[str, Any]:
        """The dry run's answer: every replica's command, environment, resources and log."""
        return {
            "workingDir": str(self.cwd(submission)),
            "fitsNow": fits_now,
            "replicas": [
                {
                    "name": name, "role": rep.status.role, "index": rep.status.index,
                    "command": ["sh", "-c", self.command(submission, rep.status.role)],
                    "workingDir": str(self.cwd(submission)),
                    "env": self.env(submission, ports, rep),
                    "resources": submission.spec.spec[rep.status.role].parsed_resources.raw,
                    "log": str(rep.log_path),
                }
                for name, rep in replicas.items()
            ],
        }


def allocate_ports(submission: Submission, keep: dict[str, list[int]], taken: Iterable[int]) -> dict[str, list[int]]:
    """One free loopback port per replica, keeping those of ``keep``, never one in ``taken``."""
    used = set(taken)
    ports: dict[str, list[int]] = {}
    for role, task in submission.spec.spec.items():
        ports[role] = list(keep.get(role, []))[: task.replicas]
        while len(ports[role]) < task.replicas:
            port = _free_port()
            if port not in used:
                used.add(port)
                ports[role].append(port)
    return ports


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
