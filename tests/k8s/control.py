"""What the stand-in controllers share (``operator.py``: training-operator v1, ``trainer.py``:
Kubeflow Trainer v2): the list+watch loops, one worker thread that owns all state (a queue
plus timers, every API write done from ``_flush``), and the kubelet's part of running a
container as a REAL local process: its environment (``value``, ``valueFrom``, ``envFrom``,
``$(VAR)`` expansion), its volume mounts (bind mounts in a private mount namespace), its
output into the fake kubelet's log, its exit code back to the worker, its state (``Container``).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import heapq
import itertools
import json
import logging
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import _die_with_parent

log = logging.getLogger(__name__)

_STOP = object()


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def transient(exc: BaseException) -> bool:
    """True for errors that mean "the API server is away or busy": retry later."""
    from kubernetes.client import ApiException

    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504)
    return isinstance(exc, (OSError, EOFError)) or type(exc).__module__.startswith("urllib3")


def status_of(exc: BaseException) -> int | None:
    from kubernetes.client import ApiException

    return exc.status if isinstance(exc, ApiException) else None


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: $$ -> $, $(DEFINED) -> value, $(UNDEFINED) stays."""

    def repl(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(repl, text)


class ConfigError(Exception):
    """The container cannot start yet (CreateContainerConfigError), retried like the kubelet."""


def _read(core, kind: str, name: str, namespace: str) -> dict | None:
    """A Secret or ConfigMap (None: not found); ConfigError when the API server fails."""
    try:
        fn = core.read_namespaced_secret if kind == "secret" else core.read_namespaced_config_map
        return json.loads(fn(name, namespace, _preload_content=False).data)
    except Exception as exc:
        if status_of(exc) == 404:
            return None
        raise ConfigError(f"reading {kind} {name}: {exc}") from exc


def _values(kind: str, obj: dict | None) -> dict[str, str]:
    if obj is None:
        return {}
    if kind == "secret":
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def container_env(core, pod: dict, pod_uid: str | None, container: dict, node_name: str,
                  api_port: int) -> dict[str, str]:
    """The container's environment as the kubelet builds it (``envFrom``, then ``env`` in order
    with ``$(VAR)`` expansion; ``fieldRef``, ``secretKeyRef``, ``configMapKeyRef``,
    ``resourceFieldRef``), on top of PATH/HOME/LANG from this process. ConfigError when a
    referenced Secret/ConfigMap/key is missing."""
    md, spec = pod["metadata"], pod["spec"]
    namespace = md["namespace"]
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOSTNAME": spec.get("hostname") or md["name"],
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(api_port),
    }
    for src in container.get("envFrom") or []:
        kind = "secret" if "secretRef" in src else "configMap"
        ref = src.get("secretRef") or src.get("configMapRef") or {}
        obj = _read(core, kind, ref.get("name", ""), namespace)
        if obj is None and not ref.get("optional"):
            raise ConfigError(f'{kind} "{ref.get("name")}" not found')
        for k, v in _values(kind, obj).items():
            env[(src.get("prefix") or "") + k] = v
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(item.get("value") or "", env)
            continue
        vf = item["valueFrom"]
        if "fieldRef" in vf:
            path = vf["fieldRef"]["fieldPath"]
            m = re.match(r"metadata\.(labels|annotations)\['(.+)'\]$", path)
            if m:
                env[name] = (md.get(m.group(1)) or {}).get(m.group(2), "")
            else:
                env[name] = {
                    "metadata.name": md["name"], "metadata.namespace": namespace,
                    "metadata.uid": pod_uid or "", "spec.nodeName": node_name,
                    "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                    "status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1",
                }.get(path, "")
        elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
            kind = "secret" if "secretKeyRef" in vf else "configMap"
            ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
            data = _values(kind, _read(core, kind, ref["name"], namespace))
            if ref["key"] in data:
                env[name] = data[ref["key"]]
            elif not ref.get("optional"):
                raise ConfigError(f'couldn\'t find key {ref["key"]} in {kind} {namespace}/{ref["name"]}')
        elif "resourceFieldRef" in vf:
            res = vf["resourceFieldRef"]["resource"]  # e.g. limits.cpu
            section, _, rname = res.partition(".")
            env[name] = str(((container.get("resources") or {}).get(section) or {}).get(rname, ""))
    return env


