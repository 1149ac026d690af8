"""Logs of the local backend: tail, one replica, follow while running (woken by inotify, or
polling without it), dry run."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.server.backends import filewatch, logfollow
from submarine_jupyter.server.backends.base import LogChunk
from submarine_jupyter.server.backends.logfollow import ended, follow_chunks, resume_at

from .conftest import Api, experiment

INOTIFY = "anon_inode:inotify"


async def test_tail_and_pod_name(api: Api) -> None:
    spec = experiment("for i in $(seq 1 500); do echo line-$i; done", roles={"Ps": 1, "Worker": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    prefix = experiment_id.replace("_", "-")
    tail = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"tailLines": "3"})
    assert [p["podLog"] for p in tail["logContent"]] == ["line-498\nline-499\nline-500\n"] * 2
    one = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"podName": f"{prefix}-ps-0", "tailLines": "1"})
    assert one["logContent"] == [{"podName": f"{prefix}-ps-0", "podLog": "line-500\n"}]
    whole = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"podName": f"{prefix}-worker-0"})
    assert whole["logContent"][0]["podLog"].splitlines() == [f"line-{i}" for i in range(1, 501)]


async def test_follow_delivers_lines_while_the_replica_runs(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("echo first; sleep 3; echo second"))
    experiment_id = created["experimentId"]
    seen: dict[str, float] = {}

    def on_line(item: dict[str, str]) -> None:
        seen.setdefault(item["line"], time.monotonic())

    follow = asyncio.ensure_future(api.follow(experiment_id, on_line))
    while "first" not in seen:
        assert not follow.done(), follow.result()
        await asyncio.sleep(0.05)
    status = (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"]
    assert status == "Running" and "second" not in seen
    lines = await follow
    worker = experiment_id.replace("_", "-") + "-worker-0"
    assert lines == [{"podName": worker, "line": "first"}, {"podName": worker, "line": "second"}]
    assert seen["second"] - seen["first"] > 2
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Succeeded"


async def test_follow_of_a_finished_experiment_with_tail(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("seq 1 10; printf no-newline"))
    await api.wait(created["experimentId"])
    lines = await api.follow(created["experimentId"], tailLines="3")
    assert [item["line"] for item in lines] == ["9", "10", "no-newline"]


async def test_dry_run_returns_the_plan_and_runs_nothing(api: Api) -> None:
    spec = experiment("python train.py", framework="PyTorch", roles={"Master": 1, "Worker": 1}, env={"ENV_1": "x"})
    plan = await api.ok("POST", "api/v1/experiment", spec, params={"dryRun": "true"})
    assert plan["dryRun"] is True and plan["backend"] == "local"
    replicas = plan["plan"]["replicas"]
    assert [r["role"] for r in replicas] == ["Master", "Worker"]
    for replica in replicas:
        assert replica["command"] == ["sh", "-c", "python train.py"]
        assert replica["env"]["ENV_1"] == "x"
        assert replica["env"]["WORLD_SIZE"] == "2"
        assert replica["workingDir"] == plan["plan"]["workingDir"]
    assert [r["env"]["RANK"] for r in replicas] == ["0", "1"]
    assert await api.ok("GET", "api/v1/experiment") == []


async def test_large_log_follow_streams_everything(api: Api) -> Any:
    created = await api.ok("POST", "api/v1/experiment", experiment("seq 1 50000"))
    lines = await api.follow(created["experimentId"])
    assert [item["line"] for item in lines] == [str(i) for i in range(1, 50001)]


AWKWARD_LOG = "é✓𝄞 line\n\n".encode() + b"bad \xe2\x82\nhalf \xe2\x82\xac\r\n" + b"x" * 9 + b"\nlast \xff"


@pytest.mark.parametrize("max_line", [None, 0, 5, 8, 20])
async def test_follow_reads_the_same_lines_whatever_the_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_line: int | None
) -> None:
    """Lines split by reads anywhere (inside a character, a line, a too-long line) come out
    as the whole file's lines would, decoded alike; over-long ones left out."""
    log = tmp_path / "replica-0.log"
    log.write_bytes(AWKWARD_LOG)
    *complete, rest = AWKWARD_LOG.split(b"\n")
    kept = [line for line in complete if max_line is None or len(line) <= max_line]
    if max_line is None or len(rest) <= max_line:
        kept.append(rest)
    expected = [line.decode("utf-8", "replace") for line in kept]
    for size in range(1, len(AWKWARD_LOG) + 2):
        monkeypatch.setattr(logfollow, "FOLLOW_CHUNK", size)
        chunks = follow_chunks(lambda: {"r": log}, ended(), resume_at({}), max_line)
        assert [line async for batch in chunks for chunk in batch for line in chunk.lines] == expected, size


def open_fds() -> list[str]:
    """What this process's descriptors point at, sorted (an inotify one reads ``anon_inode:inotify``)."""
    found = []
    for entry in Path("/proc/self/fd").iterdir():
        try:
            found.append(os.readlink(entry))
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            pass
    return sorted(found)


