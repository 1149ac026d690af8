"""pytest plugin: a real Kubernetes API server for the tests.

Register it in tests/conftest.py::

    pytest_plugins = (..., "tests.k8s.fixtures")

Fixtures:
  kube_cluster        (session) a started ``tests.k8s.cluster.KubeCluster``: etcd + kube-apiserver
                      v1.20.2 with the Kubeflow v1 and Trainer v2 CRDs (and the shipped
                      ClusterTrainingRuntimes), namespaces "default" and "team-a", a fake
                      node/kubelet, the fake training-operator (``kube_cluster.operator``) and
                      the fake Trainer v2 controller (``kube_cluster.trainer``).
  kube_cluster_clean  (function) the same object; after the test all Kubeflow jobs and TrainJobs
                      (and their JobSets, pods and processes) are deleted, the API server is
                      started again if the test left it stopped, and the fakes' pending delay is
                      reset.

The session fixture FAILS (never skips) when kube-apiserver/etcd are missing: run
``scripts/build_k8s.sh``. Environment: SUBMARINE_K8S_CACHE (binary cache dir),
SUBMARINE_KUBE_APISERVER / SUBMARINE_ETCD (explicit binaries), SUBMARINE_SHARED_DIR (folder
holding kubeflow-crds/), SUBMARINE_K8S_KEEP=1 (keep the work dir with etcd/apiserver logs).
"""

from __future__ import annotations

import os
import time

import pytest

from .cluster import BUILD_HINT, ClusterError, KubeCluster, missing_prerequisites

_TIMINGS: dict[str, float] = {}
DEFAULT_PENDING_DELAY = 0.3


@pytest.fixture(scope="session")
def kube_cluster():
    missing = missing_prerequisites()
    if missing:
        pytest.fail(
            "The Kubernetes backend tests need a real kube-apiserver and etcd, missing: "
            + "; ".join(missing) + f". To fix: {BUILD_HINT}.",
            pytrace=False,
        )
    t0 = time.monotonic()
    cluster = KubeCluster(pending_delay=DEFAULT_PENDING_DELAY, keep_workdir=os.environ.get("SUBMARINE_K8S_KEEP") == "1")
    try:
        cluster.start()
    except ClusterError as exc:
        pytest.fail(f"could not start the test Kubernetes API server: {exc}", pytrace=False)
    _TIMINGS.update({f"k8s {k}": v for k, v in cluster.timings.items()})
    try:
        yield cluster
    finally:
        errors = [f"{c.label}: {e}" for c in (cluster.operator, cluster.trainer) if c for e in c.errors]
        t = time.monotonic()
        cluster.stop()
        _TIMINGS["k8s teardown"] = time.monotonic() - t
        _TIMINGS["k8s session (fixture up to teardown end)"] = time.monotonic() - t0
        _TIMINGS_ERRORS.extend(errors)


_TIMINGS_ERRORS: list[str] = []


@pytest.fixture
def kube_cluster_clean(kube_cluster):
    yield kube_cluster
    if not (kube_cluster._apiserver and kube_cluster._apiserver.alive()):
        kube_cluster.start_apiserver()
    for controller in (kube_cluster.operator, kube_cluster.trainer):
        if controller is not None:
            controller.pending_delay = DEFAULT_PENDING_DELAY
    kube_cluster.delete_all_jobs()


def pytest_terminal_summary(terminalreporter):
    if not _TIMINGS:
        return
    terminalreporter.section("test Kubernetes API server")
    for k, v in _TIMINGS.items():
        terminalreporter.write_line(f"{k}: {v:.2f} s")
    for e in _TIMINGS_ERRORS:
        terminalreporter.write_line(f"error: {e}")
