"""Which IP gets judged: the client, or behind your own relays the first outside hop."""

from __future__ import annotations

import ipaddress

import pytest

from spoofguard.message import Envelope, Message
from spoofguard.received import IPNetwork, parse_ip, relay_ip, trusted

TRUSTED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("2001:db8:aaaa::/48"),
)


def message(client_ip: str | None, *received: str) -> Message:
    head = "".join(f"Received: {value}\r\n" for value in received)
    data = (head + "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n").encode()
    return Message.from_bytes(data, envelope=Envelope(client_ip=client_ip))


# -- parse_ip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("[192.0.2.1]", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("IPv6:2001:db8::1", "2001:db8::1"),
        ("[IPv6:2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_parse_ip_forms_an_mta_writes(text: str, expected: str) -> None:
    assert parse_ip(text) == ipaddress.ip_address(expected)


def test_parse_ip_turns_ipv4_mapped_ipv6_into_ipv4() -> None:
    parsed = parse_ip("::ffff:192.0.2.1")
    assert parsed == ipaddress.IPv4Address("192.0.2.1")
    assert isinstance(parsed, ipaddress.IPv4Address)
    assert parse_ip("[IPv6:::ffff:10.1.2.3]") == ipaddress.IPv4Address("10.1.2.3")


@pytest.mark.parametrize("text", [None, "", "   ", "garbage", "999.1.1.1", "[192.0.2]", "mx.example.org", "IPv6:"])
def test_parse_ip_of_garbage_is_none(text: str | None) -> None:
    assert parse_ip(text) is None


def test_trusted_checks_membership_per_ip_version() -> None:
    assert trusted(ipaddress.ip_address("10.9.8.7"), TRUSTED)
    assert trusted(ipaddress.ip_address("2001:db8:aaaa::5"), TRUSTED)
    assert not trusted(ipaddress.ip_address("192.0.2.1"), TRUSTED)
    assert not trusted(ipaddress.ip_address("2001:db8:bbbb::5"), TRUSTED)
    assert not trusted(None, TRUSTED)
    assert not trusted(ipaddress.ip_address("10.0.0.1"), ())


# -- relay_ip ------------------------------------------------------------------------------

OUTSIDE_HOP = "from sender.example.net (sender.example.net [203.0.113.7]) by relay.internal (Postfix) with ESMTPS id ABC; Mon, 1 Jan 2024 00:00:00 +0000"
INTERNAL_HOP = "from relay.internal (relay.internal [10.1.1.1]) by mx.internal (Postfix) with ESMTP id DEF; Mon, 1 Jan 2024 00:00:00 +0000"


def test_without_trusted_networks_the_client_is_judged() -> None:
    msg = message("198.51.100.5", OUTSIDE_HOP)
    assert relay_ip(msg, ()) == (ipaddress.ip_address("198.51.100.5"), "client")


def test_untrusted_client_is_judged_even_with_received_headers() -> None:
    msg = message("198.51.100.5", INTERNAL_HOP, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("198.51.100.5"), "client")


def test_client_without_an_address_is_none() -> None:
    assert relay_ip(message(None, OUTSIDE_HOP), TRUSTED) == (None, "client")


def test_trusted_client_walks_received_headers_to_the_first_outside_hop() -> None:
    msg = message("10.0.0.2", INTERNAL_HOP, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_first_untrusted_hop_wins_over_older_ones() -> None:
    older = "from spoofed.example (spoofed.example [192.0.2.66]) by sender.example.net; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", INTERNAL_HOP, OUTSIDE_HOP, older)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_untrusted_top_hop_is_header_1() -> None:
    msg = message("10.0.0.2", OUTSIDE_HOP, INTERNAL_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 1")


def test_ipv6_hop_is_found() -> None:
    hop = "from v6.example.net (v6.example.net [IPv6:2001:db8:cccc::9]) by relay.internal; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", INTERNAL_HOP, hop)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("2001:db8:cccc::9"), "Received header 2")


def test_trusted_ipv6_hop_is_skipped() -> None:
    hop = "from v6.internal (v6.internal [IPv6:2001:db8:aaaa::9]) by relay.internal; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("2001:db8:aaaa::1", hop, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_ip_in_the_by_clause_is_ignored() -> None:
    # The only untrusted address in the first header is the receiving host's own.
    by_only = "from relay.internal (relay.internal [10.1.1.1]) by mx.example.org ([198.51.100.99]) with ESMTP; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", by_only, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_received_header_without_an_ip_is_skipped() -> None:
    no_ip = "from localhost by mx.internal (Postfix, from userid 1000) id 123; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", no_ip, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_received_header_with_a_malformed_ip_is_skipped() -> None:
    bad = "from weird.example (weird.example [999.1.2.3]) by mx.internal; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", bad, OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 2")


def test_every_hop_trusted_falls_back_to_the_client() -> None:
    second = "from box.internal (box.internal [192.168.3.4]) by relay.internal; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", INTERNAL_HOP, second)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("10.0.0.2"), "client (every hop is trusted)")


def test_trusted_client_and_no_received_headers_falls_back_to_the_client() -> None:
    msg = message("10.0.0.2")
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("10.0.0.2"), "client (every hop is trusted)")


def test_ipv4_mapped_client_counts_as_its_ipv4_address() -> None:
    msg = message("::ffff:10.0.0.2", OUTSIDE_HOP)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.7"), "Received header 1")


def test_folded_received_header_is_read() -> None:
    folded = "from sender.example.net\r\n\t(sender.example.net [203.0.113.8])\r\n\tby relay.internal; Mon, 1 Jan 2024 00:00:00 +0000"
    msg = message("10.0.0.2", folded)
    assert relay_ip(msg, TRUSTED) == (ipaddress.ip_address("203.0.113.8"), "Received header 1")
