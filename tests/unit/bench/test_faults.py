"""The load and fault suite's checks and fault timer (bench/faults.py), without servers."""

from __future__ import annotations

import math

import pytest

from bench.faults import (
    PlannedFault,
    check_readings,
    duplicate_applications,
    open_nodes,
    parse_faults,
    per_bucket,
    percentile,
    plan_faults,
)


def test_every_reading_stored_once_is_exact() -> None:
    check = check_readings({"a": 3, "b": 2}, {"a": [2, 0, 1], "b": [0, 1]}, {"a": 0, "b": 0})
    assert check.exact
    assert (check.generated, check.stored, check.lost, check.duplicates) == (5, 5, 0, 0)


def test_gaps_repeats_and_strangers_are_each_counted() -> None:
    check = check_readings(
        generated={"a": 4, "b": 2, "c": 1},
        stored={"a": [0, 1, 1, 3], "b": [0, 1, 5], "d": [0]},
        dropped={"a": 0},
    )
    assert check.lost == 1 + 1  # a's seq 2 and all of c
    assert check.duplicates == 1  # a's seq 1 twice
    assert check.unexpected == 2  # b's seq 5, never generated; d generated nothing
    assert check.nodes_with_gaps == ["a", "c"]
    assert not check.exact


def test_readings_a_full_edge_buffer_dropped_are_reported_as_lost() -> None:
    # The node dropped seq 0 itself; the store never had it.
    check = check_readings({"a": 3}, {"a": [1, 2]}, {"a": 1})
    assert check.lost == 1
    assert check.dropped_at_edge == 1


def test_duplicate_applications_count_only_the_repeats() -> None:
    applications = {"n1": {"c1": 1, "c2": 3}, "n2": {"c1": 2}, "n3": {}}
    assert duplicate_applications(applications) == 2 + 1
    assert duplicate_applications({"n1": {"c1": 1}}) == 0


def test_open_nodes_lists_every_node_without_a_final_status() -> None:
    statuses = {"d2": {"n1": "completed", "n2": "sent"}, "d1": {"n3": "missing"}}
    assert open_nodes(statuses, {"completed", "rejected", "expired"}) == ["d1/n3", "d2/n2"]


def test_plan_spreads_faults_evenly_away_from_both_ends() -> None:
    plan = plan_faults(300, ["broker", "store", "worker"])
    assert plan == [
        PlannedFault(75.0, "broker"),
        PlannedFault(150.0, "store"),
        PlannedFault(225.0, "worker"),
    ]
    twice = plan_faults(700, ["broker", "worker"], rounds=2)
    assert [f.target for f in twice] == ["broker", "worker", "broker", "worker"]
    assert [f.at_s for f in twice] == [140.0, 280.0, 420.0, 560.0]
    assert plan_faults(300, ["broker"], rounds=0) == []


def test_plan_refuses_what_it_cannot_kill() -> None:
    with pytest.raises(ValueError, match="redis"):
        plan_faults(300, ["broker", "redis"])


def test_explicit_faults_are_parsed_in_time_order() -> None:
    assert parse_faults("worker@220, broker@60,store@140") == [
        PlannedFault(60.0, "broker"),
        PlannedFault(140.0, "store"),
        PlannedFault(220.0, "worker"),
    ]
    with pytest.raises(ValueError, match="bad fault"):
        parse_faults("keycloak@10")
    with pytest.raises(ValueError, match="bad fault"):
        parse_faults("broker60")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.95) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_per_bucket_groups_events_by_time() -> None:
    buckets = per_bucket([(0.0, 1.0), (4.9, 2.0), (5.0, 3.0), (12.0, 4.0), (-1.0, 9.0)], 5.0, 15.0)
    assert buckets == [[1.0, 2.0], [3.0], [4.0]]
    assert per_bucket([(20.0, 1.0)], 5.0, 15.0) == [[], [], []]
