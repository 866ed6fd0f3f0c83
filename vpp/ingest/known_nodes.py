"""Which node ids are registered, cached in memory.

The whole set is loaded at start and reloaded every `refresh_s` (so deletions show);
an id not in it is looked up once (concurrent lookups of one id share the query), so a
node registered after the ingester started is accepted at its first reading. Ids found
unregistered are remembered for `miss_ttl_s`, so a flood from an unknown id costs one
query per `miss_ttl_s`, not one per message. If the store is unreachable, a lookup waits
and retries: the message is neither accepted nor refused until the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pymongo.errors import PyMongoError

from vpp.ingest.batcher import Backoff
from vpp.store.database import Database
from vpp.store.nodes import is_registered, registered_ids

log = logging.getLogger(__name__)

_BACKOFF = Backoff(initial_s=0.1, max_s=2.0)


class KnownNodes:
    def __init__(
        self,
        db: Database,
        *,
        refresh_s: float = 60.0,
        miss_ttl_s: float = 10.0,
        max_misses: int = 10_000,
        backoff: Backoff = _BACKOFF,
    ) -> None:
        self._db = db
        self._refresh_s = refresh_s
        self._miss_ttl_s = miss_ttl_s
        self._max_misses = max_misses
        self._backoff = backoff
        self._ids: set[str] = set()
        self._misses: dict[str, float] = {}
        self._lookups: dict[str, asyncio.Task[bool]] = {}

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._ids)

    async def load(self) -> None:
        """Load every registered id, retrying until the store answers."""
        attempt = 0
        while True:
            try:
                self._ids = await registered_ids(self._db)
                self._misses.clear()
                log.info("%d registered nodes", len(self._ids))
                return
            except PyMongoError as exc:
                delay = self._backoff.delay(attempt)
                log.warning("loading node ids failed (retrying in %.1f s): %s", delay, exc)
                attempt += 1
                await asyncio.sleep(delay)

    async def refresh_forever(self) -> None:
        """Reload the set every `refresh_s`; a failure keeps the old set."""
        while True:
            await asyncio.sleep(self._refresh_s)  # a period, not a wait for an event
            try:
                self._ids = await registered_ids(self._db)
                self._misses.clear()
            except PyMongoError as exc:
                log.warning("refreshing node ids failed, keeping %d: %s", len(self._ids), exc)

    def close(self) -> None:
        """Cancel lookups still waiting for the store."""
        for lookup in list(self._lookups.values()):
            lookup.cancel()

    async def contains(self, node_id: str) -> bool:
        if node_id in self._ids:
            return True
        missed_at = self._misses.get(node_id)
        if missed_at is not None and time.monotonic() - missed_at < self._miss_ttl_s:
            return False
        lookup = self._lookups.get(node_id)
        if lookup is None:
            lookup = asyncio.create_task(self._lookup(node_id))
            self._lookups[node_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(node_id, None))
        return await asyncio.shield(lookup)

    async def _lookup(self, node_id: str) -> bool:
        attempt = 0
        while True:
            try:
                found = await is_registered(self._db, node_id)
                break
            except PyMongoError as exc:
                delay = self._backoff.delay(attempt)
                log.warning(
                    "looking up node %s failed (retrying in %.1f s): %s", node_id, delay, exc
                )
                attempt += 1
                await asyncio.sleep(delay)
        if found:
            self._ids.add(node_id)
            self._misses.pop(node_id, None)
        else:
            if len(self._misses) >= self._max_misses:
                self._misses.clear()
            self._misses[node_id] = time.monotonic()
        return found
