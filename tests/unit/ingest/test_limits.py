from __future__ import annotations

from datetime import timedelta

import pytest

from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.ingest.consumer import intake_limit
from vpp.store.telemetry_queries import Bucket


@pytest.mark.parametrize(
    ("settings", "limit"),
    [
        (IngestSettings(), 2_000),  # four batches of 500, at least 2,000
        (IngestSettings(batch_size=5_000), 20_000),
        (IngestSettings(batch_size=5_000, max_buffered=7_000), 7_000),
        (IngestSettings(batch_size=50_000, max_buffered=1_000_000), 65_535),  # MQTT's maximum
        (IngestSettings(max_buffered=5), 5),
    ],
)
def test_the_intake_limit_is_bounded_by_max_buffered(settings: IngestSettings, limit: int) -> None:
    assert intake_limit(settings) == limit


@pytest.mark.parametrize(
    ("bucket", "trunc", "width"),
    [
        (Bucket.MINUTE, {"unit": "minute", "binSize": 1}, timedelta(minutes=1)),
        (Bucket.FIFTEEN_MINUTES, {"unit": "minute", "binSize": 15}, timedelta(minutes=15)),
        (Bucket.HOUR, {"unit": "hour", "binSize": 1}, timedelta(hours=1)),
    ],
)
def test_buckets(bucket: Bucket, trunc: dict[str, object], width: timedelta) -> None:
    assert bucket.date_trunc == trunc
    assert bucket.width == width


def test_redis_names_share_a_hash_tag_and_cache_keys_ignore_order() -> None:
    names = RedisNames("vpp")
    assert {key.split(":")[0] for key in names.all_keys()} == {"{vpp}"}
    assert names.telemetry_live == "vpp:telemetry:live"
    assert names.aggregate_cache(["b", "a"]) == names.aggregate_cache(["a", "b", "a"])
    assert names.aggregate_cache(None) == "vpp:aggregate:all"
    assert RedisNames("test").latest != names.latest
