"""DNS lists: query names, what a return code means, and when a list must be left alone."""

from __future__ import annotations

import ipaddress
from typing import cast

import pytest

from spoofguard.lookups.dns import DnsAnswer, DnsClient, DnsStatus
from spoofguard.lookups.dnsbl import (
    UNUSABLE_FOR,
    DnsList,
    DnsListHealth,
    ListHealth,
    addresses,
    parse_codes,
    probe,
    reverse_labels,
    unusable_reason,
)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# -- query names ---------------------------------------------------------------------------


def test_reverse_labels_ipv4_reverses_the_octets() -> None:
    assert reverse_labels(ip("192.0.2.1")) == "1.2.0.192"
    assert reverse_labels(ip("10.20.30.40")) == "40.30.20.10"


def test_reverse_labels_ipv6_is_32_reversed_nibbles() -> None:
    labels = reverse_labels(ip("2001:db8::1")).split(".")
    assert len(labels) == 32
    assert all(len(label) == 1 for label in labels)
    assert ".".join(labels) == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"


def test_query_name_appends_the_zone() -> None:
    dnsbl = DnsList("zen", "zen.example.org", 1.0)
    assert dnsbl.query_name(ip("192.0.2.99")) == "99.2.0.192.zen.example.org"
    v6 = dnsbl.query_name(ip("2001:db8::1"))
    assert v6 is not None and v6.startswith("1.0.0.0.") and v6.endswith(".8.b.d.0.1.0.0.2.zen.example.org")


def test_query_name_is_none_for_ipv6_on_an_ipv4_only_list() -> None:
    dnsbl = DnsList("v4only", "v4.example.org", 1.0, ipv6=False)
    assert dnsbl.query_name(ip("2001:db8::1")) is None
    # IPv4 is still queried on that list.
    assert dnsbl.query_name(ip("192.0.2.1")) == "1.2.0.192.v4.example.org"


# -- parsing the configured codes ----------------------------------------------------------


def test_parse_codes_single_address_and_range() -> None:
    codes = parse_codes({"127.0.0.2": "SBL", "127.0.0.4-127.0.0.7": "XBL"}, bitmask=False)
    assert codes == (
        (int(ip("127.0.0.2")), int(ip("127.0.0.2")), "SBL"),
        (int(ip("127.0.0.4")), int(ip("127.0.0.7")), "XBL"),
    )


def test_parse_codes_range_tolerates_spaces_around_the_dash() -> None:
    codes = parse_codes({"127.0.0.4 - 127.0.0.7": "XBL"}, bitmask=False)
    assert codes == ((int(ip("127.0.0.4")), int(ip("127.0.0.7")), "XBL"),)


def test_parse_codes_bitmask() -> None:
    assert parse_codes({"2": "SC", "4": "PH", "0x80": "HIGH"}, bitmask=True) == (
        (2, 2, "SC"),
        (4, 4, "PH"),
        (128, 128, "HIGH"),
    )


@pytest.mark.parametrize(
    "spec",
    ["10.0.0.2", "128.0.0.1", "127.0.0.4-128.0.0.1", "126.0.0.1-127.0.0.5"],
)
def test_parse_codes_rejects_codes_outside_127_8(spec: str) -> None:
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        parse_codes({spec: "X"}, bitmask=False)


def test_parse_codes_rejects_a_reversed_range_and_names_it() -> None:
    with pytest.raises(ValueError, match="127.0.0.7-127.0.0.4"):
        parse_codes({"127.0.0.7-127.0.0.4": "X"}, bitmask=False)


@pytest.mark.parametrize("spec", ["0", "256", "-1"])
def test_parse_codes_rejects_bits_outside_1_to_255(spec: str) -> None:
    with pytest.raises(ValueError, match="1 to 255"):
        parse_codes({spec: "X"}, bitmask=True)


