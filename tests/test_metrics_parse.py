"""Pure pieces of metric collection: the line parser (Katib's format, JSON lines, custom
filters, step keys, hostile lines), steps by line order, downsampling, and reading logs
resumably with over-long lines left out (local files, and a Kubernetes log stream's bytes)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import sqlite3
from pathlib import Path

import pytest

from submarine_jupyter.server.backends.base import LogChunk
from submarine_jupyter.server.backends.kubernetes.follow import read_lines
from submarine_jupyter.server.backends.logfollow import ended, follow_chunks, resume_at
from submarine_jupyter.server.metrics.downsample import downsample
from submarine_jupyter.server.metrics.logread import read_batch
from submarine_jupyter.server.metrics.parse import LineParser, katib_pairs, log_batch
from submarine_jupyter.server.metrics.parsing import ParsingProcess
from submarine_jupyter.server.store.metrics import Batch, Points
from submarine_jupyter.wire.metrics import KATIB_FORMAT

PARSER = LineParser()


@pytest.mark.parametrize(("line", "expected"), [
    ("epoch=3 loss=0.27 acc=0.91", (3, [("loss", 0.27), ("acc", 0.91)])),
    ("2026-12-01 12:00:00 INFO loss = 1e-3, val-loss=+.5 top|1=-2", (None, [("loss", 0.001), ("val-loss", 0.5),
                                                                         ("top|1", -2.0)])),
    ("iteration=7 epoch=2 loss=1", (7, [("loss", 1.0)])),  # step, then iteration, then epoch
    ("epoch=2 iteration=7 step=9 loss=1", (9, [("loss", 1.0)])),
    ("loss=1 loss=2", (None, [("loss", 1.0), ("loss", 2.0)])),
    ('{"step": 3, "loss": 0.5, "name": "x", "ok": true, "none": null, "nested": {"a": 1}, "list": [1]}',
     (3, [("loss", 0.5)])),
    ('  {"epoch": 1, "acc": 1}  ', (1, [("acc", 1.0)])),
    ("{not json, loss=4}", (None, [("loss", 4.0)])),  # not an object: read as text
])
def test_lines_with_metrics(line: str, expected: tuple[float | None, list[tuple[str, float]]]) -> None:
    assert PARSER.parse(line) == expected


@pytest.mark.parametrize("line", [
    "", "nothing to see here", "step=5", '{"step": 1}', '{"note": "loss=1"}', "[1, 2]",
    "loss=", "loss=+", "loss=nan", "loss=inf", "loss=1e999 acc=-1e400",
    '{"loss": NaN, "acc": Infinity, "x": -Infinity, "big": 1e999, "flag": true}',
    '{"huge": ' + "9" * 400 + "}",
    '{"a": ' * 5000 + "1" + "}" * 5000,  # nested past the decoder's recursion limit
    "x" * 300 + "=1",  # a name over max_name_length
])
def test_lines_without_metrics(line: str) -> None:
    assert PARSER.parse(line) is None


def test_a_non_finite_step_is_no_step() -> None:
    assert PARSER.parse('{"step": 1e999, "loss": 1}') == (None, [("loss", 1.0)])
    assert PARSER.parse("step=nan loss=1") == (None, [("loss", 1.0)])


def test_custom_filters_replace_katibs() -> None:
    parser = LineParser([r"(\w+):\s*([0-9.]+)", r"<(\w+)>([0-9.]+)"])
    assert parser.parse("loss: 0.5 acc: 0.9 <lr>0.01 other=3") == (None, [("loss", 0.5), ("acc", 0.9), ("lr", 0.01)])
    assert parser.parse('{"loss": 2}') == (None, [("loss", 2.0)])  # JSON lines whatever the filters


def test_katibs_pairs_are_found_as_its_regex_finds_them_in_one_pass_over_a_line() -> None:
    """The pairs of Katib's own pattern, over every short line of the characters that matter
    (glued values such as ``a=1b=2`` included); a line of 65,000 name characters, which a
    search from each of them would scan 2 billion times, is read once."""
    katib = re.compile(KATIB_FORMAT)
    alphabet = "ab1|-= .e+\t"
    for length in range(6):
        for chars in itertools.product(alphabet, repeat=length):
            line = "".join(chars)
            assert katib_pairs(line) == [(name, value) for name, value, *_ in katib.findall(line)], line
    assert katib_pairs("a=1b=2 c = 3") == [("a", "1"), ("b", "2"), ("c", "3")]
    assert PARSER.parse("loss=1 " + "w" * 65_000) == (None, [("loss", 1.0)])
    assert PARSER.parse("w" * 65_000 + "==") is None


def test_long_lines_are_skipped_and_wide_ones_bounded_by_length() -> None:
    assert PARSER.parse("loss=1 " + "x" * (1 << 20)) is None  # a 1 MB line
    wide = " ".join(f"m{i}=1" for i in range(10_000))  # 10,000 distinct names: 88 KB
    assert PARSER.parse(wide) is None
    found = LineParser(max_line_length=1 << 20).parse(wide)
    assert found is not None and len(found[1]) == 10_000  # the store keeps 1000 series at most
    exact = "loss=1".ljust(65536)
    assert PARSER.parse(exact) == (None, [("loss", 1.0)])
    assert PARSER.parse(exact + " ") is None


def test_steps_without_a_key_count_metric_lines_per_replica() -> None:
    chunks = [LogChunk("a", ["loss=1", "plain", "loss=2 step=10", "loss=3"], {"offset": 40}),
              LogChunk("b", ["acc=1"], {"offset": 6})]
    counts = {"a": 5}
    batch = log_batch(PARSER, chunks, counts, 1.5)
    assert batch.points == {("loss", "a"): Points([6, 10, 8], [1, 2, 3], [1.5] * 3), ("acc", "b"): Points([1], [1], [1.5])}
    assert counts == {"a": 8, "b": 1}
    assert batch.positions == {"a": ({"offset": 40}, 8), "b": ({"offset": 6}, 1)}


def test_downsampling_keeps_first_newest_and_each_buckets_extremes() -> None:
    values = [1.0] * 1000
    values[10], values[500], values[998] = -7.0, 9.0, 8.0
    points = [(float(i), v, 0.0) for i, v in enumerate(values)]
    kept, sampled = downsample(iter(points), len(points), 10)
    assert sampled and len(kept) <= 10 and kept == sorted(kept)  # a flat bucket keeps one point
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert {-7.0, 9.0, 8.0} <= {v for _, v, _ in kept}
    assert downsample(iter(points), len(points), 2) == ([points[0], points[-1]], True)
    assert len(downsample(iter(points), len(points), 3)[0]) == 2
    assert downsample(iter(points[:5]), 5, 5) == (points[:5], False)


def test_local_logs_resume_at_positions_and_leave_long_lines_out(tmp_path: Path) -> None:
    log = tmp_path / "replica-0.log"
    log.write_bytes(b"a=1\n" + b"x" * (3 << 20) + b"\nb=2\nc=3")  # a 3 MB line across three reads

    async def read(positions: dict[str, dict[str, int]]) -> list[LogChunk]:
        stream = follow_chunks(lambda: {"replica-0": log}, ended(), resume_at(positions), max_line=1000)
        return [chunk async for chunks in stream for chunk in chunks]

    chunks = asyncio.run(read({}))
    assert [(c.lines, c.position) for c in chunks] == [  # read 1 MB at a time; the ended log's last line too
        (["a=1"], {"offset": 1 << 20, "skip": True}), (["b=2", "c=3"], {"offset": log.stat().st_size})]
    assert [c.lines for c in asyncio.run(read({"replica-0": {"offset": 4 + (3 << 20) + 5}}))] == [["c=3"]]
    inside = asyncio.run(read({"replica-0": {"offset": 4 + (2 << 20), "skip": True}}))
    assert [c.lines for c in inside] == [["b=2", "c=3"]]


def test_a_log_line_longer_than_a_read_but_within_the_limit_is_read_from_a_position(tmp_path: Path) -> None:
    """Reading from a stored position keeps nothing between reads, so a read reaches past
    the longest line kept: with ``max_line_length`` above 1 MB, a 1.5 MB line is read, not
    looked at again and again."""
    log = tmp_path / "a.log"
    log.write_bytes(b"loss=1 " + b"w" * (3 << 19) + b"\nacc=2\n")
    parser = LineParser(max_line_length=2 << 20)
    found = read_batch(parser, {"a": (log, {"offset": 0})}, {}, 1.0, False)
    assert found.positions == {"a": {"offset": log.stat().st_size}} and not found.behind
    assert found.batch.points[("loss", "a")].values == [1.0] and found.batch.points[("acc", "a")].values == [2.0]


class Pieces:
    """What ``read_lines`` reads from: a response's ``stream``, here given bytes."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = pieces

    def stream(self, amt: int | None = None, decode_content: bool = False) -> tuple[bytes, ...]:
        return self.pieces


