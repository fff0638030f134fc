"""Domain names from headers: IDNA forms, organizational domains, and the shipped lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofguard.config import BUILTIN_LISTS
from spoofguard.domains import (
    domain_of,
    is_domain_name,
    load_domain_list,
    organizational_domain,
    registrable_parts,
    to_ascii,
    to_unicode,
)
from spoofguard.errors import ConfigError

# Text a hostile or broken sender can put where a domain belongs.
MALFORMED = [
    "",
    ".",
    "..",
    "a..b",
    "exa mple.com",
    "[192.0.2.1]",
    "ex\x00ample.com",
    "\ud800.com",
    "xn--zz.com",
    "x" * 64 + ".com",
    ("a" * 60 + ".") * 5 + "com",
    "x" * 5000,
    "user@example.com",
    "⒈example.com",
]

# -- organizational domain ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("a.b.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("mail.example.com", "example.com"),
        ("example.com", "example.com"),
        ("MAIL.Example.COM", "example.com"),
        ("mail.example.com.", "example.com"),
        ("deep.sub.example.com.au", "example.com.au"),
        ("smtp.bücher.de", "xn--bcher-kva.de"),
        ("smtp.xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_organizational_domain_via_the_public_suffix_list(domain: str, org: str) -> None:
    assert organizational_domain(domain) == org


def test_public_suffix_is_its_own_organizational_domain() -> None:
    assert organizational_domain("co.uk") == "co.uk"
    assert organizational_domain("com") == "com"


def test_organizational_domain_of_text_that_is_no_domain_comes_back_lowercased() -> None:
    assert organizational_domain("Not A Domain") == "not a domain"
    assert organizational_domain("") == ""


@pytest.mark.parametrize(
    ("domain", "parts"),
    [
        ("a.b.example.co.uk", ("example", "co.uk")),
        ("mail.example.com", ("example", "com")),
        ("www.bücher.de", ("xn--bcher-kva", "de")),
    ],
)
def test_registrable_parts(domain: str, parts: tuple[str, str]) -> None:
    assert registrable_parts(domain) == parts


@pytest.mark.parametrize("domain", ["co.uk", "com", "localhost", "", "a..b"])
def test_registrable_parts_is_none_for_suffixes_and_non_domains(domain: str) -> None:
    assert registrable_parts(domain) is None


# -- IDN --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", ["bücher.de", "BÜCHER.DE", "xn--bcher-kva.de", "XN--BCHER-KVA.DE", "bücher.de."]
)
def test_every_form_of_an_idn_has_one_a_label_form(domain: str) -> None:
    assert to_ascii(domain) == "xn--bcher-kva.de"


def test_ideographic_full_stop_separates_labels() -> None:
    assert to_ascii("münchen\u3002de") == "xn--mnchen-3ya.de"
    assert to_ascii("example\uff0ecom") == "example.com"


def test_to_unicode_shows_valid_a_labels_as_unicode() -> None:
    assert to_unicode("mail.xn--bcher-kva.de") == "mail.bücher.de"
    assert to_unicode("MAIL.Example.COM") == "mail.example.com"


def test_to_unicode_leaves_an_invalid_a_label_as_it_is() -> None:
    assert to_unicode("xn--zz.com") == "xn--zz.com"


def test_cyrillic_lookalike_gets_a_distinct_a_label() -> None:
    # Cyrillic "раураl" must not collapse to the Latin "paypal".
    ascii_form = to_ascii("раураl.com")
    assert ascii_form is not None
    assert ascii_form.startswith("xn--") and ascii_form != "paypal.com"
    assert to_unicode(ascii_form) == "раураl.com"


def test_underscore_is_accepted_in_host_names_but_is_not_ldh() -> None:
    assert to_ascii("_dmarc.example.com") == "_dmarc.example.com"
    assert organizational_domain("foo_bar.example.com") == "example.com"
    assert not is_domain_name("foo_bar.example.com")


# -- malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_input_gives_a_defined_result_not_an_exception(text: str) -> None:
    assert to_ascii(text) is None
    assert registrable_parts(text) is None
    assert is_domain_name(text) is False
    assert organizational_domain(text) == text.lower()
    assert isinstance(to_unicode(text), str)


def test_overlong_domain_is_rejected() -> None:
    label = "a" * 63
    fits = ".".join([label, label, label, "a" * 57, "com"])  # 253 characters
    assert len(fits) == 253
    assert to_ascii(fits) == fits
    assert to_ascii("a" + fits) is None


# -- is_domain_name -------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["example.com", "mail.example.co.uk", "bücher.de", "xn--bcher-kva.de", "a-b.example"])
def test_is_domain_name_accepts_host_names(domain: str) -> None:
    assert is_domain_name(domain)


@pytest.mark.parametrize("domain", ["com", "localhost", "-bad.example.com", "bad-.example.com", "a b.com", ""])
def test_is_domain_name_rejects_single_labels_and_bad_hyphens(domain: str) -> None:
    assert not is_domain_name(domain)


# -- domain_of ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("alice@Example.COM", "example.com"),
        ("<alice@example.com>", "example.com"),
        ("alice@example.com.", "example.com"),
        ('"a@b"@example.org', "example.org"),
        ("alice@ example.org >", "example.org"),
    ],
)
def test_domain_of_takes_the_part_after_the_last_at(address: str, domain: str) -> None:
    assert domain_of(address) == domain


@pytest.mark.parametrize("address", ["no-at-sign", "alice@", "alice@>", ""])
def test_domain_of_without_a_domain_is_none(address: str) -> None:
    assert domain_of(address) is None


# -- domain lists ---------------------------------------------------------------------------


def test_shipped_freemail_list_loads_and_holds_the_big_providers() -> None:
    freemail = load_domain_list(BUILTIN_LISTS["freemail"])
    assert len(freemail) >= 50
    for provider in ("gmail.com", "outlook.com", "yahoo.com", "yahoo.co.uk"):
        assert provider in freemail
    # Everything is stored in lowercase A-label form.
    assert all(d == d.lower() and d.isascii() for d in freemail)


def test_freemail_membership_is_by_organizational_domain() -> None:
    freemail = load_domain_list(BUILTIN_LISTS["freemail"])
    assert organizational_domain("mail.gmail.com") in freemail
    assert organizational_domain("example.com") not in freemail
    assert organizational_domain("gmail.example.com") not in freemail


def test_load_domain_list_skips_comments_and_blank_lines_and_normalises(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(
        "# a comment\n\nExample.COM\n  bücher.de   # inline comment\nexample.com\nexample.org.\n",
        encoding="utf-8",
    )
    assert load_domain_list(path) == frozenset({"example.com", "xn--bcher-kva.de", "example.org"})


def test_load_domain_list_stops_on_a_line_that_is_not_a_domain(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("example.com\nnot a domain\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        load_domain_list(path)


def test_load_domain_list_rejects_a_single_label(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("localhost\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="localhost"):
        load_domain_list(path)


def test_load_domain_list_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read domain list"):
        load_domain_list(tmp_path / "missing.txt")


def test_load_domain_list_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"b\xfccher.de\n")
    with pytest.raises(ConfigError, match="cannot read domain list"):
        load_domain_list(path)
