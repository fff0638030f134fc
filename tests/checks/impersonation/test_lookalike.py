"""Lookalike domains: what fires for a protected domain, what does not, and what it says."""

from __future__ import annotations

import pytest

from spoofguard.checks.impersonation.lookalike import LookalikeDetector, mixed_scripts, skeleton
from spoofguard.config import BUILTIN_LISTS
from spoofguard.domains import load_domain_list, organizational_domain

DETECTOR = LookalikeDetector(["paypal.com", "microsoft.com", "apple.com", "google.com", "ibm.com"])
SHIPPED = load_domain_list(BUILTIN_LISTS["impersonated"])
SHIPPED_DETECTOR = LookalikeDetector(SHIPPED)


# -- edit distance -------------------------------------------------------------------------


def test_digit_for_letter_fires_and_names_the_protected_domain() -> None:
    hit = DETECTOR.check("paypa1.com")
    assert hit is not None
    assert hit.domain == "paypa1.com"
    assert hit.protected == "paypal.com"
    assert not hit.other_suffix
    assert "paypa1" in hit.reason and "paypal" in hit.reason


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("paypall.com", "one character added"),
        ("payal.com", "one character removed"),
        ("paypla.com", "two adjacent characters swapped"),
        ("qaypal.com", "one character changed"),
        ("gooogle.com", "one character added"),
    ],
)
def test_one_edit_from_a_long_enough_label_fires(domain: str, words: str) -> None:
    hit = DETECTOR.check(domain)
    assert hit is not None
    assert hit.protected in {"paypal.com", "google.com"}
    assert words in hit.reason


def test_two_edits_do_not_fire_by_default() -> None:
    assert DETECTOR.check("paypalll.com") is None
    assert DETECTOR.check("qaypql.com") is None


def test_max_distance_two_catches_two_edits() -> None:
    hit = LookalikeDetector(["paypal.com"], max_distance=2).check("paypalll.com")
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert "2 characters changed" in hit.reason


def test_subdomain_of_a_lookalike_reports_the_lookalike_organizational_domain() -> None:
    hit = DETECTOR.check("login.secure.paypa1.com")
    assert hit is not None
    assert hit.domain == "paypa1.com"
    assert hit.protected == "paypal.com"


def test_edit_under_another_suffix_prefers_the_protected_domain_with_the_same_suffix() -> None:
    detector = LookalikeDetector(["paypal.com", "paypal.co.uk"])
    hit = detector.check("paypa1.co.uk")
    assert hit is not None
    assert hit.protected == "paypal.co.uk"


# -- the protected domain itself ---------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [
        "paypal.com",
        "PAYPAL.COM",
        "paypal.com.",
        "www.paypal.com",
        "mail.service.paypal.com",
        "microsoft.com",
        "ibm.com",
    ],
)
def test_protected_domain_and_its_subdomains_never_fire(domain: str) -> None:
    assert DETECTOR.check(domain) is None


# -- confusable skeletons ------------------------------------------------------------------


def test_all_cyrillic_paypal_fires_and_names_the_protected_domain() -> None:
    hit = DETECTOR.check("раураl.com")  # Cyrillic р а у р а, Latin l
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert hit.domain.startswith("xn--") and hit.domain.endswith(".com")
    assert "confusable characters" in hit.reason
    assert "paypal" in hit.reason
    assert "CYRILLIC" in hit.reason  # names the characters that fool the eye


def test_a_label_form_of_a_confusable_fires_the_same_way() -> None:
    unicode_hit = DETECTOR.check("аррӏе.com")
    ascii_hit = DETECTOR.check("xn--80ak6aa92e.com")
    assert unicode_hit is not None and ascii_hit is not None
    assert unicode_hit.protected == ascii_hit.protected == "apple.com"
    assert unicode_hit.domain == ascii_hit.domain == "xn--80ak6aa92e.com"


def test_rn_for_m_fires() -> None:
    hit = DETECTOR.check("rnicrosoft.com")
    assert hit is not None
    assert hit.protected == "microsoft.com"


def test_capital_i_for_l_as_the_sender_wrote_it_fires() -> None:
    hit = DETECTOR.check("PaypaI.com")
    assert hit is not None
    assert hit.protected == "paypal.com"


def test_confusable_skeleton_fires_even_for_a_short_label() -> None:
    hit = DETECTOR.check("іbm.com")  # Cyrillic і
    assert hit is not None
    assert hit.protected == "ibm.com"


def test_skeleton_maps_confusables_to_their_latin_prototype() -> None:
    assert skeleton("раураl") == skeleton("paypal") == skeleton("paypa1") == "paypal"
    assert skeleton("rnicrosoft") == skeleton("microsoft")
    assert skeleton("vvikipedia") == skeleton("wikipedia")
    assert skeleton("example") != skeleton("paypal")


# -- mixed scripts ---------------------------------------------------------------------


def test_idn_mixing_scripts_fires() -> None:
    hit = DETECTOR.check("pаypal.com")  # Cyrillic а among Latin letters
    assert hit is not None
    assert hit.protected == "paypal.com"


def test_mixed_scripts_one_edit_away_fires_with_the_scripts_named() -> None:
    hit = DETECTOR.check("pаypall.com")  # Cyrillic а, and one letter added
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert "mixed scripts" in hit.reason
    assert "Latin" in hit.reason and "Cyrillic" in hit.reason


def test_mixed_scripts_fire_even_near_a_short_protected_label() -> None:
    # Plain "ibn" is left alone (see below), but mixing scripts to get near "ibm" is not innocent.
    hit = DETECTOR.check("іbn.com")  # Cyrillic і
    assert hit is not None
    assert hit.protected == "ibm.com"
    assert "mixed scripts" in hit.reason


