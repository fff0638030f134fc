"""RDAP lookups and the IANA bootstrap, against a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from spoofguard.checks.domain_age.bootstrap import (
    BootstrapUpdateError,
    RdapBootstrap,
    load_bootstrap,
    packaged_path,
    update_bootstrap,
)
from spoofguard.checks.domain_age.rdap import RdapClient, parse_rdap_date, parse_retry_after
from spoofguard.checks.domain_age.record import RegistryStatus
from tests.support.rdap_server import LoopbackRDAP

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def rdap() -> Iterator[LoopbackRDAP]:
    with LoopbackRDAP() as server:
        yield server


def client_for(server: LoopbackRDAP, **kwargs: Any) -> RdapClient:
    bootstrap = RdapBootstrap.from_json(server.bootstrap_for(["test"]))
    return RdapClient(bootstrap, **kwargs)


# -- bootstrap ----------------------------------------------------------------------------

BOOT = {
    "description": "RDAP bootstrap file for Domain Name System registrations",
    "publication": "2026-01-01T00:00:00Z",
    "services": [
        [["uk"], ["https://rdap.nominet.uk/uk/"]],
        [["co.uk"], ["https://rdap.example/co.uk"]],
        [["com", "net"], ["http://rdap.verisign.test/com/v1/", "https://rdap.verisign.test/com/v1/"]],
        [["old"], ["http://rdap.old.test/"]],
    ],
    "version": "1.0",
}


def test_bootstrap_longest_label_match_and_https_first() -> None:
    boot = RdapBootstrap.from_json(BOOT)
    assert boot.servers_for("shop.example.co.uk") == ("https://rdap.example/co.uk/",)
    assert boot.servers_for("example.org.uk") == ("https://rdap.nominet.uk/uk/",)
    assert boot.servers_for("Example.COM.") == ("https://rdap.verisign.test/com/v1/",)
    assert boot.servers_for("x.old") == ("http://rdap.old.test/",)  # http only when that is all
    assert boot.servers_for("example.invalid") == ()
    assert boot.publication == "2026-01-01T00:00:00Z"


def test_bootstrap_overrides_come_first() -> None:
    boot = RdapBootstrap.from_json(
        BOOT, overrides={"uk": "https://override.test/uk", "de": "https://rdap.denic.test/"}
    )
    assert boot.servers_for("example.co.uk") == ("https://override.test/uk/",)
    assert boot.servers_for("example.de") == ("https://rdap.denic.test/",)
    assert boot.servers_for("example.com") == ("https://rdap.verisign.test/com/v1/",)


@pytest.mark.parametrize(
    "data", [[], {"services": []}, {"services": [["com", ["https://x/"]]]}, {"services": [[[1], []]]}]
)
def test_bootstrap_rejects_malformed_data(data: object) -> None:
    with pytest.raises(ValueError, match="RDAP bootstrap"):
        RdapBootstrap.from_json(data)


def test_packaged_snapshot_loads_and_knows_com() -> None:
    boot = RdapBootstrap.load(packaged_path())
    assert boot.servers_for("example.com") == ("https://rdap.verisign.com/com/v1/",)
    assert boot.tld_count > 1000
    assert boot.publication.startswith("20")


def test_state_dir_copy_is_preferred(tmp_path: Path, rdap: LoopbackRDAP) -> None:
    (tmp_path / "rdap").mkdir()
    (tmp_path / "rdap" / "dns.json").write_text(json.dumps(rdap.bootstrap_for(["test"])))
    boot = load_bootstrap(tmp_path, {})
    assert boot.servers_for("a.test") == (rdap.base_url,)
    assert boot.servers_for("example.com") == ()


def test_corrupt_state_dir_copy_falls_back_to_packaged(tmp_path: Path) -> None:
    (tmp_path / "rdap").mkdir()
    (tmp_path / "rdap" / "dns.json").write_text('{"services": [')
    boot = load_bootstrap(tmp_path, {"zz": "https://rdap.zz.test/"})
    assert boot.servers_for("example.com") == ("https://rdap.verisign.com/com/v1/",)
    assert boot.servers_for("example.zz") == ("https://rdap.zz.test/",)
    assert load_bootstrap(None, {}).servers_for("example.com")


def test_malformed_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dns.json"
    path.write_text("garbage")
    with pytest.raises(ValueError, match="dns.json: not valid JSON"):
        RdapBootstrap.load(path)


# -- date and header parsing --------------------------------------------------------------

def test_rdap_dates_are_utc() -> None:
    assert parse_rdap_date("1997-09-15T04:00:00Z") == datetime(1997, 9, 15, 4, tzinfo=UTC)
    assert parse_rdap_date("2024-08-14T07:01:34.5+02:00") == datetime(
        2024, 8, 14, 5, 1, 34, 500000, tzinfo=UTC
    )
    assert parse_rdap_date("2020-01-02T03:04:05") == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_rdap_date("yesterday") is None
    assert parse_rdap_date(None) is None


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- lookups ------------------------------------------------------------------------------

def test_young_domain(rdap: LoopbackRDAP) -> None:
    rdap.add_domain("fresh.test", NOW - timedelta(days=3))
    result = client_for(rdap).lookup("fresh.test")
    assert result.status is RegistryStatus.FOUND
    assert result.source == "rdap"
    assert result.registered == NOW - timedelta(days=3)
    assert result.registered.tzinfo is UTC
    assert result.server == rdap.base_url
    actions = [action for action, _ in result.events]
    assert "registration" in actions and "expiration" in actions
    assert "last update of rdap database" in actions


def test_old_domain(rdap: LoopbackRDAP) -> None:
    rdap.add_domain("Old.Test", datetime(1997, 9, 15, 4, tzinfo=UTC))
    result = client_for(rdap).lookup("old.TEST")
    assert result.status is RegistryStatus.FOUND
    assert result.registered == datetime(1997, 9, 15, 4, tzinfo=UTC)


def test_reregistered_domain_shows_recent_event(rdap: LoopbackRDAP) -> None:
    recent = NOW - timedelta(days=5)
    rdap.add_domain("again.test", datetime(2003, 5, 1, tzinfo=UTC), {"reregistration": recent})
    result = client_for(rdap).lookup("again.test")
    assert result.registered == datetime(2003, 5, 1, tzinfo=UTC)
    assert result.last("reregistration") == recent
    assert result.last("registration", "reregistration", "transfer") == recent


def test_transfer_event(rdap: LoopbackRDAP) -> None:
    moved = NOW - timedelta(days=1)
    rdap.add_domain("moved.test", datetime(2010, 1, 1, tzinfo=UTC), {"transfer": moved})
    result = client_for(rdap).lookup("moved.test")
    assert ("transfer", moved) in result.events


def test_unknown_domain_is_not_found(rdap: LoopbackRDAP) -> None:
    result = client_for(rdap).lookup("nobody.test")
    assert result.status is RegistryStatus.NOT_FOUND
    assert rdap.count("nobody.test") == 1


def test_tld_without_server_is_no_service(rdap: LoopbackRDAP) -> None:
    result = client_for(rdap).lookup("example.nowhere")
    assert result.status is RegistryStatus.NO_SERVICE
    assert "nowhere" in result.reason


def test_short_retry_after_is_waited_out(rdap: LoopbackRDAP) -> None:
    rdap.add_domain("busy.test", datetime(2001, 1, 1, tzinfo=UTC))
    rdap.respond("busy.test", 429, '{"errorCode":429}', {"Retry-After": "1"}, times=1)
    started = time.monotonic()
    result = client_for(rdap).lookup("busy.test")
    assert result.status is RegistryStatus.FOUND
    assert rdap.count("busy.test") == 2
    assert time.monotonic() - started >= 0.9


def test_long_retry_after_blocks_the_server(rdap: LoopbackRDAP) -> None:
    rdap.add_domain("busy.test", datetime(2001, 1, 1, tzinfo=UTC))
    rdap.add_domain("other.test", datetime(2001, 1, 1, tzinfo=UTC))
    rdap.respond("busy.test", 429, '{"errorCode":429}', {"Retry-After": "3600"}, times=1)
    client = client_for(rdap)
    first = client.lookup("busy.test")
    assert first.status is RegistryStatus.UNKNOWN
    assert first.reason == f"rate limited by 127.0.0.1:{rdap.port}, retry after 3600 s"
    second = client.lookup("other.test")
    assert second.status is RegistryStatus.UNKNOWN
    assert "rate limited" in second.reason
    assert rdap.count("busy.test") == 1 and rdap.count("other.test") == 0
    assert 3500 < client.blocked_for(f"127.0.0.1:{rdap.port}") <= 3600


def test_rate_limit_expires_with_injected_clock(rdap: LoopbackRDAP) -> None:
    now = [1000.0]
    rdap.add_domain("busy.test", datetime(2001, 1, 1, tzinfo=UTC))
    rdap.respond("busy.test", 429, "", {"Retry-After": "30"}, times=1)
    client = client_for(rdap, clock=lambda: now[0])
    assert client.lookup("busy.test").status is RegistryStatus.UNKNOWN
    now[0] += 31
    assert client.lookup("busy.test").status is RegistryStatus.FOUND
    assert rdap.count("busy.test") == 2


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, "Internal Server Error", "HTTP 500"),
        (200, "<html>not json", "invalid JSON"),
        (200, '["a list"]', "not a JSON object"),
        (200, '{"objectClassName": "entity"}', "not a domain"),
        (200, '{"objectClassName": "domain", "events": "soon"}', "'events' is not an array"),
    ],
)
def test_bad_answers_are_unknown(rdap: LoopbackRDAP, status: int, body: str, reason: str) -> None:
    rdap.add_domain("bad.test", datetime(2001, 1, 1, tzinfo=UTC))
    rdap.respond("bad.test", status, body)
    result = client_for(rdap).lookup("bad.test")
    assert result.status is RegistryStatus.UNKNOWN
    assert reason in result.reason


def test_events_without_dates_are_skipped(rdap: LoopbackRDAP) -> None:
    body = {
        "objectClassName": "domain",
        "ldhName": "odd.test",
        "events": [
            {"eventAction": "registration"},
            {"eventAction": "last changed", "eventDate": "not a date"},
            {"eventAction": "Expiration", "eventDate": "2030-01-01T00:00:00Z"},
            "junk",
        ],
    }
    rdap.respond("odd.test", 200, json.dumps(body))
    result = client_for(rdap).lookup("odd.test")
    assert result.status is RegistryStatus.FOUND
    assert result.registered is None
    assert result.events == (("expiration", datetime(2030, 1, 1, tzinfo=UTC)),)


def test_oversized_answer_is_unknown(rdap: LoopbackRDAP) -> None:
    rdap.respond("big.test", 200, b'{"x": "' + b"a" * 5000 + b'"}')
    result = client_for(rdap, max_bytes=1000).lookup("big.test")
    assert result.status is RegistryStatus.UNKNOWN
    assert "larger than" in result.reason


def test_silent_server_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        boot = RdapBootstrap.from_json(
            {"services": [[["test"], [f"http://127.0.0.1:{port}/"]]]}
        )
        started = time.monotonic()
        result = RdapClient(boot, timeout=1.0).lookup("slow.test")
        elapsed = time.monotonic() - started
    assert result.status is RegistryStatus.UNKNOWN
    assert "timed out" in result.reason
    assert elapsed < 1.5


def test_closed_port_is_unknown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    boot = RdapBootstrap.from_json({"services": [[["test"], [f"http://127.0.0.1:{port}/"]]]})
    result = RdapClient(boot, timeout=1.0).lookup("x.test")
    assert result.status is RegistryStatus.UNKNOWN
    assert "cannot reach" in result.reason


def _parallel(client: RdapClient, names: list[str]) -> list[RegistryStatus]:
    results: dict[str, RegistryStatus] = {}

    def one(name: str) -> None:
        results[name] = client.lookup(name).status

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return [results[n] for n in names]


@pytest.mark.parametrize(("per_server", "expected_overlap"), [(1, 1), (2, 2)])
def test_per_server_concurrency_bound(per_server: int, expected_overlap: int) -> None:
    with LoopbackRDAP(delay=0.4) as slow:
        for name in ("a.test", "b.test"):
            slow.add_domain(name, datetime(2001, 1, 1, tzinfo=UTC))
        client = client_for(slow, per_server=per_server, timeout=5.0)
        assert _parallel(client, ["a.test", "b.test"]) == [RegistryStatus.FOUND] * 2
        assert slow.max_active == expected_overlap


def test_waiting_for_a_slot_counts_against_the_timeout() -> None:
    with LoopbackRDAP(delay=1.0) as slow:
        for name in ("a.test", "b.test"):
            slow.add_domain(name, datetime(2001, 1, 1, tzinfo=UTC))
        client = client_for(slow, per_server=1, timeout=1.5)
        statuses = sorted(_parallel(client, ["a.test", "b.test"]))
        assert statuses == sorted([RegistryStatus.FOUND, RegistryStatus.UNKNOWN])
        assert slow.max_active == 1


# -- bootstrap download -------------------------------------------------------------------

def test_update_bootstrap_writes_the_file(tmp_path: Path, rdap: LoopbackRDAP) -> None:
    data = rdap.bootstrap_for(["test", "example"])
    rdap.add_file("/rdap/dns.json", json.dumps(data, indent=2))
    path, count, publication = update_bootstrap(tmp_path, rdap.url + "/rdap/dns.json", timeout=5)
    assert path == tmp_path / "rdap" / "dns.json"
    assert (count, publication) == (2, "2026-01-01T00:00:00Z")
    assert json.loads(path.read_text()) == data
    assert load_bootstrap(tmp_path, {}).servers_for("x.example") == (rdap.base_url,)
    assert [p.name for p in path.parent.iterdir()] == ["dns.json"]  # no temp file left


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, "<html>maintenance</html>"), (200, '{"services": []}'), (503, "unavailable")],
)
def test_bad_download_leaves_the_old_file(
    tmp_path: Path, rdap: LoopbackRDAP, status: int, body: str
) -> None:
    target = tmp_path / "rdap" / "dns.json"
    target.parent.mkdir()
    old = json.dumps(rdap.bootstrap_for(["test"]))
    target.write_text(old)
    rdap.add_file("/rdap/dns.json", body, status=status)
    with pytest.raises(BootstrapUpdateError, match="dns.json"):
        update_bootstrap(tmp_path, rdap.url + "/rdap/dns.json", timeout=5)
    assert target.read_text() == old
    assert [p.name for p in target.parent.iterdir()] == ["dns.json"]


def test_unreachable_download_raises(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BootstrapUpdateError):
        update_bootstrap(tmp_path, f"http://127.0.0.1:{port}/dns.json", timeout=2)
    assert not (tmp_path / "rdap" / "dns.json").exists()
