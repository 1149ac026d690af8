"""Kubeflow jobs through the API server: create, replace, delete and look up.

Every call runs in a thread (``client.call``); the API server's refusals come back as
``BackendError``s that name the job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

from kubernetes.client.exceptions import ApiException

from ..base import BackendError
from .apis import KubeflowApi
from .client import REQUEST_TIMEOUT, Apis, Connector, call, lister
from .kinds import EXPERIMENT_ID_LABEL, JobKind, label_value
from .status import JobRef, job_ref

T = TypeVar("T")
DeletePropagation = Literal["Background", "Foreground"]
PROPAGATION_POLICIES: tuple[DeletePropagation, ...] = get_args(DeletePropagation)
#: Times a replace is tried when the job changed between reading and writing it (409).
REPLACE_ATTEMPTS = 3


class Jobs:
    """The jobs of the namespaces this server may use."""

    def __init__(self, connector: Connector, api: KubeflowApi, namespaces: list[str | None], *,
                 propagation: DeletePropagation = "Background") -> None:
        self._connector = connector
        self._api = api
        self._namespaces = namespaces  # [None]: any namespace
        self._propagation = propagation

    async def call(self, fn: Callable[[Apis], T], kind: JobKind | None = None,
                   namespace: str | None = None, name: str | None = None) -> T:
        """``fn(apis)`` in a thread; refusals as ``BackendError``s naming the job."""
        return await call(self._connector, fn, kind=kind, namespace=namespace, name=name)

    async def create(self, kind: JobKind, manifest: dict[str, Any]) -> dict[str, Any]:
        """The job as the API server stored it (with its ``uid``)."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        return await self.call(
            lambda apis: apis.custom.create_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, manifest, _request_timeout=REQUEST_TIMEOUT),
            kind, namespace, name,
        )

    async def replace(self, kind: JobKind, manifest: dict[str, Any]) -> dict[str, Any]:
        """Give the job ``manifest``'s spec and labels, read-modify-write, again on a conflict;
        the job as stored."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]

        def replace(apis: Apis) -> Any:
            for attempt in range(REPLACE_ATTEMPTS):
                current = apis.custom.get_namespaced_custom_object(
                    kind.group, kind.version, namespace, kind.plural, name, _request_timeout=REQUEST_TIMEOUT)
                current["spec"] = manifest["spec"]
                current["metadata"]["labels"] = {
                    **(current["metadata"].get("labels") or {}), **manifest["metadata"]["labels"]}
                try:
                    return apis.custom.replace_namespaced_custom_object(
                        kind.group, kind.version, namespace, kind.plural, name, current,
                        _request_timeout=REQUEST_TIMEOUT)
                except ApiException as error:
                    if error.status != 409 or attempt == REPLACE_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

        return await self.call(replace, kind, namespace, name)

    async def delete(self, job: JobRef) -> None:
        """Delete the job (its pods go with it); one already gone is no error."""
        try:
            await self.call(
                lambda apis: apis.custom.delete_namespaced_custom_object(
                    job.kind.group, job.kind.version, job.namespace, job.kind.plural, job.name,
                    propagation_policy=self._propagation, _request_timeout=REQUEST_TIMEOUT),
                job.kind, job.namespace, job.name,
            )
        except BackendError as error:
            if error.code != 404:
                raise

    async def lookup(self, experiment_id: str) -> JobRef | None:
        """The experiment's job, asked of the API server by its experiment-id label."""
        selector = f"{EXPERIMENT_ID_LABEL}={label_value(experiment_id)}"

        def search(apis: Apis) -> JobRef | None:
            for kind in self._api.kinds:
                for namespace in self._namespaces:
                    try:
                        listed = lister(self._connector, kind, namespace)()(
                            label_selector=selector, _request_timeout=REQUEST_TIMEOUT)
                    except ApiException as error:
                        if error.status == 404:  # this kind is not installed
                            continue
                        raise
                    for job in listed.get("items") or []:
                        return job_ref(experiment_id, kind, job)
            return None

        return await self.call(search)
