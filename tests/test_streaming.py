"""Log snapshots written in pieces: the JSON splitter, the log file reader, and the route."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from submarine_jupyter.server.backends import logfiles
from submarine_jupyter.server.backends.base import BackendError, LogChunk, PodLog
from submarine_jupyter.server.handlers import base as handlers
from submarine_jupyter.server.streaming import escaped, json_parts, ndjson

from .conftest import Api, experiment

AWKWARD = 'quote " backslash \\ tab \t nul \0 bell \x07 é ✓ 𝄞 \u2028 "\\u0000x\\u0000" end'


async def pieces(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def render(value: object) -> str:
    """What the handler writes for ``value``: literals, and each stream escaped in quotes."""
    out = []
    for part in json_parts(value):
        if isinstance(part, str):
            out.append(part)
        else:
            out.append('"' + "".join([escaped(piece) async for piece in part]) + '"')
    return "".join(out)


async def test_json_parts_stream_each_log_in_place() -> None:
    value = {
        "experimentId": AWKWARD,
        "logContent": [
            {"podName": "a", "podLog": pieces("one\n", AWKWARD, "\n")},
            {"podName": "b", "podLog": None},
            {"podName": "c", "podLog": pieces()},
            {"podName": "d", "podLog": pieces("x")},
        ],
    }
    assert json.loads(await render(value)) == {
        "experimentId": AWKWARD,
        "logContent": [
            {"podName": "a", "podLog": f"one\n{AWKWARD}\n"},
            {"podName": "b", "podLog": None},
            {"podName": "c", "podLog": ""},
            {"podName": "d", "podLog": "x"},
        ],
    }


def test_json_parts_without_streams_is_plain_json() -> None:
    assert json_parts({"a": [1, "\0"]}) == [json.dumps({"a": [1, "\0"]})]


def test_ndjson_is_json_dumps_of_each_record() -> None:
    """Byte for byte what ``json.dumps`` of each ``{"podName", "line"}`` record gives, for
    chunks of one replica's lines and for replicas interleaved."""
    texts = ["", AWKWARD, "x", "\udcff", "2", "é", "y"]
    batch = [LogChunk(name, texts[index:], {}) for index, name in enumerate(["a", "b-0", AWKWARD, "a"])]
    expected = "".join(json.dumps({"podName": chunk.pod_name, "line": line}) + "\n"
                       for chunk in batch for line in chunk.lines)
    assert ndjson(batch) == expected.encode()
    assert ndjson([LogChunk("a", [""], {})]) == b'{"podName": "a", "line": ""}\n'
    assert ndjson([]) == ndjson([LogChunk("a", [], {})]) == b""


async def read(path: Path, tail_lines: int | None = None) -> list[str]:
    chunks = logfiles.log_chunks(path, tail_lines)
    assert chunks is not None
    return [piece async for piece in chunks]


async def test_log_chunks_decode_across_piece_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "CHUNK", 7)
    path = tmp_path / "replica.log"
    data = "é✓𝄞 line\n".encode() * 50 + b"bad \xff\xfe bytes\n"
    path.write_bytes(data)
    got = await read(path)
    assert "".join(got) == data.decode("utf-8", "replace")
    # a piece is one read, plus at most 3 bytes of a character the previous read split
    assert len(got) > 50 and max(len(piece) for piece in got) <= 7 + 3
    assert "".join(await read(path, tail_lines=2)) == "é✓𝄞 line\nbad \ufffd\ufffd bytes\n"
    assert await read(path, tail_lines=0) == []


async def test_log_chunks_stop_at_the_size_seen_when_reading_starts(tmp_path: Path) -> None:
    path = tmp_path / "replica.log"
    path.write_text("before\n")
    chunks = logfiles.log_chunks(path)
    assert chunks is not None
    first = await anext(chunks)
    with open(path, "a") as handle:
        handle.write("after\n")
    assert first + "".join([piece async for piece in chunks]) == "before\n"
    assert logfiles.log_chunks(tmp_path / "never-written.log") is None


async def test_a_large_log_is_sent_whole_in_many_pieces(api: Api) -> None:
    line = "é✓𝄞 \"quoted\" \\ tab\t" + "x" * 80
    script = f"for i in $(seq 1 40000); do printf '%s\\n' '{line}'; done; printf 'bad \\377 end'"
    created = await api.ok("POST", "api/v1/experiment", experiment(script))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    received: list[bytes] = []
    response = await AsyncHTTPClient().fetch(
        f"{api.base}api/v1/experiment/logs/{experiment_id}", headers={"Authorization": f"token {api.token}"},
        streaming_callback=received.append, request_timeout=60,
    )
    assert response.code == 200
    body = json.loads(b"".join(received))
    assert body["code"] == 200
    (pod,) = body["result"]["logContent"]
    assert pod["podLog"] == f"{line}\n" * 40000 + "bad \ufffd end"
    # written in pieces as it is read (a whole answer would carry a Content-Length)
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.headers


