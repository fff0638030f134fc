"""RDAP domain lookups (RFC 9082 query, RFC 9083 response): when was a domain registered.

Libraries considered, and why the protocol is done here instead:

* whoisit: well maintained, but its bootstrap is module-global state (``whoisit.bootstrap()``
  fills a process-wide wrapper), ``domain()`` takes no timeout (a module constant of 10 s
  applies), 429 answers are retried inside urllib3 and then surface as ``RateLimitedError``
  without the Retry-After value, and failed sub-queries for related links are turned into
  warnings.
* asyncwhois: asyncio-based; its RDAP side is whodap, which downloads IANA's bootstrap
  itself on every new client instead of using ours.
* rdap (20c): domain queries go to the rdap.org redirector; its ``self_bootstrap`` only
  covers AS numbers, not domains.

An RDAP domain lookup is one GET and a look at the ``events`` array, so it is done here
over ``requests`` with the packaged bootstrap, which gives per-request deadlines, a
per-server concurrency bound and Retry-After handling. WHOIS output, which needs
per-registry parsers, is left to asyncwhois (see ``whois.py``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .bootstrap import RdapBootstrap, a_label
from .record import Registration, RegistryStatus

MAX_RESPONSE_BYTES = 1024 * 1024  # real domain answers are a few KB
DEFAULT_RATE_LIMIT_WAIT = 60.0  # a 429 without a usable Retry-After
MAX_RATE_LIMIT_WAIT = 86400.0  # never believe a server that asks for more than a day
SOURCE = "rdap"


class _Failure(Exception):
    """A lookup that cannot give an answer; the message becomes the UNKNOWN reason."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110
    §10.2.3); None if absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_rdap_date(value: object) -> datetime | None:
    """An RDAP eventDate (RFC 3339 / ISO 8601) as aware UTC; naive dates are taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def registration_from_rdap(domain: str, data: Any, server: str) -> Registration:
    """Read the registration date and events from an RDAP domain object."""
    if not isinstance(data, dict):
        raise _Failure("answer is not a JSON object")
    kind = data.get("objectClassName")
    if kind is not None and kind != "domain":
        raise _Failure(f"answer is a {str(kind)[:40]!r} object, not a domain")
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list):
        raise _Failure("'events' is not an array")
    events: list[tuple[str, datetime]] = []
    for event in raw_events:
        if not isinstance(event, dict):
            continue
        action = event.get("eventAction")
        when = parse_rdap_date(event.get("eventDate"))
        if isinstance(action, str) and action and when is not None:
            events.append((action.strip().lower(), when))
    registrations = [when for action, when in events if action == "registration"]
    return Registration(
        domain=domain,
        status=RegistryStatus.FOUND,
        source=SOURCE,
        registered=min(registrations, default=None),
        events=tuple(events),
        server=server,
        reason="" if registrations else "no registration event published",
    )


class RdapClient:
    """Thread-safe RDAP lookups with a total deadline per lookup, at most ``per_server``
    requests in flight per server, and respect for servers that rate-limit us."""

    def __init__(
        self,
        bootstrap: RdapBootstrap,
        timeout: float = 5.0,
        per_server: int = 2,
        max_retry_wait: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.per_server = per_server
        self.max_retry_wait = max_retry_wait
        self.max_bytes = max_bytes
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._gates: dict[str, threading.BoundedSemaphore] = {}
        self._blocked_until: dict[str, float] = {}
        self._local = threading.local()

    # -- public -------------------------------------------------------------------------

    def lookup(self, domain: str) -> Registration:
        """The registry's answer for ``domain``; never raises (failures are UNKNOWN)."""
        name = domain
        try:
            name = a_label(domain)
            return self._lookup(name)
        except Exception as exc:  # the caller must always get an answer
            return Registration(
                name, RegistryStatus.UNKNOWN, SOURCE, reason=f"internal error: {exc!r}"[:200]
            )

    def blocked_for(self, host: str) -> float:
        """Seconds until ``host`` (a URL netloc) may be asked again; 0 if not rate-limited."""
        with self._lock:
            until = self._blocked_until.get(host, 0.0)
        return max(0.0, until - self._clock())

    def close(self) -> None:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    # -- internals ----------------------------------------------------------------------

    def _lookup(self, domain: str) -> Registration:
        servers = self.bootstrap.servers_for(domain)
        if not servers:
            tld = domain.rsplit(".", 1)[-1]
            return Registration(
                domain, RegistryStatus.NO_SERVICE, SOURCE, reason=f"no RDAP server for .{tld}"
            )
        deadline = self._clock() + self.timeout
        first_failure: Registration | None = None
        for base in servers:
            if self._clock() >= deadline:
                break
            try:
                return self._query(base, domain, deadline)
            except _Failure as failure:
                result = Registration(
                    domain, RegistryStatus.UNKNOWN, SOURCE, server=base, reason=str(failure)
                )
                first_failure = first_failure or result
        return first_failure or Registration(
            domain, RegistryStatus.UNKNOWN, SOURCE, reason="no time left to ask"
        )

    def _session(self) -> requests.Session:
        """One session per thread: connection reuse without sharing a cookie jar."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Accept"] = "application/rdap+json"
            session.max_redirects = 3
            self._local.session = session
        return session

    def _gate(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = threading.BoundedSemaphore(self.per_server)
            return gate

    def _check_blocked(self, host: str) -> None:
        wait = self.blocked_for(host)
        if wait > 0:
            raise _Failure(f"rate limited by {host}, retry after {math.ceil(wait)} s")

    def _block(self, host: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._blocked_until[host] = max(until, self._blocked_until.get(host, 0.0))

    def _query(self, base: str, domain: str, deadline: float) -> Registration:
        url = f"{base}domain/{quote(domain, safe='')}"
        host = urlsplit(base).netloc
        for attempt in range(2):
            self._check_blocked(host)
            status, headers, body = self._get(url, host, deadline)
            if status == 200:
                try:
                    data = json.loads(body)
                except ValueError as exc:
                    raise _Failure(f"{host} answered with invalid JSON: {exc}") from exc
                try:
                    return registration_from_rdap(domain, data, base)
                except _Failure as failure:
                    raise _Failure(f"{host}: {failure}") from None
            if status == 404:
                return Registration(domain, RegistryStatus.NOT_FOUND, SOURCE, server=base)
            if status == 429:
                wait = parse_retry_after(headers.get("Retry-After"))
                if wait is None:
                    wait = DEFAULT_RATE_LIMIT_WAIT
                wait = min(wait, MAX_RATE_LIMIT_WAIT)
                time_left = deadline - self._clock()
                if attempt == 0 and wait <= self.max_retry_wait and wait < time_left:
                    self._sleep(wait)
                    continue
                self._block(host, max(wait, 1.0))
                raise _Failure(f"rate limited by {host}, retry after {math.ceil(wait)} s")
            raise _Failure(f"{host} answered HTTP {status}")
        raise _Failure(f"rate limited by {host}")  # pragma: no cover - loop always returns

    def _get(self, url: str, host: str, deadline: float) -> tuple[int, Mapping[str, str], bytes]:
        """One GET within the deadline (waiting for a free slot included), body capped."""
        gate = self._gate(host)
        if not gate.acquire(timeout=max(0.0, deadline - self._clock())):
            raise _Failure(f"timed out waiting for a free connection to {host}")
        try:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise _Failure(f"timed out before asking {host}")
            try:
                with self._session().get(url, timeout=remaining, stream=True) as response:
                    length = response.headers.get("Content-Length", "")
                    if length.isdigit() and int(length) > self.max_bytes:
                        raise _Failure(f"{host} answer larger than {self.max_bytes} bytes")
                    body = bytearray()
                    for chunk in response.iter_content(chunk_size=16384):
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise _Failure(f"{host} answer larger than {self.max_bytes} bytes")
                        if self._clock() > deadline:
                            raise _Failure(f"timed out reading from {host}")
                    return response.status_code, response.headers, bytes(body)
            except requests.Timeout as exc:
                raise _Failure(f"timed out asking {host}") from exc
            except requests.RequestException as exc:
                raise _Failure(f"cannot reach {host}: {type(exc).__name__}") from exc
        finally:
            gate.release()