def test_mixed_scripts_reports_scripts_in_order_of_appearance() -> None:
    assert mixed_scripts("pаypal") == ("Latin", "Cyrillic")
    assert mixed_scripts("раураl") == ("Cyrillic", "Latin")
    assert mixed_scripts("xn--pypal-4ve") == ("Latin", "Cyrillic")


@pytest.mark.parametrize("label", ["paypal", "bücher", "пример", "pay-pal1", "日本"])
def test_single_script_labels_do_not_mix(label: str) -> None:
    assert mixed_scripts(label) == ()


def test_ordinary_idn_does_not_fire() -> None:
    assert DETECTOR.check("bücher.de") is None
    assert DETECTOR.check("пример.рф") is None


# -- other suffix ------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["paypal.co.uk", "paypal.de", "www.paypal.com.au"])
def test_same_name_under_another_suffix_fires_as_other_suffix(domain: str) -> None:
    hit = DETECTOR.check(domain)
    assert hit is not None
    assert hit.other_suffix is True
    assert hit.protected == "paypal.com"
    assert "same name under another suffix" in hit.reason


def test_lookalikes_are_not_marked_other_suffix() -> None:
    for domain in ("paypa1.com", "раураl.com", "pаypall.com"):
        hit = DETECTOR.check(domain)
        assert hit is not None
        assert hit.other_suffix is False, domain


def test_same_name_also_fires_for_a_short_label() -> None:
    hit = DETECTOR.check("ibm.de")
    assert hit is not None and hit.other_suffix


# -- what must not fire ---------------------------------------------------------------------


def test_short_labels_are_not_compared_by_edit_distance() -> None:
    # Documented: the edit-distance rule only applies to protected labels of at least
    # min_label_length (5) characters, so "ibn" is not a lookalike of "ibm".
    assert DETECTOR.check("ibn.com") is None
    assert DETECTOR.check("ibmm.com") is None


def test_min_label_length_can_bring_short_labels_in() -> None:
    hit = LookalikeDetector(["ibm.com"], min_label_length=3).check("ibn.com")
    assert hit is not None
    assert hit.protected == "ibm.com"


@pytest.mark.parametrize(
    "domain",
    [
        "completely-unrelated-example.org",
        "wikipedia.org",
        "example.com",
        "mail.example.co.uk",
        "secure-paypal.com",  # containment is off by default
    ],
)
def test_unrelated_domains_do_not_fire(domain: str) -> None:
    assert DETECTOR.check(domain) is None


def test_contains_mode_catches_the_name_inside_a_longer_label() -> None:
    detector = LookalikeDetector(["paypal.com"], contains=True)
    hit = detector.check("secure-paypal.com")
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert "contains" in hit.reason
    assert detector.check("paypal.com") is None


def test_max_distance_zero_turns_off_edit_distance_but_not_confusables() -> None:
    detector = LookalikeDetector(["paypal.com"], max_distance=0)
    assert detector.check("paypall.com") is None
    hit = detector.check("paypa1.com")
    assert hit is not None and hit.protected == "paypal.com"


@pytest.mark.parametrize(
    "text",
    ["", ".", "com", "paypal", "co.uk", "a..b", "x" * 5000, "\ud800.com", "[192.0.2.1]"],
)
def test_garbage_never_raises_and_does_not_fire(text: str) -> None:
    assert DETECTOR.check(text) is None


def test_text_that_is_not_valid_idna_is_still_judged_as_a_reader_sees_it() -> None:
    # A mail client shows such a name as text, so it is compared like any other label.
    hit = DETECTOR.check("pay pal.com")
    assert hit is not None
    assert hit.protected == "paypal.com"


def test_reason_escapes_invisible_characters() -> None:
    # A right-to-left override would reorder the header or log line that shows the reason.
    hit = DETECTOR.check("paypa\u202el.com")
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert "\u202e" not in hit.reason and "\u202e" not in hit.domain
    assert "\\u202e" in hit.reason


def test_reason_and_domain_of_a_huge_label_are_bounded() -> None:
    hit = LookalikeDetector(["paypal.com"], contains=True).check("paypal\u202e" + "x" * 500 + ".com")
    assert hit is not None
    assert hit.protected == "paypal.com"
    assert len(hit.domain) < 100
    assert "\u202e" not in hit.domain


def test_protected_entries_without_a_registrable_label_are_left_out() -> None:
    detector = LookalikeDetector(["paypal.com", "co.uk", "not a domain", "www.apple.com"])
    assert detector.protected == frozenset({"paypal.com", "apple.com"})


# -- the shipped list ---------------------------------------------------------------------


def test_shipped_impersonated_list_loads() -> None:
    assert len(SHIPPED) >= 100
    for domain in ("paypal.com", "microsoft.com", "apple.com", "amazon.com", "gmail.com"):
        assert domain in SHIPPED
    # The detector protects whole organizations: an entry below one (europol.europa.eu)
    # protects its organizational domain.
    assert SHIPPED_DETECTOR.protected == {organizational_domain(d) for d in SHIPPED}


@pytest.mark.parametrize("domain", sorted(SHIPPED))
def test_shipped_domains_do_not_fire_against_the_shipped_list(domain: str) -> None:
    # Sister domains are listed so a brand's own domains are never reported as lookalikes.
    assert SHIPPED_DETECTOR.check(domain) is None


@pytest.mark.parametrize(
    ("domain", "protected"),
    [("paypa1.com", "paypal.com"), ("rnicrosoft.com", "microsoft.com"), ("аррӏе.com", "apple.com")],
)
def test_shipped_list_catches_classic_lookalikes(domain: str, protected: str) -> None:
    hit = SHIPPED_DETECTOR.check(domain)
    assert hit is not None
    assert hit.protected == protected
