"""Listing experiments by pages: limit and continue, status, name prefix, newest first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient

from submarine_jupyter.server import answers, paging
from submarine_jupyter.server.domain import ExperimentRecord, ReplicaStatus
from submarine_jupyter.server.store import ExperimentQuery, Store

from .conftest import Api, experiment


async def create(api: Api, names: list[str]) -> list[str]:
    ids = [(await api.ok("POST", "api/v1/experiment", experiment("true", name=name)))["experimentId"] for name in names]
    for experiment_id in ids:
        await api.wait(experiment_id)
    return ids


async def pages(api: Api, **params: Any) -> list[list[str]]:
    """Every page's ids, following ``continue`` to the end."""
    found: list[list[str]] = []
    token = None
    while True:
        code, data = await api.call("GET", "api/v1/experiment", params={**params, **({"continue": token} if token else {})})
        assert code == 200, data
        found.append([item["experimentId"] for item in data["result"]])
        token = data["attributes"]["continue"]
        if token is None:
            return found
        assert len(found) < 20, found


async def test_pages_follow_each_other_and_cover_the_list(api: Api) -> None:
    ids = await create(api, ["a-1", "b-1", "a-2", "a-3", "b-2", "a-4", "a-5"])
    assert await pages(api, limit="3") == [ids[0:3], ids[3:6], ids[6:7]]
    assert await pages(api, limit="3", sort="-acceptedTime") == [ids[::-1][0:3], ids[::-1][3:6], ids[::-1][6:7]]
    a_ids = [i for i, name in zip(ids, ["a-1", "b-1", "a-2", "a-3", "b-2", "a-4", "a-5"], strict=True) if name[0] == "a"]
    assert await pages(api, limit="2", namePrefix="a-") == [a_ids[0:2], a_ids[2:4], a_ids[4:5]]
    assert await pages(api, limit="10", status="succeeded", namePrefix="b") == [[ids[1], ids[4]]]
    # without a limit, every one at once (Submarine's client), and no continue
    whole = await api.ok("GET", "api/v1/experiment")
    assert [item["experimentId"] for item in whole] == ids
    assert [item["experimentId"] for item in await api.ok("GET", "api/v1/experiment", params={"namePrefix": "b-"})] == [
        ids[1], ids[4]]


async def test_an_experiment_created_between_pages_shifts_nothing(api: Api) -> None:
    ids = await create(api, ["p-1", "p-2", "p-3", "p-4"])
    code, first = await api.call("GET", "api/v1/experiment", params={"limit": "2", "sort": "-acceptedTime"})
    assert code == 200 and [i["experimentId"] for i in first["result"]] == [ids[3], ids[2]]
    newer = await create(api, ["p-5"])
    code, second = await api.call("GET", "api/v1/experiment", params={
        "limit": "2", "sort": "-acceptedTime", "continue": first["attributes"]["continue"]})
    assert code == 200 and [i["experimentId"] for i in second["result"]] == [ids[1], ids[0]], (second, newer)
    assert second["attributes"]["continue"] is None


async def test_an_unpaged_list_longer_than_a_chunk_is_whole(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "LIST_CHUNK", 2)
    ids = await create(api, [f"c-{n}" for n in range(5)])
    listed = await api.ok("GET", "api/v1/experiment")
    assert [item["experimentId"] for item in listed] == ids
    assert all(item["status"] == "Succeeded" and item["replicas"] for item in listed)
    assert [item["experimentId"] for item in await api.ok("GET", "api/v1/experiment", params={
        "sort": "-acceptedTime"})] == ids[::-1]


@pytest.mark.parametrize(("params", "message"), [
    ({"limit": "0"}, "limit: '0' is not a whole number from 1 to 1000"),
    ({"limit": "1001"}, "limit: '1001' is not a whole number from 1 to 1000"),
    ({"limit": "ten"}, "limit: 'ten' is not a whole number from 1 to 1000"),
    ({"sort": "name"}, "sort: 'name' is not one of acceptedTime, -acceptedTime"),
    ({"limit": "2", "continue": "bm90IGEgdG9rZW4"}, "continue: not a token this server gave"),
    ({"limit": "2", "continue": "%%%"}, "continue: not a token this server gave"),
    ({"status": "finished"}, "status: unknown status 'finished'"),
])
async def test_bad_paging_parameters_are_refused(api: Api, params: dict[str, str], message: str) -> None:
    code, data = await api.call("GET", "api/v1/experiment", params=params)
    assert code == 400 and data["message"].startswith(message), data


