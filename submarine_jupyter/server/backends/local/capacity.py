"""What this machine can give experiments (cpu, memory, GPUs) and what they ask for."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal

from ....wire.quantity import parse_quantity
from ....wire.requests import ExperimentSpec


@dataclass(frozen=True)
class Demand:
    cpu: Decimal = Decimal(0)
    memory: int = 0
    gpu: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def __sub__(self, other: Demand) -> Demand:
        return Demand(self.cpu - other.cpu, self.memory - other.memory, self.gpu - other.gpu)

    def fits(self, free: Demand) -> bool:
        return self.cpu <= free.cpu and self.memory <= free.memory and self.gpu <= free.gpu

    def shortfall(self, free: Demand) -> str:
        """What does not fit, e.g. ``cpu 4 > 2``."""
        parts = []
        if self.cpu > free.cpu:
            parts.append(f"cpu {_num(self.cpu)} > {_num(free.cpu)}")
        if self.memory > free.memory:
            parts.append(f"memory {format_bytes(self.memory)} > {format_bytes(free.memory)}")
        if self.gpu > free.gpu:
            parts.append(f"gpu {self.gpu} > {free.gpu}")
        return ", ".join(parts)


def replica_demand(spec: ExperimentSpec, role: str) -> Demand:
    resources = spec.spec[role].parsed_resources
    return Demand(resources.cpu or Decimal(0), resources.memory or 0, resources.gpu or 0)


def experiment_demand(spec: ExperimentSpec) -> Demand:
    total = Demand()
    for role, task in spec.spec.items():
        one = replica_demand(spec, role)
        for _ in range(task.replicas):
            total = total + one
    return total


@dataclass
class Capacity:
    """The whole machine's share for experiments."""

    cpu: Decimal
    memory: int
    gpus: list[str] = field(default_factory=list)

    @property
    def total(self) -> Demand:
        return Demand(self.cpu, self.memory, len(self.gpus))

    @classmethod
    def detect(
        cls, cpu: float | None = None, memory: str | None = None, gpus: list[str] | None = None
    ) -> Capacity:
        """This machine's cores, RAM and ``nvidia-smi`` GPUs, each overridable."""
        return cls(
            cpu=Decimal(str(cpu)) if cpu else Decimal(os.cpu_count() or 1),
            memory=int(parse_quantity(memory)) if memory else _physical_memory(),
            gpus=list(gpus) if gpus is not None else _nvidia_gpus(),
        )


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _nvidia_gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def format_bytes(value: int) -> str:
    """``value`` bytes as a Kubernetes quantity, rounded to a tenth: ``15.6Gi``."""
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)
