"""Redis names of the telemetry path: the live channel and the latest-state keys.

Everything lives under one prefix (`vpp` by default) so that tests, benchmarks and a second
platform on the same Redis stay apart. The keys one Lua call touches share a hash tag
(`{vpp}`), so the layout also works on a Redis Cluster.

| name | kind | content |
| --- | --- | --- |
| `vpp:telemetry:live` | pub/sub channel | one message per stored batch: a JSON list of readings |
| `{vpp}:telemetry:latest` | hash | node id -> JSON of its newest reading (by its timestamp) |
| `{vpp}:telemetry:latest_ts` | hash | node id -> that reading's timestamp, epoch ms |
| `{vpp}:telemetry:last_seen` | hash | node id -> when ingest last received a reading, epoch ms |
| `{vpp}:node:status` | hash | node id -> `online:<epoch ms>` or `offline:<epoch ms>` |
| `vpp:aggregate:<scope>` | string, expiring | cached JSON of an aggregate |
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PREFIX = "vpp"


@dataclass(frozen=True)
class RedisNames:
    """Every Redis key and channel of the telemetry path, under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def telemetry_live(self) -> str:
        """Pub/sub channel: one JSON list of readings per stored batch."""
        return f"{self.prefix}:telemetry:live"

    @property
    def latest(self) -> str:
        return f"{{{self.prefix}}}:telemetry:latest"

    @property
    def latest_ts(self) -> str:
        return f"{{{self.prefix}}}:telemetry:latest_ts"

    @property
    def last_seen(self) -> str:
        return f"{{{self.prefix}}}:telemetry:last_seen"

    @property
    def status(self) -> str:
        return f"{{{self.prefix}}}:node:status"

    def aggregate_cache(self, node_ids: Iterable[str] | None) -> str:
        """The cache key of an aggregate over all nodes (None) or a set of them."""
        if node_ids is None:
            return f"{self.prefix}:aggregate:all"
        digest = hashlib.sha1("\n".join(sorted(set(node_ids))).encode(), usedforsecurity=False)
        return f"{self.prefix}:aggregate:{digest.hexdigest()}"

    def all_keys(self) -> list[str]:
        """The state keys (not the channel, not the aggregate caches), e.g. to clear them."""
        return [self.latest, self.latest_ts, self.last_seen, self.status]
