"""The wire package: one source for the API's shape, from which the kernel's types are made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import pydantic
import pytest

from submarine_jupyter.kernel import types as kernel_types
from submarine_jupyter.wire import constants
from submarine_jupyter.wire.openapi import RESPONSE_MODELS, build_document, document
from submarine_jupyter.wire.quantity import Resources
from submarine_jupyter.wire.responses import Experiment
from tests.scripts import load_script

REPO = Path(__file__).resolve().parents[1]


def generator() -> ModuleType:
    return load_script("generate_kernel_types")


def test_the_kernel_types_are_generated_from_the_document() -> None:
    result = subprocess.run([sys.executable, "scripts/generate_kernel_types.py", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(get_type_hints(kernel_types.Experiment)) == {f.alias for f in Experiment.model_fields.values()}


def drifted(model: type[pydantic.BaseModel], old: str, new: str) -> type[pydantic.BaseModel]:
    """A copy of ``model`` (same name) with field ``old`` renamed ``new``."""
    fields: dict[str, Any] = {
        (new if name == old else name): (info.annotation, info) for name, info in model.model_fields.items()
    }
    return pydantic.create_model(model.__name__, __base__=model.__mro__[1], **fields)


def test_a_renamed_field_makes_the_generated_types_stale() -> None:
    renamed = drifted(Experiment, "status_message", "status_note")
    doc = build_document(response_models=[renamed if m is Experiment else m for m in RESPONSE_MODELS])
    properties = doc["components"]["schemas"]["Experiment"]["properties"]
    assert "statusNote" in properties and "statusMessage" not in properties
    text = generator().render(doc)
    assert text != (REPO / "submarine_jupyter" / "kernel" / "types.py").read_text()
    assert "    statusNote: str | None\n" in text
    assert generator().render(document()) == (REPO / "submarine_jupyter" / "kernel" / "types.py").read_text()


def test_the_kernel_imports_no_server_module() -> None:
    code = ("import sys; import submarine_jupyter.kernel.magics, submarine_jupyter.kernel.widgets; "
            "print(sorted(m for m in sys.modules if m.startswith('submarine_jupyter.server')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_replica_names() -> None:
    assert constants.replica_name("experiment_1592057447228_0001", "Worker", 2) == "experiment-1592057447228-0001-worker-2"
    pod = constants.pod_name("experiment_1_0001", "ps-0")
    assert pod == "experiment-1-0001-ps-0" and constants.pod_name("experiment_1_0001", pod) == pod
    assert constants.replica_label("experiment_1_0001", pod) == "ps-0"
    names = ["x-worker-10", "x-worker-2", "x-ps-0", "x-chief-0", "x-other-1"]
    assert sorted(names, key=constants.replica_sort_key) == ["x-chief-0", "x-ps-0", "x-worker-2", "x-worker-10", "x-other-1"]


@pytest.mark.parametrize("text", ["cpu=1e999999999", "memory=9E99999"])
def test_a_huge_exponent_is_refused_not_computed(text: str) -> None:
    with pytest.raises(ValueError, match="exponent is larger"):
        Resources.parse(text)
