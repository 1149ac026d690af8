"""The Kubernetes backend through faults of the real API server (tests/k8s), over the REST API.

- An API server away for ``OUTAGE_S`` (a minute) while experiments run: the REST API keeps
  answering (lists and records from the store; what must ask the cluster, a prompt 503
  envelope), and afterwards the backend has reconnected by itself: an experiment that ended
  during the outage shows Succeeded, a running one keeps running and its followed log goes
  on without a gap or a repeat, one whose delete was refused is still reported on, and
  none is Failed because of the outage.
- A watch whose resourceVersion expired: the backend's connections are cut (a TCP relay
  between it and the API server) while a job succeeds and the API server restarts (its
  watch cache then starts after the watcher's resourceVersion); on reconnecting, the
  backend's watch gets 410 Gone, lists again, and that listing reports the success.

Watches retry with backoff capped at ``c.KubernetesBackend.reconnect_max``; the tests cap
it at ``RECONNECT_MAX_S`` so recovery is quick (the default is 30 s, the same code path).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from submarine_jupyter.server.backends.kubernetes.status import job_status

from .conftest import Api, experiment

#: Seconds the API server is away in the outage test (``SUBMARINE_K8S_OUTAGE_S`` shortens
#: it for a local edit-test loop; CI leaves it unset: a minute).
OUTAGE_S = float(os.environ.get("SUBMARINE_K8S_OUTAGE_S", "60"))
#: The watches' backoff cap in these tests (seconds).
RECONNECT_MAX_S = 2.0
#: Longest a request may take to be answered while the API server is away (no hang).
ANSWER_S = 10.0
#: A replica that runs until ``path`` exists.
UNTIL = "until [ -e {path} ]; do sleep 0.1; done"


class Relay:
    """A TCP relay on loopback to ``port`` (TLS passes through untouched) whose connections
    a test can cut: while cut, every connection is closed as soon as it is accepted."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._links: set[tuple[socket.socket, socket.socket]] = set()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def cut(self) -> None:
        """Close every connection, and each new one, until ``resume``."""
        self._open.clear()
        with self._lock:
            links = list(self._links)
        for pair in links:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._links.add(pair)
            done = threading.Barrier(2, action=functools.partial(self._close, pair))
            for source, sink in (pair, pair[::-1]):
                threading.Thread(target=self._pump, args=(source, sink, done), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, done: threading.Barrier) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):  # wakes the other direction's pump too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        done.wait()

    def _close(self, pair: tuple[socket.socket, socket.socket]) -> None:
        """Both directions have ended: close the sockets."""
        with self._lock:
            self._links.discard(pair)
        for sock in pair:
            sock.close()


@dataclass
class Link:
    """How the Jupyter server reaches the test cluster: its kubeconfig, and the relay when
    it goes through one."""

    kubeconfig: Path
    relay: Relay | None


