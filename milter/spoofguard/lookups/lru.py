"""The in-process first tier in front of every lookup (DNS answers, registration data) and
the "memory" cache backend: entries expire on their own TTL, the least recently used go
first past a size bound.

``cachetools.TLRUCache`` does the expiry and the eviction; what it lacks, and this adds,
is a lock (lookups finish on pool threads) and a TTL given per ``put`` rather than by one
function for the whole cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TLRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _expires(key: object, entry: tuple[float, object], now: float) -> float:
    return now + entry[0]  # the entry's own TTL, given to put()


class ExpiringLru(Generic[K, V]):
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: TLRUCache[K, tuple[float, V]] = TLRUCache(max(1, max_entries), _expires, timer=clock)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds; a TTL of zero or less keeps nothing."""
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
