"""Local backend latency and log-follow throughput, each beside its floor, in one run.

    python bench/local_backend.py [--runs 15] [--lines 200000]

Starts a real ``jupyter server`` with the extension (state in a temporary folder) and
prints:
  1. median time from POST /api/v1/experiment to the first log line arriving through
     ``logs/{id}?follow=true``, for ``python -c "print(1)"``, beside the median time to
     spawn the same command with ``subprocess`` and read its first line (the floor);
  2. lines per second delivered by follow for a replica printing N lines, beside the
     same program's lines per second read straight from a pipe.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import TOKEN, JupyterProcess

PRINT_ONE = f'{sys.executable} -c "print(1)"'


def spec(cmd: str, name: str) -> dict[str, object]:
    return {"meta": {"name": name, "framework": "PyTorch", "cmd": cmd}, "spec": {"Master": {"replicas": 1}}}


def follow(server: JupyterProcess, experiment_id: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("GET", f"/api/v1/experiment/logs/{experiment_id}?follow=true", headers={"Authorization": f"token {TOKEN}"})
    return conn.getresponse()


def post_to_first_line(server: JupyterProcess, name: str) -> float:
    start = time.perf_counter()
    created = server.ok("POST", "/api/v1/experiment", spec(PRINT_ONE, name))
    response = follow(server, created["experimentId"])
    first = response.readline()
    elapsed = time.perf_counter() - start
    assert json.loads(first)["line"] == "1", first
    response.read()
    return elapsed


def spawn_to_first_line() -> float:
    start = time.perf_counter()
    child = subprocess.Popen(["sh", "-c", PRINT_ONE], stdout=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline()
    elapsed = time.perf_counter() - start
    child.wait()
    assert line.strip() == b"1"
    return elapsed


def follow_throughput(server: JupyterProcess, lines: int) -> float:
    cmd = f'{sys.executable} -c "for i in range({lines}): print(i)"'
    start = time.perf_counter()
    created = server.ok("POST", "/api/v1/experiment", spec(cmd, "throughput"))
    response = follow(server, created["experimentId"])
    count = sum(1 for _ in response)
    elapsed = time.perf_counter() - start
    assert count == lines, count
    return lines / elapsed


def pipe_throughput(lines: int) -> float:
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", f"for i in range({lines}): print(i)"], stdout=subprocess.PIPE)
    assert child.stdout is not None
    count = sum(1 for _ in child.stdout)
    child.wait()
    assert count == lines
    return lines / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = JupyterProcess(Path(home)).start()
        try:
            post_to_first_line(server, "warmup")
            ours = [post_to_first_line(server, f"latency-{i}") for i in range(args.runs)]
            floor = [spawn_to_first_line() for _ in range(args.runs)]
            follow_rate = follow_throughput(server, args.lines)
            pipe_rate = pipe_throughput(args.lines)
        finally:
            server.stop()
    print(f"runs: {args.runs}, python: {sys.executable}")
    print(f"{'measure':<44}{'submarine-jupyter':>20}{'floor':>14}{'ratio':>8}")
    ours_ms, floor_ms = statistics.median(ours) * 1000, statistics.median(floor) * 1000
    print(f"{'median POST -> first log line (ms)':<44}{ours_ms:>20.1f}{floor_ms:>14.1f}{ours_ms / floor_ms:>8.2f}")
    print(f"{f'follow throughput, {args.lines} lines (lines/s)':<44}{follow_rate:>20,.0f}{pipe_rate:>14,.0f}{pipe_rate / follow_rate:>8.2f}")


if __name__ == "__main__":
    main()
