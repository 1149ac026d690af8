"""``code.git`` locally: the branch cloned into the experiment's own folder before its
replicas start there. The clone uses the user's own git and credentials, never prompts,
and is killed when it outlives ``timeout``."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from ....wire.code import GitCode

#: Lines of git's output kept in the experiment's message when a clone fails.
ERROR_LINES = 5


def clone_argv(git: GitCode, folder: Path) -> list[str]:
    """``git clone`` of the branch alone, at depth 1, into ``folder``."""
    options = ["-c", "http.sslVerify=false"] if git.trust_certs else []
    return ["git", *options, "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", git.branch,
            "--", git.url, str(folder)]


async def checkout(git: GitCode, folder: Path, timeout: float) -> str | None:
    """Clone unless ``folder`` holds a clone already (a restarted server, a replica restarted);
    ``None`` when the code is there, else why not, in a person's words."""
    if (folder / ".git").exists():
        return None
    shutil.rmtree(folder, ignore_errors=True)  # what a clone cut short left
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    where = f"code.git: cloning {git.url} (branch {git.branch})"
    try:
        child = await asyncio.create_subprocess_exec(
            *clone_argv(git, folder), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as error:
        return f"{where} failed: git cannot be run here ({error})"
    try:
        _, stderr = await asyncio.wait_for(child.communicate(), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError) as error:
        child.kill()
        await child.wait()
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, asyncio.CancelledError):
            raise
        return f"{where} took longer than {timeout:g} s"
    if child.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        lines = stderr.decode(errors="replace").strip().splitlines()[-ERROR_LINES:]
        return f"{where} failed (git exit code {child.returncode})" + (":\n" + "\n".join(lines) if lines else "")
    return None
