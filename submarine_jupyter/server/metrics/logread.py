"""Metrics from replica logs that are files on this machine, read from stored positions
(by the parsing process: the lines never pass through the server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..backends.base import LogChunk, LogPosition
from ..backends.logfollow import read_from
from ..store.metrics import Batch
from .parse import LineParser, log_batch

#: replica -> (its log, where to read it from)
Files = dict[str, tuple[Path, LogPosition]]


@dataclass
class Read:
    """What a ``read`` found: its batch, and for each replica whose log exists the position
    after what was read and the offset read to; whether any log had more than one read takes."""

    batch: Batch
    positions: dict[str, LogPosition] = field(default_factory=dict)
    read_to: dict[str, int] = field(default_factory=dict)
    behind: bool = False


def read_batch(parser: LineParser, files: Files, counts: dict[str, int], now: float, final: bool) -> Read:
    """The points in what each log holds after its position (see ``read_from``)."""
    chunks, found = [], Read(Batch())
    for replica, (path, position) in files.items():
        got = read_from(path, position, parser.max_line_length, final)
        if got is None:
            continue
        lines, found.positions[replica], found.read_to[replica], behind = got
        found.behind = found.behind or behind
        if lines:
            chunks.append(LogChunk(replica, lines, found.positions[replica]))
    found.batch = log_batch(parser, chunks, counts, now)
    return found
