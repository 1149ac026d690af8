"""etcd + a real kube-apiserver (v1.20.2) on loopback, with the Kubeflow CRDs installed.

Built by ``scripts/build_k8s.sh``; recipe and facts in ``../shared/notes/kubernetes-testenv.md``.

``KubeCluster.start()`` does, in order: certificates and tokens (openssl) -> etcd ->
kube-apiserver (waits for /readyz) -> a kubeconfig file -> the three Kubeflow v1 CRDs and
the four Trainer v2 CRDs (TrainJob, TrainingRuntime, ClusterTrainingRuntime, JobSet; made
loadable by 1.20 with ``for_apiserver_1_20``) from the shared folder (waits for Established
and for the resources to be served) -> the shipped ClusterTrainingRuntimes -> namespaces ->
the fake node + fake kubelet -> the fake training-operator -> the fake Trainer v2 controller.
``KubeCluster.stop()`` undoes all of it; every child process is also started with
``PR_SET_PDEATHSIG`` so it dies with the test process if that is killed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import json
import logging
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

import yaml

log = logging.getLogger(__name__)

K8S_VERSION = "1.20.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_HINT = "run `bash scripts/build_k8s.sh` (installs etcd-server and builds kube-apiserver, ~7-10 min once)"

#: The label of everything the server under test makes for an experiment.
EXPERIMENT_LABEL = "submarine.apache.org/experiment-id"
CRD_FILES = ("kubeflow.org_tfjobs.yaml", "kubeflow.org_pytorchjobs.yaml", "kubeflow.org_xgboostjobs.yaml")
JOB_PLURALS = ("tfjobs", "pytorchjobs", "xgboostjobs")
GROUP, VERSION = "kubeflow.org", "v1"
#: Kubeflow Trainer v2 (``kubeflow-crds/trainer-v2/``) and the JobSet it builds pods through.
TRAINER_DIR = "trainer-v2"
TRAINER_CRD_FILES = ("trainer.kubeflow.org_trainjobs.yaml", "trainer.kubeflow.org_trainingruntimes.yaml",
                     "trainer.kubeflow.org_clustertrainingruntimes.yaml", "jobset.x-k8s.io_jobsets.yaml")
TRAINER_GROUP, TRAINER_VERSION = "trainer.kubeflow.org", "v1alpha1"
JOBSET_GROUP, JOBSET_VERSION = "jobset.x-k8s.io", "v1alpha2"

ADMIN_TOKEN = "submarine-admin-token"
LIMITED_TOKEN = "submarine-limited-token"
LIMITED_USER = "limited"


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on the 300 KB CRDs


class ClusterError(RuntimeError):
    pass


# --------------------------------------------------------------------------- locating things
def cache_dir() -> Path:
    return Path(
        os.environ.get("SUBMARINE_K8S_CACHE") or Path.home() / ".cache" / "submarine-jupyter" / f"k8s-{K8S_VERSION}"
    )


def kube_apiserver_binary() -> Path:
    return Path(os.environ.get("SUBMARINE_KUBE_APISERVER") or cache_dir() / "kube-apiserver")


def etcd_binary() -> Path | None:
    configured = os.environ.get("SUBMARINE_ETCD")
    if configured:
        return Path(configured)
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    return Path(found) if found else None


def shared_dir() -> Path:
    configured = os.environ.get("SUBMARINE_SHARED_DIR")
    if configured:
        return Path(configured)
    return (REPO_ROOT / ".." / "shared").resolve()


def crd_dir() -> Path:
    return shared_dir() / "kubeflow-crds"


def runtime_files() -> list[Path]:
    """The ClusterTrainingRuntimes Kubeflow ships that the cluster creates (torch-distributed, xgboost-distributed)."""
    return sorted((crd_dir() / TRAINER_DIR / "runtimes").glob("*.yaml"))


def missing_prerequisites() -> list[str]:
    """Human-readable list of what is missing to start a cluster (empty: all there)."""
    missing = []
    api = kube_apiserver_binary()
    if not (api.is_file() and os.access(api, os.X_OK)):
        missing.append(f"kube-apiserver binary {api}")
    etcd = etcd_binary()
    if etcd is None or not etcd.is_file():
        missing.append("etcd (Debian package etcd-server)")
    if shutil.which("openssl") is None:
        missing.append("openssl")
    for name in (*CRD_FILES, *(f"{TRAINER_DIR}/{f}" for f in TRAINER_CRD_FILES)):
        if not (crd_dir() / name).is_file():
            missing.append(f"CRD {crd_dir() / name} (set SUBMARINE_SHARED_DIR)")
    return missing


_NOT_IN_1_20 = frozenset(("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"))


def for_apiserver_1_20(node: Any) -> Any:
    """A copy of a CRD without what kube-apiserver 1.20 refuses (kubeflow-crds/trainer-v2/README.md):
    every ``x-kubernetes-validations``, ``x-kubernetes-list-type`` and ``x-kubernetes-list-map-keys``
    key and every ``default: ""``, at any depth."""
    if isinstance(node, dict):
        return {k: for_apiserver_1_20(v) for k, v in node.items()
                if k not in _NOT_IN_1_20 and not (k == "default" and v == "")}
    if isinstance(node, list):
        return [for_apiserver_1_20(v) for v in node]
    return node


@functools.lru_cache(maxsize=4)
def _crd_bodies(folder: Path, trainer: bool) -> tuple[dict, ...]:
    """The CRDs to create, parsed once per process (the Trainer v2 ones are 2.6 MB of YAML)."""
    bodies = [yaml.load((folder / f).read_text(), Loader=_YamlLoader) for f in CRD_FILES]
    if trainer:
        bodies += [for_apiserver_1_20(yaml.load((folder / TRAINER_DIR / f).read_text(), Loader=_YamlLoader))
                   for f in TRAINER_CRD_FILES]
    return tuple(bodies)


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class _Spawner:
    """Starts the long-lived children from one thread that lives as long as the interpreter.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a
    child started from, say, an asyncio.to_thread() worker would be killed when that worker
    thread is retired. Forking from this dedicated thread avoids that.
    """

    _lock = threading.Lock()
    _queue: queue.Queue | None = None

    @classmethod
    def run(cls, fn):
        with cls._lock:
            if cls._queue is None:
                cls._queue = queue.Queue()
                threading.Thread(target=cls._loop, args=(cls._queue,), name="k8s-spawner", daemon=True).start()
        done = concurrent.futures.Future()
        cls._queue.put((fn, done))
        return done.result()

    @staticmethod
    def _loop(q) -> None:
        while True:
            fn, done = q.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                done.set_exception(exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_dirs(max_age_no_pid: float = 3600) -> None:
    """Remove work dirs of earlier test sessions whose process is gone (killed before teardown)."""
    for base, pattern in ((Path(tempfile.gettempdir()), "submarine-k8s-*"), (Path("/dev/shm"), "submarine-etcd-*")):
        if not base.is_dir():
            continue
        for d in base.glob(pattern):
            try:
                pid = int((d / "owner.pid").read_text())
                stale = not _pid_alive(pid)
            except (OSError, ValueError):
                try:
                    stale = time.time() - d.stat().st_mtime > max_age_no_pid
                except OSError:
                    continue
            if stale:
                shutil.rmtree(d, ignore_errors=True)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> dict[str, Path]:
    """A CA, a serving cert for 127.0.0.1/localhost (apiserver and kubelet), an SA key pair."""
    d.mkdir(parents=True, exist_ok=True)
    ext = d / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # EC: much faster than RSA keygen
    _openssl("req", "-x509", *ec, "-nodes", "-days", "30", "-subj", "/CN=submarine-test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    _openssl("req", *ec, "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "30", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=d)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    return {n: d / f for n, f in [("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"),
                                  ("sa_key", "sa.key"), ("sa_pub", "sa.pub")]}


class _Proc:
    """A child process whose output goes to a file; stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: list[str], logfile: Path):
        self.name, self.argv, self.logfile = name, argv, logfile
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        def spawn() -> subprocess.Popen:
            with open(self.logfile, "ab") as fh:
                return subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent,  # noqa: PLW1509 (only prctl)
                                        start_new_session=True)

        self.popen = _Spawner.run(spawn)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 3) -> None:
        p = self.popen
        if p is None:
            return
        if p.poll() is None:
            if timeout > 0:
                p.terminate()
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            if p.poll() is None:
                p.kill()
                p.wait(5)
        self.popen = None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# --------------------------------------------------------------------------- the cluster
