"""The per-message log line as JSON: one object a log pipeline can parse, fields not a
string, header injection neutralised, and no second handler after a reload."""

from __future__ import annotations

import io
import json
import logging

import pytest

from spoofguard import logs
from spoofguard.message import Envelope, Message
from spoofguard.policy import Policy
from spoofguard.verdict import Action, Signal, SignalKind, Verdict


def test_json_format_logs_one_object_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logs.setup("info", "json")
    logs.setup("info", "json")  # a reload: still one handler
    try:
        message = Message.from_bytes(b'From: "Evil\\r\\nX-Injected: 1" <e@example.org>\r\n\r\nhi\r\n',
                                     Envelope(client_ip="203.0.113.66", mail_from="e@example.org", queue_id="4XyZ"))
        verdict = Verdict(action=Action.TAG, score=5.0, signals=(Signal("content.threat_of_harm", 4.0, "d", SignalKind.CONTENT),),
                          thresholds=Policy().thresholds, reason="score 5.0")
        logs.log_verdict(message, verdict, 3.2)
        logging.getLogger("spoofguard.service").warning("plain %s", "note")
    finally:
        logs.setup("info", "text")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    record, note = json.loads(lines[0]), json.loads(lines[1])
    assert record["logger"] == "spoofguard.verdict" and record["queue_id"] == "4XyZ"
    assert record["action"] == "tag" and record["score"] == "5.0" and record["client"] == "203.0.113.66"
    assert record["signals"] == "content.threat_of_harm:+4.0" and record["elapsed_ms"] == "3.2"
    assert "\n" not in record["from"] and "\r" not in record["from"]
    assert note == {"level": "warning", "logger": "spoofguard.service", "message": "plain note"}


def test_every_line_about_a_message_names_its_queue_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check's warning, and one from a lookup it started in the pool, carry the queue id
    in text and in JSON; lines about no message carry none."""
    from spoofguard.lookups import LookupPool

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    pool = LookupPool(2)
    try:
        for fmt in ("text", "json"):
            logs.setup("info", fmt)
            with logs.about("3FqK1Z"):
                logging.getLogger("spoofguard.checks.auth").warning("DMARC record unreadable")
                session = pool.session(budget=5.0, default_timeout=2.0)
                session.start("rdap", lambda: logging.getLogger("spoofguard.checks.domain_age.rdap").warning("rdap slow"))
                session.result("rdap", lambda: None)
            logging.getLogger("spoofguard.service").warning("reloaded")
    finally:
        pool.shutdown()
        logs.setup("info", "text")
    text, json_lines = stream.getvalue().splitlines()[:3], stream.getvalue().splitlines()[3:]
    assert text[0] == "WARNING spoofguard.checks.auth: queue_id=3FqK1Z DMARC record unreadable"
    assert text[1] == "WARNING spoofguard.checks.domain_age.rdap: queue_id=3FqK1Z rdap slow"
    assert text[2] == "WARNING spoofguard.service: reloaded"
    records = [json.loads(line) for line in json_lines]
    assert [r.get("queue_id") for r in records] == ["3FqK1Z", "3FqK1Z", None]
