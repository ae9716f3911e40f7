"""``/metrics`` in the Prometheus text format; every name starts with ``veokit_``.

Request counts and latency are measured here, per route template (``/v1/videos/{video_id}``, never an id);
the rest is read from the service layer at each scrape (:class:`veokit.service.Meters`): jobs by state and
provider (all processes sharing the store), this process's submits, polls, retries, 429s and downloaded
bytes, its circuit breakers, and today's spend.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from veokit.service import Meters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class _Snapshot(Collector):
    def __init__(self) -> None:
        self.meters: Meters | None = None

    def collect(self) -> Iterator[Metric]:
        m = self.meters
        if m is None:
            return
        jobs = GaugeMetricFamily("veokit_jobs", "Jobs in the store by state and provider", labels=["state", "provider"])
        for (state, provider), n in sorted(m.jobs.items()):
            jobs.add_metric([state, provider], n)
        yield jobs
        # Every counter has a sample for every provider this process has used, 0 included: an alert on a rate of
        # retries or 429s needs the series before the first one happens.
        used = set(m.breakers) | set(m.submits) | set(m.polls) | set(m.retries) | set(m.rate_limited)
        used |= set(m.download_bytes)
        for name, doc, values in (
            ("veokit_submits", "Paid submit calls made by this process, retries included", m.submits),
            ("veokit_polls", "Operation polls made by this process", m.polls),
            ("veokit_retries", "Submit retries and failed polls in this process", m.retries),
            ("veokit_rate_limited", "429 answers this process received", m.rate_limited),
            ("veokit_download_bytes", "Bytes of video this process downloaded", m.download_bytes),
        ):
            family = CounterMetricFamily(name, doc, labels=["provider"])
            for provider in sorted(used):
                family.add_metric([provider], values.get(provider, 0))
            yield family
        breakers = GaugeMetricFamily(
            "veokit_breaker_state", "Circuit breaker per provider: 0 closed, 1 half open, 2 open", labels=["provider"]
        )
        for provider, state in sorted(m.breakers.items()):
            breakers.add_metric([provider], BREAKER_VALUES.get(state, -1))
        yield breakers
        spend = GaugeMetricFamily(
            "veokit_spend_today_usd", "Spent, reserved or unknown today (UTC), in USD", labels=["provider"]
        )
        for provider, usd in sorted(m.spend_today_usd.items()):
            spend.add_metric([provider], usd)
        yield spend


class Metrics:
    """One registry per app, so several apps (tests) in one process keep their own figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "veokit_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "veokit_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.webhooks = Counter(
            "veokit_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"], registry=self.registry
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self, meters: Meters) -> bytes:
        self._snapshot.meters = meters
        return generate_latest(self.registry)
