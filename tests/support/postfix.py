"""The world the end-to-end tests share: the loopback DNS zone, the milter's config
sections, and SMTP sessions that Postfix sees as coming from a chosen client address."""

from __future__ import annotations

import shutil
import smtplib
from email.message import EmailMessage

import pytest

from tests.support.dkim_keys import rsa_key
from tests.support.dns_server import LoopbackDNS

GOOD_IP = "203.0.113.10"  # PTR mail.sender.test, which resolves back; sender.test's SPF allows it
BAD_IP = "203.0.113.66"  # no PTR, not in anyone's SPF
AUTHSERV_ID = "mx.spoofguard.test"
XCLIENT = {"smtpd_authorized_xclient_hosts": "127.0.0.0/8"}

requires_postfix = pytest.mark.skipif(
    shutil.which("postfix") is None and not shutil.os.path.exists("/usr/sbin/postfix"),
    reason="Postfix is not installed (make test installs it)",
)


def populate(server: LoopbackDNS) -> LoopbackDNS:
    """The zone every end-to-end test starts from."""
    server.add_ptr(GOOD_IP, "mail.sender.test")
    server.add("mail.sender.test", "A", GOOD_IP)
    # sender.test authenticates its mail: SPF for GOOD_IP, a DKIM key, DMARC p=reject
    server.add_txt("sender.test", f"v=spf1 ip4:{GOOD_IP} -all")
    server.add_txt("sel._domainkey.sender.test", rsa_key("sender")[1])
    server.add_txt("_dmarc.sender.test", "v=DMARC1; p=reject")
    # the recipients' domain publishes only a monitoring policy
    server.add_txt("_dmarc.example.test", "v=DMARC1; p=none")
    return server


def milter_sections(dns: LoopbackDNS, **extra: dict[str, object]) -> dict[str, dict[str, object]]:
    sections: dict[str, dict[str, object]] = {
        "dns": {"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0},
        "analysis": {"budget": 3.0, "lookup_timeout": 1.0},
        "checks": {"auth": {"authserv_id": AUTHSERV_ID}},
    }
    for name, table in extra.items():
        sections.setdefault(name, {}).update(table)  # type: ignore[arg-type]
    return sections


def open_session(postfix, client_ip: str, helo: str = "mail.sender.test") -> smtplib.SMTP:  # type: ignore[no-untyped-def]
    """An SMTP session whose client address Postfix (and so the milter) sees as ``client_ip``.

    XCLIENT is how Postfix lets a trusted test client stand in for a remote host.
    """
    conn = postfix.connect(helo=helo)
    conn.ehlo()
    code, reply = conn.docmd("XCLIENT", f"ADDR={client_ip} NAME=[UNAVAILABLE] HELO={helo}")
    assert code == 220, (code, reply)
    conn.ehlo_resp = None
    conn.does_esmtp = False
    conn.ehlo(helo)
    return conn


def send_from(postfix, client_ip: str, message: EmailMessage, rcpt: str = "alice@example.test", mail_from: str = "bob@sender.test"):  # type: ignore[no-untyped-def]
    conn = open_session(postfix, client_ip)
    try:
        return postfix.send(message, mail_from=mail_from, rcpts=[rcpt], connection=conn)
    finally:
        conn.quit()


def first_contact_notice_only(report: object) -> bool:
    """No report header, or ours on accepted mail, there because it is the first message
    from this sender (the sender check's notice shows even at weight 0)."""
    if report is None:
        return True
    text = " ".join(str(report).split())
    return text.startswith("action=accept;") and \
        text.endswith("sender.first_contact=+0.0 first message from this sender to you")
