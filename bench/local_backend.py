"""Local backend latency and log-follow throughput, each beside its floor, in one run.

    python bench/local_backend.py [--runs 15] [--rounds 7] [--lines 200000] [--source DIR]

Starts a real ``jupyter server`` with the extension (state in a temporary folder; with
``--source``, the server's code from that folder, e.g. an older commit's ``git archive``)
and prints:
  1. median time from POST /api/v1/experiment to the first log line arriving through
     ``logs/{id}?follow=true``, for ``python -c "print(1)"``, beside the median time to
     spawn the same command with ``subprocess`` and read its first line (the floor);
  2. lines per second delivered by follow for a PyTorch replica printing N lines, beside
     the same program's (``python -u``) lines per second read straight from a pipe;
  3. per round (ours and the floors alternating): time from POST to the last of the N
     lines followed, for the program as a PyTorch replica (the operator sets
     ``PYTHONUNBUFFERED=1``: a write per line) beside it read from a pipe unbuffered
     (``python -u``), and as a TensorFlow replica (no such variable: block-buffered
     writes) beside it read from a pipe buffered; the server's CPU time per line (its
     ``/proc`` utime + stime) and its RSS. Exits 1 when the median is over 1.5x the
     unbuffered floor or 2.5x the buffered one. Also the replica alone as the backend runs
     it (through ``head`` into its log), which no follower can beat, and the PyTorch
     follow over the buffered pipe (what a write per line costs the program itself).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import TOKEN, JupyterProcess

PRINT_ONE = f'{sys.executable} -c "print(1)"'
#: Targets: follow time over each floor's (median of the rounds).
UNBUFFERED_TARGET = 1.5
BUFFERED_TARGET = 2.5


@dataclass
class Round:
    """One round of follow beside its floors: seconds, and the server's CPU seconds and RSS."""

    ours: float
    ours_buffered: float
    unbuffered: float
    buffered: float
    replica: float
    cpu: float
    rss: int


#: framework -> the role of its one replica
ROLES = {"PyTorch": "Master", "TensorFlow": "Worker"}


def spec(cmd: str, name: str, framework: str = "PyTorch") -> dict[str, object]:
    return {"meta": {"name": name, "framework": framework, "cmd": cmd}, "spec": {ROLES[framework]: {"replicas": 1}}}


def counting(lines: int) -> str:
    return f"for i in range({lines}): print(i)"


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


def follow_seconds(server: JupyterProcess, lines: int, framework: str = "PyTorch") -> float:
    """POST a replica printing ``lines`` lines (PyTorch: unbuffered; TensorFlow: buffered)
    until its last line is followed."""
    cmd = f'{sys.executable} -c "{counting(lines)}"'
    start = time.perf_counter()
    created = server.ok("POST", "/api/v1/experiment", spec(cmd, "throughput", framework))
    response = follow(server, created["experimentId"])
    count, tail = 0, b""
    while piece := response.read1(1 << 16):  # read in large pieces, as the pipe floors are
        count += piece.count(b"\n")
        tail = (tail + piece)[-100:]
    elapsed = time.perf_counter() - start
    assert count == lines and json.loads(tail.splitlines()[-1])["line"] == str(lines - 1), (count, tail)
    return elapsed


def pipe_seconds(lines: int, unbuffered: bool) -> float:
    """The same program read straight from a pipe, a line at a time (buffered: whatever this
    process's environment says, ``PYTHONUNBUFFERED`` is left out)."""
    flags = ["-u"] if unbuffered else []
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *flags, "-c", counting(lines)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    count = sum(1 for _ in child.stdout)
    child.wait()
    assert count == lines
    return time.perf_counter() - start


