"""What an idle panel costs the server at 10,000 experiments: CPU per second of wall time.

    python bench/panel_idle.py [--rows 10000] [--seconds 120] [--interval 15]

Seeds a state folder with ``--rows`` finished experiments (bench/list_scale.py's rows),
starts a real ``jupyter server`` with the extension and reads its CPU time (utime + stime
of /proc/<pid>/stat) over ``--seconds`` of each of:
  - nobody polling (the server's own background work);
  - a client polling the first page as the idle panel does: ``GET
    /api/v1/experiment?limit=100&sort=-acceptedTime`` with ``If-None-Match`` (304s);
  - the same poll without ``If-None-Match`` (the page sent each time).
``--interval`` defaults to 15 s, the delay an idle panel in view backs off to (LIST_BACKOFF.max
in labextension/src/model.ts: 1 s after a change, times 1.5 per unchanged poll; 60 s while it
is hidden). Prints each, and what polling adds to the quiet server; exits non-zero when the
conditional polls add 1 ms of CPU a second or more.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.list_scale import seed
from tests.servers import TOKEN, JupyterProcess

PAGE = "/api/v1/experiment?limit=100&sort=-acceptedTime"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(server: JupyterProcess, seconds: float, interval: float | None, conditional: bool) -> tuple[float, int]:
    """(server CPU ms per wall second, polls made) over ``seconds``; ``interval`` None: no polls."""
    assert server.process is not None
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    etag = ""
    polls = 0
    start_cpu, start = cpu_seconds(server.process.pid), time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        if interval is None:
            time.sleep(seconds - (now - start))
            continue
        headers = {"Authorization": f"token {TOKEN}", **({"If-None-Match": etag} if conditional and etag else {})}
        conn.request("GET", PAGE, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status in ((304, 200) if conditional else (200,)), response.status
        assert not (conditional and etag and response.status != 304), "the list changed while idle"
        etag = response.getheader("ETag") or ""
        polls += 1
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    elapsed = time.monotonic() - start
    conn.close()
    return (cpu_seconds(server.process.pid) - start_cpu) * 1000 / elapsed, polls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        JupyterProcess(home)  # makes the folders
        seed(home / "state", args.rows)
        server = JupyterProcess(home).start()
        try:
            server.ok("GET", PAGE)  # warm
            time.sleep(2)
            quiet, _ = measure(server, args.seconds, None, False)
            conditional, polls_304 = measure(server, args.seconds, args.interval, True)
            plain, polls_200 = measure(server, args.seconds, args.interval, False)
        finally:
            server.stop()
    load = os.getloadavg()
    print(f"rows: {args.rows}; {args.seconds:g} s each; a poll every {args.interval:g} s; "
          f"load average {load[0]:.2f}; cpus {os.cpu_count()}; CPU clock tick {1000 / TICKS:g} ms")
    print(f"{'server CPU, ms per second':<44}{'total':>8}{'added by polling':>18}")
    print(f"{'nobody polling':<44}{quiet:>8.2f}{'':>18}")
    print(f"{f'If-None-Match polls ({polls_304}, 304)':<44}{conditional:>8.2f}{conditional - quiet:>18.2f}")
    print(f"{f'plain polls ({polls_200}, 200 with the page)':<44}{plain:>8.2f}{plain - quiet:>18.2f}")
    if conditional - quiet >= 1.0:
        print(f"MISSED conditional polls add {conditional - quiet:.2f} ms CPU per second >= 1 ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
