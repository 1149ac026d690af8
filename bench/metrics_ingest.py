"""Metric collection: memory to ingest a large log, and what it costs log follow, in one run.

    python bench/metrics_ingest.py [--lines 50000 200000] [--rounds 15] [--set MetricsService.max_series=10 ...]

Starts a real ``jupyter server`` with the extension (state in a temporary folder) and prints:
  1. for replicas printing N lines of ``step=i loss=... acc=...``: the log's size and how much
     the server's peak resident memory (VmHWM, reset just before) rose until every point
     was stored (flat: it does not grow with the log), and the peak of its parsing child;
  2. lines per second delivered by ``logs/{id}?follow=true`` for a replica printing the
     largest N such lines, with collection on and with ``metrics.enabled: false``,
     alternately, medians of ``--rounds`` each (the same server, the same run); rounds
     swing by a third on a shared machine, so the default is 15.
Exits 1 when collecting costs follow more than ``COST_TARGET`` of its rate.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import TOKEN, JupyterProcess

#: The most that collecting metrics from a log may take off following it.
COST_TARGET = 0.10
PRINT = "import sys; sys.stdout.writelines(f'step={{i}} loss={{1 / (i + 1):.6f}} acc={{i / {n}:.6f}}\\n' for i in range({n}))"


def spec(lines: int, name: str, collect: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"meta": {"name": name, "framework": "PyTorch", "cmd": f'{sys.executable} -c "{PRINT.format(n=lines)}"'},
                            "spec": {"Master": {"replicas": 1}}}
    if not collect:
        body["metrics"] = {"enabled": False}
    return body


def kib(pid: int, field: str) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise KeyError(field)


def parser_peak(server_pid: int) -> float:
    """Peak resident MB of the server's parsing child (``...metrics.parsing``), 0 if none runs."""
    for children in Path(f"/proc/{server_pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            if b"metrics.parsing" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return kib(int(pid), "VmHWM") / 1024
    return 0.0


def stored(server: JupyterProcess, experiment_id: str) -> int:
    series = server.ok("GET", f"/api/v1/experiment/{experiment_id}/metrics?maxPoints=2")["series"]
    return sum(s["count"] for s in series)


def ingest(server: JupyterProcess, lines: int) -> tuple[float, float, float]:
    """(log MB, peak RSS rise MB, seconds) to run and collect a replica printing ``lines`` lines."""
    assert server.process is not None
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to the current RSS
    before = kib(pid, "VmRSS")
    start = time.perf_counter()
    experiment_id = server.ok("POST", "/api/v1/experiment", spec(lines, "ingest"))["experimentId"]
    assert server.wait(experiment_id, timeout=600)["status"] == "Succeeded"
    while stored(server, experiment_id) < 2 * lines:
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    rise = kib(pid, "VmHWM") - before
    (log,) = (server.home / "state" / "logs" / experiment_id).glob("*.log")
    return log.stat().st_size / 1e6, rise / 1024, elapsed


def follow_rate(server: JupyterProcess, lines: int, collect: bool) -> float:
    start = time.perf_counter()
    created = server.ok("POST", "/api/v1/experiment", spec(lines, "follow", collect))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.request("GET", f"/api/v1/experiment/logs/{created['experimentId']}?follow=true",
                 headers={"Authorization": f"token {TOKEN}"})
    count = sum(1 for _ in conn.getresponse())
    elapsed = time.perf_counter() - start
    assert count == lines, count
    while collect and stored(server, created["experimentId"]) < 2 * lines:  # done before the next run
        time.sleep(0.2)
    return lines / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--set", action="append", default=[], metavar="Class.setting=value",
                        help="a server setting, e.g. MetricsService.max_series=10")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as home:
        server = JupyterProcess(Path(home), *(f"--{setting}" for setting in args.set)).start()
        try:
            follow_rate(server, 1000, True)  # warm up
            memory = [(lines, *ingest(server, lines)) for lines in args.lines]
            assert server.process is not None
            child = parser_peak(server.process.pid)
            rates: dict[bool, list[float]] = {True: [], False: []}
            for round_ in range(args.rounds):
                for collect in (True, False) if round_ % 2 else (False, True):
                    rates[collect].append(follow_rate(server, max(args.lines), collect))
        finally:
            server.stop()
    print(f"python: {sys.executable}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load)}, after: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'ingest (2 metrics a line)':<32}{'log (MB)':>10}{'peak RSS rise (MB)':>20}{'seconds':>10}")
    for lines, size, rise, seconds in memory:
        print(f"{f'{lines:,} lines':<32}{size:>10.1f}{rise:>20.1f}{seconds:>10.2f}")
    print(f"{'the parsing process, peak RSS':<42}{child:>20.1f}")
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"{f'follow, {max(args.lines):,} lines (lines/s)':<32}{'collecting':>14}{'not collecting':>16}{'cost':>8}")
    print(f"{'median of ' + str(args.rounds):<32}{on:>14,.0f}{off:>16,.0f}{1 - on / off:>8.1%}")
    for collect, label in ((True, "collecting"), (False, "not collecting")):
        print(f"  {label}: " + ", ".join(f"{rate:,.0f}" for rate in rates[collect]))
    met = 1 - on / off <= COST_TARGET
    print(f"target: collecting costs follow at most {COST_TARGET:.0%}: {'met' if met else 'MISSED'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
