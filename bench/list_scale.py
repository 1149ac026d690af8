"""Listing experiments at scale: a page, one experiment, the whole list, at 100 and 10,000 rows.

    python bench/list_scale.py [--rows 10000] [--runs 9]

Seeds two state folders with finished experiments (100 rows and ``--rows`` rows, each a
Master + 2 Workers PyTorch run as the API stores it), starts a real ``jupyter server`` with
the extension on each, and prints, median (min-max) over ``--runs`` requests:
  - ``GET /api/v1/experiment?limit=100`` (the newest page) at both sizes, and their ratio
    (target: within 1.5x);
  - ``GET /api/v1/experiment/{id}`` at both sizes (target: within 1.5x);
  - the unpaged list at both sizes, per row (target: no worse than linear, 1.5x per row);
  - the slowest (and median) ``ping`` answered while another client reads the unpaged list
    at the large size, beside those of an idle server (target: slowest under 20 ms);
  - the first API call after the server starts, at both sizes (target: within 50 ms).
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from submarine_jupyter.server.domain import ExperimentRecord, ReplicaStatus
from submarine_jupyter.server.store import Store
from submarine_jupyter.server.store.rows import experiment_row
from tests.servers import TOKEN, JupyterProcess

STAMP = "2026-12-01T10:00:00.000+00:00"


def record(seq: int) -> ExperimentRecord:
    experiment_id = f"experiment_1796000000000_{seq:04d}"
    stem = experiment_id.replace("_", "-")
    spec = {"meta": {"name": f"run-{seq}", "namespace": "default", "framework": "PyTorch",
                     "cmd": "python train.py --lr 0.01", "envVars": {"LR": "0.01"}, "tags": []},
            "environment": {"image": "python:3.12"},
            "spec": {"Master": {"replicas": 1, "resources": "cpu=1,memory=1Gi"},
                     "Worker": {"replicas": 2, "resources": "cpu=1,memory=1Gi"}}}
    replicas = [ReplicaStatus(name=f"{stem}-{role.lower()}-{index}", role=role, index=index, state="Succeeded",
                              restarts=0, exit_code=0, message=None)
                for role, index in (("Master", 0), ("Worker", 0), ("Worker", 1))]
    return ExperimentRecord(id=experiment_id, name=f"run-{seq}", uid=str(uuid.uuid4()), status="Succeeded",
                            spec=spec, accepted_time=STAMP, image="python:3.12", created_time=STAMP,
                            running_time=STAMP, finished_time=STAMP, replicas=replicas,
                            status_message=f"replica {stem}-master-0 completed")


def insert_rows(conn: sqlite3.Connection, rows: int) -> None:
    """``rows`` finished experiments written in ``conn``'s transaction, as the server writes them."""
    for seq in range(1, rows + 1):
        row = {**experiment_row(record(seq)), "seq": seq}
        conn.execute(f"INSERT INTO experiments ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                     tuple(row.values()))
    conn.execute("INSERT INTO counters(name, value) VALUES ('experiment', ?)", (rows,))


def seed(state: Path, rows: int) -> None:
    """``rows`` finished experiments in the state folder's database (``insert_rows``)."""

    async def main() -> None:
        store = Store(state / "submarine.db")
        await store.run(lambda conn: insert_rows(conn, rows))
        await store.close()

    asyncio.run(main())


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, server: JupyterProcess) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

    def get(self, path: str) -> tuple[float, int, bytes]:
        start = time.perf_counter()
        self.conn.request("GET", path, headers={"Authorization": f"token {TOKEN}"})
        response = self.conn.getresponse()
        body = response.read()
        return time.perf_counter() - start, response.status, body


def timed(client: Client, path: str, runs: int) -> list[float]:
    client.get(path)  # warm
    times = []
    for _ in range(runs):
        elapsed, status, body = client.get(path)
        assert status == 200, (status, body[:300])
        times.append(elapsed)
    return times


def pings(server: JupyterProcess, busy: threading.Event) -> list[float]:
    """Each ping's time, pinging while ``busy`` is set (at least 50 pings)."""
    client, times = Client(server), []
    while busy.is_set() or len(times) < 50:
        elapsed, status, _ = client.get("/api/v1/experiment/ping")
        assert status == 200
        times.append(elapsed)
        time.sleep(0.002)
    return times


