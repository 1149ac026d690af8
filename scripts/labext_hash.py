"""Hash of the labextension sources, stamped by the build so a test can spot a stale bundle.

The bundle itself is not byte-reproducible across checkout paths (webpack module ids
depend on them), so the committed bundle is tied to its sources by this hash instead.
Usage: ``python scripts/labext_hash.py [--write]``.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "labextension"
STAMP = ROOT / "prebuilt-source.sha256"
#: Every input of the build: the npm project, the API document the types are generated
#: from (scripts/panel_types.py), and every file under the source trees.
INPUTS = ("package.json", "tsconfig.json", "yarn.lock", ".yarnrc.yml", "openapi.json")
TREES = ("src", "style")


def source_hash(root: pathlib.Path = ROOT) -> str:
    """SHA-256 over every build input's relative path and bytes, in a fixed order."""
    digest = hashlib.sha256()
    files = [root / name for name in INPUTS]
    files += sorted(p for tree in TREES for p in (root / tree).rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        STAMP.write_text(source_hash() + "\n")
    elif sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--write]")
    print(source_hash())
