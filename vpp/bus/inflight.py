"""Knowing when gmqtt's QoS 1 publishes are acknowledged.

gmqtt's `publish()` returns nothing to await and raises `OverflowError` once the broker's
receive maximum of packets is in flight (FACTS.md). What it does offer is the client's
`persistent_storage` hook: it stores each QoS 1 packet under its id and removes it on
PUBACK. `InFlightStore` is such a store that tells its owner of both, and of a session
the broker did not keep (gmqtt then clears the store). The command publisher and the
simulated nodes' sessions both count their PUBACKs through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gmqtt.storage import PersistentStorage

# Packet ids gmqtt needs besides the publishes (a SUBSCRIBE), and the one id its allocator
# never hands out: a window of publishes in flight stays this far below the broker's
# receive maximum.
SPARE_IDS = 2


class InFlightStore(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store, telling its owner of each packet id acknowledged
    (`on_acked`) and of the ids dropped with a session the broker did not keep
    (`on_cleared`). `last_mid` is the id of the packet `publish()` just stored."""

    def __init__(
        self,
        on_acked: Callable[[InFlightStore, int], None],
        on_cleared: Callable[[InFlightStore, list[int]], None],
    ) -> None:
        super().__init__()
        self.last_mid: int | None = None
        self._on_acked = on_acked
        self._on_cleared = on_cleared

    def push_message(self, mid: int, raw_package: bytes) -> None:
        self.last_mid = mid
        super().push_message(mid, raw_package)

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self._on_acked(self, mid)

    def clear(self) -> None:
        mids = [mid for mid, _ in self.get_all()]
        super().clear()
        self._on_cleared(self, mids)


def window_below(receive_maximum: int, most: int) -> int:
    """Packets a client may keep in flight: at most `most`, below the broker's receive
    maximum by the ids gmqtt needs for itself, and at least one."""
    return max(1, min(most, receive_maximum - SPARE_IDS))


def free_ids(client: Any, mids: Iterable[int]) -> None:
    """Hand the ids of packets gmqtt dropped with a lost session back to its allocator:
    gmqtt forgets the packets but not their ids, so without this its id pool shrinks by a
    window on every broker restart until publishing fails."""
    for mid in mids:
        client._package_handler.id_generator.free_id(mid)