@pytest.fixture
def link(request: pytest.FixtureRequest, kube_cluster_clean: Any, tmp_path: Path) -> Iterator[Link]:
    """``direct`` (the cluster's kubeconfig) or ``relayed`` (a kubeconfig whose server is a ``Relay``)."""
    if request.param == "direct":
        yield Link(kube_cluster_clean.kubeconfig, None)
        return
    relay = Relay(kube_cluster_clean.port)
    config = yaml.safe_load(kube_cluster_clean.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    path = tmp_path / "kubeconfig-relayed"
    path.write_text(yaml.safe_dump(config))
    try:
        yield Link(path, relay)
    finally:
        relay.close()


@pytest.fixture
def submarine_config(link: Link, kube_cluster_clean: Any) -> dict[str, dict[str, Any]]:
    return {
        "SubmarineJupyter": {"backend": "kubernetes"},
        "KubernetesBackend": {"kubeconfig": str(link.kubeconfig), "context": kube_cluster_clean.context,
                              "backoff_limit": 0, "reconnect_max": RECONNECT_MAX_S},
    }


def job(cmd: str) -> dict[str, Any]:
    return experiment(cmd, framework="PyTorch", roles={"Master": 1})


async def answered(api: Api, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    """``api.call``, failing the test unless the answer comes within ``ANSWER_S``."""
    started = time.monotonic()
    try:
        return await asyncio.wait_for(api.call(method, path, body, **kwargs), ANSWER_S)
    except TimeoutError:
        raise AssertionError(f"{method} {path} got no answer in {time.monotonic() - started:.1f} s") from None


def unavailable(answer: tuple[int, Any]) -> str:
    """The message of a 503 envelope saying the API server is unreachable."""
    code, data = answer
    assert code == 503, answer
    assert isinstance(data, dict), answer
    assert (data["code"], data["status"], data["success"]) == (503, "SERVICE_UNAVAILABLE", None), data
    assert "the Kubernetes API server at https://127.0.0.1:" in data["message"], data
    assert "is unreachable" in data["message"], data
    return str(data["message"])


@contextlib.asynccontextmanager
async def outage(cluster: Any) -> AsyncIterator[None]:
    """The API server stopped inside the block, started again at its end (also on failure)."""
    await asyncio.to_thread(cluster.stop_apiserver)
    try:
        yield
    finally:
        await asyncio.to_thread(cluster.start_apiserver)


@pytest.mark.parametrize("link", ["direct"], indirect=True)
async def test_api_server_away_for_a_minute(api: Api, kube_cluster_clean: Any, tmp_path: Path) -> None:
    ends, runs, kept = tmp_path / "ends", tmp_path / "runs", tmp_path / "kept"
    ticks = f"i=0; until [ -e {runs} ]; do echo tick $i; i=$((i+1)); sleep 0.5; done; echo bye"
    ending = await api.ok("POST", "api/v1/experiment", job(f"echo start; {UNTIL.format(path=ends)}; echo end"))
    running = await api.ok("POST", "api/v1/experiment", job(ticks))
    undeleted = await api.ok("POST", "api/v1/experiment", job(UNTIL.format(path=kept)))
    ids = [e["experimentId"] for e in (ending, running, undeleted)]
    for experiment_id in ids:
        await api.wait(experiment_id, ("Running",), timeout=60)

    followed: list[str] = []
    follow = asyncio.create_task(
        api.follow(ids[1], on_line=lambda item: followed.append(item["line"]), timeout=OUTAGE_S + 240))
    try:
        while len(followed) < 2:
            assert not follow.done(), follow
            await asyncio.sleep(0.1)
        started = time.monotonic()
        async with outage(kube_cluster_clean):
            ends.touch()  # this replica ends while the API server is away
            listed = await answered(api, "GET", "api/v1/experiment")
            assert listed[0] == 200, listed
            assert {e["experimentId"]: e["status"] for e in listed[1]["result"]} == dict.fromkeys(ids, "Running")
            code, got = await answered(api, "GET", f"api/v1/experiment/{ids[0]}")
            assert (code, got["result"]["status"]) == (200, "Running"), got
            unavailable(await answered(api, "GET", f"api/v1/experiment/logs/{ids[1]}"))
            unavailable(await answered(api, "GET", f"api/v1/experiment/logs/{ids[0]}", params={"follow": "true"}))
            unavailable(await answered(api, "POST", "api/v1/experiment", job("echo never")))
            unavailable(await answered(api, "DELETE", f"api/v1/experiment/{ids[2]}"))
            unavailable(await answered(api, "POST", f"api/v1/experiment/{ids[1]}/stop"))
            after = await answered(api, "GET", "api/v1/experiment")
            assert sorted(e["experimentId"] for e in after[1]["result"]) == ids, after  # the refused create left nothing
            lines_in_outage = len(followed)
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))  # the outage itself
            assert len(followed) == lines_in_outage, "lines came while the API server was away"

        done = await api.wait(ids[0], timeout=90)
        assert done["status"] == "Succeeded", done
        assert await api.log_of(ids[0], f"{ids[0].replace('_', '-')}-master-0") == "start\nend\n"

        still = await api.ok("GET", f"api/v1/experiment/{ids[1]}")
        assert still["status"] == "Running", still
        resumed_at = len(followed)
        deadline = time.monotonic() + 60
        while len(followed) < resumed_at + 2:  # the follow goes on by itself
            assert time.monotonic() < deadline and not follow.done(), (followed[-3:], follow)
            await asyncio.sleep(0.1)
        runs.touch()
        await asyncio.wait_for(follow, 60)
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
    count = len(followed) - 1
    assert followed == [f"tick {i}" for i in range(count)] + ["bye"], followed
    # what it printed while the API server was away (a line each half second) came after it
    assert count >= lines_in_outage + OUTAGE_S / 2, (count, lines_in_outage)
    done = await api.wait(ids[1], timeout=60)
    assert done["status"] == "Succeeded", done
    pod = f"{ids[1].replace('_', '-')}-master-0"
    assert await api.log_of(ids[1], pod) == "".join(f"{line}\n" for line in followed)

    kept.touch()  # its delete was refused in the outage: the server still reports on it
    done = await api.wait(ids[2], timeout=60)
    assert done["status"] == "Succeeded", done
    again = await api.ok("POST", "api/v1/experiment", job("echo again"))
    assert (await api.wait(again["experimentId"], timeout=60))["status"] == "Succeeded"
    assert (await api.ok("DELETE", f"api/v1/experiment/{ids[2]}"))["status"] == "Deleted"
    statuses = {e["experimentId"]: e["status"] for e in await api.ok("GET", "api/v1/experiment")}
    assert statuses == {ids[0]: "Succeeded", ids[1]: "Succeeded", again["experimentId"]: "Succeeded"}