def no_timer_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every timed wake-up of a follower a minute away: only a notification is prompt."""
    monkeypatch.setattr(logfollow, "POLL_MIN_SECONDS", 60.0)
    monkeypatch.setattr(logfollow, "POLL_MAX_SECONDS", 60.0)


async def lines_after_quiet_spells(log: Path, stream: AsyncGenerator[list[LogChunk], None],
                                   spells: list[float]) -> list[float]:
    """Write a line after each quiet spell of a waiting follower; how long each took to come out of ``stream``."""
    delays = []
    for index, spell in enumerate(spells):
        waiting = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(spell)
        assert not waiting.done()
        with open(log, "a") as handle:
            handle.write(f"line-{index}\n")
        written = time.monotonic()
        chunks = await asyncio.wait_for(waiting, 30)
        delays.append(time.monotonic() - written)
        assert [line for chunk in chunks for line in chunk.lines] == [f"line-{index}"]
    return delays


async def test_a_line_after_a_quiet_spell_is_delivered_on_a_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_timer_in_time(monkeypatch)
    log = tmp_path / "logs" / "replica-0.log"  # its folder does not exist yet: seen through the one above
    before = open_fds()
    stream = follow_chunks(lambda: {"replica-0": log}, asyncio.Event(), resume_at({}))
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.3)
    assert open_fds().count(INOTIFY) == before.count(INOTIFY) + 1 and not first.done()
    log.parent.mkdir()
    log.write_text("start\n")
    assert [chunk.lines for chunk in await asyncio.wait_for(first, 30)] == [["start"]]
    delays = await lines_after_quiet_spells(log, stream, [1.0, 0.3, 0.3])
    assert max(delays) < 10, delays  # every timer was a minute away: each line came on a notification
    assert min(delays) < 0.05, delays  # well before the 200 ms a poll backed off after quiet would take
    await stream.aclose()
    assert open_fds() == before


async def test_only_a_log_changing_wakes_a_waiting_follower(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_timer_in_time(monkeypatch)
    log = tmp_path / "replica-0.log"
    log.write_text("start\n")
    rounds = 0
    read_round = logfollow._round

    def counting(*args: Any) -> Any:
        nonlocal rounds
        rounds += 1
        return read_round(*args)

    monkeypatch.setattr(logfollow, "_round", counting)
    stream = follow_chunks(lambda: {"replica-0": log}, asyncio.Event(), resume_at({}))
    assert [chunk.lines for chunk in await stream.__anext__()] == [["start"]]
    waiting = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.3)
    quiet = rounds
    (tmp_path / "replica-0.exit").write_text("0")  # the exit code, beside the log
    with open(log, "rb"):  # opened and closed: read, not changed
        pass
    await asyncio.sleep(0.3)
    assert rounds == quiet and not waiting.done()
    with open(log, "a") as handle:
        handle.write("more\n")
    assert [chunk.lines for chunk in await asyncio.wait_for(waiting, 30)] == [["more"]]
    await stream.aclose()


async def test_a_follower_ended_or_cancelled_releases_its_watch(tmp_path: Path) -> None:
    log = tmp_path / "replica-0.log"
    log.write_text("start\n")
    finished = asyncio.Event()
    before = open_fds()

    async def read_all() -> list[LogChunk]:
        return [chunk async for chunks in follow_chunks(lambda: {"r": log}, finished, resume_at({}))
                for chunk in chunks]

    reading = asyncio.ensure_future(read_all())
    await asyncio.sleep(0.3)
    assert open_fds().count(INOTIFY) == before.count(INOTIFY) + 1
    with open(log, "a") as handle:
        handle.write("last")
    finished.set()
    assert [c.lines for c in await asyncio.wait_for(reading, 30)] == [["start"], ["last"]]
    assert open_fds() == before

    finished = asyncio.Event()
    reading = asyncio.ensure_future(read_all())
    await asyncio.sleep(0.3)
    assert open_fds().count(INOTIFY) == before.count(INOTIFY) + 1
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert open_fds() == before


async def test_without_inotify_follow_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filewatch, "_libc", None)
    log = tmp_path / "replica-0.log"
    finished = asyncio.Event()
    before = open_fds()
    stream = follow_chunks(lambda: {"r": log}, finished, resume_at({}))
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.3)
    assert open_fds() == before and not first.done()
    log.write_text("start\n")
    assert [chunk.lines for chunk in await asyncio.wait_for(first, 30)] == [["start"]]
    assert len(await lines_after_quiet_spells(log, stream, [0.5, 0.1])) == 2
    finished.set()
    assert [chunk async for chunk in stream] == []
    assert open_fds() == before


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "polling"])
async def test_follow_ends_when_the_experiment_ends_with_its_status_stored(
    api: Api, monkeypatch: pytest.MonkeyPatch, inotify: bool
) -> None:
    # Every timer of a follower is a minute away: only the run's end, not a poll, can end the
    # follow within seconds of the replica's exit, and by then the verdict is stored.
    no_timer_in_time(monkeypatch)
    if not inotify:
        monkeypatch.setattr(filewatch, "_libc", None)
    before = open_fds().count(INOTIFY)
    posted = time.monotonic()
    created = await api.ok("POST", "api/v1/experiment", experiment("echo first; sleep 2"))
    lines = await api.follow(created["experimentId"])
    assert [item["line"] for item in lines] == ["first"]
    assert time.monotonic() - posted < 5  # the replica ran for 2 s; a poll was a minute away
    assert (await api.ok("GET", f"api/v1/experiment/{created['experimentId']}"))["status"] == "Succeeded"
    deadline = time.monotonic() + 10  # the metrics collector's follow ends on its own time
    while open_fds().count(INOTIFY) != before:
        assert time.monotonic() < deadline, "an inotify descriptor outlived its follower"
        await asyncio.sleep(0.05)
