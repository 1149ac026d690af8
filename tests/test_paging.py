"""Listing experiments by pages: limit and continue, status, name prefix, newest first."""

from __future__ import annotations

from typing import Any

import pytest

from submarine_jupyter.server import service

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
    monkeypatch.setattr(service, "LIST_CHUNK", 2)
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
