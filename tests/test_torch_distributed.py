"""Real distributed PyTorch (gloo, CPU) across replicas wired as the operator wires pods: an
all-reduce, and a DDP training whose printed and TensorBoard metrics the API returns, unchanged on
every backend (local, training-operator v1, Trainer v2), every point with its step and replica,
incrementally, and after the pods are gone."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import THREE_BACKENDS, Api, experiment, merged
from .k8s.cluster import free_port

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

TRAIN = textwrap.dedent("""
    import os, time
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.tensorboard import SummaryWriter

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(rank)
    model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = SummaryWriter(os.environ["SUBMARINE_TENSORBOARD_LOG_DIR"])
    for step in range(1, 21):
        x = torch.randn(32, 8)
        y = (x.sum(dim=1) > 0).long()
        output = model(x)
        loss = torch.nn.functional.cross_entropy(output, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 2 == 0:
            acc = (output.argmax(dim=1) == y).float().mean().item()
            print(f"step={step} loss={loss.item():.6f} acc={acc:.6f}", flush=True)
            writer.add_scalar("loss", loss.item(), step)
            writer.add_scalar("acc", acc, step)
            writer.flush()
            time.sleep(0.2)
    writer.close()
    dist.barrier()  # every replica's output is written before the Master ends the job
    dist.destroy_process_group()
""")
PRINTED = re.compile(r"step=(\d+) loss=(\S+) acc=(\S+)")


@pytest.fixture
def submarine_config(backend_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """On Kubernetes, a TensorBoard volume the replicas mount and this server reads (here the
    same folder: the test cluster's pods run on this machine)."""
    folder = str(tmp_path / "tensorboard")
    return merged(backend_config, {"KubernetesBackend": {
        "tensorboard_mount_path": folder, "tensorboard_server_dir": folder,
        "tensorboard_volume": {"hostPath": {"path": folder, "type": "DirectoryOrCreate"}},
    }})


def ddp(cmd: str, backend: str) -> dict[str, Any]:
    spec = experiment(cmd, name="ddp", framework="PyTorch", roles={"Master": 1, "Worker": 2})
    if backend == "kubernetes":  # the test cluster has no pod DNS: its replicas meet on 127.0.0.1
        spec["meta"]["cmd"] = f"MASTER_ADDR=127.0.0.1 MASTER_PORT={free_port()} {cmd}"
    for role in spec["spec"].values():
        role["resources"] = "cpu=0.5,memory=512Mi"
    return spec


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)
async def test_gloo_all_reduce_master_and_two_workers(api: Api, work_dir: Path) -> None:
    (work_dir / "allreduce.py").write_text(ALLREDUCE)
    created = await api.ok("POST", "api/v1/experiment", ddp(f"{sys.executable} {work_dir / 'allreduce.py'}", "local"))
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


def points(answer: dict[str, Any]) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(name, replica, source) -> [(step, value), ...] of an answer."""
    return {(s["name"], s["replica"], s["source"]): list(zip(s["steps"], s["values"], strict=True))
            for s in answer["series"]}


@THREE_BACKENDS
async def test_ddp_training_metrics_from_logs_and_tensorboard(
        api: Api, work_dir: Path, backend_config: dict[str, Any], request: pytest.FixtureRequest) -> None:
    backend = backend_config["SubmarineJupyter"]["backend"]
    (work_dir / "train.py").write_text(TRAIN)
    created = await api.ok("POST", "api/v1/experiment", ddp(f"{sys.executable} {work_dir / 'train.py'}", backend))
    experiment_id = created["experimentId"]
    path = f"api/v1/experiment/{experiment_id}/metrics"
    # read incrementally while it trains: each answer holds only points newer than the last cursor
    increments: list[dict[str, Any]] = []
    cursor = 0
    while (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] not in ("Succeeded", "Failed"):
        answer = await api.ok("GET", path, params={"since": str(cursor)})
        if answer["series"]:
            increments.append(answer)
        cursor = answer["cursor"]
        await asyncio.sleep(0.3)
    done = await api.wait(experiment_id, timeout=240)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}")
    assert done["status"] == "Succeeded", f"{done}\n{logs}"

    prefix = experiment_id.replace("_", "-")
    replicas = [f"{prefix}-{r}" for r in ("master-0", "worker-0", "worker-1")]
    printed = {pod["podName"]: [tuple(map(float, m)) for m in PRINTED.findall(pod["podLog"])]
               for pod in logs["logContent"]}
    expected: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for replica in replicas:
        rows = printed[replica]
        assert [step for step, _, _ in rows] == list(range(2, 21, 2)), (replica, rows)
        for source in ("log", "tensorboard"):
            expected[("loss", replica, source)] = [(step, loss) for step, loss, _ in rows]
            expected[("acc", replica, source)] = [(step, acc) for step, _, acc in rows]

    async def complete() -> dict[str, Any]:
        for _ in range(100):
            answer = await api.ok("GET", path)
            if sum(s["count"] for s in answer["series"]) >= 120:
                return answer
            await asyncio.sleep(0.2)
        return answer

    whole = await complete()
    found = points(whole)
    assert found.keys() == expected.keys()
    for key, rows in expected.items():  # TensorBoard keeps float32
        assert [s for s, _ in found[key]] == [s for s, _ in rows], key
        assert [v for _, v in found[key]] == pytest.approx([v for _, v in rows], rel=1e-6), key
    # the incremental answers add up to the whole, each point once; some came while it trained
    assert len([a for a in increments if a["cursor"] < whole["cursor"]]) >= 2, increments
    merged_points: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for answer in [*increments, await api.ok("GET", path, params={"since": str(cursor)})]:
        for key, rows in points(answer).items():
            merged_points.setdefault(key, []).extend(rows)
    assert merged_points == found
    assert (await api.ok("GET", path, params={"since": str(whole["cursor"])}))["series"] == []

    if backend == "kubernetes":  # the metrics outlive the pods
        cluster = request.getfixturevalue("kube_cluster_clean")
        core = cluster.core_v1()
        for pod in (await asyncio.to_thread(core.list_namespaced_pod, "default")).items:  # v2's have random names
            await asyncio.to_thread(core.delete_namespaced_pod, pod.metadata.name, "default")
        for _ in range(100):
            if not (await asyncio.to_thread(core.list_namespaced_pod, "default")).items:
                break
            await asyncio.sleep(0.2)
        assert await api.ok("GET", path) == whole