def test_kubernetes_stream_lines_skip_what_was_read_and_long_lines() -> None:
    delivered: list[tuple[list[str], int]] = []
    pieces = Pieces(b"one\ntw", b"o\n" + b"x" * 50, b"x" * 50 + b"\nthree\nfo", b"ur")
    assert read_lines(pieces, 0, 20, False, lambda lines, read: delivered.append((lines, read))) == 4
    assert delivered == [(["one"], 1), (["two"], 2), (["three"], 4)]  # "four" waits for the replica's end
    delivered.clear()
    assert read_lines(pieces, 2, 20, True, lambda lines, read: delivered.append((lines, read))) == 5
    assert delivered == [(["three"], 4), (["four"], 5)]
    assert json.dumps(delivered)  # positions and lines are JSON data


def unpacked(batch: Batch) -> Batch:
    """A batch the parsing process answered with, its points read back from their database."""
    assert batch.packed is not None and not batch.points
    points: dict[tuple[str, str], Points] = {}
    if batch.packed.series:
        conn = sqlite3.connect(":memory:")
        conn.deserialize(batch.packed.database)
        for k, step, value, at in conn.execute("SELECT k, step, value, time FROM p ORDER BY k, ord"):
            series = points.setdefault(batch.packed.series[k], Points())
            series.steps.append(step)
            series.values.append(value)
            series.times.append(at)
        conn.close()
    return Batch(points, batch.positions, batch.params)


