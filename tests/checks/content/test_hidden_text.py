"""Text a reader sees must be text the scan reads, wherever and however it sits.

Each attack below once let an intimidation message through while a mail client showed
the threat plainly: padding that used up the scan cap, and layouts or encodings that
text extraction did not read as a client renders them. Each is run through the whole
offline analysis (``analyze``), next to a near miss from ordinary mail that must stay
accepted.
"""

from __future__ import annotations

import base64
import os

import pytest

from spoofguard import config
from spoofguard.message import BodyLimits, Message
from spoofguard.runtime import build_runtime
from spoofguard.verdict import UNSCANNED_TEXT, Action, Verdict
from tests.support.messages import THREAT, make_message, padded
from tests.support.pdfs import text_pdf

RUNTIME = build_runtime(config.load(), offline=True)
HEAD = "From: Sender <x@sender.example>\r\nTo: a@example.org\r\nSubject: Notice\r\nMIME-Version: 1.0\r\n"


def analyze(raw: bytes, limits: BodyLimits | None = None) -> Verdict:
    message = Message.from_bytes(raw, limits=limits) if limits else Message.from_bytes(raw)
    return RUNTIME.analyzer.analyze(message, RUNTIME.new_session())


def content(verdict: Verdict) -> dict[str, float]:
    return {s.name: s.score for s in verdict.signals if s.name.startswith("content.") and s.score > 0}


def single(content_type: str, body: str, cte: str | None = None) -> bytes:
    encoding = f"Content-Transfer-Encoding: {cte}\r\n" if cte else ""
    return f"{HEAD}Content-Type: {content_type}\r\n{encoding}\r\n{body}".encode()


def mixed(*parts: tuple[str, str | None, str]) -> bytes:
    out = HEAD + 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
    for content_type, cte, body in parts:
        encoding = f"Content-Transfer-Encoding: {cte}\r\n" if cte else ""
        out += f"--b0\r\nContent-Type: {content_type}\r\n{encoding}\r\n{body}\r\n"
    return (out + "--b0--\r\n").encode()


def b64(data: bytes | str) -> str:
    return base64.encodebytes(data.encode() if isinstance(data, str) else data).decode()


def flowed(text: str, width: int = 9) -> str:
    """RFC 3676 with delsp=yes, cutting inside words: each line ends in the space that the
    reader's client deletes; lines that would start with a space are space-stuffed."""
    lines = [text[i:i + width] for i in range(0, len(text), width)]
    return " \r\n".join(" " + line if line.startswith(" ") else line for line in lines)


def assert_flagged(verdict: Verdict) -> None:
    assert content(verdict), [(s.name, s.score) for s in verdict.signals]
    assert verdict.action is not Action.ACCEPT


BASELINE = analyze(make_message(THREAT).as_bytes())


# -- the scan cap ----------------------------------------------------------------------------------


def test_a_big_binary_attachment_in_front_changes_nothing() -> None:
    verdict = analyze(padded(make_message(THREAT)).as_bytes())
    assert content(verdict) == content(BASELINE)
    assert verdict.score == BASELINE.score
    assert not verdict.unscanned


def test_a_threat_at_the_end_of_a_twenty_megabyte_text_is_read() -> None:
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n" * 350_000)
    verdict = analyze(single("text/plain; charset=utf-8", filler + THREAT), BodyLimits(max_body=64 * 1024 * 1024))
    assert content(verdict).keys() >= content(BASELINE).keys()
    assert "the middle of" in verdict.unscanned  # what was skipped is named
    assert any(s.name == UNSCANNED_TEXT for s in verdict.signals)


def test_junk_text_parts_in_front_do_not_use_up_the_budget() -> None:
    junk = ("Quarterly figures attached, nothing to see here. " * 30_000)
    verdict = analyze(mixed(*[("text/plain", None, junk)] * 3, ("text/plain", None, THREAT)))
    assert content(verdict).keys() >= content(BASELINE).keys()


def test_an_image_only_message_reads_no_text_and_reports_none_unread() -> None:
    verdict = analyze(mixed(("image/jpeg", "base64", b64(os.urandom(300_000)))))
    assert not content(verdict) and not verdict.unscanned


# -- what extraction must render as a client does --------------------------------------------------

