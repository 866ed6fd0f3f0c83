"""Reading a process's `/metrics` the way Prometheus does: prometheus_client's own text
parser, which refuses what Prometheus would refuse."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


class Scrape:
    """One scrape: every sample by its name (`_total`, `_bucket`... included)."""

    def __init__(self, text: str) -> None:
        self.samples: dict[str, list[Sample]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append(sample)

    def names(self) -> set[str]:
        return set(self.samples)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The sum over the series of `name` whose labels include `labels`."""
        wanted = dict(labels or {})
        found = [
            s.value
            for s in self.samples.get(name, [])
            if all(s.labels.get(k) == v for k, v in wanted.items())
        ]
        assert found, f"no series {name}{wanted or ''} in the scrape"
        return float(sum(found))


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10.0) as client:
        answer = await client.get(url)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)
