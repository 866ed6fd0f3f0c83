from __future__ import annotations

import pytest

from vpp.edge_sim.buffer import Reading, TelemetryBuffer


def reading(seq: int) -> Reading:
    return Reading(seq, f'{{"seq":{seq}}}'.encode())


def test_a_full_buffer_drops_the_oldest_and_counts_it() -> None:
    buffer = TelemetryBuffer(3)
    for seq in range(5):
        buffer.append(reading(seq))
    assert len(buffer) == 3
    assert buffer.dropped == 2
    assert [buffer.popleft().seq for _ in range(3)] == [2, 3, 4]  # type: ignore[union-attr]
    assert buffer.popleft() is None


def test_readings_leave_in_seq_order_and_out_of_order_ones_are_refused() -> None:
    buffer = TelemetryBuffer(10)
    for seq in (0, 1, 2):
        buffer.append(reading(seq))
    with pytest.raises(ValueError, match="out of order"):
        buffer.append(reading(2))
    assert buffer.peek() == reading(0)


def test_unacknowledged_readings_go_back_in_front_in_order() -> None:
    buffer = TelemetryBuffer(10)
    for seq in range(5):
        buffer.append(reading(seq))
    sent = [buffer.popleft() for _ in range(3)]
    buffer.requeue([r for r in reversed(sent) if r is not None])
    assert [buffer.popleft().seq for _ in range(5)] == [0, 1, 2, 3, 4]  # type: ignore[union-attr]


def test_requeue_past_capacity_drops_the_oldest() -> None:
    buffer = TelemetryBuffer(3)
    for seq in range(3):
        buffer.append(reading(seq))
    first = buffer.popleft()
    assert first is not None
    buffer.append(reading(3))
    buffer.requeue([first])
    assert buffer.dropped == 1
    assert [buffer.popleft().seq for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]


def test_requeued_readings_must_be_older_than_the_buffered_ones() -> None:
    buffer = TelemetryBuffer(3)
    buffer.append(reading(1))
    with pytest.raises(ValueError, match="older"):
        buffer.requeue([reading(5)])
