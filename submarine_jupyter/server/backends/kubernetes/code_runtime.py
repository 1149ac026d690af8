"""Pure: the TrainingRuntime a Trainer v2 experiment with ``code.git`` runs on.

A TrainJob cannot add an init container to its runtime's pods (its ``runtimePatches`` give
the runtime's own init containers only env, volume mounts and a security context), so such
an experiment runs on a TrainingRuntime of its own, in its namespace: a copy of the runtime
it would have used whose ``node`` pods first run the ``code-localizer`` into an emptyDir at
``/code``, where the node then works, as a training-operator replica does. It is named after
the job (``code_name``), carries the experiment's labels but not the runtime's framework
label (no other experiment picks it), and is owned by the TrainJob once that exists.
"""

from __future__ import annotations

import copy
from typing import Any

from ....wire.constants import dns_name
from ..base import BackendError, Submission
from .code import CODE_PATH, code_name, pod_code
from .manifests import ManifestConfig, labels_of, namespace_of
from .trainjobs import GROUP, NODE, VERSION, RuntimeRef


def clones(submission: Submission) -> bool:
    """Whether ``submission`` runs on a runtime of its own (it has ``code.git``)."""
    return submission.spec.code is not None and submission.spec.code.git is not None


def code_runtime(submission: Submission, config: ManifestConfig, base: dict[str, Any],
                 base_ref: RuntimeRef) -> dict[str, Any]:
    """``base`` (the runtime ``base_ref`` names) with the clone of ``submission``'s code before each node."""
    code = pod_code(submission.spec, submission.experiment_id, None, config.code_git_image)
    assert code is not None and code.init_container is not None, "only a clone needs a runtime of its own"
    spec = copy.deepcopy(base.get("spec") or {})
    jobs = ((spec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    job = next((j for j in jobs if j.get("name") == NODE), None)
    pod = (((job or {}).get("template") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    node = next((c for c in pod.get("containers") or [] if c.get("name") == NODE), None)
    if node is None:
        raise BackendError(f"code.git: the runtime {base_ref.kind} {base_ref.name} has no '{NODE}' container in a "
                           f"'{NODE}' replicated job to clone the code for", 422)
    pod["initContainers"] = [*(pod.get("initContainers") or []), code.init_container]
    pod["volumes"] = [*(v for v in pod.get("volumes") or [] if v.get("name") != code.volume["name"]), code.volume]
    node["volumeMounts"] = [*(m for m in node.get("volumeMounts") or [] if m.get("mountPath") != CODE_PATH),
                            code.mount]
    node["workingDir"] = CODE_PATH
    metadata = {"name": code_name(dns_name(submission.experiment_id)), "namespace": namespace_of(submission.spec, config),
                "labels": labels_of(submission.experiment_id, submission.spec)}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TrainingRuntime", "metadata": metadata, "spec": spec}