def test_the_parsing_process_parses_as_in_process_and_outlives_a_killed_child() -> None:
    chunks = [LogChunk("a", ["loss=1", "step=3 acc=2", "x" * 100], {"offset": 120})]

    async def run() -> None:
        process, counts = ParsingProcess(), {"a": 1}
        answer = await process.parse(LineParser(), chunks, counts, 2.0)
        assert unpacked(answer) == log_batch(LineParser(), chunks, {"a": 1}, 2.0)
        assert counts == {"a": 3}
        child = process._child
        assert child is not None
        child.kill()
        await child.wait()
        again = await process.parse(LineParser(max_line_length=50), chunks, counts, 3.0)  # parsed here instead
        assert unpacked(again).points[("loss", "a")].steps == [4.0] and counts == {"a": 5}
        await process.parse(LineParser(), chunks, counts, 4.0)  # by a new child
        assert counts == {"a": 7} and process._child is not None and process._child is not child
        await process.close()

    asyncio.run(run())


def test_the_parsing_process_reads_log_files_from_positions_at_the_lowest_priority(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"loss=1\n" + b"x" * 100 + b"\nstep=3 acc=2\nacc=4")
    files = {"a": (log, {"offset": 0}), "b": (tmp_path / "b.log", {"offset": 0})}  # b: not started yet

    async def run() -> None:
        process, counts = ParsingProcess(), {}
        found = await process.read(LineParser(max_line_length=50), files, counts, 2.0, False)
        here = read_batch(LineParser(max_line_length=50), files, {}, 2.0, False)
        assert (unpacked(found.batch), found.positions, found.read_to) == (here.batch, here.positions, here.read_to)
        assert found.positions == {"a": {"offset": 7 + 101 + 13}} and found.read_to == {"a": log.stat().st_size}
        assert unpacked(found.batch).points[("acc", "a")].steps == [3.0] and counts == {"a": 2}
        child = process._child
        assert child is not None
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 19 and os.getsid(child.pid) == child.pid
        assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE
        child.kill()
        await child.wait()
        rest = await process.read(LineParser(), {"a": (log, found.positions["a"])}, counts, 3.0, True)  # the child died: served again
        assert rest.positions == {"a": {"offset": log.stat().st_size}} and counts == {"a": 3}
        rest_points = unpacked(rest.batch).points
        assert rest_points[("acc", "a")].values == [4.0] and ("loss", "a") not in rest_points
        await process.close()

    asyncio.run(run())


def test_the_parsing_process_exchanges_whole_messages_when_unbuffered_and_interrupted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``PYTHONUNBUFFERED=1`` (as many images set it) a raw stdin read returns what one
    read got and a raw stdout write what one write took; a request bigger than the pipe and
    an answer written while the child is stopped and continued must still arrive whole."""
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    chunks = [LogChunk("a", [f"step={i} loss={1 / (i + 1):.6f} acc={i / 50_000:.6f}" for i in range(50_000)],
                       {"offset": 1 << 20})]

    async def interrupt(pid: int, answered: asyncio.Event) -> None:
        try:
            while not answered.is_set():
                os.kill(pid, signal.SIGSTOP)
                await asyncio.sleep(0.001)
                os.kill(pid, signal.SIGCONT)
                await asyncio.sleep(0.002)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def run() -> None:
        process = ParsingProcess()
        await process.parse(LineParser(), chunks[:0], {}, 1.0)  # the child is up
        child = process._child
        assert child is not None
        answered = asyncio.Event()
        stopping = asyncio.ensure_future(interrupt(child.pid, answered))
        try:
            for now in (2.0, 3.0):
                batch = await asyncio.wait_for(process.parse(LineParser(), chunks, {}, now), 30)
                assert unpacked(batch) == log_batch(LineParser(), chunks, {}, now)
        finally:
            answered.set()
            await stopping
        assert process._child is child and child.returncode is None  # served by the child, not after its death
        await process.close()

    asyncio.run(run())
