"""The Kubernetes backend's cache of watch events, without a cluster: job and pod events
(as ``ListWatcher`` delivers them) in, the events the backend reports out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from submarine_jupyter.server.backends.base import BackendEvent, Submission
from submarine_jupyter.server.backends.kubernetes.cache import JobCache
from submarine_jupyter.server.backends.kubernetes.kinds import JOB_KINDS
from submarine_jupyter.wire.constants import dns_name
from submarine_jupyter.wire.requests import ExperimentSpec

PYTORCH, TF = JOB_KINDS["pytorch"], JOB_KINDS["tensorflow"]
ID, OTHER = "experiment_1_0001", "experiment_1_0002"
PREFIX = dns_name(ID)


def submission(experiment_id: str = ID, workers: int = 1, framework: str = "PyTorch", **meta: Any) -> Submission:
    spec = ExperimentSpec.model_validate({
        "meta": {"name": "demo", "framework": framework, "cmd": "echo hi", **meta},
        "spec": {"Master": {"replicas": 1}, "Worker": {"replicas": workers}},
    })
    return Submission(experiment_id, spec, "python:3.11")


def at(second: int) -> str:
    return f"2026-11-27T10:00:{second:02d}Z"


def condition(kind: str, second: int, status: str = "True", message: str | None = None) -> dict[str, Any]:
    return {"type": kind, "status": status, "message": message or f"job is {kind.lower()}",
            "lastTransitionTime": at(second)}


def job(experiment_id: str = ID, *conditions: dict[str, Any], namespace: str = "default",
        workers: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": dns_name(experiment_id), "namespace": namespace},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}, "Worker": {"replicas": workers}}},
        "status": {"conditions": list(conditions)},
    }


def pod(replica: str, phase: str, experiment_id: str = ID, namespace: str = "default",
        **container: Any) -> dict[str, Any]:
    job_name = dns_name(experiment_id)
    return {
        "metadata": {"name": f"{job_name}-{replica}", "namespace": namespace,
                     "labels": {"training.kubeflow.org/job-name": job_name}},
        "status": {"phase": phase, "containerStatuses": [{"name": "pytorch", **container}]},
    }


def states(event: BackendEvent) -> dict[str, str]:
    assert event.replicas is not None
    return {replica.name: replica.state for replica in event.replicas}


def running_cache(experiment_id: str = ID) -> JobCache:
    """A cache tracking ``experiment_id``, whose job has been seen Running."""
    cache = JobCache()
    cache.track(submission(experiment_id), "default")
    cache.apply("ADDED", PYTORCH, None, job(experiment_id, condition("Created", 0), condition("Running", 1)))
    return cache


def test_a_sync_without_a_tracked_job_reports_it_vanished() -> None:
    cache = running_cache()
    (event,) = cache.apply("SYNC", PYTORCH, None, [])
    assert (event.experiment_id, event.status) == (ID, "Failed")
    assert event.message == f"PyTorchJob {PREFIX} was deleted from namespace 'default' outside this server"
    assert cache.tracked(ID) is None
    assert cache.apply("SYNC", PYTORCH, None, []) == []  # reported once


def test_a_vanished_job_that_had_ended_is_not_failed() -> None:
    cache = JobCache()
    cache.track(submission(), "default")
    (done,) = cache.apply("ADDED", PYTORCH, None, job(ID, condition("Created", 0), condition("Succeeded", 9)))
    assert done.status == "Succeeded"
    assert cache.apply("SYNC", PYTORCH, None, []) == []
    assert cache.tracked(ID) is None


def test_an_adopted_experiment_whose_job_is_not_listed_vanished() -> None:
    cache = JobCache()
    cache.adopt(submission(), "default", "Running")
    (event,) = cache.apply("SYNC", PYTORCH, "default", [])
    assert (event.status, event.message) == (
        "Failed", f"PyTorchJob {PREFIX} was deleted from namespace 'default' outside this server")


def test_a_job_not_seen_yet_or_elsewhere_has_not_vanished() -> None:
    cache = JobCache()
    cache.track(submission(), "default")  # submitted: the watch has not seen it yet
    assert cache.apply("SYNC", PYTORCH, None, []) == []
    cache = running_cache()
    assert cache.apply("SYNC", TF, None, []) == []  # another kind's listing
    assert cache.apply("SYNC", PYTORCH, "team-a", []) == []  # another namespace's listing
    assert cache.tracked(ID) is not None


def test_a_deleted_job_reports_it_vanished() -> None:
    cache = running_cache()
    (event,) = cache.apply("DELETED", PYTORCH, None, job(ID))
    assert (event.experiment_id, event.status) == (ID, "Failed")
    assert cache.find(ID) is None


def test_a_job_seen_first_succeeded_reports_the_condition_times() -> None:
    cache = JobCache()
    cache.track(submission(), "default")
    finished = job(ID, condition("Created", 0), condition("Running", 5, status="False"),
                   condition("Succeeded", 30, message="PyTorchJob demo successfully completed."))
    (event,) = cache.apply("SYNC", PYTORCH, None, [finished])
    assert (event.status, event.message) == ("Succeeded", "PyTorchJob demo successfully completed.")
    assert event.times == {
        "Created": datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC),
        "Running": datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC),
        "Succeeded": datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC),
    }
    assert states(event) == {f"{PREFIX}-master-0": "Pending", f"{PREFIX}-worker-0": "Pending"}


def test_statuses_are_reported_on_change_and_terminal_ones_never_change() -> None:
    cache = JobCache()
    cache.track(submission(), "default")
    (created,) = cache.apply("ADDED", PYTORCH, None, job(ID, condition("Created", 0)))
    assert (created.status, created.replicas is not None) == ("Created", True)
    assert cache.apply("MODIFIED", PYTORCH, None, job(ID, condition("Created", 0))) == []
    (running,) = cache.apply("MODIFIED", PYTORCH, None, job(ID, condition("Created", 0), condition("Running", 1)))
    assert (running.status, running.replicas) == ("Running", None)
    (failed,) = cache.apply("MODIFIED", PYTORCH, None, job(
        ID, condition("Created", 0), condition("Failed", 2, message="Worker 0 exited 3")))
    assert (failed.status, failed.message) == ("Failed", "Worker 0 exited 3")
    assert cache.apply("MODIFIED", PYTORCH, None, job(ID, condition("Succeeded", 3))) == []


def test_pod_events_change_replica_states_and_unchanged_replicas_are_not_reported() -> None:
    cache = running_cache()
    (event,) = cache.apply("ADDED", None, None, pod("master-0", "Running", restartCount=0, state={"running": {}}))
    assert event.status is None
    assert states(event) == {f"{PREFIX}-master-0": "Running", f"{PREFIX}-worker-0": "Pending"}
    assert cache.apply("MODIFIED", None, None, pod("master-0", "Running", restartCount=0)) == []
    (event,) = cache.apply("MODIFIED", None, None, pod(
        "worker-0", "Failed", restartCount=2, state={"terminated": {"exitCode": 3, "reason": "Error"}}))
    assert event.replicas is not None
    worker = event.replicas[1]
    assert (worker.name, worker.state, worker.restarts, worker.exit_code, worker.message) == (
        f"{PREFIX}-worker-0", "Failed", 2, 3, "Error")
    (event,) = cache.apply("DELETED", None, None, pod("master-0", "Running"))
    assert event.replicas is not None
    assert (event.replicas[0].state, event.replicas[0].message) == ("Stopped", "the pod was deleted")
    assert event.replicas[1].state == "Failed"  # a finished replica keeps its end without a pod


def test_a_pod_sync_forgets_pods_no_longer_listed() -> None:
    cache = running_cache()
    cache.apply("SYNC", None, None, [pod("master-0", "Running"), pod("worker-0", "Running")])
    (event,) = cache.apply("SYNC", None, None, [pod("master-0", "Running")])
    assert states(event) == {f"{PREFIX}-master-0": "Running", f"{PREFIX}-worker-0": "Stopped"}
    assert cache.apply("SYNC", None, None, [pod("master-0", "Running")]) == []


def test_pods_of_other_jobs_are_kept_but_not_reported() -> None:
    cache = running_cache()
    assert cache.apply("ADDED", None, None, pod("master-0", "Running", experiment_id=OTHER)) == []
    cache.track(submission(OTHER), "default")
    (event,) = cache.apply("ADDED", PYTORCH, None, job(OTHER, condition("Created", 0)))
    assert states(event)[f"{dns_name(OTHER)}-master-0"] == "Running"


def test_jobs_of_other_servers_are_found_not_reported() -> None:
    cache = JobCache()
    assert cache.apply("ADDED", PYTORCH, None, job(OTHER, condition("Running", 1), workers=2)) == []
    found = cache.find(OTHER)
    assert found is not None
    assert (found.kind, found.namespace, found.name) == (PYTORCH, "default", dns_name(OTHER))
    assert [r.name for r in found.replicas] == [f"{dns_name(OTHER)}-{n}" for n in ("master-0", "worker-0", "worker-1")]
    assert cache.apply("SYNC", PYTORCH, "default", []) == []
    assert cache.find(OTHER) is None


def test_a_tracked_job_names_the_replicas_of_its_spec_then_of_the_cluster() -> None:
    cache = JobCache()
    cache.track(submission(workers=1), "team-a")
    found = cache.find(ID)
    assert found is not None
    assert (found.namespace, len(found.replicas)) == ("team-a", 2)
    (event,) = cache.apply("ADDED", PYTORCH, "team-a", job(ID, condition("Created", 0), namespace="team-a", workers=3))
    assert event.replicas is not None and len(event.replicas) == 4
    found = cache.find(ID)
    assert found is not None and len(found.replicas) == 4


def test_tracking_picks_up_a_job_the_watch_saw_first() -> None:
    cache = JobCache()
    cache.apply("ADDED", PYTORCH, None, job(ID, condition("Created", 0), workers=2))
    tracked = cache.track(submission(workers=1), "default")
    assert tracked.job is not None
    (event,) = cache.apply("SYNC", None, None, [])  # a pod listing refreshes every tracked experiment
    assert event.status == "Created"
    assert event.replicas is not None and len(event.replicas) == 3


def test_an_unreadable_object_does_not_stop_the_others() -> None:
    cache = JobCache()
    cache.track(submission(), "default")
    cache.track(submission(OTHER), "default")
    broken = job(ID, condition("Created", 0))
    broken["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "two"
    (event,) = cache.apply("SYNC", PYTORCH, None, [broken, job(OTHER, condition("Created", 0))])
    assert (event.experiment_id, event.status) == (OTHER, "Created")


def test_untracked_experiments_are_not_reported() -> None:
    cache = running_cache()
    cache.untrack(ID)
    assert cache.apply("MODIFIED", PYTORCH, None, job(ID, condition("Succeeded", 3))) == []
    assert cache.apply("ADDED", None, None, pod("master-0", "Running")) == []
    assert cache.apply("SYNC", PYTORCH, None, []) == []
