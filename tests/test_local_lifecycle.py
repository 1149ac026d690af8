"""The local backend with real processes: statuses, logs, failures, delete, patch."""

from __future__ import annotations

import asyncio
import json

from .conftest import Api, experiment
from .procs import new_marker, pids_with


async def test_success_with_output_in_logs(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("echo starting; sleep 1; echo done-ok", name="ok"))
    assert created["status"] == "Accepted"
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done
    assert done["acceptedTime"] <= done["createdTime"] <= done["runningTime"] <= done["finishedTime"]
    worker = created["experimentId"].replace("_", "-") + "-worker-0"
    assert done["replicas"] == [{"name": worker, "role": "Worker", "index": 0, "state": "Succeeded",
                                 "restarts": 0, "exitCode": 0, "message": None}]
    assert await api.log_of(created["experimentId"], worker) == "starting\ndone-ok\n"


async def test_failure_names_the_replica_and_exit_code(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("echo about to fail >&2; exit 3", name="bad"))
    done = await api.wait(created["experimentId"])
    worker = created["experimentId"].replace("_", "-") + "-worker-0"
    assert done["status"] == "Failed"
    assert f"replica {worker} failed with exit code 3" in done["statusMessage"]
    assert "about to fail" in done["statusMessage"]
    assert done["replicas"][0]["exitCode"] == 3
    assert "about to fail" in await api.log_of(created["experimentId"], worker)


async def test_environment_is_server_plus_meta_plus_role(api: Api) -> None:
    spec = experiment('echo "$ENV_1|$ROLE_ONLY|$SHARED|${PATH:+has-path}"', env={"ENV_1": "one", "SHARED": "meta"})
    spec["spec"]["Worker"]["envVars"] = {"ROLE_ONLY": "role", "SHARED": "role-wins"}
    created = await api.ok("POST", "api/v1/experiment", spec)
    await api.wait(created["experimentId"])
    worker = created["experimentId"].replace("_", "-") + "-worker-0"
    assert await api.log_of(created["experimentId"], worker) == "one|role|role-wins|has-path\n"


async def test_two_tensorflow_workers_get_their_tf_config(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment('echo "$TF_CONFIG"', roles={"Worker": 2}))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done
    prefix = created["experimentId"].replace("_", "-")
    configs = [json.loads(await api.log_of(created["experimentId"], f"{prefix}-worker-{i}")) for i in range(2)]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1}]
    for config in configs:
        assert config["environment"] == "cloud"
        assert list(config["cluster"]) == ["worker"]
        assert len(config["cluster"]["worker"]) == 2
        assert all(addr.startswith("127.0.0.1:") for addr in config["cluster"]["worker"])
    assert configs[0]["cluster"] == configs[1]["cluster"]
    assert len(set(configs[0]["cluster"]["worker"])) == 2


async def test_pytorch_master_and_worker_environment(api: Api) -> None:
    # the Master's end ends the job (and stops the workers): it waits until they have printed
    cmd = 'echo "$MASTER_ADDR $MASTER_PORT $WORLD_SIZE $RANK"; sleep 1'
    created = await api.ok("POST", "api/v1/experiment", experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 2}))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done
    prefix = created["experimentId"].replace("_", "-")
    lines = [
        (await api.log_of(created["experimentId"], f"{prefix}-{name}")).split()
        for name in ("master-0", "worker-0", "worker-1")
    ]
    assert {line[0] for line in lines} == {"127.0.0.1"}
    assert len({line[1] for line in lines}) == 1 and lines[0][1].isdigit()
    assert [line[2] for line in lines] == ["3", "3", "3"]
    assert [line[3] for line in lines] == ["0", "1", "2"]


async def test_delete_running_experiment_leaves_no_process(api: Api) -> None:
    marker = new_marker()
    spec = experiment("sleep 600", roles={"Ps": 1, "Worker": 2}, env={"SUBMARINE_TEST_MARKER": marker})
    created = await api.ok("POST", "api/v1/experiment", spec)
    await api.wait(created["experimentId"], ("Running",))
    for _ in range(50):
        if len(pids_with(marker)) >= 6:  # wrapper + sh per replica (sleep may replace the inner sh)
            break
        await asyncio.sleep(0.1)
    assert len(pids_with(marker)) >= 3
    deleted = await api.ok("DELETE", f"api/v1/experiment/{created['experimentId']}")
    assert deleted["status"] == "Deleted"
    assert pids_with(marker) == []
    code, _ = await api.call("GET", f"api/v1/experiment/{created['experimentId']}")
    assert code == 404


async def test_delete_escalates_to_sigkill(api: Api) -> None:
    marker = new_marker()
    spec = experiment("trap '' TERM; while true; do sleep 0.2; done", env={"SUBMARINE_TEST_MARKER": marker})
    created = await api.ok("POST", "api/v1/experiment", spec)
    await api.wait(created["experimentId"], ("Running",))
    await asyncio.sleep(0.5)
    await api.ok("DELETE", f"api/v1/experiment/{created['experimentId']}")
    assert pids_with(marker) == []


async def test_patch_restarts_with_the_new_spec_and_keeps_old_logs(api: Api) -> None:
    spec = experiment('echo "gen-A $TF_CONFIG"; sleep 60')
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    prefix = experiment_id.replace("_", "-")
    await api.wait(experiment_id, ("Running",))
    while "gen-A" not in await api.log_of(experiment_id, f"{prefix}-worker-0"):
        await asyncio.sleep(0.1)
    patched = experiment('echo "gen-B $TF_CONFIG"; sleep 60', roles={"Worker": 2})
    assert await api.ok("PATCH", f"api/v1/experiment/{experiment_id}", patched) == patched
    for _ in range(100):
        logs = [await api.log_of(experiment_id, f"{prefix}-worker-{i}") for i in range(2)]
        if "gen-B" in logs[0] and "gen-B" in logs[1]:
            break
        await asyncio.sleep(0.1)
    assert logs[0].startswith("gen-A ") and "\ngen-B " in logs[0], logs
    assert logs[1].startswith("gen-B "), logs
    current = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
    assert current["status"] == "Running"
    assert [r["name"] for r in current["replicas"]] == [f"{prefix}-worker-0", f"{prefix}-worker-1"]
    assert current["spec"] == patched
    tf_config = json.loads(logs[1].split(" ", 1)[1])
    assert len(tf_config["cluster"]["worker"]) == 2
