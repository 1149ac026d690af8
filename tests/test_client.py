"""The kernel-side HTTP client: discovery, and every route against the in-process server."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import jupyter_client
import pytest

from submarine_jupyter.kernel.client import (
    ExperimentFailed,
    SubmarineClient,
    SubmarineError,
    WaitTimeout,
    discover_server,
    pod_name,
    replica_label,
)
from tests.conftest import ALL_BACKENDS
from tests.kernel_helpers import job_spec

DISCOVERY_ENV = (
    "SUBMARINE_JUPYTER_URL", "SUBMARINE_JUPYTER_TOKEN", "JUPYTER_TOKEN", "JPY_PARENT_PID"
)


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Jupyter runtime dir and no discovery variables."""
    for name in DISCOVERY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def write_server_file(runtime: Path, pid: int, url: str, token: str) -> None:
    info = {"url": url, "base_url": "/", "token": token, "pid": pid, "port": 1}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- discovery -------------------------------------------------------------------------


def test_explicit_arguments_win(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBMARINE_JUPYTER_URL", "http://env:1/")
    monkeypatch.setenv("SUBMARINE_JUPYTER_TOKEN", "env-token")
    found = discover_server("http://arg:2/base/", "t0k")
    assert (found.url, found.token, found.source) == ("http://arg:2/base/", "t0k", "argument")
    # a URL alone: the token of the running server at that URL, never another server's
    assert discover_server("http://arg:2/base").token == ""
    write_server_file(runtime_dir, os.getpid(), "http://arg:2/base/", "its-token")
    assert discover_server("http://arg:2/base").token == "its-token"


def test_environment_variables(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_server_file(runtime_dir, os.getpid(), "http://file:3/", "file-token")
    monkeypatch.setenv("SUBMARINE_JUPYTER_URL", "http://env:1/x/")
    monkeypatch.setenv("JUPYTER_TOKEN", "jupyter-token")
    assert discover_server().token == "jupyter-token"
    monkeypatch.setenv("SUBMARINE_JUPYTER_TOKEN", "sub-token")
    found = discover_server()
    assert (found.url, found.token, found.source) == ("http://env:1/x/", "sub-token", "SUBMARINE_JUPYTER_URL")


def test_runtime_file_of_the_parent_server(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel's parent is the server that started it; other running servers don't matter."""
    write_server_file(runtime_dir, os.getpid(), "http://other:1/", "other")
    write_server_file(runtime_dir, os.getppid(), "http://parent:8888/lab/", "parent-token")
    found = discover_server()
    assert (found.url, found.token) == ("http://parent:8888/lab/", "parent-token")
    assert "started this kernel" in found.source
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))  # jupyter_client names the parent
    assert discover_server().url == "http://other:1/"


def test_the_single_running_server(runtime_dir: Path) -> None:
    write_server_file(runtime_dir, dead_pid(), "http://stale:1/", "stale")
    write_server_file(runtime_dir, os.getpid(), "http://alive:2/", "alive")
    found = discover_server()
    assert (found.url, found.token, found.source) == (
        "http://alive:2/", "alive", "the only running Jupyter server"
    )


def test_no_server_or_several(runtime_dir: Path) -> None:
    with pytest.raises(SubmarineError, match=r"no running Jupyter server found.*SUBMARINE_JUPYTER_URL"):
        SubmarineClient()
    write_server_file(runtime_dir, os.getpid(), "http://a:1/", "a")
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        write_server_file(runtime_dir, init.pid, "http://b:2/", "b")
        with pytest.raises(SubmarineError, match="2 Jupyter servers are running"):
            discover_server()
    finally:
        init.kill()
        init.wait()


def test_replica_names() -> None:
    assert pod_name("experiment_17_0001", "worker-1") == "experiment-17-0001-worker-1"
    assert pod_name("experiment_17_0001", "experiment-17-0001-master-0") == "experiment-17-0001-master-0"
    assert replica_label("experiment_17_0001", "experiment-17-0001-ps-0") == "ps-0"
    assert replica_label("experiment_17_0001", "elsewhere-0") == "elsewhere-0"


def test_unreachable_server() -> None:
    with pytest.raises(SubmarineError, match=r"cannot reach the Jupyter server at http://127\.0\.0\.1:9/"):
        SubmarineClient("http://127.0.0.1:9", "x").ping()


# -- against the in-process server ------------------------------------------------------


async def test_ping_and_auth(client: SubmarineClient, server_url: str) -> None:
    assert await asyncio.to_thread(client.ping) == "Pong"
    with pytest.raises(SubmarineError, match="token is missing or wrong") as info:
        await asyncio.to_thread(SubmarineClient(server_url, "wrong").ping)
    assert info.value.code == 403


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # patches a running job, which Trainer v2 refuses (409: test_api_both_backends)
async def test_experiment_lifecycle(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("life", "sleep 30"))
    experiment_id = created["experimentId"]
    assert created["status"] in ("Accepted", "Created", "Running")
    assert created["spec"]["spec"]["Worker"]["replicas"] == 1

    listed = await asyncio.to_thread(client.list)
    assert experiment_id in [e["experimentId"] for e in listed]
    got = await asyncio.to_thread(client.get, experiment_id)
    assert got["name"] == "life"

    resized = await asyncio.to_thread(client.resize, experiment_id, {"Worker": 3})
    assert resized["spec"]["Worker"] == {"replicas": 3, "resources": "cpu=100m,memory=64Mi"}
    assert resized["meta"]["cmd"] == "sleep 30"

    deleted = await asyncio.to_thread(client.delete, experiment_id)
    assert deleted["status"] == "Deleted"
    with pytest.raises(SubmarineError, match="Not found experiment") as info:
        await asyncio.to_thread(client.get, experiment_id)
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")


async def test_list_by_status(client: SubmarineClient) -> None:
    running = await asyncio.to_thread(client.create, job_spec("long", "sleep 30"))
    try:
        done = await asyncio.to_thread(client.create, job_spec("short", "true"))
        await asyncio.to_thread(client.wait, done["experimentId"], 60)
        succeeded = await asyncio.to_thread(client.list, "Succeeded")
        assert [e["experimentId"] for e in succeeded] == [done["experimentId"]]
    finally:
        await asyncio.to_thread(client.delete, running["experimentId"])


async def test_create_from_yaml_text_and_invalid_specs(client: SubmarineClient) -> None:
    text = (
        "meta:\n  name: from-yaml\n  framework: PyTorch\n  cmd: 'true'\n"
        "spec:\n  Worker:\n    replicas: 1\n"
    )
    created = await asyncio.to_thread(client.create, text)
    assert created["name"] == "from-yaml"
    json_text = json.dumps(job_spec("from-json", "true"))
    assert (await asyncio.to_thread(client.create, json_text))["name"] == "from-json"

    bad = job_spec("Bad_Name")
    with pytest.raises(SubmarineError, match=r"meta\.name") as info:
        await asyncio.to_thread(client.create, bad)
    assert info.value.code == 400
    with pytest.raises(SubmarineError) as info:
        await asyncio.to_thread(client.create, "meta: [unclosed")
    assert info.value.code == 400


async def test_dry_run(client: SubmarineClient) -> None:
    plan = await asyncio.to_thread(client.create, job_spec("plan-only"), dry_run=True)
    assert plan["dryRun"] is True and plan["backend"] in ("local", "kubernetes")
    names = [e["name"] for e in await asyncio.to_thread(client.list)]
    assert "plan-only" not in names


async def test_wait_logs_and_follow(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("logs"))
    experiment_id = created["experimentId"]

    followed = await asyncio.to_thread(lambda: list(client.logs(experiment_id, follow=True)))
    by_replica = {pod: [line for p, line in followed if p == pod] for pod, _ in followed}
    assert sorted(replica_label(experiment_id, pod) for pod in by_replica) == ["master-0", "worker-0"]
    assert by_replica[pod_name(experiment_id, "worker-0")] == [
        f"step {i} of rank 1/2" for i in (1, 2, 3)
    ]

    final = await asyncio.to_thread(client.wait, experiment_id, 30)
    assert final["status"] == "Succeeded"
    assert {r["state"] for r in final["replicas"]} == {"Succeeded"}  # workers ended first

    logs = await asyncio.to_thread(client.logs, experiment_id)
    assert logs[pod_name(experiment_id, "master-0")].splitlines() == [
        f"step {i} of rank 0/2" for i in (1, 2, 3)
    ]
    tail = await asyncio.to_thread(client.logs, experiment_id, replica="worker-0", tail=1)
    assert tail == {pod_name(experiment_id, "worker-0"): "step 3 of rank 1/2\n"}

    everything = await asyncio.to_thread(client.all_logs)
    assert set(everything[experiment_id]) == set(logs)


async def test_wait_returns_on_failure_and_can_raise(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("fails", "echo boom; exit 3"))
    final = await asyncio.to_thread(client.wait, created["experimentId"], 30)
    assert final["status"] == "Failed"
    assert 3 in [replica["exitCode"] for replica in final["replicas"]]
    with pytest.raises(ExperimentFailed, match="Failed") as info:
        await asyncio.to_thread(
            lambda: client.wait(created["experimentId"], 5, raise_on_failure=True)
        )
    assert info.value.experiment["status"] == "Failed"


async def test_wait_timeout(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("slow", "sleep 30"))
    running = await asyncio.to_thread(
        lambda: client.wait(created["experimentId"], 60, until=["Running"])
    )
    assert running["status"] == "Running"
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="still") as info:
        await asyncio.to_thread(client.wait, created["experimentId"], 0.6)
    assert time.monotonic() - started < 5
    assert isinstance(info.value, TimeoutError)
    await asyncio.to_thread(client.delete, created["experimentId"])


#: Every replica prints three steps of metrics (Katib's format), rank 0 lingering.
METRICS_CMD = (
    'for i in 1 2 3; do echo "step=$i loss=0.$((9 - i * RANK - i)) acc=0.$((i + RANK))"; done; '
    'if [ "$RANK" = 0 ]; then sleep 1.5; fi'
)


async def test_metrics_incrementally_and_as_frames(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("metrics", METRICS_CMD))
    experiment_id = created["experimentId"]
    await asyncio.to_thread(client.wait, experiment_id, 60)

    def collected() -> Any:
        deadline = time.monotonic() + 30  # collection may end a moment after the experiment
        while True:
            answer = client.metrics(experiment_id)
            if sum(s["count"] for s in answer["series"]) == 12 or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    answer = await asyncio.to_thread(collected)
    assert answer["experimentId"] == experiment_id
    found = {(s["name"], replica_label(experiment_id, s["replica"]), s["source"]): s for s in answer["series"]}
    assert sorted(found) == [("acc", "master-0", "log"), ("acc", "worker-0", "log"),
                             ("loss", "master-0", "log"), ("loss", "worker-0", "log")]
    loss = found[("loss", "worker-0", "log")]
    assert (loss["steps"], loss["values"], loss["count"]) == ([1.0, 2.0, 3.0], [0.7, 0.5, 0.3], 3)
    assert (loss["last"], loss["min"], loss["max"], loss["downsampled"]) == (0.3, 0.3, 0.7, False)

    newer = await asyncio.to_thread(client.metrics, experiment_id, since=answer["cursor"])
    assert newer["series"] == [] and newer["cursor"] == answer["cursor"]
    only = await asyncio.to_thread(client.metrics, experiment_id, name="acc", replica="worker-0", max_points=2)
    [acc] = only["series"]
    assert (acc["name"], acc["replica"], acc["count"]) == ("acc", pod_name(experiment_id, "worker-0"), 3)
    assert acc["downsampled"] and acc["values"][-1] == 0.4  # the newest point is kept
    assert await asyncio.to_thread(client.params, experiment_id) == []

    frame = await asyncio.to_thread(client.metrics_frame, experiment_id, name="loss")
    assert frame[["replica", "step", "value"]].values.tolist() == [
        ["master-0", 1.0, 0.8], ["master-0", 2.0, 0.7], ["master-0", 3.0, 0.6],
        ["worker-0", 1.0, 0.7], ["worker-0", 2.0, 0.5], ["worker-0", 3.0, 0.3],
    ]
    assert set(frame["source"]) == {"log"} and str(frame["time"].dt.tz) == "UTC"
    params = await asyncio.to_thread(client.params_frame, experiment_id)
    assert list(params.columns) == ["key", "value", "replica"] and params.empty


async def test_metrics_of_an_unknown_experiment(client: SubmarineClient) -> None:
    for call in (client.metrics, client.params):
        with pytest.raises(SubmarineError, match="Not found experiment") as info:
            await asyncio.to_thread(call, "experiment_1_9999")
        assert info.value.code == 404


async def test_follow_unknown_experiment_raises_at_once(client: SubmarineClient) -> None:
    with pytest.raises(SubmarineError, match="Not found experiment"):
        await asyncio.to_thread(client.logs, "experiment_1_9999", follow=True)


async def test_environments(client: SubmarineClient) -> None:
    spec = {
        "name": "my-env",
        "dockerImage": "python:3.11-slim",
        "description": "plain python",
        "kernelSpec": {"name": "my-env", "channels": ["defaults"], "condaDependencies": [],
                       "pipDependencies": ["numpy"]},
    }
    created = await asyncio.to_thread(client.create_environment, spec)
    assert created["environmentSpec"]["name"] == "my-env" and created["environmentId"]
    assert [e["environmentSpec"]["name"] for e in await asyncio.to_thread(client.list_environments)] == ["my-env"]
    patched = await asyncio.to_thread(
        client.patch_environment, "my-env", {**spec, "description": "changed"}
    )
    assert patched["environmentSpec"]["description"] == "changed"
    got = await asyncio.to_thread(client.get_environment, "my-env")
    assert got["environmentSpec"]["dockerImage"] == "python:3.11-slim"
    await asyncio.to_thread(client.delete_environment, "my-env")
    with pytest.raises(SubmarineError, match="Environment not found") as info:
        await asyncio.to_thread(client.get_environment, "my-env")
    assert info.value.code == 404


def wait_until_iopub_flows(kernel: jupyter_client.BlockingKernelClient) -> None:
    """Ask for kernel_info until its status messages reach us (a client without its kernel's
    manager cannot use ``wait_for_ready``, which needs the heartbeat)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kernel.kernel_info()
        try:
            kernel.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        while True:  # drain the rest of that request's messages
            try:
                kernel.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                return
    raise AssertionError("the kernel did not answer")


def test_a_kernel_started_by_jupyter_finds_its_server(tmp_path: Path) -> None:
    """No configuration: a kernel that a real ``jupyter server`` started reads that server's
    runtime file (its parent's pid) and reaches the API with its token."""
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in DISCOVERY_ENV}
    env.update(
        PYTHONPATH=str(repo), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
    )
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={number}", "--ServerApp.port_retries=0",
         "--ServerApp.base_url=/base/", "--IdentityProvider.token=secret-token",
         f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.jpserver_extensions={'submarine_jupyter': True, 'jupyterlab': False, "
         "'jupyter_lsp': False, 'notebook_shim': False, 'jupyter_server_terminals': False}",
         f"--SubmarineJupyter.state_dir={tmp_path / 'state'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        api = SubmarineClient(f"http://127.0.0.1:{number}/base/", "secret-token")
        deadline = time.monotonic() + 60
        while True:
            try:
                api.ping()
                break
            except SubmarineError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.3)
        request = urllib.request.Request(  # Jupyter's own API starts the kernel
            f"http://127.0.0.1:{number}/base/api/kernels", data=b'{"name": "python3"}',
            headers={"Authorization": "token secret-token"}, method="POST",
        )
        with urllib.request.urlopen(request) as response:
            started = json.load(response)
        manager = jupyter_client.BlockingKernelClient()
        manager.load_connection_file(tmp_path / "runtime" / f"kernel-{started['id']}.json")
        manager.start_channels()
        try:
            wait_until_iopub_flows(manager)
            lines: list[str] = []
            reply = manager.execute_interactive(
                "from submarine_jupyter.kernel import SubmarineClient\n"
                "client = SubmarineClient()\n"
                "print(client.url, client.token, client.source, client.ping())",
                timeout=60,
                output_hook=lambda m: lines.append(m["content"].get("text", "")),
            )
        finally:
            manager.stop_channels()
        assert reply["content"]["status"] == "ok"
        assert "".join(lines).strip() == (
            f"http://127.0.0.1:{number}/base/ secret-token "
            "the Jupyter server that started this kernel Pong"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_log_stream_cut_off_raises_a_submarine_error() -> None:
    """A server that dies mid-stream (here: a socket that sends one chunk and closes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve_one_line_then_die() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        line = b'{"podName": "experiment-1-0001-master-0", "line": "first"}\n'
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(line):x}\r\n".encode() + line + b"\r\n"
        )
        connection.close()

    server = threading.Thread(target=serve_one_line_then_die, daemon=True)
    server.start()
    try:
        stream = SubmarineClient(f"http://127.0.0.1:{listener.getsockname()[1]}/", "t").logs(
            "experiment_1_0001", follow=True
        )
        assert next(stream) == ("experiment-1-0001-master-0", "first")
        with pytest.raises(SubmarineError, match="the log stream broke off"):
            next(stream)
    finally:
        server.join(5)
        listener.close()


def test_a_log_stream_closes_from_another_thread_even_before_its_answer_begins() -> None:
    """A followed log of a quiet experiment may wait long for its first line (and the
    answer's headers): ``close()`` ends the wait, and a read blocked mid-stream, at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    line = b'{"podName": "experiment-1-0001-master-0", "line": "first"}\n'

    def serve() -> None:
        silent, _ = listener.accept()  # never answers
        talking, _ = listener.accept()
        talking.recv(65536)
        talking.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(line):x}\r\n".encode() + line + b"\r\n")
        time.sleep(5)
        silent.close()
        talking.close()

    threading.Thread(target=serve, daemon=True).start()
    client = SubmarineClient(f"http://127.0.0.1:{listener.getsockname()[1]}/", "t")
    try:
        for expected in ([], [("experiment-1-0001-master-0", "first")]):
            stream = client.log_stream("experiment_1_0001")
            got: list[Any] = []
            reader = threading.Thread(target=lambda s=stream, g=got: g.extend(s.open()))
            reader.start()
            time.sleep(0.5)
            started = time.monotonic()
            stream.close()
            reader.join(2)
            assert not reader.is_alive() and time.monotonic() - started < 1
            assert got == expected
    finally:
        listener.close()
