"""The newest documents of a collection that grows with time, read from an index.

The dispatch log, the decisions and the dispatches gain documents on every cycle of
every node. SecantusDB answers a query from an index only when the index holds every
field the query names, and sorts in memory whatever a query returns, so "the newest 50"
as one sorted query reads, and sorts, the whole collection. `newest_first` instead reads
windows of time going back from the newest, each twice as long as the one before, until
it has enough: each window names only the time field and equalities an index holds with
it; any other condition is the caller's `keep`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST_WINDOW = timedelta(minutes=15)  # one optimiser cycle of the whole fleet
# Past every retention: what is older is read in one last query.
LAST_WINDOW = timedelta(days=64)

Document = dict[str, Any]


async def newest_first(
    coll: Any,
    field: str,
    *,
    need: int,
    equal: Mapping[str, Any] | None = None,
    below: Mapping[str, datetime] | None = None,
    keep: Callable[[Document], bool] = lambda _: True,
) -> list[Document]:
    """At least the `need` newest documents by `field` (all there are, if fewer) that
    match `equal` and that `keep` accepts, newest first (ties: the higher `_id` first).

    `below` bounds `field` from above: `{"$lt": t}` or `{"$lte": t}`; without it the
    first window reaches from a quarter of an hour ago into the future. `equal` and
    `field` must be the fields of one index (e.g. a node's id and its time).
    """
    found: list[Document] = []
    upper = dict(below or {})
    top = next(iter(upper.values()), None) or datetime.now(UTC)
    width = FIRST_WINDOW
    while len(found) < need:
        if width > LAST_WINDOW:
            rest = {**(equal or {}), **({field: upper} if upper else {})}
            found += [doc async for doc in coll.find(rest) if keep(doc)]
            break
        low = top - width
        window = {**(equal or {}), field: {"$gte": low, **upper}}
        found += [doc async for doc in coll.find(window) if keep(doc)]
        upper = {"$lt": low}
        width *= 2
    found.sort(key=lambda doc: (doc[field], str(doc["_id"])), reverse=True)
    return found
