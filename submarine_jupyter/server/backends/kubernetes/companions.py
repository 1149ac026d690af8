"""What carries a job's code to its pods (``code.code_name``): the ConfigMap of its script,
the TrainingRuntime that clones its ``code.git`` on Trainer v2. Each is created before the
job (its pods, and Trainer's admission of it, never wait for it), then owned by the job so
the garbage collector deletes it with the job, and deleted by this server when it deletes
the job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from ....wire.constants import dns_name
from ..base import BackendError
from .client import REQUEST_TIMEOUT, Apis, Connector, call
from .code import Script, code_name, config_map, owner_reference
from .trainjobs import GROUP, VERSION

#: A JSON merge patch: the client would otherwise send a dict as a JSON Patch, which the API server refuses.
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class CompanionKind:
    """How one kind of companion is created, patched and deleted, and what it holds."""

    kind: str
    #: Its content (what a re-submission replaces).
    content: str
    #: What it is to the user, for messages.
    purpose: str
    #: Where a dry run's plan shows it.
    plan_key: str
    create: Callable[[Apis, str, dict[str, Any]], Any]
    patch: Callable[[Apis, str, str, dict[str, Any]], Any]
    delete: Callable[[Apis, str, str], Any]


CONFIG_MAP = CompanionKind(
    "ConfigMap", "data", "the script this experiment runs", "configMap",
    lambda apis, ns, body: apis.core.create_namespaced_config_map(ns, body, _request_timeout=REQUEST_TIMEOUT),
    lambda apis, name, ns, patch: apis.core.patch_namespaced_config_map(
        name, ns, patch, _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT),
    lambda apis, name, ns: apis.core.delete_namespaced_config_map(name, ns, _request_timeout=REQUEST_TIMEOUT))
TRAINING_RUNTIME = CompanionKind(
    "TrainingRuntime", "spec", "the runtime that clones this experiment's code.git", "trainingRuntime",
    lambda apis, ns, body: apis.custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "trainingruntimes", body, _request_timeout=REQUEST_TIMEOUT),
    lambda apis, name, ns, patch: apis.custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "trainingruntimes", name, patch, _content_type=MERGE_PATCH,
        _request_timeout=REQUEST_TIMEOUT),
    lambda apis, name, ns: apis.custom.delete_namespaced_custom_object(
        GROUP, VERSION, ns, "trainingruntimes", name, _request_timeout=REQUEST_TIMEOUT))
KINDS = {kind.kind: kind for kind in (CONFIG_MAP, TRAINING_RUNTIME)}


def script_map(script: Script, job: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap of ``job``'s script (``job`` a manifest): named after it, with its labels."""
    metadata = job["metadata"]
    return config_map(script, code_name(metadata["name"]), metadata["namespace"], metadata["labels"])


class Companions:
    """Create, own and delete the objects that carry jobs' code."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    async def put(self, body: dict[str, Any]) -> None:
        """Create ``body``, or give the one there (a patched job, a retried submit) its content."""
        kind = KINDS[body["kind"]]
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]

        def put(apis: Apis) -> None:
            try:
                kind.create(apis, namespace, body)
            except ApiException as error:
                if error.status != 409:
                    raise
                kind.patch(apis, name, namespace, {kind.content: body[kind.content]})

        await self._call(kind, put, namespace, name)

    async def own(self, body: dict[str, Any], job: dict[str, Any]) -> None:
        """Make the created (or replaced) ``job`` the only owner of ``body``."""
        kind = KINDS[body["kind"]]
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        patch = {"metadata": {"ownerReferences": [owner_reference(job)]}}
        await self._call(kind, lambda apis: kind.patch(apis, name, namespace, patch), namespace, name)

    async def forget(self, kind: CompanionKind, namespace: str, experiment_id: str) -> None:
        """Delete the experiment's companion of that kind, if it has one."""
        name = code_name(dns_name(experiment_id))
        try:
            await self._call(kind, lambda apis: kind.delete(apis, name, namespace), namespace, name)
        except BackendError as error:
            if error.code != 404:
                raise

    async def _call(self, kind: CompanionKind, fn: Callable[[Apis], Any], namespace: str, name: str) -> Any:
        try:
            return await call(self._connector, fn, namespace=namespace, name=name)
        except BackendError as error:
            raise BackendError(f"{kind.kind} {name} ({kind.purpose}): {error.message}", error.code) from None
