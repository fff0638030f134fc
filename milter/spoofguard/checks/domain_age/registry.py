"""Registration data for a domain: the shared cache first, then RDAP, then WHOIS.

Registration dates change rarely, so answers are cached for days (in the shared store, so
every MX host and every restart benefits, and registries are not asked again: they
rate-limit). Temporary failures are never cached: the next message asks again, and until
then the age is unknown, never young.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from ...lookups.lru import ExpiringLru
from ...lookups.store import KeyValueStore
from .record import Registration, RegistryStatus

log = logging.getLogger(__name__)
DAY = 86400.0
MEMORY_TTL = 600.0  # in-process copies are re-read from the shared store this often
MEMORY_ENTRIES = 10000


class RegistryClient(Protocol):
    def lookup(self, domain: str) -> Registration: ...


@dataclass(frozen=True, slots=True)
class RegistryTtls:
    found: float = 7 * DAY  # a registration date does not move; re-registrations show in days
    not_found: float = 3600.0  # a domain may be registered minutes after a first probe
    no_data: float = DAY  # no RDAP/WHOIS service, or no creation date published


class RegistryLookup:
    def __init__(self, rdap: RegistryClient | None, whois: RegistryClient | None,
                 store: KeyValueStore | None = None, ttls: RegistryTtls = RegistryTtls(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rdap = rdap
        self.whois = whois
        self.store = store
        self.ttls = ttls
        # A small in-process tier in front of the shared store: the same sender domains
        # arrive all day, and a store read (SQLite or Redis) costs more than the lookup.
        self._memory: ExpiringLru[str, Registration] = ExpiringLru(MEMORY_ENTRIES, clock)

    def lookup(self, domain: str) -> tuple[Registration, bool]:
        """The registration and whether it came from the cache."""
        key = f"age:{domain}"
        remembered = self._memory.get(key)
        if remembered is not None:
            return remembered, True
        cached = self._cached(key)
        if cached is not None:
            self._memory.put(key, cached, MEMORY_TTL)
            return cached, True
        found = self._ask(domain)
        ttl = self._ttl(found)
        if ttl > 0:
            self._memory.put(key, found, min(ttl, MEMORY_TTL))
            if self.store is not None:
                self.store.put(key, found.to_json().encode(), ttl)
        return found, False

    def _cached(self, key: str) -> Registration | None:
        if self.store is None:
            return None
        raw = self.store.get(key)
        if raw is None:
            return None
        try:
            return Registration.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:  # a cache entry from elsewhere
            log.warning("ignoring unreadable cache entry %s: %s", key, exc)
            return None

    def _ask(self, domain: str) -> Registration:
        answer = None
        if self.rdap is not None:
            answer = self.rdap.lookup(domain)
            if answer.status is not RegistryStatus.NO_SERVICE:
                return answer
        if self.whois is not None:
            fallback = self.whois.lookup(domain)
            if answer is not None and fallback.status is RegistryStatus.NO_SERVICE:
                return replace(fallback, reason=f"{answer.reason}; {fallback.reason}")
            return fallback
        return answer or Registration(domain, RegistryStatus.NO_SERVICE, "none", reason="no registry lookup configured")

    def _ttl(self, found: Registration) -> float:
        if found.status is RegistryStatus.FOUND:
            return self.ttls.found if found.registered is not None else self.ttls.no_data
        if found.status is RegistryStatus.NOT_FOUND:
            return self.ttls.not_found
        if found.status is RegistryStatus.NO_SERVICE:
            return self.ttls.no_data
        return 0.0
