"""The committed JupyterLab bundle exists and was built from the current sources."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "submarine_jupyter" / "labextension"


def _labext_hash():
    spec = importlib.util.spec_from_file_location("labext_hash", ROOT / "scripts" / "labext_hash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prebuilt_bundle_present():
    meta = json.loads((OUT / "package.json").read_text())
    assert meta["name"] == "submarine-jupyter"
    assert (OUT / meta["jupyterlab"]["_build"]["load"]).is_file()
    assert (OUT / "static" / "style.js").is_file()


def test_prebuilt_bundle_matches_sources():
    labext_hash = _labext_hash()
    assert labext_hash.STAMP.read_text().strip() == labext_hash.source_hash(), (
        "labextension/ changed since the committed bundle was built: "
        "run scripts/build_labextension.sh and commit submarine_jupyter/labextension/ and the stamp"
    )


def test_stamp_covers_the_sources(tmp_path):
    """A one-character edit to a source file changes the hash the stamp is checked against."""
    labext_hash = _labext_hash()
    copy = tmp_path / "labextension"
    shutil.copytree(labext_hash.ROOT, copy, ignore=shutil.ignore_patterns("node_modules", "lib", ".yarn"))
    before = labext_hash.source_hash(copy)
    assert before == labext_hash.source_hash()
    index = copy / "src" / "index.ts"
    index.write_text(index.read_text() + " ")
    assert labext_hash.source_hash(copy) != before
