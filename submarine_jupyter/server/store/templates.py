"""Experiment templates in SQLite, through the ``Store``'s one writer thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ..domain import TemplateRecord
from . import Conflict, Store


def _record(row: sqlite3.Row) -> TemplateRecord:
    return TemplateRecord(id=row["id"], name=row["name"], spec=json.loads(row["spec"]))


class TemplateStore:
    """Templates by name; each call is one transaction of ``store``'s writer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(self, name: str, make_id: Callable[[int], str], spec: dict[str, Any]) -> TemplateRecord:
        def insert(conn: sqlite3.Connection) -> TemplateRecord:
            if conn.execute("SELECT 1 FROM templates WHERE name = ?", (name,)).fetchone():
                raise Conflict(name)
            record = TemplateRecord(id=make_id(Store.next_value(conn, "template")), name=name, spec=spec)
            conn.execute("INSERT INTO templates (name, id, spec) VALUES (?, ?, ?)", (name, record.id, json.dumps(spec)))
            return record

        return await self.store.run(insert)

    async def get(self, name: str) -> TemplateRecord | None:
        def get(conn: sqlite3.Connection) -> TemplateRecord | None:
            row = conn.execute("SELECT * FROM templates WHERE name = ?", (name,)).fetchone()
            return _record(row) if row else None

        return await self.store.run(get, write=False)

    async def list(self) -> list[TemplateRecord]:
        def read(conn: sqlite3.Connection) -> list[TemplateRecord]:
            return [_record(row) for row in conn.execute("SELECT * FROM templates ORDER BY id")]

        return await self.store.run(read, write=False)

    async def update(self, name: str, spec: dict[str, Any]) -> TemplateRecord | None:
        def update(conn: sqlite3.Connection) -> TemplateRecord | None:
            if conn.execute("UPDATE templates SET spec = ? WHERE name = ?", (json.dumps(spec), name)).rowcount == 0:
                return None
            return _record(conn.execute("SELECT * FROM templates WHERE name = ?", (name,)).fetchone())

        return await self.store.run(update)

    async def delete(self, name: str) -> TemplateRecord | None:
        def delete(conn: sqlite3.Connection) -> TemplateRecord | None:
            row = conn.execute("SELECT * FROM templates WHERE name = ?", (name,)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM templates WHERE name = ?", (name,))
            return _record(row) if row else None

        return await self.store.run(delete)
