"""Linux inotify in tests: which files in a folder were opened, read or written."""

from __future__ import annotations

import os
from pathlib import Path

from submarine_jupyter.server.backends.filewatch import (
    IN_ACCESS,
    IN_CREATE,
    IN_DELETE,
    IN_MODIFY,
    IN_OPEN,
    add_watch,
    inotify_open,
    read_events,
)


class Watch:
    """Records every open, read, write, create and delete of the files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.fd = inotify_open()
        add_watch(self.fd, folder, IN_ACCESS | IN_MODIFY | IN_OPEN | IN_CREATE | IN_DELETE)

    def events(self) -> list[tuple[int, str]]:
        """(mask, file name) of what happened since the last call."""
        return [(event.mask, event.name) for event in read_events(self.fd)]

    def close(self) -> None:
        os.close(self.fd)