async def test_a_token_of_another_query_is_refused(api: Api) -> None:
    await create(api, ["q-1", "q-2"])
    code, data = await api.call("GET", "api/v1/experiment", params={"limit": "1"})
    assert code == 200
    token = data["attributes"]["continue"]
    code, data = await api.call("GET", "api/v1/experiment", params={"limit": "1", "sort": "-acceptedTime",
                                                                    "continue": token})
    assert code == 400 and data["message"].startswith("continue: the token belongs to another query"), data


def stored(seq: int, **changes: Any) -> ExperimentRecord:
    spec = {"meta": {"name": f"r-{seq}", "framework": "PyTorch", "cmd": "python -c 'print(\"é\")'",
                     "envVars": {"LR": "1e-3", "Ω": "\u2028"}}, "spec": {"Master": {"replicas": 1, "x": 0.1}}}
    replicas = [ReplicaStatus(name=f"r-{seq}-master-0", role="Master", index=0, state="Failed", restarts=2,
                              exit_code=-9, message="killed: «OOM»"), ReplicaStatus(name=f"r-{seq}-worker-0",
                                                                                 role="Worker", index=0)]
    return ExperimentRecord(**{"id": f"experiment_1_{seq:04d}", "name": f"r-{seq}", "uid": f"u-{seq}",
                               "status": "Failed", "spec": spec, "accepted_time": "2026-01-01T00:00:00.000+00:00",
                               "status_message": 'exit "3"\n\ttab', "replicas": replicas, **changes})


async def answers_both_ways(store: Store) -> tuple[list[str], list[str]]:
    """Every experiment's answer text: as ``GET /experiment/{id}`` makes it, and as a list does."""
    records, _ = await store.page_experiments(ExperimentQuery())
    texts, _ = await store.page_experiments_as(ExperimentQuery(), answers.experiment_json)
    return [json.dumps(answers.experiment(record).wire()) for record in records], texts


async def test_a_listed_experiment_is_byte_for_byte_its_answer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    made = [stored(1), stored(2, rerun_of="experiment_1_0001", template="t", sweep="s", pending_spec={"a": [1, None]}),
            stored(3, rerun_of="experiment_1_0001", replicas=[], created_time="c", running_time="r",
                   finished_time="f", status="Succeeded", status_message=None)]
    for record in made:
        await store.insert_experiment(lambda seq, record=record: record)
    shown, listed = await answers_both_ways(store)
    await store.close()
    assert listed == shown
    assert json.loads(listed[0])["reruns"] == ["experiment_1_0002", "experiment_1_0003"]


async def test_a_release_0_1_0_database_lists_byte_for_byte(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).parent / "data" / "release-0.1.0" / "state" / "submarine.db", tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    shown, listed = await answers_both_ways(store)
    await store.close()
    assert len(listed) == 4 and listed == shown


async def test_an_unpaged_list_answers_as_each_get_and_page_do(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "LIST_CHUNK", 2)
    ids = await create(api, [f"w-{n}" for n in range(3)])
    await api.wait((await api.ok("POST", f"api/v1/experiment/{ids[0]}/rerun"))["experimentId"])
    listed = await api.ok("GET", "api/v1/experiment")
    assert listed == [await api.ok("GET", f"api/v1/experiment/{item['experimentId']}") for item in listed]
    assert listed[0]["reruns"] == [listed[3]["experimentId"]]
    assert [item for page in await pages(api, limit="3") for item in page] == [i["experimentId"] for i in listed]


