"""Connecting to a Kubernetes API server, and turning its refusals into ``BackendError``s.

Everything here is blocking, except ``call``, which runs a blocking call in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..base import BackendError
from .kinds import JobKind

T = TypeVar("T")
#: ``list_fn(**query)``: one list (or watch) request of a resource.
ListFn = Callable[..., Any]
#: (connect, read) seconds for ordinary requests.
REQUEST_TIMEOUT = (5.0, 30.0)
#: What makes a request fail without an answer from the API server.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class Apis:
    """The API groups over one shared connection pool. ``custom`` and ``core`` are typed
    ``Any``: the client's annotations do not model ``_preload_content=False`` (a raw
    urllib3 response) or custom objects (plain dicts), which is how this package uses them."""

    api_client: client.ApiClient
    custom: Any  # client.CustomObjectsApi
    core: Any  # client.CoreV1Api

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)


class Connector:
    """Loads the client configuration once, on first use (so a fix needs no server restart
    until it succeeds): in-cluster, or a kubeconfig file and context."""

    def __init__(self, kubeconfig: str | None, context: str | None, in_cluster: bool | None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._in_cluster = in_cluster
        self._apis: Apis | None = None
        self._lock = threading.Lock()

    def _use_in_cluster(self) -> bool:
        if self._in_cluster is not None:
            return self._in_cluster
        return not self._kubeconfig and "KUBERNETES_SERVICE_HOST" in os.environ

    def apis(self) -> Apis:
        """The APIs; ``BackendError`` (503) when no configuration can be loaded."""
        with self._lock:
            if self._apis is None:
                configuration = client.Configuration()
                try:
                    if self._use_in_cluster():
                        config.load_incluster_config(client_configuration=configuration)
                    else:
                        config.load_kube_config(
                            config_file=self._kubeconfig, context=self._context,
                            client_configuration=configuration,
                        )
                except (config.ConfigException, OSError, ValueError, TypeError) as error:
                    where = "in-cluster" if self._use_in_cluster() else (self._kubeconfig or "~/.kube/config")
                    raise BackendError(
                        f"cannot load the Kubernetes client configuration ({where}): {error}", 503
                    ) from None
                configuration.connection_pool_maxsize = 32
                configuration.retries = urllib3.Retry(total=2, backoff_factor=0.2)
                api_client = client.ApiClient(configuration)
                self._apis = Apis(api_client, client.CustomObjectsApi(api_client), client.CoreV1Api(api_client))
            return self._apis

    def close(self) -> None:
        with self._lock:
            if self._apis is not None:
                self._apis.api_client.close()
                self._apis = None


def lister(connector: Connector, kind: JobKind | None, namespace: str | None) -> Callable[[], ListFn]:
    """The list call of ``kind``'s jobs (``None``: of pods) in ``namespace`` (``None``: in all),
    looked up when called, so it uses the configuration once it loads."""
    def list_fn() -> ListFn:
        apis = connector.apis()
        if kind is None:
            return (functools.partial(apis.core.list_namespaced_pod, namespace) if namespace
                    else apis.core.list_pod_for_all_namespaces)
        if namespace:
            return functools.partial(apis.custom.list_namespaced_custom_object, kind.group, kind.version,
                                     namespace, kind.plural)
        return functools.partial(apis.custom.list_cluster_custom_object, kind.group, kind.version, kind.plural)
    return list_fn


async def call(connector: Connector, fn: Callable[[Apis], T], *, kind: JobKind | None = None,
               namespace: str | None = None, name: str | None = None, executor: Executor | None = None) -> T:
    """``fn(apis)`` in a thread (of ``executor``, else the loop's default); API and
    connection failures as ``BackendError``."""
    def run() -> T:
        apis = connector.apis()
        try:
            return fn(apis)
        except ApiException as error:
            raise api_error(error, host=apis.host, kind=kind, namespace=namespace, name=name) from None
        except TRANSPORT_ERRORS as error:
            raise unreachable(apis.host, error) from None

    return await asyncio.get_running_loop().run_in_executor(executor, run)


def status_body(error: ApiException) -> dict[str, Any]:
    """The ``Status`` object the API server answered with, or ``{}``."""
    try:
        body = json.loads(error.body or "")
    except ValueError:
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def transport_reason(error: BaseException) -> str:
    """A short reason for a failed connection, without urllib3's object reprs."""
    reason = str(getattr(error, "reason", None) or error)
    reason = re.sub(r"<[^>]*>:?\s*|\bHTTPS?Connection(Pool)?\([^)]*\):\s*", "", reason)
    return reason.strip() or type(error).__name__


def unreachable(host: str, error: BaseException) -> BackendError:
    return BackendError(f"the Kubernetes API server at {host} is unreachable: {transport_reason(error)}", 503)


def api_error(error: ApiException, *, host: str, kind: JobKind | None = None,
              namespace: str | None = None, name: str | None = None) -> BackendError:
    """One API server refusal -> a ``BackendError`` a person can act on."""
    status = status_body(error)
    message = status.get("message") or (error.body or "").strip() or str(error.reason)
    details = status.get("details") or {}
    what = f"{kind.kind} {name}" if kind and name else (kind.kind if kind else "the request")
    code = error.status or 0
    if code == 0:
        return BackendError(f"the Kubernetes API server at {host} is unreachable: {error.reason}", 503)
    if code == 401:
        return BackendError(
            f"the Kubernetes API server at {host} rejected this server's credentials (401 Unauthorized): "
            "check the kubeconfig or service account token", 503,
        )
    if code == 403:
        return BackendError(f"forbidden by the Kubernetes cluster: {message}", 403)
    if code == 404:
        if details.get("kind") == "namespaces":
            return BackendError(f"namespace '{details.get('name', namespace)}' does not exist on the cluster", 404)
        if kind and (not status or not details):
            return BackendError(
                f"{kind.kind} is not installed on this cluster (Kubeflow training-operator CRDs missing)", 503
            )
        where = f" in namespace '{namespace}'" if namespace else ""
        return BackendError(f"{what} was not found{where} on the cluster", 404)
    if code == 409:
        if status.get("reason") == "AlreadyExists":
            return BackendError(f"a {what} already exists in namespace '{namespace}'", 409)
        return BackendError(f"conflict on {what}: {message}", 409)
    if code in (400, 422):
        return BackendError(f"the Kubernetes API server refused {what}: {message}", code)
    return BackendError(f"the Kubernetes API server failed ({code}): {message}", 503)
