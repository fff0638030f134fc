"""Real mail providers and brands are not lookalikes of one another; real lookalikes are.

Built from the shipped lists themselves: every freemail provider and every commonly
impersonated domain must pass as itself, whatever it resembles (mail.com beside gmail.com,
yahoo.co.uk beside yahoo.com), while typo and look-alike-letter domains still fire.
"""

from __future__ import annotations

import pytest

from spoofguard import config
from spoofguard.assembly import build_analyzer
from spoofguard.message import Envelope, Message
from spoofguard.verdict import Verdict

SETTINGS = config.load(config.PACKAGED_CONFIG)
ANALYZER = build_analyzer(SETTINGS, offline=True)
IMPERSONATION = next(c for c in ANALYZER.checks if c.name == "impersonation")
FREEMAIL = sorted(IMPERSONATION.freemail)  # type: ignore[attr-defined]
PROTECTED = sorted(IMPERSONATION.protected)  # type: ignore[attr-defined]


def analyze(sender: str, mail_from: str | None = None, extra: str = "") -> Verdict:
    raw = (f"From: {sender}\r\nTo: alice@example.org\r\nSubject: Hello\r\n{extra}\r\nHi Alice,\r\n").encode()
    envelope = Envelope(mail_from=mail_from, rcpts=["alice@example.org"])
    return ANALYZER.analyze(Message.from_bytes(raw, envelope=envelope), None)  # type: ignore[arg-type]


def impersonation(verdict: Verdict) -> dict[str, float]:
    return {s.name: s.score for s in verdict.signals if s.name.startswith("impersonation.") and s.score}


def test_the_lists_are_shipped() -> None:
    assert len(FREEMAIL) > 50 and len(PROTECTED) > 100


@pytest.mark.parametrize("domain", FREEMAIL)
def test_no_freemail_provider_is_a_lookalike(domain: str) -> None:
    assert "impersonation.lookalike_domain" not in impersonation(analyze(f"Someone <someone@{domain}>"))


@pytest.mark.parametrize("domain", PROTECTED)
def test_no_protected_domain_is_a_lookalike_of_another(domain: str) -> None:
    assert "impersonation.lookalike_domain" not in impersonation(analyze(f"Service <service@{domain}>"))


@pytest.mark.parametrize("domain", ["mail.com", "email.com", "yahoo.co.uk", "gmx.net", "web.de", "live.com"])
def test_established_providers_that_resemble_gmail_or_yahoo_do_not_fire(domain: str) -> None:
    assert impersonation(analyze(f"Ann <ann@{domain}>")) == {}


@pytest.mark.parametrize("domain", ["slack.net", "yahoo.lv", "paypal.co"])
def test_the_same_name_under_another_suffix_is_weak(domain: str) -> None:
    assert impersonation(analyze(f"News <news@{domain}>")) == {"impersonation.lookalike_domain": 1.0}


@pytest.mark.parametrize("domain", ["paypa1.com", "\u0430pple.com", "rnicrosoft.com", "gooogle.com", "arnazon.com",
                                    "qaypal.com", "paypall.com"])
def test_real_lookalikes_still_fire(domain: str) -> None:
    assert impersonation(analyze(f"Support <support@{domain}>"))["impersonation.lookalike_domain"] == 3.5


@pytest.mark.parametrize("domain", ["email.com", "ymail.com", "gmx.com", "mailbox.org"])
def test_a_changed_first_letter_is_another_name(domain: str) -> None:
    assert "impersonation.lookalike_domain" not in impersonation(analyze(f"Ann <ann@{domain}>"))


def test_envelope_from_a_bounce_domain_is_ordinary() -> None:
    assert impersonation(analyze("News <news@shop.example>", mail_from="bounce-1234@esp.example")) == {}


def test_list_mail_rewrites_reply_to_without_counting() -> None:
    listed = "List-Id: <users.lists.example>\r\nReply-To: author@gmail.com\r\n"
    assert impersonation(analyze("Ann via users <users@lists.example>", extra=listed)) == {}
    unlisted = "Reply-To: author@gmail.com\r\n"
    assert impersonation(analyze("Ann <ann@shop.example>", extra=unlisted)) == {"impersonation.reply_to_freemail": 2.0}


def test_a_brand_named_in_a_display_name_is_not_an_address() -> None:
    assert impersonation(analyze("CNET News.com Daily Dispatch <online#3.1@newsletters.example>")) == {}
    assert "impersonation.display_name_address" in impersonation(analyze('"service@paypal.com" <x@shop.example>'))


def test_a_newsletter_sent_to_itself_is_weak_and_a_forged_bulk_mark_does_not_silence_the_tell() -> None:
    mine = "Alice <alice@example.org>"
    assert impersonation(analyze(mine)) == {"impersonation.from_is_recipient": 3.0}
    # The sender sets Precedence and List-* itself: on bulk mail the tell weakens but stays.
    for marks in ("Precedence: bulk\r\n", "List-Unsubscribe: <mailto:u@example.org>\r\n", "List-Id: <all.example.org>\r\n"):
        assert impersonation(analyze(mine, extra=marks)) == {"impersonation.from_is_recipient": 1.0}