async def test_the_logs_index_by_pages(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "LIST_CHUNK", 2)
    ids = await create(api, ["l-1", "l-2", "l-3"])
    whole = await api.ok("GET", "api/v1/experiment/logs")
    assert [entry["experimentId"] for entry in whole] == ids
    assert all(entry["logContent"] and entry["logContent"][0]["podLog"] is None for entry in whole)
    code, first = await api.call("GET", "api/v1/experiment/logs", params={"limit": "2", "sort": "-acceptedTime"})
    assert code == 200 and first["result"] == whole[:0:-1], first
    code, second = await api.call("GET", "api/v1/experiment/logs", params={
        "limit": "2", "sort": "-acceptedTime", "continue": first["attributes"]["continue"]})
    assert code == 200 and second["result"] == whole[:1] and second["attributes"]["continue"] is None, second
    code, data = await api.call("GET", "api/v1/experiment/logs", params={"limit": "0"})
    assert code == 400 and data["message"].startswith("limit:"), data


async def conditional(api: Api, etag: str | None = None, token: bool = True,
                      **params: str) -> tuple[int, str | None, bytes]:
    """``GET /api/v1/experiment`` (with ``If-None-Match: etag``): the code, the ETag, the body."""
    headers = {"Authorization": f"token {api.token}"} if token else {}
    if etag is not None:
        headers["If-None-Match"] = etag
    query = f"?{urlencode(params)}" if params else ""
    response = await AsyncHTTPClient().fetch(f"{api.base}api/v1/experiment{query}", headers=headers,
                                             raise_error=False)
    return response.code, response.headers.get("ETag"), response.body


async def test_an_unchanged_list_answers_304_until_an_experiment_changes(api: Api) -> None:
    ids = await create(api, ["e-1", "e-2"])
    code, etag, body = await conditional(api, limit="1", sort="-acceptedTime")
    assert code == 200 and etag and etag.startswith('W/"') and json.loads(body)["result"][0]["experimentId"] == ids[1]
    assert await conditional(api, etag, limit="1", sort="-acceptedTime") == (304, etag, b"")
    code, whole, body = await conditional(api)
    assert code == 200 and whole not in (None, etag) and len(json.loads(body)["result"]) == 2
    assert (await conditional(api, whole))[:2] == (304, whole)
    assert (await conditional(api, etag, limit="2", sort="-acceptedTime"))[0] == 200  # another query: its own ETag
    code, _, body = await conditional(api, etag, token=False, limit="1", sort="-acceptedTime")
    assert code == 403 and json.loads(body)["code"] == 403

    async def changed(before: str) -> str:
        code, after, _ = await conditional(api, before)
        assert code == 200 and after not in (None, before), (code, after, before)
        assert (await conditional(api, after))[0] == 304
        return after

    running = (await api.ok("POST", "api/v1/experiment", experiment("sleep 2", name="e-3")))["experimentId"]
    await api.wait(running, ("Running",))  # Accepted -> Created -> Running: each its own change
    whole = await changed(whole)  # created (and started)
    await api.wait(running)
    whole = await changed(whole)  # its status moved on: it ended
    await api.ok("PATCH", f"api/v1/experiment/{ids[0]}", experiment("echo patched", name="e-1"))
    whole = await changed(whole)  # a finished one's pending spec
    await api.ok("DELETE", f"api/v1/experiment/{ids[1]}")
    whole = await changed(whole)  # deleted
    code, _, body = await conditional(api, etag, limit="1", sort="-acceptedTime")
    assert code == 200 and json.loads(body)["result"][0]["experimentId"] == running


async def test_only_a_change_of_the_answer_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.insert_experiment(lambda seq: stored(seq))
    assert await store.experiment_changes() == 1

    def backend_only(record: ExperimentRecord) -> None:
        record.backend_state = {"pids": [1]}

    def reworded(record: ExperimentRecord) -> None:
        record.status_message = "changed"

    await store.update_experiment("experiment_1_0001", backend_only)
    assert await store.experiment_changes() == 1
    await store.update_experiment("experiment_1_0001", reworded)
    await store.update_experiment("experiment_1_0001", reworded)  # the same again: no change
    assert await store.experiment_changes() == 2
    assert await store.delete_experiment("experiment_1_0001")
    assert not await store.delete_experiment("experiment_1_0001")
    assert await store.experiment_changes() == 3
    await store.close()
