"""WHOIS lookups against a real TCP server on loopback, parsed by the registry's format."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from spoofguard.checks.domain_age.record import RegistryStatus
from spoofguard.checks.domain_age.whois import WhoisClient, default_server
from tests.support.whois_server import (
    LoopbackWHOIS,
    closed_port,
    de_free,
    de_record,
    se_not_found,
    se_record,
)


@pytest.fixture
def whois() -> Iterator[LoopbackWHOIS]:
    with LoopbackWHOIS() as server:
        yield server


def client_for(server: LoopbackWHOIS, timeout: float = 2.0) -> WhoisClient:
    return WhoisClient({"se": "127.0.0.1", "de": "127.0.0.1"}, port=server.port, timeout=timeout)


def test_server_table_comes_from_asyncwhois() -> None:
    assert default_server("se") == "whois.iis.se"
    assert default_server("de") == "whois.denic.de"
    assert default_server("invalidtld") is None
    assert WhoisClient({"se": "whois.example"}).server_for("se") == "whois.example"


def test_found_with_creation_date(whois: LoopbackWHOIS) -> None:
    whois.add("young.se", se_record("young.se", "2026-10-30", "2026-11-01", "2027-10-30"))
    result = client_for(whois).lookup("Young.SE")
    assert result.status is RegistryStatus.FOUND
    assert result.source == "whois"
    assert result.registered == datetime(2026, 10, 30, tzinfo=UTC)
    assert ("last changed", datetime(2026, 11, 1, tzinfo=UTC)) in result.events
    assert result.server == "127.0.0.1"
    assert whois.count("young.se") == 1


def test_found_without_creation_date(whois: LoopbackWHOIS) -> None:
    whois.add("denic.de", de_record("denic.de", "2018-11-20T13:32:27+01:00"))
    result = client_for(whois).lookup("denic.de")
    assert result.status is RegistryStatus.FOUND
    assert result.registered is None
    assert result.reason == "no creation date published"
    assert result.events == (("last changed", datetime(2018, 11, 20, 12, 32, 27, tzinfo=UTC)),)


def test_not_found(whois: LoopbackWHOIS) -> None:
    whois.add("nobody.se", se_not_found("nobody.se"))
    whois.add("free.de", de_free("free.de"))
    client = client_for(whois)
    assert client.lookup("nobody.se").status is RegistryStatus.NOT_FOUND
    assert client.lookup("free.de").status is RegistryStatus.NOT_FOUND


def test_throttled_answer_is_unknown(whois: LoopbackWHOIS) -> None:
    whois.add("busy.se", "Query rate limit exceeded. Try again later.\n")
    result = client_for(whois).lookup("busy.se")
    assert result.status is RegistryStatus.UNKNOWN
    assert "rate limited" in result.reason


def test_unrecognised_answer_is_unknown(whois: LoopbackWHOIS) -> None:
    whois.add("odd.se", "% internal error, please try later\n")
    assert client_for(whois).lookup("odd.se").status is RegistryStatus.UNKNOWN


def test_closed_port_is_unknown() -> None:
    result = WhoisClient({"se": "127.0.0.1"}, port=closed_port(), timeout=1.0).lookup("x.se")
    assert result.status is RegistryStatus.UNKNOWN
    assert "cannot reach 127.0.0.1" in result.reason


def test_silent_server_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = WhoisClient({"se": "127.0.0.1"}, port=port, timeout=1.0).lookup("x.se")
        elapsed = time.monotonic() - started
    assert result.status is RegistryStatus.UNKNOWN
    assert "timed out" in result.reason
    assert elapsed < 1.5


def test_tld_without_server_is_no_service() -> None:
    result = WhoisClient().lookup("example.invalidtld")
    assert result.status is RegistryStatus.NO_SERVICE
