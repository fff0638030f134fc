"""DNS through dnspython, with answers that distinguish "no" from "could not ask".

NXDOMAIN and NODATA are answers; a timeout, SERVFAIL or REFUSED is ``TEMPERROR``. Checks
turn ``TEMPERROR`` into *unknown*, never into a verdict about the sender (a DNS outage must
not make DMARC fail or an IP look listed).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Protocol

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from ..sections import Addresses, Positive, Rule, Section, at_least
from .lru import ExpiringLru
from .store import GuardedStore


class DnsStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    TEMPERROR = "temperror"


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    status: DnsStatus
    records: tuple[str, ...] = ()
    ttl: int = 0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is DnsStatus.OK


class Resolver(Protocol):
    """What the checks ask of DNS: answers, never exceptions; a temporary failure is a
    TEMPERROR answer. ``DnsClient`` is the real one; unit tests feed answers directly."""

    @property
    def timeout(self) -> float:
        """How long one query may take when the caller gives no lifetime."""

    def query(self, name: str, rdtype: str, lifetime: float | None = None) -> DnsAnswer: ...

    def reverse(self, ip: str, lifetime: float | None = None) -> DnsAnswer: ...


class DnsSection(Section, frozen=True):
    """``[dns]``: the resolver every check asks, and its in-process cache."""

    nameservers: Addresses = ()  # empty: /etc/resolv.conf
    port: Annotated[int, Rule(lambda v: None if 0 < v < 65536 else "must be a port number")] = 53
    timeout: Positive = 2.0
    cache_entries: Annotated[int, at_least(100)] = 20000
    negative_ttl: Annotated[int, at_least(0)] = 300  # NXDOMAIN/NODATA kept this long (seconds)
    max_ttl: Annotated[int, at_least(60)] = 86400


class DnsCache:
    """Answers kept for their TTL (negative ones for ``negative_ttl``), least recently used
    dropped first. Temporary errors are never kept: the next message asks again.

    With a ``store`` the answers also go to a second, shared tier (SQLite or Redis), so a
    restart or another MX host does not ask again. The stored value carries its absolute
    expiry, in wall-clock time since it outlives this process, so a reader keeps the answer
    only for what remains of its TTL.
    """

    def __init__(self, settings: DnsSection, clock: Callable[[], float] = time.monotonic,
                 store: GuardedStore | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._store = store
        self._wall_clock = wall_clock
        self._entries: ExpiringLru[tuple[str, str], DnsAnswer] = ExpiringLru(settings.cache_entries, clock)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.store_hits = 0  # part of ``hits``: answered by the shared tier

    @property
    def store(self) -> GuardedStore | None:
        """The shared tier behind this cache, if any (for metrics)."""
        return self._store

    def get(self, key: tuple[str, str]) -> DnsAnswer | None:
        answer = self._entries.get(key)
        if answer is not None:
            with self._lock:
                self.hits += 1
            return answer
        stored = self._from_store(key)
        if stored is None:
            with self._lock:
                self.misses += 1
            return None
        answer, remaining = stored
        self._entries.put(key, answer, remaining)
        with self._lock:
            self.hits += 1
            self.store_hits += 1
        return answer

    def put(self, key: tuple[str, str], answer: DnsAnswer) -> None:
        if answer.status is DnsStatus.TEMPERROR:
            return
        ttl = answer.ttl if answer.ok else self._settings.negative_ttl
        ttl = min(ttl, self._settings.max_ttl)
        if ttl <= 0:
            return
        self._entries.put(key, answer, ttl)
        if self._store is not None:
            value = {"status": answer.status.value, "records": list(answer.records),
                     "ttl": answer.ttl, "expires": round(self._wall_clock() + ttl, 3)}
            self._store.put(_store_key(key), json.dumps(value, separators=(",", ":")).encode(), ttl)

    def _from_store(self, key: tuple[str, str]) -> tuple[DnsAnswer, float] | None:
        """The stored answer and the seconds it has left; None for a miss or an entry that
        cannot be read (written by another version, say), which is then just asked again."""
        if self._store is None:
            return None
        raw = self._store.get(_store_key(key))
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            status = DnsStatus(value["status"])
            records = tuple(str(r) for r in value["records"])
            remaining = float(value["expires"]) - self._wall_clock()
            ttl = int(value["ttl"])
        except (ValueError, KeyError, TypeError):
            return None
        remaining = min(remaining, self._settings.max_ttl)
        if status is DnsStatus.TEMPERROR or remaining <= 0:
            return None
        if status is DnsStatus.OK:
            ttl = min(ttl, math.ceil(remaining))  # as a caching resolver counts the TTL down
        return DnsAnswer(status, records, ttl), remaining


class DnsClient:
    """One resolver configuration for the whole process; thread-safe for queries."""

    def __init__(self, settings: DnsSection, store: GuardedStore | None = None) -> None:
        resolver = dns.resolver.Resolver(configure=not settings.nameservers)
        if settings.nameservers:
            resolver.nameservers = list(settings.nameservers)
        resolver.port = settings.port
        resolver.timeout = settings.timeout
        resolver.lifetime = settings.timeout
        resolver.retry_servfail = False
        self._resolver = resolver
        self.settings = settings
        self.cache = DnsCache(settings, store=store)
        self._inflight: dict[tuple[str, str], Future[DnsAnswer]] = {}
        self._inflight_lock = threading.Lock()

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    def query(self, name: str, rdtype: str, lifetime: float | None = None) -> DnsAnswer:
        """Cached, and single-flight: a query already on the wire is joined, not repeated.

        That is what lets a check start a lookup early and another read it later for free.
        """
        key = (name.lower().rstrip("."), rdtype.upper())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                mine: Future[DnsAnswer] = Future()
                self._inflight[key] = mine
        if running is not None:
            try:
                return running.result(timeout=lifetime or self.settings.timeout)
            except FutureTimeout:
                return DnsAnswer(DnsStatus.TEMPERROR, reason="timeout")
        try:
            answer = self._resolve(key[0], key[1], lifetime)
            self.cache.put(key, answer)
        finally:
            with self._inflight_lock:
                del self._inflight[key]
        mine.set_result(answer)
        return answer

    def _resolve(self, name: str, rdtype: str, lifetime: float | None) -> DnsAnswer:
        try:
            answer = self._resolver.resolve(
                name, rdtype, lifetime=lifetime or self.settings.timeout, search=False
            )
        except dns.resolver.NXDOMAIN:
            return DnsAnswer(DnsStatus.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return DnsAnswer(DnsStatus.NODATA)
        except dns.resolver.LifetimeTimeout:
            return DnsAnswer(DnsStatus.TEMPERROR, reason="timeout")
        except dns.resolver.NoNameservers as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=_no_nameservers_reason(exc))
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=f"{type(exc).__name__}: {exc}")
        records = tuple(_rdata_text(r) for r in answer)
        ttl = answer.rrset.ttl if answer.rrset is not None else 0
        return DnsAnswer(DnsStatus.OK, records, ttl)

    def reverse(self, ip: str, lifetime: float | None = None) -> DnsAnswer:
        try:
            name = dns.reversename.from_address(ip).to_text()
        except (dns.exception.SyntaxError, ValueError) as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=f"bad address: {exc}")
        return self.query(name, "PTR", lifetime)


def _store_key(key: tuple[str, str]) -> str:
    return f"dns:{key[0]}:{key[1]}"


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: the joined character-strings, as SPF and DKIM need
        return b"".join(strings).decode("utf-8", "replace")
    text = str(rdata)
    return text[:-1] if text.endswith(".") and getattr(rdata, "target", None) is not None else text


def _no_nameservers_reason(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    codes = sorted({str(e[3]) if len(e) > 3 else str(e) for e in errors})
    return "no nameserver answered: " + (", ".join(codes) or "unknown")
