"""Prometheus metrics (``metrics.listen``, off by default): what the milter decided, which
signals fired, how long checks and whole messages took, which lookups failed, how the
caches do, and configuration reloads.

Metric names (all prefixed ``spoofguard_``):

- ``messages_total{action}``: verdicts by action (accept, tag, quarantine, reject, tempfail)
- ``signals_total{signal}``: signals that moved a score, and unknowns
- ``lookup_failures_total{signal}``: unknown signals (DNS/RDAP timeouts, errors), by name
- ``check_seconds{check}``: time per check (histogram)
- ``message_seconds``: analysis time per message, end of message to verdict (histogram)
- ``dns_cache_hits_total``, ``dns_cache_misses_total``: the in-memory DNS cache
- ``store_hits_total``, ``store_misses_total``, ``store_errors_total``: the shared cache
- ``config_reloads_total{result}``: SIGHUP reloads, ok or failed
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .verdict import SignalKind, Verdict

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CacheStats:
    """Counters read at scrape time from whatever caches the running config uses."""

    def __init__(self, source: Callable[[], dict[str, float]]) -> None:
        self._source = source

    def collect(self) -> Iterator[CounterMetricFamily]:
        try:
            values = self._source()
        except Exception:  # a scrape must never fail because the runtime is mid-reload
            values = {}
        for name, value in sorted(values.items()):
            yield CounterMetricFamily(f"spoofguard_{name}", f"spoofguard {name.replace('_', ' ')}", value=value)


class Metrics:
    def __init__(self, cache_stats: Callable[[], dict[str, float]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("spoofguard_messages", "Verdicts by action", ["action"], registry=self.registry)
        self.signals = Counter("spoofguard_signals", "Signals that moved a score", ["signal"], registry=self.registry)
        self.failures = Counter("spoofguard_lookup_failures", "Unknown signals: lookups that failed or timed out",
                                ["signal"], registry=self.registry)
        self.check_seconds = Histogram("spoofguard_check_seconds", "Time per check", ["check"],
                                       buckets=_BUCKETS, registry=self.registry)
        self.message_seconds = Histogram("spoofguard_message_seconds", "Analysis time per message",
                                         buckets=_BUCKETS, registry=self.registry)
        self.reloads = Counter("spoofguard_config_reloads", "Configuration reloads", ["result"], registry=self.registry)
        if cache_stats is not None:
            collector: Collector = CacheStats(cache_stats)
            self.registry.register(collector)

    def observe(self, verdict: Verdict) -> None:
        self.messages.labels(verdict.action.value).inc()
        self.message_seconds.observe(verdict.elapsed_ms / 1000)
        for name, ms in verdict.check_ms:
            self.check_seconds.labels(name).observe(ms / 1000)
        for signal in verdict.signals:
            if signal.kind is SignalKind.ERROR:
                self.failures.labels(signal.name).inc()
                self.signals.labels(signal.name).inc()
            elif signal.score:
                self.signals.labels(signal.name).inc()

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)
