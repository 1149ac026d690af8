"""Memory used to answer ``GET logs/{id}`` for a large log, whole and followed, beside
loading it whole, in one run.

    python bench/log_memory.py [--mb 200]

Starts a real ``jupyter server`` with the extension, runs an experiment whose replica
writes a log of about ``--mb`` MB, and prints:
  - how much the server's peak resident memory (VmHWM, reset just before) rose while it
    sent the whole log through ``GET /api/v1/experiment/logs/{id}``, and how long it took;
  - the same for ``?follow=true``, which streams the log from its start as lines;
  - the baseline: the rise in a fresh Python process that answers the same way by
    loading the log whole (read, decode, ``json.dumps`` of the envelope).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import TOKEN, JupyterProcess

LINE = "step 000000 loss=0.123456 accuracy=0.987654 lr=0.001 é✓ " + "x" * 40

WHOLE = textwrap.dedent("""
    import json, sys
    def kib(field):
        for row in open("/proc/self/status"):
            if row.startswith(field + ":"):
                return int(row.split()[1])
    before = kib("VmRSS")
    with open(sys.argv[1], "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    body = json.dumps({"code": 200, "result": {"logContent": [{"podName": "p", "podLog": text}]}})
    print(kib("VmHWM") - before, len(body))
""")


def kib(pid: int, field: str) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise KeyError(field)


def make_log(server: JupyterProcess, megabytes: int) -> tuple[str, Path]:
    lines = megabytes * 1_000_000 // (len(LINE.encode()) + 1)
    cmd = f"{sys.executable} -c 'import sys; sys.stdout.writelines([{json.dumps(LINE)} + chr(10)] * {lines})'"
    spec = {"meta": {"name": "big-log", "framework": "PyTorch", "cmd": cmd}, "spec": {"Master": {"replicas": 1}}}
    experiment_id = server.ok("POST", "/api/v1/experiment", spec)["experimentId"]
    while (status := server.ok("GET", f"/api/v1/experiment/{experiment_id}")["status"]) not in ("Succeeded", "Failed"):
        time.sleep(0.2)
    assert status == "Succeeded", status
    (path,) = (server.home / "state").rglob("*.log")
    return experiment_id, path


def served(server: JupyterProcess, experiment_id: str, query: str = "") -> tuple[int, int, float]:
    """(peak rise in KiB, bytes received, seconds) for one GET of the whole log."""
    assert server.process is not None
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = kib(pid, "VmRSS")
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.request("GET", f"/api/v1/experiment/logs/{experiment_id}{query}", headers={"Authorization": f"token {TOKEN}"})
    response = conn.getresponse()
    received, tail = 0, b""
    while chunk := response.read(1 << 20):
        received += len(chunk)
        tail = (tail + chunk)[-200:]
    elapsed = time.perf_counter() - start
    assert response.status == 200 and tail.rstrip().endswith(b'}'), (response.status, tail)
    return kib(pid, "VmHWM") - before, received, elapsed


def loaded_whole(path: Path) -> tuple[int, int, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WHOLE, str(path)], capture_output=True, text=True, check=True)
    rise, size = map(int, out.stdout.split())
    return rise, size, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = JupyterProcess(Path(home)).start()
        try:
            experiment_id, path = make_log(server, args.mb)
            ours = served(server, experiment_id)
            followed = served(server, experiment_id, "?follow=true")
            whole = loaded_whole(path)
        finally:
            server.stop()
        size_mb = path.stat().st_size / 1e6 if path.exists() else float(args.mb)
    print(f"log: {size_mb:.0f} MB, python: {sys.executable}")
    print(f"{'GET logs/{id}, whole log':<40}{'peak RSS rise (MB)':>20}{'answer (MB)':>14}{'seconds':>10}")
    rows = (("submarine-jupyter (streamed)", ours), ("submarine-jupyter, ?follow=true", followed),
            ("baseline (loaded whole)", whole))
    for label, (rise, size, seconds) in rows:
        print(f"{label:<40}{rise / 1024:>20.1f}{size / 1e6:>14.1f}{seconds:>10.2f}")


if __name__ == "__main__":
    main()
