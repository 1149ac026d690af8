"""The committed JupyterLab bundle exists and was built from the current sources."""

from __future__ import annotations

import json
import pathlib
import shutil

from tests.scripts import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "submarine_jupyter" / "labextension"


def _labext_hash():
    return load_script("labext_hash")


def test_prebuilt_bundle_present():
    meta = json.loads((OUT / "package.json").read_text())
    assert meta["name"] == "submarine-jupyter"
    assert (OUT / meta["jupyterlab"]["_build"]["load"]).is_file()
    assert (OUT / "static" / "style.js").is_file()


def test_the_chart_library_is_bundled():
    """uPlot (MIT) ships inside the prebuilt extension: nothing to install beside it."""
    licenses = json.loads((OUT / "static" / "third-party-licenses.json").read_text())
    bundled = {package["name"]: package["licenseId"] for package in licenses["packages"]}
    assert bundled.get("uplot") == "MIT", bundled


def test_prebuilt_bundle_matches_sources():
    labext_hash = _labext_hash()
    assert labext_hash.STAMP.read_text().strip() == labext_hash.source_hash(), (
        "labextension/ changed since the committed bundle was built: "
        "run scripts/build_labextension.sh and commit submarine_jupyter/labextension/ and the stamp"
    )


def test_stamp_covers_the_sources(tmp_path):
    """A one-character edit to any build input (the API document the types come from
    included) changes the hash the stamp is checked against."""
    labext_hash = _labext_hash()
    copy = tmp_path / "labextension"
    shutil.copytree(labext_hash.ROOT, copy, ignore=shutil.ignore_patterns("node_modules", "lib", ".yarn"))
    before = labext_hash.source_hash(copy)
    assert before == labext_hash.source_hash()
    inputs = [copy / name for name in labext_hash.INPUTS]
    inputs += [next(p for p in sorted((copy / tree).rglob("*")) if p.is_file()) for tree in labext_hash.TREES]
    assert copy / "openapi.json" in inputs and copy / "src" / "api.ts" in inputs
    for path in inputs:
        original = path.read_bytes()
        path.write_bytes(original + b" ")
        assert labext_hash.source_hash(copy) != before, path
        path.write_bytes(original)
    assert labext_hash.source_hash(copy) == before