@pytest.mark.parametrize("spec", ["not-an-ip", "127.0.0.256", ""])
def test_parse_codes_rejects_text_that_is_no_address(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_codes({spec: "X"}, bitmask=False)


def test_parse_codes_rejects_a_bitmask_code_that_is_no_number() -> None:
    with pytest.raises(ValueError):
        parse_codes({"PH": "X"}, bitmask=True)


# -- meanings and weights ------------------------------------------------------------------

SPAMHAUS_LIKE = DnsList(
    "zen",
    "zen.example.org",
    2.0,
    codes=parse_codes(
        {"127.0.0.2": "SBL", "127.0.0.3": "CSS", "127.0.0.4-127.0.0.7": "XBL", "127.0.0.10-127.0.0.11": "PBL"},
        bitmask=False,
    ),
    weights={"SBL": 4.0, "PBL": 0.5},
)

SURBL_LIKE = DnsList(
    "multi",
    "multi.example.org",
    3.0,
    codes=parse_codes({"2": "SC", "4": "PH", "8": "MW", "64": "ABUSE"}, bitmask=True),
    bitmask=True,
)


def test_meanings_exact_code() -> None:
    assert SPAMHAUS_LIKE.meanings([ip("127.0.0.2")]) == ["SBL"]
    assert SPAMHAUS_LIKE.meanings([ip("127.0.0.3")]) == ["CSS"]


@pytest.mark.parametrize("answer", ["127.0.0.4", "127.0.0.5", "127.0.0.7"])
def test_meanings_range_includes_both_ends(answer: str) -> None:
    assert SPAMHAUS_LIKE.meanings([ip(answer)]) == ["XBL"]


def test_meanings_of_several_answers_keep_order_without_duplicates() -> None:
    answers = [ip("127.0.0.4"), ip("127.0.0.2"), ip("127.0.0.6")]
    assert SPAMHAUS_LIKE.meanings(answers) == ["XBL", "SBL"]


@pytest.mark.parametrize("answer", ["127.0.0.8", "127.0.0.9", "127.0.0.12", "127.0.1.2"])
def test_undocumented_code_means_nothing(answer: str) -> None:
    assert SPAMHAUS_LIKE.meanings([ip(answer)]) == []
    assert SPAMHAUS_LIKE.weight_of(SPAMHAUS_LIKE.meanings([ip(answer)])) == 0.0


def test_meanings_bitmask_reports_every_set_bit() -> None:
    # 6 = 2 | 4
    assert SURBL_LIKE.meanings([ip("127.0.0.6")]) == ["SC", "PH"]
    assert SURBL_LIKE.meanings([ip("127.0.0.8")]) == ["MW"]
    assert SURBL_LIKE.meanings([ip("127.0.0.74")]) == ["SC", "MW", "ABUSE"]


def test_meanings_bitmask_with_no_documented_bit_means_nothing() -> None:
    # 1 and 16 and 32 are not configured.
    assert SURBL_LIKE.meanings([ip("127.0.0.1")]) == []
    assert SURBL_LIKE.meanings([ip("127.0.0.48")]) == []


def test_list_without_codes_calls_any_answer_listed() -> None:
    plain = DnsList("plain", "plain.example.org", 1.5)
    assert plain.meanings([ip("127.0.0.2")]) == ["listed (127.0.0.2)"]
    assert plain.meanings([]) == []
    assert plain.weight_of(plain.meanings([ip("127.0.0.9")])) == 1.5


def test_weight_of_a_blocklist_is_the_strongest_meaning_not_the_sum() -> None:
    # SBL 4.0 (own weight), XBL 2.0 (list weight), PBL 0.5 (own weight)
    assert SPAMHAUS_LIKE.weight_of(["SBL", "XBL", "PBL"]) == 4.0
    assert SPAMHAUS_LIKE.weight_of(["XBL", "PBL"]) == 2.0
    assert SPAMHAUS_LIKE.weight_of(["PBL"]) == 0.5
    assert SPAMHAUS_LIKE.weight_of([]) == 0.0


def test_weight_of_an_allowlist_is_the_most_negative_meaning() -> None:
    allow = DnsList(
        "dnswl",
        "list.example.org",
        -1.0,
        codes=parse_codes({"127.0.15.0-127.0.15.1": "low", "127.0.15.2-127.0.15.3": "high"}, bitmask=False),
        weights={"high": -5.0},
        allowlist=True,
    )
    meanings = allow.meanings([ip("127.0.15.0"), ip("127.0.15.3")])
    assert meanings == ["low", "high"]
    assert allow.weight_of(meanings) == -5.0
    assert allow.weight_of(["low"]) == -1.0
    assert allow.weight_of([]) == 0.0


# -- unusable answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("127.255.255.254", "public or open resolver"),
        ("127.255.255.252", "typo in the list name"),
        ("127.255.255.255", "too many queries"),
        ("127.255.255.1", "an error code"),
    ],
)
def test_refusal_codes_make_the_list_unusable_and_say_why(answer: str, words: str) -> None:
    reason = unusable_reason([ip(answer)])
    assert reason is not None
    assert answer in reason
    assert words in reason


@pytest.mark.parametrize("answer", ["10.0.0.1", "192.0.2.1", "::1", "2001:db8::2"])
def test_answers_outside_127_8_make_the_list_unusable(answer: str) -> None:
    reason = unusable_reason([ip(answer)])
    assert reason is not None
    assert "outside 127.0.0.0/8" in reason
    assert answer in reason


def test_one_bad_answer_among_listings_makes_the_list_unusable() -> None:
    assert unusable_reason([ip("127.0.0.2"), ip("127.255.255.254")]) is not None


@pytest.mark.parametrize("answers", [["127.0.0.2"], ["127.0.0.4", "127.0.0.11"], []])
def test_ordinary_listings_are_usable(answers: list[str]) -> None:
    assert unusable_reason([ip(a) for a in answers]) is None


