"""What a registry said about a domain, in one shape whatever the source."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RegistryStatus(StrEnum):
    FOUND = "found"  # the registry answered with the domain's data
    NOT_FOUND = "not_found"  # the registry says the domain does not exist
    NO_SERVICE = "no_service"  # no RDAP/WHOIS server known for this TLD
    UNKNOWN = "unknown"  # timeout, HTTP error, rate limit, garbage: ask again later


# RDAP event actions (RFC 9083 section 4.5, IANA "RDAP JSON Values") that restart a
# domain's life under a new holder: as risky as a fresh registration.
RESTARTING_EVENTS = ("registration", "reregistration", "transfer", "reinstantiation")


@dataclass(frozen=True, slots=True)
class Registration:
    domain: str
    status: RegistryStatus
    source: str  # "rdap", "whois" or "zone"
    registered: datetime | None = None  # timezone-aware UTC
    events: tuple[tuple[str, datetime], ...] = ()  # (event action, date), as published
    server: str = ""  # the server that answered (URL or host)
    reason: str = ""  # why the status is UNKNOWN / NO_SERVICE, or a note

    def last(self, *actions: str) -> datetime | None:
        """The latest date among the events with these actions."""
        dates = [when for action, when in self.events if action in actions]
        if self.registered is not None and "registration" in actions:
            dates.append(self.registered)
        return max(dates, default=None)

    def to_json(self) -> str:
        return json.dumps({
            "domain": self.domain, "status": self.status.value, "source": self.source,
            "registered": self.registered.isoformat() if self.registered else None,
            "events": [[action, when.isoformat()] for action, when in self.events],
            "server": self.server, "reason": self.reason,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Registration:
        data = json.loads(text)
        registered = data.get("registered")
        return cls(
            domain=data["domain"], status=RegistryStatus(data["status"]), source=data["source"],
            registered=datetime.fromisoformat(registered) if registered else None,
            events=tuple((a, datetime.fromisoformat(w)) for a, w in data.get("events", ())),
            server=data.get("server", ""), reason=data.get("reason", ""),
        )