def ping_while_listing(server: JupyterProcess, runs: int) -> tuple[list[float], list[float]]:
    """(pings while another connection reads the unpaged list ``runs`` times, pings of the idle server)."""
    idle = threading.Event()
    quiet = pings(server, idle)
    busy = threading.Event()
    busy.set()
    result: list[list[float]] = []
    pinger = threading.Thread(target=lambda: result.append(pings(server, busy)))
    pinger.start()
    lister = Client(server)
    for _ in range(runs):
        lister.get("/api/v1/experiment")
    busy.clear()
    pinger.join()
    return result[0], quiet


def first_call(home: Path) -> float:
    """Seconds from the server's own ``/api/status`` answering until its first API answer."""
    server = JupyterProcess(home).launch()
    try:
        server.wait_for_jupyter()
        elapsed, status, _ = Client(server).get("/api/v1/experiment/ping")
        assert status == 200
        return elapsed
    finally:
        server.stop()


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):8.1f} ({min(ms):.1f}-{max(ms):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    small_rows, large_rows = 100, args.rows
    figures: dict[str, dict[int, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        homes = {}
        for rows in (small_rows, large_rows):
            home = Path(tmp, str(rows))
            JupyterProcess(home)  # makes the folders
            seed(home / "state", rows)
            homes[rows] = home
        starts = {rows: [first_call(home) for _ in range(max(3, args.runs // 3))] for rows, home in homes.items()}
        for rows, home in homes.items():
            server = JupyterProcess(home).start()
            try:
                client = Client(server)
                mid = f"experiment_1796000000000_{rows // 2:04d}"
                figures.setdefault("page", {})[rows] = timed(client, "/api/v1/experiment?limit=100&sort=-acceptedTime",
                                                           args.runs)
                figures.setdefault("get", {})[rows] = timed(client, f"/api/v1/experiment/{mid}", args.runs)
                figures.setdefault("list", {})[rows] = timed(client, "/api/v1/experiment", max(3, args.runs // 3))
                _, _, body = client.get("/api/v1/experiment?limit=100")
                page_size = len(json.loads(body)["result"])
                if rows == large_rows:
                    busy_pings, idle_pings = ping_while_listing(server, 3)
            finally:
                server.stop()
    load = os.getloadavg()
    print(f"rows: {small_rows} and {large_rows}; runs: {args.runs}; load average {load[0]:.2f}; cpus {os.cpu_count()}")
    print(f"{'measure (ms, median (min-max))':<40}{f'{small_rows} rows':>24}{f'{large_rows} rows':>24}{'ratio':>8}")
    missed = []

    def row(label: str, small: list[float], large: list[float], target: float, per_row: bool = False) -> None:
        ratio = statistics.median(large) / statistics.median(small)
        if per_row:
            ratio /= large_rows / small_rows
        print(f"{label:<40}{summary(small):>24}{summary(large):>24}{ratio:>8.2f}")
        if ratio > target:
            missed.append(f"{label}: {ratio:.2f} > {target}")

    row("GET ?limit=100 (a page)", figures["page"][small_rows], figures["page"][large_rows], 1.5)
    row("GET /experiment/{id}", figures["get"][small_rows], figures["get"][large_rows], 1.5)
    row("GET unpaged list (ratio per row)", figures["list"][small_rows], figures["list"][large_rows], 1.5, per_row=True)
    row("first API call after start", starts[small_rows], starts[large_rows], 10.0)
    print(f"page size answered for limit=100: {page_size}")
    print(f"ping while the {large_rows}-row list is read: slowest {max(busy_pings) * 1000:.1f} ms, median "
          f"{statistics.median(busy_pings) * 1000:.1f} ms over {len(busy_pings)} (idle: slowest "
          f"{max(idle_pings) * 1000:.1f} ms, median {statistics.median(idle_pings) * 1000:.1f} ms)")
    if page_size != 100:
        missed.append(f"limit=100 answered {page_size} experiments")
    if max(busy_pings) > 0.020:
        missed.append(f"ping {max(busy_pings) * 1000:.1f} ms while listing > 20 ms")
    if statistics.median(starts[large_rows]) > 0.050:
        missed.append(f"first call after start {statistics.median(starts[large_rows]) * 1000:.1f} ms > 50 ms")
    for line in missed:
        print("MISSED", line)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