async def failing(after: list[str], error: Exception) -> AsyncIterator[str]:
    for piece in after:
        yield piece
    raise error


FAILS = BackendError("the log store is unreachable", 503)


@pytest.mark.parametrize(('logs', 'sent'), [
    ([failing([], FAILS)], False),
    ([pieces("short\n"), failing(["x"], FAILS)], False),
    ([failing(["first piece\n", "second piece\n"], FAILS)], True),
], ids=["first read", "before anything was sent", "midway"])
async def test_a_log_that_fails_while_read(api: Api, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch,
                                           logs: list[AsyncIterator[str]], sent: bool) -> None:
    """Before anything is sent: an error envelope. Midway: the connection is cut, so the
    client never takes a short log for the whole one."""
    created = await api.ok("POST", "api/v1/experiment", experiment("echo hi"))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    backend = jp_serverapp.web_app.settings["submarine"].experiments.backend

    async def fake_logs(*args: Any, **kwargs: Any) -> list[PodLog]:
        return [PodLog(f"p{index}", chunks) for index, chunks in enumerate(logs)]

    monkeypatch.setattr(backend, "logs", fake_logs)
    if not sent:
        code, body = await api.call("GET", f"api/v1/experiment/logs/{experiment_id}")
        assert (code, body["status"], body["message"]) == (503, "SERVICE_UNAVAILABLE", "the log store is unreachable")
        return
    url = f"{api.base}api/v1/experiment/logs/{experiment_id}"

    def read() -> bytes:
        host_port, path = url.removeprefix("http://").split("/", 1)
        conn = http.client.HTTPConnection(host_port, timeout=30)
        conn.request("GET", "/" + path, headers={"Authorization": f"token {api.token}"})
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        return cut.value.partial

    partial = await asyncio.to_thread(read)
    assert partial.endswith(b'"podLog": "first piece\\nsecond piece\\n')


async def test_a_client_that_stops_reading_is_cut_off(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                      jp_http_port: int) -> None:
    monkeypatch.setattr(handlers, "WRITE_TIMEOUT_S", 0.5)
    created = await api.ok("POST", "api/v1/experiment", experiment("seq 1 3000000"))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    path = api.base.split(str(jp_http_port), 1)[1]

    def stall_then_read() -> bytes:
        with socket.create_connection(("127.0.0.1", jp_http_port), timeout=30) as sock:
            sock.sendall(f"GET {path}api/v1/experiment/logs/{experiment_id} HTTP/1.1\r\n"
                         f"Host: 127.0.0.1\r\nAuthorization: token {api.token}\r\n\r\n".encode())
            time.sleep(3)
            received = bytearray()
            while data := sock.recv(1 << 20):
                received += data
            return bytes(received)

    received = await asyncio.to_thread(stall_then_read)
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert len(received) < 20_000_000 and not received.endswith(b"0\r\n\r\n")


def naive_tail(data: bytes, lines: int) -> bytes:
    """The last ``lines`` lines, by splitting everything (what a tail must equal)."""
    if lines == 0:
        return b""
    body = data[:-1] if data.endswith(b"\n") else data
    kept = body.split(b"\n")[-lines:]
    return b"\n".join(kept) + (b"\n" if data.endswith(b"\n") else b"") if data else b""


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_tails_read_backwards_match_splitting_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          chunk: int) -> None:
    monkeypatch.setattr(logfiles, "CHUNK", chunk)
    path = tmp_path / "replica.log"
    samples = [b"", b"\n", b"\n\n", b"one", b"one\n", b"one\ntwo", b"one\ntwo\n", b"a\n\nb\n\n",
               b"".join(b"line %d\n" % i for i in range(200)) + b"partial"]
    for data in samples:
        path.write_bytes(data)
        for lines in (0, 1, 2, 3, 50, 1000):
            expected = naive_tail(data, lines)
            assert logfiles.read_tail(path, lines) == expected.decode(), (data, lines)
            assert logfiles.tail_offset(path, lines) == len(data) - len(expected), (data, lines)
