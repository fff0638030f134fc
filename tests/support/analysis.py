"""Running the analyzer over one message as the milter would, and reading what it found:
shared by the checks' loopback-DNS tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from spoofguard.checks import Facts
from spoofguard.checks.auth.summary import AuthSummary
from spoofguard.edits import HeaderEdit
from spoofguard.lookups import LookupSession
from spoofguard.message import Envelope, Message
from spoofguard.verdict import Verdict

IP = "192.0.2.25"  # the sending server in these tests


def message_bytes(from_: str = "News <news@news.test>", to: str = "alice@example.test", subject: str = "Quarterly report", body: str = "Numbers attached.\r\n", extra: str = "") -> bytes:
    return (
        f"From: {from_}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 02 Nov 2026 09:30:00 +0000\r\n"
        f"Message-ID: <m1@{from_.split('@')[-1].rstrip('>')}>\r\n{extra}\r\n{body}"
    ).encode()


@dataclass(frozen=True)
class Seen:
    """What the auth check gave: the header edits in the verdict, and its AuthSummary fact."""

    edits: tuple[HeaderEdit, ...]
    summary: AuthSummary | None


def analyze(analyzer, data: bytes, *, ip: str = IP, mail_from: str | None = "bounce@news.test", helo: str = "mail.news.test", rcpts: tuple[str, ...] = ("alice@example.test",)) -> tuple[Verdict, Seen]:  # type: ignore[no-untyped-def]
    message = Message.from_bytes(data, Envelope(client_ip=ip, helo=helo, mail_from=mail_from, rcpts=list(rcpts)))
    with ThreadPoolExecutor(4) as pool:
        session = LookupSession(pool, budget=5.0, default_timeout=2.0)
        verdict = analyzer.analyze(message, session)
        auth = next((c for c in analyzer.checks if c.name == "auth"), None)  # again: its lookups are answered
        facts = Facts(auth.run(message, session, Facts()).facts if auth else ())
    return verdict, Seen(verdict.edits, facts.get(AuthSummary))


def names(verdict: Verdict) -> dict[str, float]:
    return {s.name: s.score for s in verdict.signals}


