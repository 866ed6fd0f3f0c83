"""The in-flight store both MQTT publishers count their PUBACKs with (`vpp.bus.inflight`).
The stored, acknowledged and cleared packets are driven here as gmqtt drives them; the
integration tests run the same store against a real broker."""

from __future__ import annotations

from gmqtt import Client

from vpp.bus.inflight import SPARE_IDS, InFlightStore, free_ids, window_below


def _store() -> tuple[InFlightStore, list[tuple[str, object]]]:
    events: list[tuple[str, object]] = []
    store = InFlightStore(
        lambda s, mid: events.append(("acked", (s, mid))),
        lambda s, mids: events.append(("cleared", (s, mids))),
    )
    return store, events


def test_each_stored_packet_is_named_and_each_puback_reported() -> None:
    store, events = _store()
    store.push_message(7, b"a")
    assert store.last_mid == 7
    store.push_message(8, b"b")
    assert store.last_mid == 8
    store.remove_message_by_mid(7)
    assert events == [("acked", (store, 7))]
    assert [mid for mid, _ in store.get_all()] == [8]


def test_a_session_the_broker_lost_reports_the_packets_dropped_in_the_order_sent() -> None:
    store, events = _store()
    for mid in (3, 1, 2):
        store.push_message(mid, b"x")
    store.clear()
    assert events == [("cleared", (store, [3, 1, 2]))]
    assert store.is_empty


def test_freed_ids_go_back_to_the_clients_allocator() -> None:
    client = Client("inflight-test")
    ids = client._package_handler.id_generator
    taken = [ids.next_id() for _ in range(3)]
    free_ids(client, taken[:2])
    assert ids._used_ids == {taken[2]}


def test_the_window_stays_below_the_receive_maximum() -> None:
    assert window_below(65_535, 500) == 500
    assert window_below(20, 500) == 20 - SPARE_IDS
    assert window_below(1, 500) == 1
