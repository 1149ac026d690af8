"""``code.git`` locally: the branch cloned into the experiment's own folder before its
replicas start there. The clone uses the user's own git and credentials, never prompts,
is made beside the folder and moved into place only when complete (a clone cut short by a
stop, a timeout or the server's end is never taken for one), and is made again when the
spec names another repository or branch."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

from ....wire.code import GitCode

#: Lines of git's output kept in the experiment's message when a clone fails.
ERROR_LINES = 5


def clone_argv(git: GitCode, folder: Path) -> list[str]:
    """``git clone`` of the branch alone, at depth 1, into ``folder``."""
    options = ["-c", "http.sslVerify=false"] if git.trust_certs else []
    return ["git", *options, "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", git.branch,
            "--", git.url, str(folder)]


def _source(folder: Path) -> Path:
    """Where the repository and branch ``folder`` holds are recorded."""
    return folder.with_name(f"{folder.name}.source")


def remove(folder: Path) -> None:
    """The clone, what a cut-short one left, and its record."""
    for path in (folder, folder.with_name(f"{folder.name}.partial")):
        shutil.rmtree(path, ignore_errors=True)
    _source(folder).unlink(missing_ok=True)


#: One clone into a folder at a time: a cancelled one cleans up before the next begins.
_LOCKS: dict[Path, asyncio.Lock] = {}


async def checkout(git: GitCode, folder: Path, timeout: float) -> str | None:
    """Clone unless ``folder`` holds this repository's branch already (a restarted replica, a
    re-launched run); ``None`` when the code is there, else why not, in a person's words."""
    lock = _LOCKS.setdefault(folder, asyncio.Lock())
    try:
        async with lock:
            return await _checkout(git, folder, timeout)
    finally:
        if not lock.locked() and _LOCKS.get(folder) is lock:
            del _LOCKS[folder]


async def _checkout(git: GitCode, folder: Path, timeout: float) -> str | None:
    wanted = f"{git.url}\n{git.branch}\n"
    source = _source(folder)
    if folder.is_dir() and source.is_file() and source.read_text() == wanted:
        return None
    await asyncio.to_thread(remove, folder)
    partial = folder.with_name(f"{folder.name}.partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    env = {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes", **os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    where = f"code.git: cloning {git.url} (branch {git.branch})"
    try:
        child = await asyncio.create_subprocess_exec(
            *clone_argv(git, partial), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as error:
        return f"{where} failed: git cannot be run here ({error})"
    try:
        _, stderr = await asyncio.wait_for(child.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError) as error:
        os.killpg(child.pid, signal.SIGKILL)  # git and its transport helpers
        await child.wait()
        await asyncio.to_thread(remove, folder)
        if isinstance(error, asyncio.CancelledError):
            raise
        return f"{where} took longer than {timeout:g} s"
    if child.returncode != 0:
        await asyncio.to_thread(remove, folder)
        lines = stderr.decode(errors="replace").strip().splitlines()[-ERROR_LINES:]
        return f"{where} failed (git exit code {child.returncode})" + (":\n" + "\n".join(lines) if lines else "")
    os.replace(partial, folder)
    source.write_text(wanted)
    return None
