"""The experiment's times: set once each, from the backend's times when it has them, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from submarine_jupyter.server.domain import ExperimentRecord
from submarine_jupyter.server.times import set_times

ACCEPTED = datetime(2026, 11, 27, 10, 0, 0, 500_000, tzinfo=UTC)


def record() -> ExperimentRecord:
    return ExperimentRecord("experiment_1_0001", "demo", "u", "Accepted", {},
                            accepted_time=ACCEPTED.astimezone().isoformat(timespec="milliseconds"))


def times(rec: ExperimentRecord) -> list[datetime | None]:
    return [None if t is None else datetime.fromisoformat(t)
            for t in (rec.created_time, rec.running_time, rec.finished_time)]


def test_backend_times_are_used_and_set_once() -> None:
    rec = record()
    created, running, finished = (ACCEPTED + timedelta(seconds=s) for s in (2, 5, 60))
    set_times(rec, "Accepted", {})
    assert times(rec) == [None, None, None]
    set_times(rec, "Created", {"Created": created})
    set_times(rec, "Running", {"Created": created - timedelta(seconds=1), "Running": running})
    set_times(rec, "Succeeded", {"Running": running + timedelta(seconds=9), "Succeeded": finished})
    assert times(rec) == [created, running, finished]


def test_a_job_seen_only_when_it_ended_gets_every_time_the_backend_knows() -> None:
    rec = record()
    created, running, failed = (ACCEPTED + timedelta(seconds=s) for s in (1, 3, 9))
    set_times(rec, "Failed", {"Created": created, "Running": running, "Failed": failed})
    assert times(rec) == [created, running, failed]
    quick = record()
    set_times(quick, "Succeeded", {"Succeeded": failed})
    assert times(quick) == [failed, None, failed]


def test_times_never_go_backwards() -> None:
    rec = record()
    same_second = ACCEPTED.replace(microsecond=0)  # a condition time has whole seconds
    set_times(rec, "Running", {"Created": same_second, "Running": same_second})
    assert times(rec) == [ACCEPTED, ACCEPTED, None]
    set_times(rec, "Succeeded", {"Succeeded": ACCEPTED - timedelta(hours=1)})  # a skewed clock
    assert times(rec) == [ACCEPTED, ACCEPTED, ACCEPTED]


def test_without_backend_times_it_is_now() -> None:
    rec = record()
    before = datetime.now().astimezone().replace(microsecond=0)
    set_times(rec, "Running", {})
    created, running, finished = times(rec)
    assert created == running and created is not None and created >= before and finished is None
