"""JSON written in pieces as logs are read: whole answers whose long strings (replica logs)
arrive in pieces, and the NDJSON records of followed lines.

``json_parts`` splits a value into literal JSON text and the text streams standing
where those strings go; the handler writes the literals and each stream's pieces,
escaped, between quotes. ``ndjson`` makes a batch of followed lines one piece of bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncGenerator
from json.encoder import encode_basestring_ascii
from typing import Any

from .backends.base import LogChunk

Part = str | AsyncGenerator[str, None]


def json_parts(value: Any) -> list[Part]:
    """``value`` as JSON: literal text, with each ``AsyncGenerator[str, None]`` in it left as a
    stream whose pieces make up that string's content."""
    streams: dict[str, AsyncGenerator[str, None]] = {}

    def swap(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: swap(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [swap(inner) for inner in item]
        if isinstance(item, AsyncGenerator):
            token = uuid.uuid4().hex
            streams[token] = item
            return f"\0{token}\0"
        return item

    text = json.dumps(swap(value))
    if not streams:
        return [text]
    pieces = re.split(r'"\\u0000(' + "|".join(streams) + r')\\u0000"', text)
    return [streams[piece] if index % 2 else piece for index, piece in enumerate(pieces) if index % 2 or piece]


def escaped(piece: str) -> str:
    """A piece of a JSON string's content, escaped as it goes between the quotes."""
    return json.dumps(piece)[1:-1]


def ndjson(batch: list[LogChunk]) -> bytes:
    """Followed lines as ``application/x-ndjson`` records, byte for byte
    ``json.dumps({"podName": ..., "line": ...}) + "\\n"`` each: a chunk's lines are escaped by
    json's C encoder and joined, its replica's name escaped once."""
    runs = []
    for chunk in batch:
        if not chunk.lines:
            continue
        head = '{"podName": ' + encode_basestring_ascii(chunk.pod_name) + ', "line": '
        runs.append(head + ("}\n" + head).join(map(encode_basestring_ascii, chunk.lines)) + "}\n")
    return "".join(runs).encode("ascii")
