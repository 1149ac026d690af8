"""How late follow delivers a line printed after a quiet spell, and notices the end, beside a pipe.

    python bench/log_wakeup.py [--rounds 7] [--quiet 0.15 0.5]

Starts a real ``jupyter server`` with the extension (state in a temporary folder). Each
round runs one program twice, alternately: as an experiment read through
``logs/{id}?follow=true``, and from a pipe read directly (the floor). The program prints a
line, then after each quiet spell a line stamped with ``time.monotonic()`` (one clock for
every process on the machine), then exits. Prints median/min/max of:
  1. wake-up: a stamped line's arrival minus its stamp, for each quiet spell;
  2. POST -> follow end (floor: spawn -> end of the pipe and exit);
  3. end after the last line: the follow's (or the pipe's) end minus the last stamp;
  4. log closed -> follow end: the follower's own share of noticing the end (the replica's
     last close of its log, seen here through inotify, to the end of the response).
Exits non-zero when a median misses the target: wake-up within 10 ms of the pipe's after
every quiet spell of at least 150 ms, and POST -> follow end within the floor's + 15 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.local_backend import follow, spec
from submarine_jupyter.server.backends.filewatch import IN_CLOSE_WRITE, IN_CREATE, add_watch, inotify_open, read_events
from tests.servers import JupyterProcess

WAKE_MS, END_MS, SHORTEST_QUIET = 10.0, 15.0, 0.15


def program(quiet: Iterable[float]) -> str:
    body = "import time; print('start', flush=True)"
    for spell in quiet:
        body += f"; time.sleep({spell}); print(time.monotonic(), flush=True)"
    return f'{sys.executable} -c "{body}"'


class Sample:
    """One run of the program: when it was started and ended, and each stamped line's delay."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.delays: list[float] = []
        self.last_stamp = 0.0
        self.ended = 0.0
        self.closed = 0.0

    def line(self, text: str) -> None:
        if text != "start":
            self.last_stamp = float(text)
            self.delays.append(time.monotonic() - self.last_stamp)


class LogCloses:
    """When each replica log under ``logs`` (``<experiment>/<replica>.log``) was last closed
    after writing, seen through inotify in a thread of this program."""

    def __init__(self, logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.fd = inotify_open()
        self.folders = {add_watch(self.fd, logs, IN_CREATE): logs}
        self.closed: dict[str, float] = {}
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            if not select.select([self.fd], [], [], 0.05)[0]:
                continue
            now = time.monotonic()
            for event in read_events(self.fd):
                folder = self.folders[event.wd]
                if event.mask & IN_CREATE and folder == next(iter(self.folders.values())):
                    self.folders[add_watch(self.fd, folder / event.name, IN_CLOSE_WRITE)] = folder / event.name
                elif event.mask & IN_CLOSE_WRITE and event.name.endswith(".log"):
                    self.closed[folder.name] = now

    def stop(self) -> None:
        self.stopping = True
        self.thread.join()
        os.close(self.fd)


def through_follow(server: JupyterProcess, closes: LogCloses, cmd: str, name: str) -> Sample:
    sample = Sample(time.monotonic())
    created = server.ok("POST", "/api/v1/experiment", spec(cmd, name))
    response = follow(server, created["experimentId"])
    for raw in response:
        sample.line(json.loads(raw)["line"])
    sample.ended = time.monotonic()
    sample.closed = closes.closed[created["experimentId"]]
    return sample


def through_pipe(cmd: str) -> Sample:
    sample = Sample(time.monotonic())
    child = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE)
    assert child.stdout is not None
    for raw in child.stdout:
        sample.line(raw.decode().strip())
    child.wait()
    sample.ended = time.monotonic()
    return sample


def row(label: str, ours: list[float], floor: list[float]) -> tuple[float, float]:
    """Print one measure (ms): median/min/max of ours beside the floor's; both medians."""
    ms = [[value * 1000 for value in values] for values in (ours, floor)]
    cells = "".join(f"{statistics.median(v):>9.1f}{min(v):>8.1f}{max(v):>8.1f}" for v in ms)
    print(f"{label:<36}{cells}")
    return statistics.median(ms[0]), statistics.median(ms[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quiet", type=float, nargs="+", default=[0.15, 0.5], help="quiet spells (s)")
    args = parser.parse_args()
    cmd = program(args.quiet)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as home:
        server = JupyterProcess(Path(home)).start()
        closes = LogCloses(Path(home) / "state" / "logs")
        try:
            through_follow(server, closes, program([0.01]), "warmup")
            rounds = [(through_follow(server, closes, cmd, f"wakeup-{i}"), through_pipe(cmd))
                      for i in range(args.rounds)]
        finally:
            closes.stop()
            server.stop()
    print(f"rounds: {args.rounds}, quiet spells: {args.quiet} s, python: {sys.executable}")
    print(f"load average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}")
    print(f"{'measure (ms)':<36}{'follow: median':>17}{'min':>8}{'max':>8}{'pipe: median':>17}{'min':>8}{'max':>8}")
    missed = []
    for index, spell in enumerate(args.quiet):
        ours, floor = row(f"wake-up after {spell * 1000:.0f} ms quiet",
                          [o.delays[index] for o, _ in rounds], [p.delays[index] for _, p in rounds])
        if spell >= SHORTEST_QUIET and ours > floor + WAKE_MS:
            missed.append(f"wake-up after {spell} s quiet: {ours:.1f} ms > pipe {floor:.1f} + {WAKE_MS:.0f} ms")
    ours, floor = row("POST -> follow end", [o.ended - o.started for o, _ in rounds],
                      [p.ended - p.started for _, p in rounds])
    if ours > floor + END_MS:
        missed.append(f"POST -> follow end: {ours:.1f} ms > floor {floor:.1f} + {END_MS:.0f} ms")
    row("end after the last line", [o.ended - o.last_stamp for o, _ in rounds],
        [p.ended - p.last_stamp for _, p in rounds])
    closed = [(o.ended - o.closed) * 1000 for o, _ in rounds]
    print(f"{'log closed -> follow end':<36}{statistics.median(closed):>9.1f}{min(closed):>8.1f}{max(closed):>8.1f}")
    for miss in missed:
        print(f"target missed: {miss}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
