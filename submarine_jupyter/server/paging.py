"""Pages of a list: the query parameters, checked, and the opaque ``continue`` token.

A token is the position a page ended at together with the query it belongs to, so a token
passed with another query is refused rather than answering a page of something else. A
list's weak ETag is the query with the store's count of experiment changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from ..wire.constants import MAX_PAGE, STATUSES
from .errors import ApiError
from .store import ExperimentQuery

SORTS = {"acceptedTime": False, "-acceptedTime": True}
#: Items read and sent at a time by an unpaged list.
LIST_CHUNK = 100
T = TypeVar("T")
#: This process's part of every ETag: after a restart (perhaps a newer release, or another
#: database) a list is sent again once rather than trusted to be the same.
_EPOCH = os.urandom(4).hex()


def experiment_query(status: str | None, name_prefix: str | None, sort: str | None, limit: str | None,
                     token: str | None, target: str | None = None) -> ExperimentQuery:
    """The store's query for these parameters of ``GET /api/v1/experiment``; 400 naming a bad one."""
    if status is not None:
        matches = [s for s in STATUSES if s.lower() == status.lower()]
        if not matches:
            raise ApiError(400, f"status: unknown status '{status}' (one of {', '.join(STATUSES)})")
        status = matches[0]
    if sort is not None and sort not in SORTS:
        raise ApiError(400, f"sort: '{sort}' is not one of {', '.join(SORTS)}")
    query = ExperimentQuery(status=status, name_prefix=name_prefix or None, newest_first=SORTS.get(sort or "", False),
                            limit=_limit(limit), target=target or None)
    if token is None:
        return query
    return replace(query, after=_position(token, query))


def continue_token(query: ExperimentQuery, after: int | None) -> str | None:
    """The token of the page after one that ended at ``after`` (``None``: it was the last)."""
    if after is None:
        return None
    text = json.dumps([after, query.status, query.name_prefix, query.newest_first, query.target],
                      separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def list_etag(query: ExperimentQuery, changes: int) -> str:
    """The weak ETag of the answer to ``query`` while the store's change count is ``changes``."""
    key = json.dumps([query.status, query.name_prefix, query.newest_first, query.after, query.limit, query.target])
    return f'W/"{_EPOCH}-{changes}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"'


async def chunked(page: Callable[[ExperimentQuery], Awaitable[tuple[list[T], int | None]]],
                  query: ExperimentQuery) -> AsyncIterator[list[T]]:
    """Everything ``query`` selects (its ``limit`` aside), read ``LIST_CHUNK`` at a time by
    ``page``, so a long list never holds the event loop for long."""
    query = replace(query, limit=LIST_CHUNK)
    while True:
        items, after = await page(query)
        yield items
        if after is None:
            return
        query = replace(query, after=after)


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ApiError(400, f"limit: '{text[:40]}' is not a whole number from 1 to {MAX_PAGE}")
    return int(text)


def _position(token: str, query: ExperimentQuery) -> int:
    try:
        after, status, name_prefix, newest_first, target = json.loads(
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(400, "continue: not a token this server gave") from None
    if not isinstance(after, int) or [status, name_prefix, newest_first, target] != [
            query.status, query.name_prefix, query.newest_first, query.target]:
        raise ApiError(400, "continue: the token belongs to another query "
                            "(status, namePrefix, target and sort must stay the same)")
    return after
