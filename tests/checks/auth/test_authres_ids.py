"""Which authserv-id an incoming Authentication-Results claims (RFC 8601 lexical forms).

A field that claims ours from outside is removed; a field whose id cannot be read for
sure is treated as claiming ours, so a forger gains nothing by garbling it.
"""

from __future__ import annotations

import pytest

from spoofguard.checks.auth.results import claimed_authserv_id

OURS = "mx.example.org"


@pytest.mark.parametrize(
    "value",
    [
        "mx.example.org; dmarc=pass header.from=bank.example",
        "MX.Example.ORG; dmarc=pass",
        '"mx.example.org"; dmarc=pass header.from=bank.example',
        "mx.example.org.; dmarc=pass",
        "mx.example.org 1; dmarc=pass",
        "(x) mx.example.org; dmarc=pass header.from=bank.example; ((((",
        "(nested (comment) here) mx.example.org (after);dmarc=pass",
        '(escaped \\) paren) "mx.example.org."; dkim=pass',
        "mx.example.org;",
        "mx.example.org",
        "  mx.example.org\n\t; spf=pass",
    ],
    ids=["plain", "case", "quoted", "trailing-dot", "version", "leading-comment-trailing-garbage",
         "nested-comments", "escaped-comment-quoted-dot", "no-results", "bare", "folded"],
)
def test_every_lexical_form_of_our_id_is_recognised(value: str) -> None:
    assert claimed_authserv_id(value) == OURS


@pytest.mark.parametrize(
    "value",
    [
        "(never closed mx.example.org; dmarc=pass",
        '"mx.example.org; dmarc=pass',
        "mx.ex\u0430mple.org; dmarc=pass",  # Cyrillic a: no host name has it
        "mx.example.org dmarc=pass",  # no ';' where one must be
        "; dmarc=pass",
        "",
        "(only a comment)",
        "mx.example.org/evil; dmarc=pass",
    ],
    ids=["unclosed-comment", "unclosed-quote", "confusable", "missing-semicolon", "no-id", "empty",
         "comment-only", "odd-character"],
)
def test_an_id_that_cannot_be_read_for_sure_is_none(value: str) -> None:
    assert claimed_authserv_id(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mx.google.com; dkim=pass header.i=@gmail.com", "mx.google.com"),
        ('"spf.example.net"; spf=pass', "spf.example.net"),
        ("relay.example.net 1; none", "relay.example.net"),
        ("dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=example.be", ""),
        ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=pass", ""),
    ],
    ids=["plain", "quoted", "version", "no-id-microsoft-style", "no-id-spf-first"],
)
def test_other_ids_are_read_as_theirs(value: str, expected: str) -> None:
    assert claimed_authserv_id(value) == expected
