"""Real distributed PyTorch (gloo, CPU) across local replicas, wired as the operator wires pods."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from .conftest import Api, experiment

if os.environ.get("CI") != "true":
    pytest.importorskip("torch", reason="install the test extra: pip install -e '.[test]'")

ALLREDUCE = textwrap.dedent("""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank = dist.get_rank()
    tensor = torch.tensor([float(rank + 1)])
    dist.all_reduce(tensor)
    print(f"rank {rank}/{dist.get_world_size()} all_reduce={tensor.item()}", flush=True)
    dist.destroy_process_group()
""")


async def test_gloo_all_reduce_master_and_two_workers(api: Api, work_dir: Path) -> None:
    (work_dir / "allreduce.py").write_text(ALLREDUCE)
    spec = experiment("python allreduce.py", framework="PyTorch", roles={"Master": 1, "Worker": 2})
    for role in spec["spec"].values():
        role["resources"] = "cpu=0.5,memory=512Mi"
    created = await api.ok("POST", "api/v1/experiment", spec)
    done = await api.wait(created["experimentId"], timeout=180)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert done["status"] == "Succeeded", (done, logs)
    found = {}
    for pod in logs["logContent"]:
        match = re.search(r"rank (\d)/3 all_reduce=(\S+)", pod["podLog"])
        assert match, pod
        found[pod["podName"].rsplit("-", 2)[1] + match.group(1)] = match.group(2)
    # 1 + 2 + 3 summed on every replica; the master is rank 0, worker i is rank i + 1
    assert found == {"master0": "6.0", "worker1": "6.0", "worker2": "6.0"}
