"""Restart with 10,000 experiments stored, 200 of them still running, beside the same
store with none running, in one run.

    python bench/restart_scale.py [--rows 10000] [--running 200] [--runs 7]

The running ones are real processes (``sleep``), started by a first server that is then
killed with ``kill -9``, so every restart re-adopts them. Each round starts a server on
each state and measures, from the moment Jupyter's own ``/api/status`` answers:
  - the first API call (ping), then a GET of a finished experiment and of a running one
    (target for each: within 50 ms with 200 to re-adopt);
  - when every running experiment has been re-adopted (its ``re-adopted`` log line).
Then the server is killed with ``kill -9`` again, so the next round re-adopts too.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_scale import Client, seed

from tests.servers import JupyterProcess

TARGET_S = 0.050


def start(home: Path) -> JupyterProcess:
    """A server on ``home``'s state, once Jupyter's own ``/api/status`` answers."""
    server = JupyterProcess(home, "--LocalBackend.cpu_capacity=1000", "--LocalBackend.memory_capacity=1000Gi")
    server.launch().wait_for_jupyter()
    return server


def prepare(home: Path, rows: int, running: int) -> tuple[str, str | None]:
    """``rows - running`` finished experiments, then ``running`` started for real and left
    running by a server killed with ``kill -9``; (a finished id, a running id or None)."""
    seed(home / "state", rows - running)
    finished_id = "experiment_1796000000000_0001"
    if not running:
        return finished_id, None
    server = start(home)
    try:
        spec = {"meta": {"name": "sleeper", "framework": "PyTorch", "cmd": "sleep 3600"},
                "spec": {"Master": {"replicas": 1, "resources": "cpu=0.1,memory=16Mi"}}}
        ids = [server.ok("POST", "/api/v1/experiment", spec)["experimentId"] for _ in range(running)]
        for experiment_id in ids:
            server.wait(experiment_id, ("Running",))
    finally:
        server.kill9()
    return finished_id, ids[-1]


def round_of(home: Path, finished_id: str, running_id: str | None, running: int) -> dict[str, float]:
    log = home / "server.log"
    logged = log.stat().st_size if log.exists() else 0  # what earlier rounds logged
    started = time.perf_counter()
    server = start(home)
    ready = time.perf_counter()
    try:
        client = Client(server)
        figures = {"status answers (s)": ready - started}
        elapsed, status, _ = client.get("/api/v1/experiment/ping")
        assert status == 200
        figures["first call"] = elapsed
        elapsed, status, _ = client.get(f"/api/v1/experiment/{finished_id}")
        assert status == 200
        figures["GET finished"] = elapsed
        if running_id is not None:
            elapsed, status, _ = client.get(f"/api/v1/experiment/{running_id}")
            assert status == 200
            figures["GET running"] = elapsed
        while log.read_bytes()[logged:].count(b"re-adopted") < running:
            time.sleep(0.005)
        figures["all re-adopted"] = time.perf_counter() - ready
        return figures
    finally:
        server.kill9()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as idle_home, tempfile.TemporaryDirectory() as busy_home:
        homes = {0: Path(idle_home), args.running: Path(busy_home)}
        ids = {running: prepare(home, args.rows, running) for running, home in homes.items()}
        results: dict[int, list[dict[str, float]]] = {running: [] for running in homes}
        try:
            for _ in range(args.runs):
                for running, home in homes.items():
                    results[running].append(round_of(home, *ids[running], running))
        finally:
            subprocess.run(["pkill", "-f", "sleep 3600"], check=False)
    load = os.getloadavg()
    print(f"rows: {args.rows}, runs: {args.runs}, load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'ms, median (min-max)':<28}{'none running':>24}{f'{args.running} running':>24}")
    for name in results[args.running][0]:
        cells = []
        for running in homes:
            values = [r[name] * 1000 for r in results[running] if name in r]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})" if values else "-")
        print(f"{name:<28}{cells[0]:>24}{cells[1]:>24}")
    missed = 0
    for name in ("first call", "GET finished", "GET running"):
        median = statistics.median(r[name] for r in results[args.running])
        if median > TARGET_S:
            print(f"MISSED: {name} after start with {args.running} running {median * 1000:.1f} ms > 50 ms")
            missed += 1
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
