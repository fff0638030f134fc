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

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
    values,
)

from .verdict import SignalKind, Verdict

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CACHE_COUNTERS = ("dns_cache_hits", "dns_cache_misses", "store_hits", "store_misses", "store_errors")


class _Endpoint:
    """A registry served over HTTP, with the reload counter every endpoint has."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reloads = Counter("spoofguard_config_reloads", "Configuration reloads", ["result"], registry=self.registry)

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)


class Metrics(_Endpoint):
    """One process's metrics. With ``shared_dir`` (a worker under the supervisor) the
    values go to prometheus_client's per-process files there, which the supervisor's
    endpoint adds up; otherwise they live in memory and ``serve`` exposes them."""

    def __init__(self, cache_stats: Callable[[], dict[str, float]] | None = None, *,
                 shared_dir: str | None = None) -> None:
        if shared_dir is not None:
            # prometheus_client picks its value class at import, from the environment; a
            # worker forked after that import switches explicitly (PROMETHEUS_MULTIPROC_DIR
            # names the directory, set by the supervisor before forking).
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        super().__init__()
        self.messages = Counter("spoofguard_messages", "Verdicts by action", ["action"], registry=self.registry)
        self.signals = Counter("spoofguard_signals", "Signals that moved a score", ["signal"], registry=self.registry)
        self.failures = Counter("spoofguard_lookup_failures", "Unknown signals: lookups that failed or timed out",
                                ["signal"], registry=self.registry)
        self.check_seconds = Histogram("spoofguard_check_seconds", "Time per check", ["check"],
                                       buckets=_BUCKETS, registry=self.registry)
        self.message_seconds = Histogram("spoofguard_message_seconds", "Analysis time per message",
                                         buckets=_BUCKETS, registry=self.registry)
        self._cache_source = cache_stats
        self._caches = {name: Counter(f"spoofguard_{name}", f"spoofguard {name.replace('_', ' ')}",
                                      registry=self.registry) for name in CACHE_COUNTERS}
        self._cache_seen: dict[str, float] = {}

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
        self._count_caches()

    def _count_caches(self) -> None:
        """The caches keep their own running totals; they are carried into counters after
        each message (a scrape may lag one message), so they add up across workers. A
        total that went down belongs to caches rebuilt by a reload: it counts afresh."""
        if self._cache_source is None:
            return
        for name, total in self._cache_source().items():
            counter = self._caches.get(name)
            if counter is None:
                continue
            seen = self._cache_seen.get(name, 0.0)
            step = total - seen if total >= seen else total
            if step:
                counter.inc(step)
            self._cache_seen[name] = total


class WorkerMetrics(_Endpoint):
    """The supervisor's endpoint: every worker's values from ``shared_dir`` added up, and
    the reloads, which the supervisor does."""

    def __init__(self, shared_dir: str) -> None:
        super().__init__()
        multiprocess.MultiProcessCollector(self.registry, path=shared_dir)  # type: ignore[no-untyped-call]
