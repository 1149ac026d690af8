"""The ConfigMaps that carry a local script to a job's pods (``code.Script``): created
before the job (its pods never wait for it), then owned by the job so the garbage collector
deletes it with the job, and deleted by this server when it deletes the job."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from ....wire.constants import dns_name
from ..base import BackendError
from .client import REQUEST_TIMEOUT, Apis, Connector, call
from .code import Script, config_map, config_map_name, owner_reference

#: A JSON merge patch: the client would otherwise send a dict as a JSON Patch, which the API server refuses.
MERGE_PATCH = "application/merge-patch+json"


class ScriptMaps:
    """Create, own and delete the ConfigMap of a job's script."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    @staticmethod
    def manifest(script: Script, job: dict[str, Any]) -> dict[str, Any]:
        """The ConfigMap of ``job`` (a manifest): named after it, with its labels."""
        metadata = job["metadata"]
        return config_map(script, config_map_name(metadata["name"]), metadata["namespace"], metadata["labels"])

    async def put(self, script: Script, job: dict[str, Any]) -> None:
        """Create the ConfigMap, or give the one there (a patched job, a retried submit) this script."""
        body = self.manifest(script, job)
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]

        def put(apis: Apis) -> None:
            try:
                apis.core.create_namespaced_config_map(namespace, body, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as error:
                if error.status != 409:
                    raise
                apis.core.patch_namespaced_config_map(name, namespace, {"data": body["data"]},
                                                      _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT)

        await self._call(put, namespace, name)

    async def own(self, job: dict[str, Any], created: dict[str, Any]) -> None:
        """Make the created (or replaced) job the ConfigMap's only owner."""
        namespace, name = job["metadata"]["namespace"], config_map_name(job["metadata"]["name"])
        patch = {"metadata": {"ownerReferences": [owner_reference(created)]}}
        await self._call(lambda apis: apis.core.patch_namespaced_config_map(
            name, namespace, patch, _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT), namespace, name)

    async def forget(self, namespace: str, experiment_id: str) -> None:
        """Delete the experiment's ConfigMap, if it has one."""
        await self._delete(namespace, config_map_name(dns_name(experiment_id)))

    async def _delete(self, namespace: str, name: str) -> None:
        try:
            await self._call(lambda apis: apis.core.delete_namespaced_config_map(
                name, namespace, _request_timeout=REQUEST_TIMEOUT), namespace, name)
        except BackendError as error:
            if error.code != 404:
                raise

    async def _call(self, fn: Any, namespace: str, name: str) -> Any:
        try:
            return await call(self._connector, fn, namespace=namespace, name=name)
        except BackendError as error:
            raise BackendError(f"ConfigMap {name} (the script this experiment runs): {error.message}",
                               error.code) from None