# --------------------------------------------------------------------------- volumes
def materialize_volumes(core, pod: dict, root: Path, shared: Path) -> dict[str, Path]:
    """The pod's volumes as local directories: ``emptyDir`` (and any other kind) an empty dir
    under ``root``, ``configMap``/``secret`` their keys as files (``items``, modes),
    ``persistentVolumeClaim`` a dir under ``shared`` per claim (every pod of the namespace
    sees the same files), ``hostPath`` the path itself (made for ``DirectoryOrCreate``). ConfigError when a ConfigMap/Secret
    that is not optional is missing (the pod stays ContainerCreating, as with FailedMount)."""
    out: dict[str, Path] = {}
    namespace = pod["metadata"]["namespace"]
    for vol in (pod["spec"].get("volumes") or []):
        name = vol["name"]
        if "hostPath" in vol:
            out[name] = Path(vol["hostPath"]["path"])
            if vol["hostPath"].get("type") == "DirectoryOrCreate":  # the kubelet makes it, 0755
                out[name].mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        if "persistentVolumeClaim" in vol:
            d = shared / namespace / vol["persistentVolumeClaim"]["claimName"]
            d.mkdir(parents=True, exist_ok=True)
            out[name] = d
            continue
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        out[name] = d
        source = vol.get("configMap") or vol.get("secret")
        if source is None:
            continue
        kind = "configMap" if "configMap" in vol else "secret"
        ref = source.get("name") or source.get("secretName", "")
        obj = _read(core, "secret" if kind == "secret" else "configMap", ref, namespace)
        if obj is None:
            if source.get("optional"):
                continue
            raise ConfigError(f'MountVolume.SetUp failed for volume "{name}" : {kind} "{ref}" not found')
        files: dict[str, bytes] = {k: v.encode() for k, v in _values(kind, obj).items()}
        files.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        mode = source.get("defaultMode", 0o644)
        items = source.get("items")
        wanted = [(i["key"], i["path"], i.get("mode", mode)) for i in items] if items else \
            [(k, k, mode) for k in files]
        for key, rel, fmode in wanted:
            if key not in files:
                if source.get("optional"):
                    continue
                raise ConfigError(f'MountVolume.SetUp failed for volume "{name}" : '
                                  f'configmap references non-existent config key: {key}')
            target = d / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[key])
            target.chmod(fmode)
    return out


def container_mounts(container: dict, volumes: dict[str, Path]) -> list[tuple[str, str, bool]]:
    """(source, mountPath, readOnly) for the container's ``volumeMounts`` (``subPath`` too);
    ConfigError for a mount of a volume the pod does not declare."""
    mounts = []
    for m in container.get("volumeMounts") or []:
        if m["name"] not in volumes:
            raise ConfigError(f'volume "{m["name"]}" of mount {m["mountPath"]} is not in the pod')
        src = volumes[m["name"]] / m["subPath"] if m.get("subPath") else volumes[m["name"]]
        mounts.append((str(src), m["mountPath"], bool(m.get("readOnly"))))
    return mounts


_CLONE_NEWNS, _MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20000, 1, 32, 4096, 16384, 1 << 18