class KubeCluster:
    """A running etcd + kube-apiserver with the Kubeflow CRDs, a fake node/kubelet and a fake
    training-operator. Use ``start()``/``stop()`` or the ``kube_cluster`` pytest fixture.

    Attributes used by tests:
      kubeconfig (Path), context (str, admin), limited_context (str, a user with no RBAC
      grants), server (https URL), token, ca_file, namespace ("default"), namespaces,
      node_name, operator (FakeOperator), trainer (FakeTrainer; None with trainer=False),
      kubelet (FakeKubelet), crd_dir, workdir, timings (dict of seconds).
    """

    context = "submarine-test"
    limited_context = "submarine-test-limited"
    namespace = "default"
    node_name = "fake-node"

    def __init__(self, workdir: Path | None = None, namespaces: tuple[str, ...] = ("default", "team-a"),
                 pending_delay: float = 0.3, keep_workdir: bool = False, audit_users: tuple[str, ...] = (),
                 trainer: bool = True):
        self._own_workdir = workdir is None
        if self._own_workdir:
            sweep_stale_dirs()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="submarine-k8s-"))
        (self.workdir / "owner.pid").write_text(str(os.getpid()))
        self.keep_workdir = keep_workdir
        #: Requests of these users are written to ``audit_log`` (JSON lines, level Metadata).
        self.audit_users = tuple(audit_users)
        self.audit_log = self.workdir / "audit.log"
        self.namespaces = tuple(namespaces)
        self.crd_dir = crd_dir()
        self.kubeconfig = self.workdir / "kubeconfig"
        self.token = ADMIN_TOKEN
        self.timings: dict[str, float] = {}
        self._pending_delay = pending_delay
        #: Found once: a test may change $HOME (pytest-jupyter does) before a restart.
        self._apiserver_binary = kube_apiserver_binary()
        self._etcd: _Proc | None = None
        self._apiserver: _Proc | None = None
        #: Trainer v2: its CRDs, the shipped ClusterTrainingRuntimes and the fake controller.
        self.with_trainer = trainer
        self.kubelet = None
        self.operator = None
        self.trainer = None
        self.pki: dict[str, Path] = {}
        self.etcd_port = self.etcd_peer_port = self.port = 0

    # ------------------------------------------------------------------ public API
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.pki["ca"]

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    def api_client(self, context: str | None = None):
        """A new kubernetes.client.ApiClient for `context` (default: the admin context)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig), context=context or self.context)

    def core_v1(self, context: str | None = None):
        from kubernetes import client

        return client.CoreV1Api(self.api_client(context))

    def custom_objects(self, context: str | None = None):
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client(context))

    def create_namespace(self, name: str) -> None:
        from kubernetes import client

        with self.api_client() as api:
            try:
                client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
            except client.ApiException as e:
                if e.status != 409:
                    raise

    def delete_all_jobs(self, wait: float = 15) -> None:
        """Delete every Kubeflow job (v1 jobs and TrainJobs) in every namespace and wait until they,
        their JobSets and their pods are gone; and what an experiment's code travels in, its
        ConfigMaps and TrainingRuntimes (the garbage collector's part: this cluster runs no
        kube-controller-manager)."""
        from kubernetes import client

        kinds = [(GROUP, VERSION, p) for p in JOB_PLURALS]
        selectors = ["training.kubeflow.org/job-name"]
        if self.with_trainer:
            kinds += [(TRAINER_GROUP, TRAINER_VERSION, "trainjobs"), (JOBSET_GROUP, JOBSET_VERSION, "jobsets")]
            selectors.append("jobset.sigs.k8s.io/jobset-name")
        with self.api_client() as api:
            co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
            for ns in self._all_namespaces(core):
                for kind in kinds:
                    with contextlib.suppress(client.ApiException):
                        co.delete_collection_namespaced_custom_object(kind[0], kind[1], ns, kind[2])
                with contextlib.suppress(client.ApiException):
                    core.delete_collection_namespaced_config_map(ns, label_selector=EXPERIMENT_LABEL)
                if self.with_trainer:
                    with contextlib.suppress(client.ApiException):
                        co.delete_collection_namespaced_custom_object(
                            TRAINER_GROUP, TRAINER_VERSION, ns, "trainingruntimes", label_selector=EXPERIMENT_LABEL)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                left = sum(len(co.list_cluster_custom_object(*kind)["items"]) for kind in kinds)
                pods = sum(len(core.list_pod_for_all_namespaces(label_selector=s).items) for s in selectors)
                if not left and not pods:
                    return
                time.sleep(0.1)
            raise ClusterError("jobs/pods still present after delete_all_jobs")

    @staticmethod
    def _all_namespaces(core) -> list[str]:
        return [n.metadata.name for n in core.list_namespace().items]

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (etcd keeps running): clients now get connection refused."""
        if self._apiserver:
            self._apiserver.stop()

    def start_apiserver(self, timeout: float = 60) -> float:
        """Start kube-apiserver again on the same port and etcd; returns seconds until ready."""
        t0 = time.monotonic()
        self._apiserver = _Proc("kube-apiserver", self._apiserver_argv(), self.workdir / "kube-apiserver.log")
        self._apiserver.start()
        self._wait_ready(timeout)
        return time.monotonic() - t0

    def restart_apiserver(self, down_for: float = 0.0, timeout: float = 60) -> float:
        """Stop and start kube-apiserver (same port, same etcd: all data kept); returns start seconds."""
        self.stop_apiserver()
        if down_for:
            time.sleep(down_for)
        return self.start_apiserver(timeout)

    def wait_for_job_condition(self, plural: str, namespace: str, name: str, condition: str,
                               timeout: float = 30) -> dict[str, Any]:
        """Poll the job (``tfjobs``/``pytorchjobs``/``xgboostjobs``/``trainjobs``) until it has
        `condition` with status True; returns the job."""
        from kubernetes import client

        group, version = (TRAINER_GROUP, TRAINER_VERSION) if plural == "trainjobs" else (GROUP, VERSION)
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        with self.api_client() as api:
            co = client.CustomObjectsApi(api)
            while True:
                job = co.get_namespaced_custom_object(group, version, namespace, plural, name)
                conds = (job.get("status") or {}).get("conditions") or []
                if any(c["type"] == condition and c["status"] == "True" for c in conds):
                    return job
                if time.monotonic() > deadline:
                    raise AssertionError(f"{plural}/{name} has no {condition} condition: {job.get('status')}")
                time.sleep(0.1)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> KubeCluster:
        missing = missing_prerequisites()
        if missing:
            raise ClusterError("cannot start the test Kubernetes API server, missing: " + "; ".join(missing)
                               + f". To fix: {BUILD_HINT}.")
        t_all = time.monotonic()
        try:
            t = time.monotonic()
            self.pki = make_pki(self.workdir / "pki")
            self.timings["pki"] = time.monotonic() - t
            (self.workdir / "tokens.csv").write_text(
                f'{ADMIN_TOKEN},admin,admin,"system:masters"\n{LIMITED_TOKEN},{LIMITED_USER},{LIMITED_USER}\n')
            self._start_etcd()
            self._start_apiserver_first()
            self._write_kubeconfig()
            t = time.monotonic()
            self._install_crds()
            self.timings["crds"] = time.monotonic() - t
            if self.with_trainer:
                t = time.monotonic()
                self._create_runtimes()
                self.timings["runtimes"] = time.monotonic() - t
            t = time.monotonic()
            for ns in self.namespaces:
                if ns != "default":
                    self.create_namespace(ns)
            self.timings["namespaces"] = time.monotonic() - t
            t = time.monotonic()
            self._start_node_and_kubelet()
            from .operator import FakeOperator

            self.operator = FakeOperator(self, pending_delay=self._pending_delay).start()
            self.timings["node_and_operator"] = time.monotonic() - t
            if self.with_trainer:
                from .trainer import FakeTrainer

                t = time.monotonic()
                self.trainer = FakeTrainer(self, pending_delay=self._pending_delay).start()
                self.timings["trainer"] = time.monotonic() - t
            self.timings["cluster_start"] = time.monotonic() - t_all
            log.info("test cluster up at %s in %.1fs (%s)", self.server, self.timings["cluster_start"], self.timings)
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything: replica processes, kube-apiserver, the kubelet, etcd; remove temp dirs."""
        t = time.monotonic()
        controllers = [c for c in (self.operator, self.trainer) if c is not None]
        for c in controllers:
            with contextlib.suppress(Exception):
                c.stop()
        self.timings["stop_operator"] = time.monotonic() - t
        if self._apiserver is not None:
            self._apiserver.stop(timeout=0)  # SIGKILL: nothing to keep
        for c in controllers:
            with contextlib.suppress(Exception):
                c.join(5)
        if self.kubelet is not None:
            with contextlib.suppress(Exception):
                self.kubelet.stop()
        if self._etcd is not None:
            self._etcd.stop(timeout=0)
        if getattr(self, "_etcd_data", None) is not None and not self.keep_workdir:
            shutil.rmtree(self._etcd_data, ignore_errors=True)
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.timings["stop"] = time.monotonic() - t

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals
    def _start_etcd(self, attempts: int = 3) -> None:
        etcd = etcd_binary()
        for attempt in range(attempts):
            self.etcd_port, self.etcd_peer_port = free_port(), free_port()
            data = self._etcd_data_dir()
            peer = f"http://127.0.0.1:{self.etcd_peer_port}"
            self._etcd = _Proc("etcd", [
                str(etcd), "--name", "default", "--data-dir", str(data),
                "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"default={peer}", "--log-level", "warn",
                "--quota-backend-bytes", str(1 << 30),
            ], self.workdir / "etcd.log")
            t = time.monotonic()
            self._etcd.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if not self._etcd.alive():
                    break
                try:
                    with urllib.request.urlopen(self.etcd_url + "/health", timeout=1) as r:
                        if json.loads(r.read()).get("health") in ("true", True):
                            self.timings["etcd_start"] = time.monotonic() - t
                            return
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self._etcd.stop()
            if attempt == attempts - 1:
                raise ClusterError(f"etcd did not become healthy:\n{self._etcd.tail()}")

    def _etcd_data_dir(self) -> Path:
        """etcd's data on tmpfs when there is one: no fsync cost (etcd fsyncs every write)."""
        if getattr(self, "_etcd_data", None) is None:
            shm = Path("/dev/shm")
            if os.environ.get("SUBMARINE_K8S_ETCD_ON_DISK") != "1" and shm.is_dir() and os.access(shm, os.W_OK):
                self._etcd_data = Path(tempfile.mkdtemp(prefix="submarine-etcd-", dir=shm))
                (self._etcd_data / "owner.pid").write_text(str(os.getpid()))
            else:
                self._etcd_data = self.workdir / "etcd-data"
                self._etcd_data.mkdir(exist_ok=True)
        data = self._etcd_data / "data"
        shutil.rmtree(data, ignore_errors=True)
        return data

    def _apiserver_argv(self) -> list[str]:
        w = self.workdir
        return [
            str(self._apiserver_binary),
            f"--etcd-servers={self.etcd_url}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", "--insecure-port=0", f"--cert-dir={w / 'pki' / 'generated'}",
            f"--tls-cert-file={self.pki['cert']}", f"--tls-private-key-file={self.pki['key']}",
            f"--token-auth-file={w / 'tokens.csv'}", "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.pki['sa_pub']}",
            f"--service-account-signing-key-file={self.pki['sa_key']}",
            "--service-cluster-ip-range=10.0.0.0/24", "--disable-admission-plugins=ServiceAccount",
            "--kubelet-preferred-address-types=InternalIP,Hostname", "--enable-priority-and-fairness=false",
            "--profiling=false", "--logtostderr=true", "--v=0",
            *self._audit_args(),
        ]

    def _audit_args(self) -> list[str]:
        """The audit flags for ``audit_users`` (none when there are none)."""
        if not self.audit_users:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "users": list(self.audit_users)}, {"level": "None"}],
        }))
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]

    def _start_apiserver_first(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self.timings["apiserver_start"] = self.start_apiserver()
                return
            except ClusterError:
                tail = self._apiserver.tail() if self._apiserver else ""
                self.stop_apiserver()
                if attempt == attempts - 1 or "address already in use" not in tail:
                    raise

    def _readyz(self) -> int:
        ctx = ssl.create_default_context(cafile=str(self.pki["ca"]))
        req = urllib.request.Request(self.server + "/readyz", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=2, context=ctx) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self._apiserver.alive():
                raise ClusterError(f"kube-apiserver exited:\n{self._apiserver.tail()}")
            try:
                if self._readyz() == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"kube-apiserver not ready after {timeout}s:\n{self._apiserver.tail()}")
            time.sleep(0.1)

    def _write_kubeconfig(self) -> None:
        import base64

        ca = base64.b64encode(self.pki["ca"].read_bytes()).decode()
        cluster = {"name": "submarine-test", "cluster": {"server": self.server, "certificate-authority-data": ca}}
        cfg = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [cluster],
            "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}},
                      {"name": LIMITED_USER, "user": {"token": LIMITED_TOKEN}}],
            "contexts": [
                {"name": self.context, "context": {"cluster": "submarine-test", "user": "admin",
                                                   "namespace": self.namespace}},
                {"name": self.limited_context, "context": {"cluster": "submarine-test", "user": LIMITED_USER,
                                                           "namespace": self.namespace}},
            ],
            "current-context": self.context,
        }
        self.kubeconfig.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def _install_crds(self, timeout: float = 60) -> None:
        from kubernetes import client

        t0 = time.monotonic()
        bodies = _crd_bodies(self.crd_dir, self.with_trainer)
        self.timings["crds_parse"] = time.monotonic() - t0
        with self.api_client() as api:
            ext = client.ApiextensionsV1Api(api)
            for body in bodies:
                try:
                    # raw response: the client's models choke on some CRD fields, and we need none of them
                    ext.create_custom_resource_definition(body, _preload_content=False)
                except client.ApiException as e:
                    if e.status != 409:
                        raise ClusterError(f"installing CRD {body['metadata']['name']}: {e.status} {e.body}") from e
            deadline = time.monotonic() + timeout
            t0 = time.monotonic()
            for body in bodies:
                name = body["metadata"]["name"]
                while True:
                    crd = json.loads(ext.read_custom_resource_definition(name, _preload_content=False).data)
                    conds = (crd.get("status") or {}).get("conditions") or []
                    if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                        break
                    if time.monotonic() > deadline:
                        raise ClusterError(f"CRD {name} not Established: {conds}")
                    time.sleep(0.1)
            self.timings["crds_established"] = time.monotonic() - t0
            co = client.CustomObjectsApi(api)

            def served(body: dict) -> None:
                # Established comes before the resource is served; the first request also builds
                # the CRD's serving info (CPU-heavy for these big schemas): do them all at once
                spec = body["spec"]
                version = next(v["name"] for v in spec["versions"] if v.get("served", True))
                while True:
                    try:
                        co.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"],
                                                      _preload_content=False)
                        return
                    except client.ApiException as e:
                        if e.status != 404 or time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)

            with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
                list(pool.map(served, bodies))

    def _create_runtimes(self) -> None:
        """Create the ClusterTrainingRuntimes Kubeflow ships (as they are; 409: already there)."""
        from kubernetes import client

        with self.api_client() as api:
            co = client.CustomObjectsApi(api)
            for path in runtime_files():
                body = yaml.load(path.read_text(), Loader=_YamlLoader)
                try:
                    co.create_cluster_custom_object(TRAINER_GROUP, TRAINER_VERSION, "clustertrainingruntimes", body,
                                                    _preload_content=False)
                except client.ApiException as e:
                    if e.status != 409:
                        raise ClusterError(f"creating runtime {path.name}: {e.status} {e.body}") from e

    def _start_node_and_kubelet(self) -> None:
        from kubernetes import client

        from .kubelet import FakeKubelet

        self.kubelet = FakeKubelet(self.workdir / "kubelet", self.pki["cert"], self.pki["key"], self.node_name).start()
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            core.create_node({"metadata": {"name": self.node_name,
                                           "labels": {"kubernetes.io/hostname": self.node_name,
                                                      "kubernetes.io/os": "linux"}}})
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            capacity = {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "8"}
            core.patch_node_status(self.node_name, {"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                              {"type": "Hostname", "address": self.node_name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet.port}},
                "capacity": capacity, "allocatable": capacity,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "fake kubelet is ready", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "nodeInfo": {"kubeletVersion": f"v{K8S_VERSION}", "operatingSystem": "linux",
                             "architecture": "amd64", "containerRuntimeVersion": "fake://1",
                             "kubeProxyVersion": f"v{K8S_VERSION}", "osImage": "fake", "kernelVersion": "",
                             "machineID": "", "systemUUID": "", "bootID": ""},
            }})
