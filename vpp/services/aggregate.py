"""The plant's aggregate over all nodes or a list of them, for REST, GraphQL queries and
the aggregate subscription alike.

The store computes it and caches it in Redis for `settings.ingest.aggregate_cache_s` per
scope (`vpp.store.aggregate.get_aggregate`). On top of that, `AggregateReader` makes sure
that in this process:

- one computation per scope runs at a time: when the cache expires under load, the
  requests that arrive while it is recomputed do not each recompute it (a stampede: at
  200 requests/s and ~0.4 s per fleet-wide computation of 20,000 nodes, eighty of them);
- those requests get the previous value at once instead of waiting (stale by at most
  the computation's duration);
- a large scope (the fleet) is computed in a worker process (when the reader has an
  executor) with its own Redis client: reading and parsing 20,000 nodes' state is
  ~0.4 s of CPU here, which in the event loop (or in a thread, holding the GIL) would
  stall every other request for that long each time the cache expires.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.services.errors import InvalidInputError
from vpp.services.nodes import check_node_id
from vpp.store.aggregate import Aggregate, get_aggregate
from vpp.store.live_state import RedisClient

log = logging.getLogger(__name__)

MAX_SCOPE = 1_000
# Scopes above this many nodes (and the fleet) are computed off the event loop.
OFFLOAD_ABOVE = 200


def normalise_scope(node_ids: Sequence[str] | None, field: str = "nodeIds") -> list[str] | None:
    """None (the whole fleet) or the distinct ids, sorted; bad ids are bad input."""
    if node_ids is None:
        return None
    unique = sorted(set(node_ids))
    if not unique:
        raise InvalidInputError.for_field(field, "give at least one node id, or leave it out")
    if len(unique) > MAX_SCOPE:
        raise InvalidInputError.for_field(field, f"at most {MAX_SCOPE} node ids")
    for node_id in unique:
        check_node_id(node_id, field)
    return unique


class AggregateReader:
    def __init__(
        self,
        redis: RedisClient,
        names: RedisNames,
        ingest: IngestSettings,
        *,
        redis_url: str,
        executor: Executor | None = None,
        remembered: int = 1_024,
    ) -> None:
        self._redis = redis
        self._names = names
        self._ingest = ingest
        self._redis_url = redis_url
        self._executor = executor
        self._remembered = remembered
        self._flights: dict[str, asyncio.Future[Aggregate]] = {}
        self._last: OrderedDict[str, Aggregate] = OrderedDict()
        self.computations = 0

    async def read(self, node_ids: Sequence[str] | None = None) -> Aggregate:
        """The aggregate of the fleet (None) or of the given nodes."""
        scope = normalise_scope(node_ids)
        key = self._names.aggregate_cache(scope)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch(key, scope))
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        else:
            last = self._last.get(key)
            if last is not None:
                return last
        value = await asyncio.shield(flight)
        self._last[key] = value
        self._last.move_to_end(key)
        if len(self._last) > self._remembered:
            self._last.popitem(last=False)
        return value

    async def _fetch(self, key: str, scope: list[str] | None) -> Aggregate:
        cached = await self._redis.get(key)
        if cached is not None:
            return Aggregate.model_validate_json(cached)
        self.computations += 1
        if self._executor is not None and (scope is None or len(scope) > OFFLOAD_ABOVE):
            job = partial(
                compute_aggregate_json,
                self._redis_url,
                self._names.prefix,
                scope,
                self._ingest.offline_after_s,
                self._ingest.aggregate_cache_s,
            )
            try:
                raw = await asyncio.get_running_loop().run_in_executor(self._executor, job)
                return Aggregate.model_validate_json(raw)
            except BrokenProcessPool:
                log.exception("the aggregate worker process died; computing in the loop")
        return await get_aggregate(
            self._redis,
            self._names,
            scope,
            offline_after_s=self._ingest.offline_after_s,
            cache_s=self._ingest.aggregate_cache_s,
        )


def compute_aggregate_json(
    redis_url: str,
    prefix: str,
    scope: list[str] | None,
    offline_after_s: float,
    cache_s: float,
) -> str:
    """In a worker process: the store's cached-or-computed aggregate, as JSON."""

    async def compute() -> str:
        redis = Redis.from_url(redis_url, socket_timeout=30.0, socket_connect_timeout=5.0)
        try:
            value = await get_aggregate(
                redis,
                RedisNames(prefix),
                scope,
                offline_after_s=offline_after_s,
                cache_s=cache_s,
            )
            return value.model_dump_json()
        finally:
            await redis.aclose()

    return asyncio.run(compute())
