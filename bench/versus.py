"""Run a bench against this checkout and against another commit, alternately, in one run.

    python bench/versus.py REV [--rounds 3] -- bench/local_backend.py [bench arguments]

The other commit is checked out into a temporary worktree; the baseline's rounds run in
it, with its package first on ``PYTHONPATH``, so the Jupyter servers the bench starts
(``python -m``, which puts the working directory first on ``sys.path``) load that commit's
extension; the bench script itself, its floors and its client, stay this checkout's. Each round
runs the baseline then this checkout; every output is printed with its label, so the two
sets of figures, measured on the same machine minutes apart, can be read side by side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the commit to compare with, e.g. HEAD~1 or a tag")
    parser.add_argument("--rounds", type=int, default=3)
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the bench to run after --")
    cut = argv.index("--")
    args, bench = parser.parse_args(argv[:cut]), argv[cut + 1:]
    bench[0] = str((ROOT / bench[0]).resolve())
    commit = subprocess.run(["git", "rev-parse", "--short", args.rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / commit
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for round_ in range(1, args.rounds + 1):
                for label, path in ((f"baseline {commit}", tree), ("this checkout", ROOT)):
                    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(path), str(ROOT)]))}
                    print(f"== round {round_}: {label}", flush=True)
                    subprocess.run([sys.executable, *bench], cwd=path, env=env, check=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
