"""The Jupyter server extension: configuration, wiring and routes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, CaselessStrEnum, Float, Int, List, Unicode, default

from .backends.base import Backend
from .backends.local import Capacity, LocalBackend
from .handlers import ROUTES
from .service import ExperimentService
from .store import Store


class SubmarineJupyter(ExtensionApp):
    """Serves Submarine's experiment and environment API and runs experiments."""

    name = "submarine_jupyter"
    load_other_extensions = True

    backend = CaselessStrEnum(
        ["local", "kubernetes"], default_value="local", config=True,
        help="Where experiments run: 'local' (processes on this machine) or 'kubernetes' (Kubeflow jobs).",
    )
    state_dir = Unicode(
        config=True, help="Folder for the database and logs (default: <Jupyter data dir>/submarine_jupyter)."
    )
    db_path = Unicode(config=True, help="SQLite database of experiments and environments.")
    log_dir = Unicode(config=True, help="Folder of the local backend's replica logs.")
    working_dir = Unicode(
        config=True, help="Working directory of local replicas (default: the server's root_dir)."
    )
    grace_period = Float(
        10.0, config=True, help="Seconds between SIGTERM and SIGKILL when local replicas are stopped."
    )
    max_restarts = Int(
        0, config=True,
        help="Times a failed local replica is restarted before its experiment fails. "
        "0 (default) fails fast: in an interactive loop a crash is usually a bug, and retrying "
        "it only delays the error. Raise it for long runs that may hit transient faults.",
    )
    cpu_capacity = Float(
        0.0, config=True, help="CPUs the local backend may hand out (default: this machine's cores)."
    )
    memory_capacity = Unicode(
        "", config=True, help="Memory the local backend may hand out, a quantity like '16Gi' (default: this machine's RAM)."
    )
    gpus = List(
        Unicode(), default_value=None, allow_none=True, config=True,
        help="GPU ids the local backend may hand out (default: those nvidia-smi lists).",
    )

    k8s_kubeconfig = Unicode(None, allow_none=True, config=True, help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
    k8s_context = Unicode(None, allow_none=True, config=True, help="Kubeconfig context (default: the current one).")
    k8s_in_cluster = Bool(None, allow_none=True, config=True, help="Use the pod's service account (default: when running in a pod).")
    k8s_namespace = Unicode("default", config=True, help="Namespace of experiments whose spec names none.")
    k8s_allowed_namespaces = List(Unicode(), config=True, help="Namespaces users may target ('*' for any; default: only k8s_namespace).")
    k8s_image_pull_secrets = List(Unicode(), config=True, help="Image pull secrets given to every replica.")
    k8s_service_account = Unicode(None, allow_none=True, config=True, help="Service account of the replicas.")
    k8s_restart_policy = Unicode("OnFailure", config=True, help="restartPolicy of every role.")
    k8s_clean_pod_policy = Unicode("None", config=True, help="runPolicy.cleanPodPolicy (None keeps finished pods and their logs).")
    k8s_backoff_limit = Int(3, config=True, help="runPolicy.backoffLimit.")
    k8s_default_image = Unicode(None, allow_none=True, config=True, help="Image of experiments that name none.")
    k8s_delete_propagation = Unicode("Background", config=True, help="propagationPolicy of deletes.")

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "submarine_jupyter")

    @default("db_path")
    def _default_db_path(self) -> str:
        return os.path.join(self.state_dir, "submarine.db")

    @default("log_dir")
    def _default_log_dir(self) -> str:
        return os.path.join(self.state_dir, "logs")

    @default("working_dir")
    def _default_working_dir(self) -> str:
        root = getattr(self.serverapp, "root_dir", None)
        return str(root) if root else os.getcwd()

    def make_backend(self) -> Backend:
        if self.backend == "kubernetes":
            from .backends.kubernetes import KubernetesBackend

            return KubernetesBackend(
                kubeconfig=self.k8s_kubeconfig, context=self.k8s_context, in_cluster=self.k8s_in_cluster,
                namespace=self.k8s_namespace, allowed_namespaces=tuple(self.k8s_allowed_namespaces),
                image_pull_secrets=tuple(self.k8s_image_pull_secrets), service_account=self.k8s_service_account,
                restart_policy=self.k8s_restart_policy, clean_pod_policy=self.k8s_clean_pod_policy,
                backoff_limit=self.k8s_backoff_limit, default_image=self.k8s_default_image,
                delete_propagation=self.k8s_delete_propagation,
            )
        return LocalBackend(
            log_dir=Path(self.log_dir),
            working_dir=Path(self.working_dir),
            grace_period=self.grace_period,
            max_restarts=self.max_restarts,
            capacity=Capacity.detect(
                cpu=self.cpu_capacity or None, memory=self.memory_capacity or None, gpus=self.gpus
            ),
            log=self.log,
        )

    def initialize_settings(self) -> None:
        service = ExperimentService(Store(Path(self.db_path)), self.make_backend(), self.log)
        self.settings["submarine_service"] = service
        self.log.info(
            "submarine_jupyter: %s backend, database %s", self.backend, self.db_path
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.settings["submarine_service"].ensure_started()

    async def stop_extension(self) -> None:
        await self.settings["submarine_service"].stop()