def _enter_mounts(mounts: list[tuple[str, str, bool]], workdir: str | None) -> None:
    """In the child, before exec: a private mount namespace with the bind mounts, then the
    container's ``workingDir`` when it exists (it may be inside a mount)."""
    _die_with_parent()
    if not mounts:
        if workdir and os.path.isdir(workdir):
            os.chdir(workdir)
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def call(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    call(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    call(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
    for src, target, read_only in mounts:
        call(libc.mount(src.encode(), target.encode(), None, _MS_BIND | _MS_REC, None), f"bind {target}")
        if read_only:
            call(libc.mount(b"none", target.encode(), None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None),
                 f"read-only {target}")
    if workdir and os.path.isdir(workdir):
        os.chdir(workdir)


# --------------------------------------------------------------------------- a container's state
@dataclass
class Container:
    """One container of a pod (an init container or the main one) as the kubelet runs it.

    ``run`` is in the containerID; ``trainer.py`` also bumps it per kill and tags each exit
    event with it, so stale exit events are ignored (``operator.py`` tells them apart by
    ``Replica.run``)."""

    spec: dict
    init: bool
    run: int = 0  # bumped per start (and per kill, in trainer.py)
    proc: subprocess.Popen | None = None
    state: str = "waiting"  # waiting, running, terminated
    reason: str = "ContainerCreating"  # while waiting
    exit_code: int | None = None
    restart_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    last_state: dict | None = None
    log_path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    def terminated(self, pod: str) -> dict:
        rc = self.exit_code or 0
        return {"terminated": {"exitCode": rc, "reason": "Completed" if rc == 0 else "Error",
                               "startedAt": self.started_at, "finishedAt": self.finished_at,
                               "containerID": f"fake://{pod}/{self.name}/{self.run}"}}

    def status(self, pod: str) -> dict:
        """Its entry in the pod's ``containerStatuses``/``initContainerStatuses``."""
        if self.proc is not None or (self.state == "running" and self.exit_code is None):
            state = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = self.terminated(pod)
        else:
            state = {"waiting": {"reason": self.reason}}
        ready = (self.state == "terminated" and self.exit_code == 0) if self.init else self.state == "running"
        cs = {"name": self.name, "image": self.spec.get("image", ""), "imageID": "",
              "restartCount": self.restart_count, "ready": ready, "started": self.state == "running",
              "state": state, "lastState": self.last_state or {}}
        if self.started_at:
            cs["containerID"] = f"fake://{pod}/{self.name}/{self.run}"
        return cs


# --------------------------------------------------------------------------- the controller base
class Controller:
    """A worker thread that owns all state, fed by list+watch threads; runs containers as
    local processes. Subclasses say what to watch (``_watches``) and handle the queue items
    (``_handle``); everything they write to the API happens in ``_flush`` (after each batch)."""

    label = "fake-controller"

    def __init__(self, cluster, pending_delay: float = 0.3, restart_delay: float = 0.2, kill_grace: float = 2.0):
        self.cluster = cluster
        self.kubelet = cluster.kubelet
        self.node_name = cluster.node_name
        self.pending_delay = pending_delay
        self.restart_delay = restart_delay
        self.kill_grace = kill_grace
        self.errors: list[str] = []  # things that went wrong (also in the log)
        self.events: list[tuple[float, str]] = []  # what it did, for debugging
        self._queue: queue.Queue = queue.Queue()
        self._timers: list[tuple[float, int, tuple]] = []
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._hold = 0
        self._hold_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ready: dict[str, threading.Event] = {}
        self._responses: set = set()
        self._procs: set[subprocess.Popen] = set()
        self._procs_lock = threading.Lock()
        self._mountpoints: list[Path] = []  # made on this machine for bind mounts; removed at stop
        self._api = cluster.api_client()

    # ================================================================ public
    def start(self, timeout: float = 30) -> Controller:
        self._spawn(self.label, self._worker)
        for what in self._watches():
            self._ready[what] = threading.Event()
            self._spawn(f"watch-{what}", self._watch_loop, what)
        deadline = time.monotonic() + timeout
        for name, ev in self._ready.items():
            if not ev.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"{self.label}: initial list of {name} failed")
        return self

    def stop(self) -> None:
        """Stop watching and kill every process it started (SIGTERM, then SIGKILL)."""
        self._stopping.set()
        self._queue.put(_STOP)
        for resp in list(self._responses):
            with contextlib.suppress(Exception):
                resp.shutdown() if hasattr(resp, "shutdown") else resp.close()
        with self._procs_lock:
            procs = list(self._procs)
        for p in procs:
            self._signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, deadline - time.monotonic()))
            self._signal_group(p, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        for path in reversed(self._mountpoints):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else (path.stat().st_size == 0 and path.unlink())

    def join(self, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(Exception):
            self._api.close()

    @contextlib.contextmanager
    def hold_pending(self) -> Iterator[Controller]:
        """Within this block no new container starts: pods stay Pending (for "follow waits
        for Pending pods"). Containers due meanwhile start when the block ends."""
        with self._hold_lock:
            self._hold += 1
        try:
            yield self
        finally:
            with self._hold_lock:
                self._hold -= 1
            self._queue.put(("tick",))

    def running_pids(self) -> list[int]:
        """PIDs of the processes it started that are still running."""
        with self._procs_lock:
            return [p.pid for p in self._procs if p.poll() is None]

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        """Run fn in the worker thread (state is only touched there) and return its result."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._queue.put(("call", fn, box, done))
        if not done.wait(timeout):
            raise TimeoutError(f"{self.label} is busy")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def wait_idle(self, timeout: float = 10) -> None:
        """Wait until everything queued so far has been handled and written to the API."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(lambda: not self._dirty()):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.label} did not settle")

    # ================================================================ for subclasses
    def _watches(self) -> tuple[str, ...]:
        """Names of what to watch: ``"pods"`` (the fake node's) or keys of ``_resources()``."""
        raise NotImplementedError

    def _resources(self) -> dict[str, tuple[str, str, str]]:
        """Watched custom resources: name -> (group, version, plural), all namespaces."""
        raise NotImplementedError

    def _handle(self, item: tuple) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _dirty(self) -> bool:
        raise NotImplementedError

    # ================================================================ threads
    def _spawn(self, name: str, target: Callable, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _note(self, text: str) -> None:
        self.events.append((time.time(), text))
        log.debug("%s: %s", self.label, text)

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self.events.append((time.time(), "ERROR " + text))
        log.warning("%s: %s", self.label, text)

    def _watch_loop(self, what: str) -> None:
        """List, then watch from the list's resourceVersion; relist on 410 Gone; reconnect
        with backoff while the API server is away. Items go to the worker's queue as
        ``("list", what, items)`` and ``("event", what, type, object)``."""
        from kubernetes import client
        from kubernetes.watch.watch import iter_resp_lines

        api = self.cluster.api_client()
        co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        selector = f"spec.nodeName={self.node_name}"
        resource = None if what == "pods" else self._resources()[what]

        def do_list():
            if resource is None:
                return core.list_pod_for_all_namespaces(field_selector=selector, _preload_content=False,
                                                        _request_timeout=(3, 20))
            return co.list_cluster_custom_object(*resource, _preload_content=False, _request_timeout=(3, 20))

        def do_watch(rv: str):
            kw = {"watch": True, "resource_version": rv, "allow_watch_bookmarks": True, "timeout_seconds": 30,
                  "_preload_content": False, "_request_timeout": (3, 45)}
            if resource is None:
                return core.list_pod_for_all_namespaces(field_selector=selector, **kw)
            return co.list_cluster_custom_object(*resource, **kw)

        rv: str | None = None
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    if rv is None:
                        data = json.loads(do_list().data)
                        rv = data["metadata"]["resourceVersion"]
                        self._queue.put(("list", what, data.get("items") or []))
                        self._ready[what].set()
                    resp = do_watch(rv)
                    self._responses.add(resp)
                    try:
                        for line in iter_resp_lines(resp):
                            if self._stopping.is_set():
                                return
                            ev = json.loads(line)
                            obj = ev.get("object") or {}
                            if ev.get("type") == "ERROR":
                                if obj.get("code") == 410:
                                    rv = None  # expired: relist
                                    break
                                raise RuntimeError(f"watch {what}: {obj}")
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if ev.get("type") != "BOOKMARK":
                                self._queue.put(("event", what, ev["type"], obj))
                    finally:
                        self._responses.discard(resp)
                        with contextlib.suppress(Exception):
                            resp.release_conn()
                    backoff = 0.1
                except Exception as exc:  # noqa: BLE001
                    if self._stopping.is_set():
                        return
                    if status_of(exc) == 410:
                        rv = None
                    elif not transient(exc) and not isinstance(exc, (ValueError, KeyError)):
                        self._error(f"watch {what}: {exc!r}")
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            with contextlib.suppress(Exception):
                api.close()

    def _worker(self) -> None:
        while True:
            timeout = 0.5
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            now = time.monotonic()
            due = []
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
            for it in due + ([item] if item is not None else []):
                try:
                    if it[0] == "call":
                        self._run_call(it)
                    elif it[0] != "tick":
                        self._handle(it)
                except Exception as exc:  # noqa: BLE001
                    self._error(f"handling {it[0]}: {exc!r}")
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001
                self._error(f"flush: {exc!r}")

    @staticmethod
    def _run_call(item: tuple) -> None:
        _, fn, box, done = item
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001
            box["error"] = exc
        finally:
            done.set()

    def _later(self, delay: float, item: tuple) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), item))

    def _held(self) -> bool:
        with self._hold_lock:
            return self._hold > 0

    def _attempt_factory(self) -> tuple[Callable[..., bool | None], Callable[[], bool]]:
        """``attempt(what, fn, *args, ok=(), **kw)``: True done, None failed transiently (retry
        later), False failed for good (logged); and ``retry()``: whether one was transient."""
        failed_transiently = False

        def attempt(what: str, fn: Callable[..., Any], *args: Any, ok: tuple[int, ...] = (), **kwargs: Any) -> bool | None:
            nonlocal failed_transiently
            try:
                fn(*args, **kwargs)
                return True
            except Exception as exc:  # noqa: BLE001
                st = status_of(exc)
                if st in ok:
                    return True
                if transient(exc):
                    failed_transiently = True
                    return None
                body = getattr(exc, "body", None) or exc
                self._error(f"{what}: {st} {body}")
                return False

        return attempt, lambda: failed_transiently

    # ================================================================ processes
    def _launch(self, argv: list[str], env: dict[str, str], cwd: Path, lg, exit_item: tuple,
                mounts: list[tuple[str, str, bool]] = (), workdir: str | None = None) -> subprocess.Popen | str:
        """Start ``argv`` in ``cwd`` (own process group, output into the log ``lg``, ``mounts`` bound
        in a private mount namespace, then ``workdir`` if it exists); when it ends,
        ``(*exit_item, exit code)`` is queued (signals as 128 + n). A string: why it could not start."""
        mounts = list(mounts)
        try:
            for src, target, _ in mounts:
                self._make_mountpoint(Path(target), Path(src).is_dir())
            proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=lambda: _enter_mounts(mounts, workdir))  # noqa: PLW1509
        except (OSError, subprocess.SubprocessError) as exc:
            hint = " (volume mounts need a private mount namespace: root or CAP_SYS_ADMIN)" if mounts else ""
            return f"cannot start {argv[0]!r}: {exc}{hint}"
        with self._procs_lock:
            self._procs.add(proc)
        threading.Thread(target=self._wait_process, args=(proc, lg, exit_item),
                         name=f"proc-{proc.pid}", daemon=True).start()
        return proc

    def _make_mountpoint(self, target: Path, is_dir: bool) -> None:
        """Create a missing mount target (and its missing parents) on this machine."""
        missing = []
        p = target
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            if d == target and not is_dir:
                d.touch()
            else:
                d.mkdir()
            self._mountpoints.append(d)

    def _wait_process(self, proc: subprocess.Popen, lg, exit_item: tuple) -> None:
        def pump():
            for raw in iter(proc.stdout.readline, b""):
                lg.append(raw.decode("utf-8", "replace"))

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        rc = proc.wait()
        self._signal_group(proc, signal.SIGKILL)  # what is left in the "container" goes with it
        t.join(2)
        with contextlib.suppress(Exception):
            proc.stdout.close()
        lg.close()
        with self._procs_lock:
            self._procs.discard(proc)
        self._queue.put((*exit_item, rc if rc >= 0 else 128 - rc))

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _terminate(self, proc: subprocess.Popen | None) -> None:
        """SIGTERM the process group; SIGKILL after ``kill_grace`` seconds."""
        if proc is None or proc.poll() is not None:
            return
        self._signal_group(proc, signal.SIGTERM)

        def reap():
            try:
                proc.wait(self.kill_grace)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)

        threading.Thread(target=reap, daemon=True).start()
