"""WHOIS (RFC 3912, port 43) lookups for TLDs without RDAP: the registration date.

The exchange is a few lines of socket code done here, so the deadline and the size
cap are ours; turning each registry's free-form text into fields is what asyncwhois's
per-TLD parsers are for.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import Any

from asyncwhois.errors import NotFoundError
from asyncwhois.parse import TLDBaseKeys
from asyncwhois.parse_tld import DomainParser
from asyncwhois.servers.domains import CountryCodeTLD, GenericTLD, SponsoredTLD

from .bootstrap import a_label
from .record import Registration, RegistryStatus

MAX_ANSWER_BYTES = 256 * 1024
SOURCE = "whois"

# Registries that answer for an unregistered name with a status instead of an error
# (DENIC: "Status: free").
_FREE_STATUSES = ("free", "available", "not registered")
# Answers that are refusals rather than data: the registry is throttling us.
_THROTTLED = ("limit exceeded", "rate limit", "too many queries", "too many requests",
              "query limit", "quota exceeded")


class _Failure(Exception):
    """A lookup that cannot give an answer; the message becomes the UNKNOWN reason."""


def default_server(tld: str) -> str | None:
    """The WHOIS server IANA's root zone database lists for ``tld`` (asyncwhois's table)."""
    key = tld.upper().replace("-", "_")
    for table in (CountryCodeTLD, GenericTLD, SponsoredTLD):
        server = getattr(table, key, None)
        if isinstance(server, str) and server:
            return server
    return None


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def registration_from_whois(domain: str, tld: str, text: str, server: str) -> Registration:
    """Interpret one registry's WHOIS answer."""
    low = text.lower()
    if not text.strip():
        raise _Failure(f"{server} sent an empty answer")
    if any(marker in low for marker in _THROTTLED):
        raise _Failure(f"rate limited by {server}")
    try:
        parsed = DomainParser().parse(text, tld)
    except NotFoundError:
        return Registration(domain, RegistryStatus.NOT_FOUND, SOURCE, server=server)
    status = parsed.get(TLDBaseKeys.STATUS)
    statuses = status if isinstance(status, list) else [status]
    if any(isinstance(s, str) and s.strip().lower() in _FREE_STATUSES for s in statuses):
        return Registration(domain, RegistryStatus.NOT_FOUND, SOURCE, server=server)
    created_raw = parsed.get(TLDBaseKeys.CREATED)
    created = _as_utc(created_raw)
    updated = _as_utc(parsed.get(TLDBaseKeys.UPDATED))
    recognised = any(
        parsed.get(key)
        for key in (TLDBaseKeys.DOMAIN_NAME, TLDBaseKeys.CREATED, TLDBaseKeys.STATUS,
                    TLDBaseKeys.NAME_SERVERS, TLDBaseKeys.UPDATED)
    )
    if not recognised:
        raise _Failure(f"{server} answer has no recognisable domain record")
    events: list[tuple[str, datetime]] = []
    if created is not None:
        events.append(("registration", created))
    if updated is not None:
        events.append(("last changed", updated))
    if created is not None:
        reason = ""
    elif created_raw:
        reason = f"creation date not understood: {str(created_raw)[:60]}"
    else:
        reason = "no creation date published"
    return Registration(
        domain, RegistryStatus.FOUND, SOURCE, registered=created, events=tuple(events),
        server=server, reason=reason,
    )


def _host_port(server: str, default: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` as configured in ``whois_servers``."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else default
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return server, default


class WhoisClient:
    """Blocking WHOIS lookups with a total deadline; safe to share between threads."""

    def __init__(
        self, servers: dict[str, str] | None = None, port: int = 43, timeout: float = 5.0
    ) -> None:
        self.servers = {a_label(k): v for k, v in (servers or {}).items()}
        self.port = port
        self.timeout = timeout

    def server_for(self, tld: str) -> str | None:
        return self.servers.get(tld) or default_server(tld)

    def lookup(self, domain: str) -> Registration:
        """The registry's answer for ``domain``; never raises (failures are UNKNOWN)."""
        name = domain
        server = ""
        try:
            name = a_label(domain)
            tld = name.rsplit(".", 1)[-1]
            found = self.server_for(tld)
            if found is None:
                return Registration(
                    name, RegistryStatus.NO_SERVICE, SOURCE, reason=f"no WHOIS server for .{tld}"
                )
            server = found
            text = self._ask(server, name)
            return registration_from_whois(name, tld, text, server)
        except _Failure as failure:
            return Registration(
                name, RegistryStatus.UNKNOWN, SOURCE, server=server, reason=str(failure)
            )
        except Exception as exc:  # the caller must always get an answer
            return Registration(
                name, RegistryStatus.UNKNOWN, SOURCE, server=server,
                reason=f"internal error: {exc!r}"[:200],
            )

    def _ask(self, server: str, domain: str) -> str:
        """Send the query and read to EOF, within the deadline and the size cap."""
        deadline = time.monotonic() + self.timeout
        try:
            host, port = _host_port(server, self.port)
            with socket.create_connection((host, port), timeout=self.timeout) as sock:
                sock.sendall(domain.encode("ascii") + b"\r\n")
                data = bytearray()
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _Failure(f"timed out reading from {server}")
                    sock.settimeout(remaining)
                    chunk = sock.recv(16384)
                    if not chunk:
                        break
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise _Failure(f"{server} answer larger than {MAX_ANSWER_BYTES} bytes")
        except TimeoutError as exc:
            raise _Failure(f"timed out asking {server}") from exc
        except OSError as exc:
            raise _Failure(f"cannot reach {server}: {exc.strerror or exc}") from exc
        return _decode(bytes(data))
