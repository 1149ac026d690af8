"""The Master's end ends a PyTorch job (every operator then stops the other replicas), so a
test that reads every replica's output makes the Master wait until each has printed: each
replica marks the folder ``$PRINTED`` once it has, and rank 0 ends after ``WORLD_SIZE`` marks."""

from __future__ import annotations

from pathlib import Path

#: Python lines a replica's script ends with.
WAIT_FOR_EVERY_REPLICA = """
import os as _os, pathlib as _pathlib, time as _time
_printed = _pathlib.Path(_os.environ["PRINTED"])
_printed.mkdir(exist_ok=True)
(_printed / _os.environ["RANK"]).touch()
while _os.environ["RANK"] == "0" and len(list(_printed.iterdir())) < int(_os.environ["WORLD_SIZE"]):
    _time.sleep(0.05)
"""


def printed_env(tmp_path: Path) -> dict[str, str]:
    """The variable ``WAIT_FOR_EVERY_REPLICA`` reads: a folder of the test's own."""
    return {"PRINTED": str(tmp_path / "printed")}
