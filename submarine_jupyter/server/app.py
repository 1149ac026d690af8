"""The Jupyter server extension: shared settings, wiring and routes.

Settings a backend uses live on the backend (``c.LocalBackend.*``, ``c.KubernetesBackend.*``);
the ``c.SubmarineJupyter.*`` spellings of release 0.1.0 still work, with a warning that
names the new one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, Unicode, default, validate
from traitlets.config import Config

from ..wire.requests import DNS1123_LABEL
from .backends import registry
from .backends.base import Backend, ServerPaths
from .bodies import BodyLimits
from .environments import EnvironmentService
from .handlers import ROUTES
from .logs import LogService
from .metrics.service import MetricsService
from .service import ExperimentService
from .services import SETTINGS_KEY, Services
from .statelock import StateInUse, StateLock
from .store import Store
from .sweeps.service import SweepService
from .targets import Targets, Where
from .templates import TemplateService


def _moved(trait: Any, to: str) -> Any:
    """A setting of release 0.1.0 that now lives at ``c.<to>``."""
    return trait.tag(config=True, moved_to=to)


class SubmarineJupyter(ExtensionApp):
    """Serves Submarine's experiment and environment API and runs experiments."""

    name = "submarine_jupyter"
    load_other_extensions = True
    state_lock: StateLock | None = None

    backend = Unicode(
        "local", config=True,
        help="Where experiments run: the name of an installed backend ('local': processes on this machine; "
        "'kubernetes': Kubeflow jobs), from the 'submarine_jupyter.backends' entry points.",
    )
    targets = Dict(
        Dict(), config=True,
        help="Named targets besides 'local', each a mapping of its backend's settings, its 'backend' "
        "('kubernetes' if not given) aside: e.g. {'gpu': {'api': 'trainer', 'kubeconfig': '~/.kube/gpu', "
        "'namespace': 'ml', 'default_image': 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime'}}. A setting a target "
        "does not give is taken from c.KubernetesBackend.",
    )
    default_target = Unicode(
        None, allow_none=True, config=True,
        help="Where an experiment that names no meta.target runs (default: the 'backend' setting's target).",
    )
    state_dir = Unicode(
        config=True, help="Folder for the database and logs (default: <Jupyter data dir>/submarine_jupyter)."
    )
    db_path = Unicode(config=True, help="SQLite database of experiments and environments.")
    db_busy_timeout = Float(
        5.0, min=0.0, config=True,
        help="Seconds a change waits for the database while another process holds it locked; a request still "
        "waiting then is refused with 503 and changes nothing (a status a backend reported is tried again).",
    )
    max_body_bytes = Int(1 << 20, min=1, config=True, help="Largest request body accepted (413 above).")
    max_body_depth = Int(
        32, min=2, config=True, help="Deepest nesting of lists and mappings a request body may have (400 above)."
    )

    log_dir = _moved(Unicode(help="Deprecated: use c.LocalBackend.log_dir."), "LocalBackend.log_dir")
    working_dir = _moved(Unicode(help="Deprecated: use c.LocalBackend.working_dir."), "LocalBackend.working_dir")
    grace_period = _moved(Float(help="Deprecated: use c.LocalBackend.grace_period."), "LocalBackend.grace_period")
    max_restarts = _moved(Int(help="Deprecated: use c.LocalBackend.max_restarts."), "LocalBackend.max_restarts")
    cpu_capacity = _moved(Float(help="Deprecated: use c.LocalBackend.cpu_capacity."), "LocalBackend.cpu_capacity")
    memory_capacity = _moved(
        Unicode(help="Deprecated: use c.LocalBackend.memory_capacity."), "LocalBackend.memory_capacity"
    )
    gpus = _moved(
        List(Unicode(), allow_none=True, help="Deprecated: use c.LocalBackend.gpus."), "LocalBackend.gpus"
    )
    k8s_kubeconfig = _moved(
        Unicode(None, allow_none=True, help="Deprecated: use c.KubernetesBackend.kubeconfig."),
        "KubernetesBackend.kubeconfig",
    )
    k8s_context = _moved(
        Unicode(None, allow_none=True, help="Deprecated: use c.KubernetesBackend.context."), "KubernetesBackend.context"
    )
    k8s_in_cluster = _moved(
        Bool(None, allow_none=True, help="Deprecated: use c.KubernetesBackend.in_cluster."),
        "KubernetesBackend.in_cluster",
    )
    k8s_namespace = _moved(Unicode(help="Deprecated: use c.KubernetesBackend.namespace."), "KubernetesBackend.namespace")
    k8s_allowed_namespaces = _moved(
        List(Unicode(), help="Deprecated: use c.KubernetesBackend.allowed_namespaces."),
        "KubernetesBackend.allowed_namespaces",
    )
    k8s_image_pull_secrets = _moved(
        List(Unicode(), help="Deprecated: use c.KubernetesBackend.image_pull_secrets."),
        "KubernetesBackend.image_pull_secrets",
    )
    k8s_service_account = _moved(
        Unicode(None, allow_none=True, help="Deprecated: use c.KubernetesBackend.service_account."),
        "KubernetesBackend.service_account",
    )
    k8s_restart_policy = _moved(
        Unicode(help="Deprecated: use c.KubernetesBackend.restart_policy."), "KubernetesBackend.restart_policy"
    )
    k8s_clean_pod_policy = _moved(
        Unicode(help="Deprecated: use c.KubernetesBackend.clean_pod_policy."), "KubernetesBackend.clean_pod_policy"
    )
    k8s_backoff_limit = _moved(
        Int(help="Deprecated: use c.KubernetesBackend.backoff_limit."), "KubernetesBackend.backoff_limit"
    )
    k8s_default_image = _moved(
        Unicode(None, allow_none=True, help="Deprecated: use c.KubernetesBackend.default_image."),
        "KubernetesBackend.default_image",
    )
    k8s_delete_propagation = _moved(
        Unicode(help="Deprecated: use c.KubernetesBackend.delete_propagation."), "KubernetesBackend.delete_propagation"
    )

    @validate("backend")
    def _backend_name(self, proposal: Any) -> str:
        return str(proposal["value"]).lower()

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "submarine_jupyter")

    @default("db_path")
    def _default_db_path(self) -> str:
        return os.path.join(self.state_dir, "submarine.db")

    def forward_moved_settings(self) -> None:
        """Copy each old ``c.SubmarineJupyter.<name>`` that was set to its new place (unless
        that is set too), warning with the new spelling."""
        given = self.config.get(type(self).__name__, {})
        for name, trait in self.traits(moved_to=lambda to: to is not None).items():
            if name not in given:
                continue
            to = trait.metadata["moved_to"]
            owner, setting = to.split(".")
            message = f"c.SubmarineJupyter.{name} is deprecated: use c.{to}"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            self.log.warning("submarine_jupyter: %s", message)
            if setting not in self.config[owner]:
                self.config[owner][setting] = getattr(self, name)

    def make_backend(self, where: Where) -> Targets:
        """``local``, the ``backend`` setting's (under its own name), and every named target."""
        self.forward_moved_settings()
        root = getattr(self.serverapp, "root_dir", None)
        paths = ServerPaths(state_dir=Path(self.state_dir), root_dir=Path(root) if root else Path.cwd())
        backends: dict[str, Backend] = {"local": registry.load("local")(parent=self, paths=paths)}
        if self.backend != "local":
            backends[self.backend] = registry.load(self.backend)(parent=self, paths=paths)
        for name, settings in self.targets.items():
            backends[name] = self._target(name, dict(settings), paths)
        return Targets(backends, self.default_target or self.backend, where)

    def _target(self, name: str, settings: dict[str, Any], paths: ServerPaths) -> Backend:
        """The backend of the target ``name``: its class's settings, ``settings`` over them."""
        if name == "local" or not DNS1123_LABEL.match(name) or len(name) > 63:
            raise ValueError(f"c.SubmarineJupyter.targets: '{name}' cannot name a target (a DNS-1123 label "
                             "other than 'local')")
        cls = registry.load(str(settings.pop("backend", "kubernetes")))
        known = cls.class_trait_names(config=True)  # type: ignore[attr-defined]
        section = getattr(cls, "__name__", "")
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(f"c.SubmarineJupyter.targets['{name}']: {section} has no setting "
                             f"{', '.join(unknown)} (it has {', '.join(sorted(known))})")
        config = Config(self.config)
        config[section] = Config({**self.config.get(section, {}), **settings})
        return cls(config=config, log=self.log, paths=paths)  # type: ignore[call-arg]

    def initialize_settings(self) -> None:
        lock = self.state_lock = StateLock(Path(self.db_path))
        try:
            lock.acquire()
        except StateInUse as error:
            self.log.critical("submarine_jupyter: %s", error)
            raise SystemExit(1) from None  # not an Exception: Jupyter must not start without this API
        # experiments stored before targets ran where 'backend' said
        store = Store(Path(self.db_path), self.db_busy_timeout, default_target=self.backend)

        async def where(experiment_id: str) -> str | None:
            record = await store.get_experiment(experiment_id)
            return record.target if record else None

        backend = self.make_backend(where)
        metrics = MetricsService(parent=self, store=store, backend=backend)
        experiments = ExperimentService(store, backend, metrics, self.log)
        templates = TemplateService(experiments)
        self.settings[SETTINGS_KEY] = Services(
            experiments=experiments, environments=EnvironmentService(store, experiments.start_millis),
            logs=LogService(store, backend), metrics=metrics, templates=templates,
            sweeps=SweepService(templates, metrics), body_limits=BodyLimits(self.max_body_bytes, self.max_body_depth),
        )
        self.log.info("submarine_jupyter: targets %s (default %s), database %s", ", ".join(backend.backends),
                      backend.default, self.db_path)

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        services = self.settings.get(SETTINGS_KEY)
        if services is not None:  # None: loading failed (the log says why); nothing to start
            await services.experiments.ensure_started()

    async def stop_extension(self) -> None:
        services = self.settings.get(SETTINGS_KEY)
        if services is not None:
            await services.experiments.stop()
        if self.state_lock is not None:
            self.state_lock.release()
