"""A stand-in for the kubelet's log endpoint, and the container log files it serves.

The API server serves ``GET /api/v1/namespaces/<ns>/pods/<pod>/log`` by calling
``https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/<ns>/<pod>/<container>``
(query: ``follow``, ``tailLines``, ``previous``, ``timestamps``, ``sinceSeconds``,
``sinceTime``, ``limitBytes``) and streams the answer back to the client, flushing as it
goes when ``follow=true``. It does not verify the kubelet's certificate (no
``--kubelet-certificate-authority``), so this small TLS HTTP server can answer instead.

Container output is stored like the CRI stores it: one record per line,
``<RFC3339Nano UTC timestamp> <F|P> <content>`` (``P``: the last line had no newline).
Errors are the kubelet's own texts and codes, which the API server passes on: a container
that has not started yet gives 400 ``container "x" in pod "y" is waiting to start:
ContainerCreating``; an unknown pod gives 404.
"""

from __future__ import annotations

import datetime as _dt
import http.server
import itertools
import logging
import os
import ssl
import threading
import time
import urllib.parse
from pathlib import Path

log = logging.getLogger(__name__)


def _rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(secs, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def _parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 time (sinceTime, record timestamps)."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits.
    if "." in t:
        head, rest = t.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        t = f"{head}.{digits[:6].ljust(6, '0')}{rest[i:]}"
    return _dt.datetime.fromisoformat(t).timestamp()


class ContainerLog:
    """The log of one run of one container (a restart gets a new one)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by close())
        self._cond = threading.Condition()
        self._size = 0
        self.done = threading.Event()  # the container terminated and its output is all here

    def append(self, text: str) -> None:
        """Store output. Complete lines end with '\\n'; a trailing fragment is stored as a
        partial record (only sensible at end of stream)."""
        if not text:
            return
        chunks = []
        for line in text.splitlines(keepends=True):
            tag = "F" if line.endswith("\n") else "P"
            content = line.rstrip("\n").rstrip("\r") if tag == "F" else line
            chunks.append(f"{_rfc3339nano(time.time_ns())} {tag} {content}\n")
        data = "".join(chunks).encode("utf-8", "replace")
        with self._cond:
            self._fh.write(data)
            self._size += len(data)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if not self._fh.closed:
                self._fh.close()
            self.done.set()
            self._cond.notify_all()

    def wait_for_growth(self, size: int, timeout: float) -> None:
        with self._cond:
            if self._size <= size and not self.done.is_set():
                self._cond.wait(timeout)

    @property
    def size(self) -> int:
        return self._size

    def text(self) -> str:
        """All output as the plain text `kubectl logs` would show (for assertions)."""
        out = []
        with open(self.path, "rb") as fh:
            for raw in fh:
                out.append(_render(raw, timestamps=False))
        return "".join(out)


def _split_record(raw: bytes) -> tuple[str, str, str]:
    line = raw.decode("utf-8", "replace").rstrip("\n")
    ts, tag, content = [*line.split(" ", 2), "", ""][:3]
    return ts, tag, content


def _render(raw: bytes, timestamps: bool) -> str:
    ts, tag, content = _split_record(raw)
    text = content + ("\n" if tag == "F" else "")
    return f"{ts} {text}" if timestamps else text


class _PodContainers:
    def __init__(self, containers: list[str]):
        self.containers = list(containers)
        self.current: dict[str, ContainerLog | None] = {c: None for c in containers}
        self.previous: dict[str, ContainerLog | None] = {c: None for c in containers}
        self.waiting: dict[str, str] = {c: "ContainerCreating" for c in containers}


class FakeKubelet:
    """TLS HTTP server answering the API server's containerLogs calls."""

    def __init__(self, workdir: Path, cert_file: Path, key_file: Path, node_name: str = "fake-node"):
        self.workdir = Path(workdir)
        self.node_name = node_name
        self._cert_file = cert_file
        self._key_file = key_file
        self._pods: dict[tuple[str, str], _PodContainers] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.requests: list[str] = []  # paths+queries the API server asked for (for tests)

    # ----------------------------------------------------------------- registry
    def add_pod(self, namespace: str, pod: str, containers: list[str]) -> None:
        with self._lock:
            self._pods[(namespace, pod)] = _PodContainers(containers)

    def remove_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            entry = self._pods.pop((namespace, pod), None)
        if entry:
            for lg in list(entry.current.values()) + list(entry.previous.values()):
                if lg is not None:
                    lg.close()

    def start_container(self, namespace: str, pod: str, container: str) -> ContainerLog:
        """A new run of the container; the last run's log becomes `previous`."""
        with self._lock:
            entry = self._pods.setdefault((namespace, pod), _PodContainers([container]))
            if container not in entry.containers:
                entry.containers.append(container)
            old = entry.current.get(container)
            path = self.workdir / "logs" / namespace / pod / f"{container}-{next(self._seq)}.log"
            lg = ContainerLog(path)
            entry.previous[container] = old
            entry.current[container] = lg
            entry.waiting.pop(container, None)
            return lg

    def set_waiting(self, namespace: str, pod: str, container: str, reason: str) -> None:
        with self._lock:
            entry = self._pods.get((namespace, pod))
            if entry:
                entry.waiting[container] = reason

    def container_log(self, namespace: str, pod: str, container: str, previous: bool = False):
        with self._lock:
            entry = self._pods.get((namespace, pod))
            if entry is None:
                return None
            return (entry.previous if previous else entry.current).get(container)

    # ----------------------------------------------------------------- server
    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> FakeKubelet:
        kubelet = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # body ends when the connection closes

            def do_GET(self):
                try:
                    kubelet._handle(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self._cert_file), str(self._key_file))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, name="fake-kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            pods = list(self._pods)
        for ns, pod in pods:
            self.remove_pod(ns, pod)

    def _error(self, h, code: int, message: str) -> None:
        body = message.encode()
        h.send_response(code)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        self.requests.append(h.path)
        u = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        parts = [urllib.parse.unquote(p) for p in u.path.strip("/").split("/")]
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self._error(h, 404, "404 page not found")
        _, ns, pod, container = parts
        follow, previous, timestamps = (q.get(k, "false").lower() in ("true", "1")
                                        for k in ("follow", "previous", "timestamps"))
        with self._lock:
            entry = self._pods.get((ns, pod))
            if entry is None:
                return self._error(h, 404, f'pod "{pod}" does not exist')
            if container not in entry.containers:
                return self._error(h, 404, f'container "{container}" not found in pod "{pod}"')
            lg = (entry.previous if previous else entry.current).get(container)
            waiting = entry.waiting.get(container)
        if lg is None:
            if previous:
                return self._error(h, 400, f'previous terminated container "{container}" in pod "{pod}" not found')
            return self._error(
                h, 400, f'container "{container}" in pod "{pod}" is waiting to start: {waiting or "ContainerCreating"}'
            )
        if previous:
            follow = False  # the kubelet does not follow a terminated container

        tail = int(q["tailLines"]) if "tailLines" in q else None
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
        since = None
        if "sinceSeconds" in q:
            since = time.time() - int(q["sinceSeconds"])
        elif "sinceTime" in q:
            since = _parse_rfc3339(q["sinceTime"])

        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Connection", "close")
        h.end_headers()

        sent = 0

        def emit(records: list[bytes]) -> bool:
            nonlocal sent
            out = []
            for raw in records:
                if since is not None:
                    try:
                        if _parse_rfc3339(_split_record(raw)[0]) < since:
                            continue
                    except ValueError:
                        pass
                out.append(_render(raw, timestamps))
            data = "".join(out).encode("utf-8", "replace")
            if limit is not None and sent + len(data) >= limit:
                data = data[: max(0, limit - sent)]
                h.wfile.write(data)
                h.wfile.flush()
                sent = limit
                return False
            if data:
                h.wfile.write(data)
                h.wfile.flush()
                sent += len(data)
            return True

        with open(lg.path, "rb") as fh:
            buf = fh.read()
            pos = buf.rfind(b"\n") + 1
            records = buf[:pos].splitlines(keepends=True)
            if tail is not None:
                records = records[-tail:] if tail > 0 else []
            if not emit(records) or not follow:
                return
            fh.seek(pos)
            pending = b""
            while not self._stopping.is_set():
                done = lg.done.is_set()  # read before reading, so nothing is lost
                chunk = fh.read()
                if chunk:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    if cut:
                        if not emit(pending[:cut].splitlines(keepends=True)):
                            return
                        pending = pending[cut:]
                    continue
                if done:
                    return
                lg.wait_for_growth(os.fstat(fh.fileno()).st_size, 0.5)