class WatchSpy:
    """What one of the backend's watchers did: ``("410", version)`` for each watch that
    ended in 410 Gone, ``(event, status)`` for each event it delivered about job ``name``
    (``SYNC``: a listing holding it), in order. It wraps the watcher's own methods: every
    request still goes to the API server."""

    def __init__(self, watcher: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, str | None]] = []
        watch, deliver = watcher._watch, watcher._deliver

        def spied_watch(version: str) -> str | None:
            try:
                resumed = watch(version)
            except ApiException as error:
                if error.status == 410:
                    self.seen.append(("410", version))
                raise
            if resumed is None:
                self.seen.append(("410", version))
            return resumed

        def spied_deliver(event: str, payload: Any) -> None:
            items = payload if event == "SYNC" else [payload]
            for item in items:
                if item.get("metadata", {}).get("name") == name:
                    self.seen.append((event, job_status(item)[0]))
            deliver(event, payload)

        monkeypatch.setattr(watcher, "_watch", spied_watch)
        monkeypatch.setattr(watcher, "_deliver", spied_deliver)


@pytest.mark.parametrize("link", ["relayed"], indirect=True)
async def test_expired_watch_relists_and_sees_what_changed(
        api: Api, kube_cluster_clean: Any, link: Link, jp_serverapp: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert link.relay is not None
    flag = tmp_path / "finish"
    experiment_id = (await api.ok("POST", "api/v1/experiment", job(UNTIL.format(path=flag))))["experimentId"]
    await api.wait(experiment_id, ("Running",), timeout=60)
    name = experiment_id.replace("_", "-")
    backend = jp_serverapp.web_app.settings["submarine"].experiments.backend.default_backend
    (watcher,) = [w for w in backend._watchers if w.name == "pytorchjobs in default"]
    spy = WatchSpy(watcher, name, monkeypatch)

    link.relay.cut()  # the backend's watches lose the API server; the operator and this test do not
    flag.touch()
    await asyncio.to_thread(kube_cluster_clean.wait_for_job_condition, "pytorchjobs", "default", name, "Succeeded")
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Running"
    await asyncio.to_thread(kube_cluster_clean.restart_apiserver)  # its watch cache now starts after that
    assert not [entry for entry in spy.seen if entry[0] != "410"], spy.seen  # nothing got through the cut
    link.relay.resume()

    done = await api.wait(experiment_id, timeout=60)
    assert done["status"] == "Succeeded", done
    assert spy.seen[0][0] == "410", spy.seen
    assert ("SYNC", "Succeeded") in spy.seen, spy.seen
    first_listing = next(i for i, (event, _) in enumerate(spy.seen) if event == "SYNC")
    assert all(event == "410" for event, _ in spy.seen[:first_listing]), spy.seen
    assert spy.seen[first_listing] == ("SYNC", "Succeeded"), spy.seen