def test_addresses_skips_records_that_are_not_addresses() -> None:
    answer = DnsAnswer(DnsStatus.OK, ("127.0.0.2", "not an address", "127.0.0.4"))
    assert addresses(answer) == [ip("127.0.0.2"), ip("127.0.0.4")]


# -- health ------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_unknown_list_is_usable() -> None:
    health = DnsListHealth(clock=Clock()).health("zen")
    assert health.usable
    assert health.reason == ""


def test_unusable_list_stays_unusable_until_the_time_is_up() -> None:
    clock = Clock()
    health = DnsListHealth(clock=clock)
    health.mark_unusable("zen", "answered 127.255.255.254", seconds=60)
    assert health.health("zen").usable is False
    assert health.health("zen").reason == "answered 127.255.255.254"
    clock.now += 59.9
    assert health.health("zen").usable is False
    clock.now += 0.1
    assert health.health("zen").usable is True
    # and it is forgotten: no reason lingers afterwards
    assert health.health("zen").reason == ""


def test_default_unusable_period() -> None:
    clock = Clock()
    health = DnsListHealth(clock=clock)
    health.mark_unusable("zen", "broken")
    clock.now += UNUSABLE_FOR - 1
    assert not health.health("zen").usable
    clock.now += 1
    assert health.health("zen").usable


def test_marks_are_per_list() -> None:
    health = DnsListHealth(clock=Clock())
    health.mark_unusable("zen", "broken", seconds=60)
    assert not health.health("zen").usable
    assert health.health("other").usable


def test_mark_usable_clears_at_once() -> None:
    health = DnsListHealth(clock=Clock())
    health.mark_unusable("zen", "broken", seconds=600)
    health.mark_usable("zen")
    assert health.health("zen").usable
    health.mark_usable("never-marked")  # no error


# -- probing the RFC 5782 test points ------------------------------------------------------


class FakeDns:
    def __init__(self, answers: dict[str, DnsAnswer]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def query(self, name: str, rrtype: str) -> DnsAnswer:
        self.queries.append(name)
        return self.answers.get(name, DnsAnswer(DnsStatus.NXDOMAIN))


ZONE_LIST = DnsList("zen", "zen.example.org", 1.0)


def run_probe(answers: dict[str, DnsAnswer]) -> tuple[ListHealth, list[str]]:
    dns = FakeDns(answers)
    return probe(cast(DnsClient, dns), ZONE_LIST), dns.queries


ZONE_EXISTS = {"zen.example.org": DnsAnswer(DnsStatus.OK, ("ns.example.org. hostmaster.example.org. 1 2 3 4 5",))}


def test_probe_healthy_list() -> None:
    result, queries = run_probe({"2.0.0.127.zen.example.org": DnsAnswer(DnsStatus.OK, ("127.0.0.2",))})
    assert result.usable and not result.resolver_problem
    assert queries == ["2.0.0.127.zen.example.org", "1.0.0.127.zen.example.org"]


def test_probe_zone_that_does_not_exist_is_a_wrong_zone() -> None:
    result, queries = run_probe({})
    assert not result.usable and not result.resolver_problem
    assert "zone zen.example.org does not exist: wrong zone, or the list is gone" in result.reason
    assert queries == ["2.0.0.127.zen.example.org", "zen.example.org"]


def test_probe_zone_that_lists_nothing_to_this_resolver_says_so() -> None:
    """A public resolver gets NXDOMAIN for everything from some lists: the zone is there,
    the test point is not. That is the resolver's standing with the list, not a wrong zone."""
    result, _ = run_probe(ZONE_EXISTS)
    assert not result.usable
    assert "127.0.0.2 is not listed although the zone exists" in result.reason
    assert "local recursive resolver" in result.reason and "wrong zone" not in result.reason


def test_probe_list_that_lists_everything_is_unusable() -> None:
    listed = DnsAnswer(DnsStatus.OK, ("127.0.0.2",))
    result, _ = run_probe({"2.0.0.127.zen.example.org": listed, "1.0.0.127.zen.example.org": listed})
    assert not result.usable
    assert "127.0.0.1 is listed" in result.reason


def test_probe_refusal_is_unusable_with_the_reason() -> None:
    refused = DnsAnswer(DnsStatus.OK, ("127.255.255.254",))
    result, _ = run_probe({"2.0.0.127.zen.example.org": refused})
    assert not result.usable
    assert "open resolver" in result.reason


@pytest.mark.parametrize("where", ["2.0.0.127.zen.example.org", "zen.example.org"])
def test_probe_the_resolver_could_not_answer_blames_the_resolver(where: str) -> None:
    """REFUSED or a timeout from the resolver says nothing about the list: the list stays
    in use (its lookups are unknown while this lasts) and the reason names the resolver."""
    failed = DnsAnswer(DnsStatus.TEMPERROR, reason="no nameserver answered: REFUSED")
    result, _ = run_probe({where: failed})
    assert result.usable and result.resolver_problem
    assert result.reason == "DNS lists need a local recursive resolver (unbound); this resolver gave no nameserver answered: REFUSED"
