"""The Kubernetes backend at scale: what the API server sees while many experiments run.

    python bench/k8s_scale.py [--experiments 200] [--idle 10]

Starts the test cluster (tests/k8s: etcd, kube-apiserver 1.20, the fake training-operator
running replicas as local processes) with the API server auditing the requests of user
``limited``, bound to cluster-admin, and a real ``jupyter server`` on the kubernetes backend
connecting as that user: every audited request is the Jupyter server's (the operator and
this script use the admin). Metrics are collected from the replicas' logs (the default).
It measures the server's CPU while idle (``/proc/<pid>/stat`` over ``--idle`` seconds),
with no experiment and again after the run; submits ``--experiments`` short experiments
(one PyTorch Master printing metrics), waits until all have Succeeded and their metrics
are complete, and prints, from the audit log: the server's requests by verb and resource
(and per experiment), the most watches and log streams it held open at once, the most
log streams one pod had open at once, and its requests while idle after the run; beside
them the API server's ``/metrics`` (every client, the operator's too) before and after.
Targets (exit non-zero when one is missed): watches open at once = one per job kind plus
one for pods; no pod with two log streams open at once; at most ``PROBES_TARGET`` reads of
single pods and jobs per experiment (waiting for a pod must not poll the API server); no
request but the open watches while idle after the run (nothing per experiment per interval).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client

from submarine_jupyter.server.backends.kubernetes.kinds import JOB_KINDS
from tests.k8s.cluster import LIMITED_USER, KubeCluster
from tests.servers import JupyterProcess

WATCHES_TARGET = len(JOB_KINDS) + 1  # one per job kind, one for the operator's pods
#: Reads of one pod or job (``get``) per experiment, at most.
PROBES_TARGET = 2.0
CMD = "echo loss=0.5 step=1; sleep 2; echo loss=0.25 step=2"
#: The API server's series this prints (every client).
SERIES = ("apiserver_registered_watchers", "apiserver_longrunning_gauge", "apiserver_request_total")


@dataclass
class Request:
    """One request of the audit log: ``end`` is ``None`` while it is still open."""

    verb: str
    resource: str
    pod: str | None
    start: float
    end: float | None

    def open_at(self, moment: float) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def audited(path: Path) -> list[Request]:
    """Every request in the audit log, in the order they were received."""
    requests: dict[str, Request] = {}
    with path.open() as lines:
        for line in lines:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            resource = "/".join(filter(None, (ref.get("resource"), ref.get("subresource")))) or event["requestURI"]
            request = requests.setdefault(event["auditID"], Request(
                event["verb"], resource, ref.get("name") if resource == "pods/log" else None,
                stamp(event["requestReceivedTimestamp"]), None))
            if event["stage"] in ("ResponseComplete", "Panic"):
                request.end = stamp(event["stageTimestamp"])
    return sorted(requests.values(), key=lambda r: r.start)


def most_open(requests: list[Request]) -> int:
    """The most of ``requests`` open at one moment."""
    return max((sum(r.open_at(moment) for r in requests) for moment in {r.start for r in requests}), default=0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core ``pid`` used over ``seconds``."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


def api_metrics(cluster: KubeCluster) -> dict[str, float]:
    """The API server's ``SERIES`` samples for job kinds and pods, by their labels."""
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    request = urllib.request.Request(f"{cluster.server}/metrics", headers={"Authorization": f"Bearer {cluster.token}"})
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        text = response.read().decode()
    wanted = re.compile(r'(resource|kind)="(pods|PyTorchJob|TFJob|XGBoostJob|pytorchjobs|tfjobs|xgboostjobs|Pod)"')
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(SERIES) and wanted.search(line):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def summary_key(sample: str) -> str:
    """A sample's name with only the labels that say what it counts."""
    name, labels = sample.split("{", 1)
    keep = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    shown = ",".join(f"{k}={keep[k]}" for k in ("verb", "resource", "subresource", "kind", "scope") if keep.get(k))
    return f"{name}{{{shown}}}"


def totals(samples: dict[str, float]) -> dict[str, float]:
    counted: dict[str, float] = {}
    for sample, value in samples.items():
        key = summary_key(sample)
        counted[key] = counted.get(key, 0.0) + value
    return counted


def bind_cluster_admin(cluster: KubeCluster, user: str) -> None:
    with cluster.api_client() as api:
        client.RbacAuthorizationV1Api(api).create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=f"{user}-cluster-admin"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=user)],
        ))


