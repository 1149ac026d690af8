"""Log snapshots written in pieces: the JSON splitter, the log file reader, and the route."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from submarine_jupyter.server.backends import local_logs
from submarine_jupyter.server.backends.base import BackendError, PodLog
from submarine_jupyter.server.streaming import escaped, json_parts

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


async def read(path: Path, tail_lines: int | None = None) -> list[str]:
    chunks = local_logs.log_chunks(path, tail_lines)
    assert chunks is not None
    return [piece async for piece in chunks]


async def test_log_chunks_decode_across_piece_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_logs, "CHUNK", 7)
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
    chunks = local_logs.log_chunks(path)
    assert chunks is not None
    first = await anext(chunks)
    with open(path, "a") as handle:
        handle.write("after\n")
    assert first + "".join([piece async for piece in chunks]) == "before\n"
    assert local_logs.log_chunks(tmp_path / "never-written.log") is None


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


@pytest.mark.parametrize("sent", [[], ["first piece\n", "second piece\n"]], ids=["before", "midway"])
async def test_a_log_that_fails_while_read(api: Api, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch,
                                           sent: list[str]) -> None:
    """Before anything is sent: an error envelope. Midway: the connection is cut, so the
    client never takes a short log for the whole one."""
    created = await api.ok("POST", "api/v1/experiment", experiment("echo hi"))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    backend = jp_serverapp.web_app.settings["submarine_service"].backend

    async def logs(*args: Any, **kwargs: Any) -> list[PodLog]:
        return [PodLog("p", failing(sent, BackendError("the log store is unreachable", 503)))]

    monkeypatch.setattr(backend, "logs", logs)
    url = f"{api.base}api/v1/experiment/logs/{experiment_id}"
    headers = {"Authorization": f"token {api.token}"}
    if not sent:
        code, body = await api.call("GET", f"api/v1/experiment/logs/{experiment_id}")
        assert (code, body["status"], body["message"]) == (503, "SERVICE_UNAVAILABLE", "the log store is unreachable")
        return

    def read() -> bytes:
        host_port, path = url.removeprefix("http://").split("/", 1)
        conn = http.client.HTTPConnection(host_port, timeout=30)
        conn.request("GET", "/" + path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        return cut.value.partial

    partial = await asyncio.to_thread(read)
    assert partial.endswith(b'"podLog": "first piece\\nsecond piece\\n')
