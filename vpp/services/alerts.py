"""The stored alerts (`vpp.store.alert_log`) for the API: newest first, of one node or
kind, a page at a time."""

from __future__ import annotations

from typing import Any

from vpp.services.nodes import check_node_id
from vpp.services.paging import Page, check_page_size, decode_time_cursor, encode_time_cursor
from vpp.store.database import Database
from vpp.store.documents import ALERTS, AlertKind, AlertRecord
from vpp.store.recent import newest_first

ALERT_CURSOR = "alert"
MAX_ALERT_PAGE = 500


async def alerts_page(
    db: Database,
    *,
    first: int = 50,
    after: str | None = None,
    dc_id: str | None = None,
    kind: AlertKind | None = None,
) -> Page[tuple[str, AlertRecord]]:
    """Alerts newest first, each with its id; the cursor is the last one's time and id."""
    check_page_size(first, maximum=MAX_ALERT_PAGE)
    if dc_id is not None:
        check_node_id(dc_id, "dcId")
    position = None if after is None else decode_time_cursor(ALERT_CURSOR, after)

    def wanted(doc: dict[str, Any]) -> bool:
        return (kind is None or doc["kind"] == kind.value) and (
            position is None or (doc["at"], str(doc["_id"])) < position
        )

    found = await newest_first(
        db[ALERTS],
        "at",
        need=first + 1,
        equal=None if dc_id is None else {"dc_id": dc_id},
        below=None if position is None else {"$lte": position[0]},
        keep=wanted,
    )
    items = [(str(d["_id"]), AlertRecord.model_validate(d)) for d in found[: first + 1]]
    page = items[:first]
    end = encode_time_cursor(ALERT_CURSOR, page[-1][1].at, page[-1][0]) if page else None
    return Page(page, len(items) > first, end)