def wait_all(server: JupyterProcess, ids: list[str], timeout: float) -> dict[str, str]:
    """Statuses once every experiment has ended and its metrics are complete."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {e["experimentId"]: e["status"] for e in server.ok("GET", "/api/v1/experiment")}
        if all(statuses.get(i) in ("Succeeded", "Failed") for i in ids):
            break
        assert time.monotonic() < deadline, Counter(statuses.values())
        time.sleep(1)
    for experiment_id in ids:
        while server.ok("GET", f"/api/v1/experiment/{experiment_id}/metrics")["collecting"]:
            assert time.monotonic() < deadline, f"{experiment_id}: metrics still collecting"
            time.sleep(0.2)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of each idle measurement")
    parser.add_argument("--timeout", type=float, default=900.0, help="most seconds for the run")
    args = parser.parse_args()
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as home, KubeCluster(audit_users=(LIMITED_USER,)) as cluster:
        bind_cluster_admin(cluster, LIMITED_USER)
        server = JupyterProcess(
            Path(home), "--SubmarineJupyter.backend=kubernetes", f"--KubernetesBackend.kubeconfig={cluster.kubeconfig}",
            f"--KubernetesBackend.context={cluster.limited_context}").start()
        try:
            assert server.process is not None
            pid = server.process.pid
            time.sleep(2)  # the watches' first listings
            cpu_empty = idle_cpu(pid, args.idle)
            before = api_metrics(cluster)
            started = time.monotonic()
            ids = []
            for index in range(args.experiments):
                spec = {"meta": {"name": f"scale-{index}", "framework": "PyTorch", "cmd": CMD},
                        "environment": {"image": "python:3.11"}, "spec": {"Master": {"replicas": 1}}}
                ids.append(server.ok("POST", "/api/v1/experiment", spec)["experimentId"])
            submitted = time.monotonic() - started
            statuses = wait_all(server, ids, args.timeout)
            run_s = time.monotonic() - started
            after = api_metrics(cluster)
            idle_from = time.time()
            cpu_after = idle_cpu(pid, args.idle)
            idle_to = time.time()
        finally:
            server.stop()
        requests = audited(cluster.audit_log)
    load = os.getloadavg()

    print(f"experiments: {args.experiments} (one PyTorch Master: {CMD!r}); submitted in {submitted:.1f} s, "
          f"all ended, metrics complete, in {run_s:.1f} s; {Counter(statuses.values())}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cpus {os.cpu_count()}")
    run = [r for r in requests if r.start < idle_from]
    by_kind = Counter((r.verb, r.resource) for r in run)
    print(f"\nrequests of the Jupyter server (audit log), {len(run)} in all:")
    print(f"{'verb':<8}{'resource':<28}{'count':>8}{'per experiment':>16}")
    for (verb, resource), count in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"{verb:<8}{resource:<28}{count:>8}{count / args.experiments:>16.2f}")

    watches = [r for r in run if r.verb == "watch"]
    logs = [r for r in run if r.resource == "pods/log"]
    open_watches, open_logs = most_open(watches), most_open(logs)
    per_pod: dict[str, list[Request]] = {}
    for request in logs:
        per_pod.setdefault(request.pod or "?", []).append(request)
    pod_most = max((most_open(streams) for streams in per_pod.values()), default=0)
    reads = [len(streams) for streams in per_pod.values()]
    print(f"\nwatches opened {len(watches)}, most open at once {open_watches} (target {WATCHES_TARGET})")
    print(f"log requests {len(logs)} for {len(per_pod)} pods: per pod median {statistics.median(reads or [0]):.0f} "
          f"(max {max(reads, default=0)}); most open at once {open_logs}; most open for one pod {pod_most} (target 1)")
    probes = sum(1 for r in run if r.verb == "get" and r.resource in ("pods", "pytorchjobs")) / args.experiments
    print(f"reads of single pods and jobs per experiment: {probes:.2f} (target at most {PROBES_TARGET:g})")
    idle = [r for r in requests if idle_from <= r.start < idle_to]
    print(f"requests while idle after the run ({idle_to - idle_from:.1f} s): {len(idle)} "
          f"{dict(Counter((r.verb, r.resource) for r in idle))} (target 0)")
    print(f"Jupyter server CPU while idle: {cpu_empty:.2f} % of a core with no experiment, "
          f"{cpu_after:.2f} % with {args.experiments} finished")

    print("\nAPI server /metrics, every client (the fake operator's too): before -> after the run")
    was, now = totals(before), totals(after)
    for key in sorted(set(was) | set(now)):
        if key.startswith("apiserver_request_total") and now.get(key) == was.get(key):
            continue
        print(f"  {key:<90}{was.get(key, 0):>8.0f} -> {now.get(key, 0):>8.0f}")

    if open_watches != WATCHES_TARGET:
        missed.append(f"{open_watches} watches open at once, not {WATCHES_TARGET}")
    if probes > PROBES_TARGET:
        missed.append(f"{probes:.2f} reads of pods and jobs per experiment > {PROBES_TARGET:g}")
    if pod_most > 1:
        missed.append(f"a pod had {pod_most} log streams open at once")
    if idle:
        missed.append(f"{len(idle)} requests while idle after the run")
    if set(statuses.values()) != {"Succeeded"}:
        missed.append(f"not every experiment succeeded: {Counter(statuses.values())}")
    for line in missed:
        print("MISSED", line)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
