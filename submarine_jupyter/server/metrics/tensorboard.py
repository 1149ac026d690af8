"""Scalars from TensorBoard event files, read with TensorBoard's own loader as they grow.

The experiment's folder holds one folder per replica (its pod name): the replica's
``SUBMARINE_TENSORBOARD_LOG_DIR``. Every ``events.out.tfevents.*`` file under it is read
with ``EventFileLoader`` (no TensorFlow needed); a file in a subfolder (``eval/``) names its
series ``eval/<tag>``. Blocking: call ``read`` from a worker thread.

The loader keeps its place in a file while this server runs; it cannot start at an offset,
so after a restart a file is resumed by passing over the records already counted.
"""

from __future__ import annotations

import logging
from itertools import islice
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # type: ignore[import-untyped]
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
from tensorboard.util import tensor_util  # type: ignore[import-untyped]

from ..store.metrics import Batch, Points
from .parse import finite

log = logging.getLogger(__name__)
PATTERN = "events.out.tfevents.*"
#: Records read from one file per call at most, so a huge file is taken in steps.
MAX_RECORDS = 10_000


def scalar(value: Summary.Value) -> float | None:
    """The value of a scalar summary (``simple_value``, or a one-element tensor of the
    scalars plugin, as TensorBoard's compat layer turns them); ``None`` for other data."""
    if value.HasField("simple_value"):
        return finite(value.simple_value)
    if value.metadata.plugin_data.plugin_name != "scalars" or not value.HasField("tensor"):
        return None
    array = tensor_util.make_ndarray(value.tensor)
    return finite(float(array.reshape(-1)[0])) if array.size == 1 and array.dtype.kind in "fiu" else None


class TensorBoardReader:
    """New scalars of an experiment's event files; ``records``: file (relative) -> records read."""

    def __init__(self, folder: Path, records: dict[str, int]) -> None:
        self.folder = folder
        self.records = dict(records)
        self._loaders: dict[str, EventFileLoader] = {}
        self._broken: set[str] = set()

    def read(self) -> tuple[Batch, bool]:
        """What the files gained, and whether a file has more than was read this time."""
        batch = Batch()
        more = False
        if not self.folder.is_dir():
            return batch, more
        for path in sorted(self.folder.glob(f"*/**/{PATTERN}")):
            key = path.relative_to(self.folder).as_posix()
            if key in self._broken:
                continue
            replica, *subfolders, _ = key.split("/")
            prefix = "".join(f"{part}/" for part in subfolders)
            before = self.records.get(key, 0)
            count = self._read_file(key, path, replica, prefix, batch)
            if count != before:
                batch.positions[key] = ({"records": count}, 0)
            more = more or count - before >= MAX_RECORDS
        return batch, more

    def _read_file(self, key: str, path: Path, replica: str, prefix: str, batch: Batch) -> int:
        """Add the file's new scalars to ``batch``; the records read from it in all."""
        count = self.records.get(key, 0)
        loader = self._loaders.get(key)
        try:
            if loader is None:
                loader = self._loaders[key] = EventFileLoader(str(path))
                for _ in islice(loader.Load(), count):  # resumed: pass over what was counted
                    pass
            for event in loader.Load():
                count += 1
                for value in event.summary.value:
                    number = scalar(value)
                    if number is not None:
                        series = batch.points.setdefault((prefix + value.tag, replica), Points())
                        series.steps.append(float(event.step))
                        series.values.append(number)
                        series.times.append(event.wall_time)
                if count - self.records.get(key, 0) >= MAX_RECORDS:
                    break
        except Exception:  # a damaged file must not stop the others (or the collection)
            self._broken.add(key)
            log.warning("submarine_jupyter: cannot read TensorBoard events from %s", path, exc_info=True)
        self.records[key] = count
        return count
