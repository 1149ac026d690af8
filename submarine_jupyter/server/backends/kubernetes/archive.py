"""The logs of a stopped experiment, kept by this server: its pods are gone with its job.

A stop copies each started replica's container log, streamed from the API server, into
``<state_dir>/logs/<experimentId>/<pod>.log``, the local backend's layout, so the logs
API reads and follows them from there as it reads a local experiment's.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import BinaryIO

from ....wire.constants import replica_sort_key
from ..base import LogChunk, LogPosition, PodLog
from ..logfiles import log_chunks, offset_after_lines
from ..logfollow import ended, follow_chunks, follow_files
from .logs import LogReader
from .status import JobRef


class LogArchive:
    """Kept logs under ``folder`` (one subfolder per experiment)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def keep(self, reader: LogReader, job: JobRef) -> None:
        """Copy every started replica's log of ``job`` (a piece at a time, never whole)."""
        target = self.folder / job.experiment_id
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
        for log in await reader.snapshot(job, [r.name for r in job.replicas], None):
            if log.chunks is None:
                continue
            handle: BinaryIO = await asyncio.to_thread(open, target / f"{log.pod_name}.log", "wb")
            try:
                async for piece in log.chunks:
                    await asyncio.to_thread(handle.write, piece.encode())
            finally:
                await asyncio.to_thread(handle.close)

    def paths(self, experiment_id: str) -> dict[str, Path]:
        """The kept logs of an experiment by pod name, in the replicas' order ({} if none)."""
        folder = self.folder / experiment_id
        found = {p.stem: p for p in folder.glob("*.log")} if folder.is_dir() else {}
        return dict(sorted(found.items(), key=lambda item: replica_sort_key(item[0])))

    def logs(self, experiment_id: str, pod_name: str | None, tail_lines: int | None) -> list[PodLog]:
        return [PodLog(name, log_chunks(path, tail_lines)) for name, path in self.paths(experiment_id).items()
                if pod_name is None or name == pod_name]

    def follow(self, experiment_id: str, pod_name: str | None,
               tail_lines: int | None) -> AsyncGenerator[list[LogChunk], None]:
        """The kept lines once (the experiment has ended)."""
        def paths() -> dict[str, Path]:
            return {n: p for n, p in self.paths(experiment_id).items() if pod_name is None or n == pod_name}

        return follow_files(paths, ended(), tail_lines)

    def follow_from(self, experiment_id: str, positions: Mapping[str, LogPosition],
                    max_line: int) -> AsyncGenerator[list[LogChunk], None]:
        """The kept lines after ``positions``: a pod's (its lines counted, as the pod's log was
        read), or a kept log's byte offset (as this reads it)."""
        def start(name: str, path: Path) -> LogPosition:
            position = positions.get(name, {})
            if "offset" in position:
                return position
            return {"offset": offset_after_lines(path, int(position.get("lines", 0)))}

        return follow_chunks(lambda: self.paths(experiment_id), ended(), start, max_line)

    async def forget(self, experiment_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.folder / experiment_id, True)