def replica_seconds(lines: int, log: Path) -> float:
    """The replica alone, as the local backend runs it (unbuffered, through ``stdbuf -o0 head``
    into its log; the default log limit): what no follower of its log can beat."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    subprocess.run(["sh", "-c", f'{sys.executable} -c "{counting(lines)}" 2>&1 | stdbuf -o0 head -c {512 << 20} > {log}'],
                   env=env, check=True)
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int, key: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of the process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def follow_round(server: JupyterProcess, pid: int, lines: int, index: int) -> Round:
    """Ours and the floors, in an order that rotates with ``index`` so drift hits each alike."""
    kinds = ("ours", "ours_buffered", "unbuffered", "buffered", "replica")
    measured: dict[str, float] = {}
    for kind in kinds[index % 5:] + kinds[:index % 5]:
        if kind == "ours":
            before = cpu_seconds(pid)
            measured["ours"] = follow_seconds(server, lines)
            measured["cpu"] = cpu_seconds(pid) - before
        elif kind == "ours_buffered":
            measured[kind] = follow_seconds(server, lines, "TensorFlow")
        elif kind == "replica":
            measured[kind] = replica_seconds(lines, server.home / "replica.log")
        else:
            measured[kind] = pipe_seconds(lines, kind == "unbuffered")
    return Round(measured["ours"], measured["ours_buffered"], measured["unbuffered"], measured["buffered"], measured["replica"], measured["cpu"],
                 memory_kib(pid, "VmRSS"))


def spread(values: list[float], scale: float = 1, digits: int = 2) -> str:
    """``median (min-max)`` of ``values`` times ``scale``."""
    median, low, high = (scale * v for v in (statistics.median(values), min(values), max(values)))
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def report_rounds(rounds: list[Round], lines: int, rss_start: int, hwm: int) -> bool:
    """Print the rounds' figures; whether both targets are met (by the medians)."""
    to_unbuffered = [r.ours / r.unbuffered for r in rounds]
    to_buffered = [r.ours_buffered / r.buffered for r in rounds]
    print(f"\nfollow {lines} lines, {len(rounds)} rounds: median (min-max)")
    print(f"  {'PyTorch replica, POST -> last line (s)':<46}{spread([r.ours for r in rounds], digits=3)}")
    print(f"  {'pipe, python -u (s)':<46}{spread([r.unbuffered for r in rounds], digits=3)}")
    print(f"  {'TensorFlow replica, POST -> last line (s)':<46}{spread([r.ours_buffered for r in rounds], digits=3)}")
    print(f"  {'pipe, buffered (s)':<46}{spread([r.buffered for r in rounds], digits=3)}")
    print(f"  {'replica alone, as run: | head > log (s)':<46}{spread([r.replica for r in rounds], digits=3)}")
    print(f"  {f'PyTorch over unbuffered pipe (target <= {UNBUFFERED_TARGET})':<46}{spread(to_unbuffered)}")
    print(f"  {f'TensorFlow over buffered pipe (target <= {BUFFERED_TARGET})':<46}{spread(to_buffered)}")
    print(f"  {'PyTorch over buffered pipe (writes per line)':<46}{spread([r.ours / r.buffered for r in rounds])}")
    print(f"  {'server CPU per line (us)':<46}{spread([r.cpu / lines for r in rounds], scale=1e6)}")
    print(f"  {'server RSS after each round (MiB)':<46}{spread([r.rss / 1024 for r in rounds], digits=1)}"
          f"; at start {rss_start / 1024:.1f}, peak {hwm / 1024:.1f}")
    met = statistics.median(to_unbuffered) <= UNBUFFERED_TARGET and statistics.median(to_buffered) <= BUFFERED_TARGET
    print(f"  targets {'met' if met else 'MISSED'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--source", type=Path, help="run the server's code from this folder (its root)")
    args = parser.parse_args()
    if args.source:  # python -m puts the working directory first on the server's sys.path
        os.chdir(args.source)
    os.environ.pop("PYTHONUNBUFFERED", None)  # the server's replicas get only what their operator sets
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as home:
        server = JupyterProcess(Path(home)).start()
        assert server.process is not None
        pid = server.process.pid
        try:
            post_to_first_line(server, "warmup")
            ours = [post_to_first_line(server, f"latency-{i}") for i in range(args.runs)]
            floor = [spawn_to_first_line() for _ in range(args.runs)]
            rss_start = memory_kib(pid, "VmRSS")
            follow_seconds(server, args.lines)  # warm-up
            rounds = [follow_round(server, pid, args.lines, index) for index in range(args.rounds)]
            hwm = memory_kib(pid, "VmHWM")
        finally:
            server.stop()
    print(f"runs: {args.runs}, python: {sys.executable}, server code: {args.source or 'this checkout'}")
    print(f"{'measure':<44}{'submarine-jupyter':>20}{'floor':>14}{'ratio':>8}")
    ours_ms, floor_ms = statistics.median(ours) * 1000, statistics.median(floor) * 1000
    print(f"{'median POST -> first log line (ms)':<44}{ours_ms:>20.1f}{floor_ms:>14.1f}{ours_ms / floor_ms:>8.2f}")
    follow_rate = args.lines / statistics.median([r.ours for r in rounds])
    pipe_rate = args.lines / statistics.median([r.unbuffered for r in rounds])
    print(f"{f'follow {args.lines} lines, python -u (lines/s)':<44}{follow_rate:>20,.0f}{pipe_rate:>14,.0f}"
          f"{pipe_rate / follow_rate:>8.2f}")
    met = report_rounds(rounds, args.lines, rss_start, hwm)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
