"""Storing metric batches: points packed by another process and points found here go in
alike, series totals, the collection order, and the most series an experiment may have."""

from __future__ import annotations

import asyncio
from pathlib import Path

from submarine_jupyter.server.store import Store
from submarine_jupyter.server.store.metrics import Batch, MetricsStore, Points, packed


def batch(points: dict[tuple[str, str], list[tuple[float, float]]], at: float) -> Batch:
    return Batch({key: Points([s for s, _ in pts], [v for _, v in pts], [at] * len(pts)) for key, pts in points.items()},
                 positions={"a": ({"offset": len(points)}, 1)})


def test_packed_and_unpacked_batches_store_the_same_series_in_collection_order(tmp_path: Path) -> None:
    async def run() -> None:
        store = Store(tmp_path / "db.sqlite")
        data = MetricsStore(store)
        first = batch({("loss", "a"): [(1, 0.5), (2, 0.25), (3, 0.75)], ("acc", "a"): [(1, 0.1)]}, 1.0)
        assert await data.write("e-1", "log", packed(first), 1000) == []
        assert await data.write("e-1", "log", batch({("loss", "a"): [(4, 0.125)]}, 2.0), 1000) == []
        assert await data.write("e-1", "log", packed(batch({}, 3.0)), 1000) == []  # positions only
        cursor, series = await data.series("e-1", since=0, name=None, replica=None, max_points=100)
        by_name = {s.name: s for s in series}
        loss = by_name["loss"]
        assert (loss.count, loss.last, loss.min, loss.max) == (4, 0.125, 0.125, 0.75)
        assert loss.points == [(1, 0.5, 1.0), (2, 0.25, 1.0), (3, 0.75, 1.0), (4, 0.125, 2.0)]
        assert (by_name["acc"].count, by_name["acc"].last) == (1, 0.1) and cursor == 5
        _, newer = await data.series("e-1", since=4, name=None, replica=None, max_points=100)
        assert [(s.name, s.points) for s in newer] == [("loss", [(4, 0.125, 2.0)])]
        dropped = await data.write("e-1", "log", packed(batch({("lr", "a"): [(1, 0.01)], ("loss", "a"): [(5, 1.0)]}, 4.0)), 2)
        assert dropped == ["lr"]
        _, series = await data.series("e-1", since=0, name="loss", replica=None, max_points=100)
        assert series[0].count == 5 and series[0].max == 1.0
        assert await data.positions("e-1", "log") == {"a": ({"offset": 2}, 1)}
        await store.close()

    asyncio.run(run())