REVERSED = THREAT[::-1]
ATTACKS = {
    "bidi-override": single("text/html", f'<p style="direction: rtl; unicode-bidi: bidi-override">{REVERSED}</p>'),
    "css-before": single("text/html", f'<style>.m::before {{ content: "{THREAT}" }}</style><p class="m"></p>'),
    "letter-per-cell": single("text/html", "<table><tr>" + "".join(f"<td>{c}</td>" for c in THREAT) + "</tr></table>"),
    "letter-per-img-alt": single("text/html", "".join(f'<img src="cid:{i}" alt="{c}">' for i, c in enumerate(THREAT))),
    "title-only": single("text/html", f'<a href="#" title="{THREAT}">details</a>'),
    "svg-text": single("text/html", f'<svg width="600" height="40"><text x="0" y="20">{THREAT}</text></svg>'),
    "flowed-delsp": single("text/plain; format=flowed; delsp=yes", flowed(THREAT)),
    "qp-hard-breaks": single("text/plain", "=\r\n".join(THREAT[i:i + 11] for i in range(0, len(THREAT), 11)),
                             "quoted-printable"),
    "cte-trailing-space": single("text/plain", b64(THREAT), "BASE64 "),
    "text-markdown": single("text/markdown", f"# Notice\r\n\r\n**{THREAT}**"),
    "txt-as-octet-stream": mixed(("text/plain", None, "See the letter attached."),
                                 ('application/octet-stream; name="letter.txt"', "base64", b64(THREAT))),
    "pdf-attachment": mixed(("text/plain", None, "See the letter attached."),
                            ('application/pdf; name="letter.pdf"', "base64",
                             b64(text_pdf([THREAT[i:i + 70] for i in range(0, len(THREAT), 70)])))),
}


@pytest.mark.parametrize("raw", ATTACKS.values(), ids=ATTACKS.keys())
def test_hidden_layouts_and_encodings_are_read_as_a_client_shows_them(raw: bytes) -> None:
    assert_flagged(analyze(raw))


NEWSLETTER_TABLE = (
    "<table><tr><td>S</td><td>M</td><td>T</td><td>W</td><td>T</td><td>F</td><td>S</td></tr>"
    "<tr><td>1</td><td>2</td><td>3</td><td>4</td><td>5</td><td>6</td><td>7</td></tr></table>"
    "<table><tr><td><img src='cid:logo' alt='Acme'></td><td>Our spring catalogue is here: "
    "garden chairs, lamps and more.</td></tr></table>"
)
NEAR_MISSES = {
    "hebrew-rtl-newsletter": single("text/html; charset=utf-8", '<p dir="rtl" style="direction: rtl">'
                                    "\u05e9\u05dc\u05d5\u05dd \u05dc\u05db\u05d5\u05dd, \u05d4\u05de\u05d1\u05e6\u05e2 "
                                    "\u05de\u05ea\u05d7\u05d9\u05dc \u05d4\u05d9\u05d5\u05dd</p>"),
    "css-bullets": single("text/html", '<style>li::before { content: "\\2022 " }</style><ul><li>Soup</li><li>Bread</li></ul>'),
    "table-newsletter": single("text/html", NEWSLETTER_TABLE),
    "spacer-images": single("text/html", '<img alt=" "><img alt="Acme logo"><p>Thanks for your order.</p>'),
    "link-titles": single("text/html", '<a href="https://shop.example" title="Read more about our sale">Sale</a>'),
    "svg-chart": single("text/html", '<svg><text x="1" y="1">Q1</text><text x="9" y="1">Revenue up 4%</text></svg>'),
    "flowed-ham": single("text/plain; format=flowed; delsp=yes", flowed("The minutes of Tuesday's meeting are attached.")),
    "qp-ham": single("text/plain", "Lunch is on Thurs=\r\nday at noon.", "quoted-printable"),
    "markdown-release-notes": single("text/markdown", "# Release 2.1\r\n\r\n* faster startup\r\n* fixed a crash"),
    "binary-octet-stream": mixed(("text/plain", None, "Firmware attached."),
                                 ('application/octet-stream; name="fw.bin"', "base64", b64(os.urandom(4096)))),
    "invoice-pdf": mixed(("text/plain", None, "Your invoice is attached."),
                         ('application/pdf; name="invoice.pdf"', "base64",
                          b64(text_pdf(["Invoice 2026-114", "Amount due: EUR 420.00",
                                        "Please pay within 30 days to IBAN DE02 1203 0000 0000 2020 51."])))),
}


@pytest.mark.parametrize("raw", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_ordinary_mail_with_the_same_layouts_is_accepted(raw: bytes) -> None:
    verdict = analyze(raw)
    assert verdict.action is Action.ACCEPT and not content(verdict), [(s.name, s.score) for s in verdict.signals]
