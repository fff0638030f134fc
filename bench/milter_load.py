"""Load generator that talks to a milter the way Postfix does (libmilter protocol 6).

Every message is one SMTP session as Postfix's smtpd would run it: a fresh connection,
option negotiation, then connect/helo/mail/rcpt/data/header/eoh/body/end-of-message,
QUIT and close. The generator honours what the milter negotiated -- stages it disabled
are not sent, stages marked no-reply are not waited for, body chunks stop after a SKIP,
requested macro lists replace the defaults -- so a milter that negotiates well is
measured with the round trips it actually costs, not with those Postfix would skip.

The messages are generated from a seed (ordinary mail, HTML, attachments, encoded
subjects, newsletters and a few per cent intimidation and sextortion texts) and the
envelope draws from small pools of client addresses and sender domains, so caches in
the milter warm up as they would on a real gateway. Stdlib only, so it runs anywhere.

    .venv/bin/python bench/milter_load.py --target inet:8895@127.0.0.1 \\
        --concurrency 8 --duration 10 --warmup 2 --json
    .venv/bin/python bench/milter_load.py --dump /tmp/mails --messages 0
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import quopri
import random
import socket
import statistics
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from typing import Any

# -- protocol constants (libmilter's mfdef.h) ------------------------------------------

MILTER_VERSION = 6
POSTFIX_ACTIONS = 0x1FF  # every SMFIF_* action Postfix offers
POSTFIX_PROTOCOL = 0x1FFFFF  # SMFIP_NOCONNECT .. SMFIP_HDR_LEADSPC, as Postfix offers
CHUNK = 65535  # Postfix's MILTER_CHUNK_SIZE

P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT = 0x1, 0x2, 0x4, 0x8
P_NOBODY, P_NOHDRS, P_NOEOH, P_NR_HDR = 0x10, 0x20, 0x40, 0x80
P_NOUNKNOWN, P_NODATA, P_SKIP, P_RCPT_REJ = 0x100, 0x200, 0x400, 0x800
P_NR_CONN, P_NR_HELO, P_NR_MAIL, P_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
P_NR_DATA, P_NR_UNKN, P_NR_EOH, P_NR_BODY = 0x10000, 0x20000, 0x40000, 0x80000
P_HDR_LEADSPC = 0x100000

# Stage command -> (protocol bit that disables it, bit that makes it no-reply).
STAGE_FLAGS: dict[str, tuple[int, int]] = {
    "C": (P_NOCONNECT, P_NR_CONN),
    "H": (P_NOHELO, P_NR_HELO),
    "M": (P_NOMAIL, P_NR_MAIL),
    "R": (P_NORCPT, P_NR_RCPT),
    "T": (P_NODATA, P_NR_DATA),
    "L": (P_NOHDRS, P_NR_HDR),
    "N": (P_NOEOH, P_NR_EOH),
    "B": (P_NOBODY, P_NR_BODY),
    "E": (0, 0),
}
# SMFIM_* index in the negotiation reply -> the command whose macros it names.
MACRO_STAGES = {0: "C", 1: "H", 2: "M", 3: "R", 4: "T", 5: "E", 6: "N"}
# What Postfix sends by default (milter_*_macros), where the bench has a value for it.
DEFAULT_MACROS: dict[str, tuple[str, ...]] = {
    "C": ("j", "{daemon_name}", "{client_addr}", "{client_name}", "_"),
    "H": ("{tls_version}",),
    "M": ("i", "{auth_type}", "{mail_addr}"),
    "R": ("{rcpt_addr}",),
    "T": ("i",),
    "N": ("i",),
    "E": ("i",),
}
FINAL_REPLIES = {
    "a": "accept", "c": "continue", "r": "reject", "t": "tempfail",
    "d": "discard", "y": "replycode",
}
MODIFICATIONS = {
    "h": "addheader", "i": "insheader", "m": "chgheader", "q": "quarantine",
    "e": "chgfrom", "+": "addrcpt", "2": "addrcpt_par", "-": "delrcpt", "b": "replbody",
}
PROGRESS = "p"
SKIP = "s"
MTA_HOSTNAME = "mx.bench.example"
MAX_BODY = 46_000  # keeps whole messages, headers included, within 50 KB


class ProtocolError(Exception):
    """The milter said something a Postfix MTA would treat as a broken milter."""


# -- the message set -------------------------------------------------------------------

WORDS = (
    "the a to of and in for on with at by from as is are was be will can we you our your "
    "please invoice order delivery meeting report quarterly budget project team client account "
    "payment schedule review update attached document contract proposal shipment customer "
    "support request thanks regards monday tuesday friday week month deadline agenda notes "
    "office call confirm available next new all this that it have has had would could should "
    "hours days price total amount due received sent send follow up question answer draft"
).split()
NEWS_WORDS = (
    "breaking news weekly digest top stories market prices rally sale offer discount free "
    "shipping subscribe view in browser read more event webinar register community sports "
    "weather travel deals new arrivals recipe garden season tips guide members exclusive"
).split()
ACCENTED = (
    "café résumé naïve façade déjà vu über straße größe müller señor año mañana corazón "
    "información reunión crème brûlée garçon fiancée pâté smörgåsbord ørsted"
).split()
SENDER_DOMAINS = (
    "acme-logistics.example", "northwind.example", "contoso-mail.example", "fabrikam.example",
    "globex.example", "initech.example", "umbrella-corp.example", "hooli.example",
    "news.shopco.example", "digest.dailypost.example", "mail.freemail.example",
    "wayne-enterprises.example", "stark-industries.example", "tyrell.example",
)
RCPT_DOMAIN = "example.net"
RCPT_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
VOTER_THREAT = (
    "We are in possession of all your information. You are currently registered as a "
    "Democrat. You will vote for Trump on Election Day or we will come after you. Change "
    "your party affiliation to Republican to let us know you received our message and "
    "will comply."
)
SEXTORTION = (
    "I know your password is {password}. I have gained access to your device and "
    "recorded you through your camera while you were watching adult videos. I have all "
    "your contacts. Send $1450 in Bitcoin to this address: {wallet}. You have 48 hours to "
    "make the payment. If I do not receive the payment, I will send the video to all your "
    "contacts and family. Do not go to the police or else."
)
WALLETS = ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")


@dataclass(frozen=True, slots=True)
class Mail:
    """One generated message with its SMTP envelope, ready to put on the wire."""

    index: int
    category: str
    client_ip: str
    client_name: str
    helo: str
    mail_from: str
    rcpts: tuple[str, ...]
    tls: bool
    headers: tuple[tuple[str, str], ...]  # raw value: leading space and folds kept
    body: bytes  # CRLF line endings, as Postfix sends it

    def raw(self) -> bytes:
        """The message as an .eml file."""
        head = "".join(f"{name}:{value.replace(chr(10), chr(13) + chr(10))}\r\n" for name, value in self.headers)
        return head.encode("utf-8", "surrogateescape") + b"\r\n" + self.body


def client_pool(rng: random.Random) -> list[str]:
    """Twenty documentation-range addresses: few enough that per-IP caches get hits."""
    hosts = rng.sample(range(2, 254), 20)
    return [f"198.51.100.{h}" if i < 10 else f"203.0.113.{h}" for i, h in enumerate(hosts)]


def sentence(rng: random.Random, words: list[str] | tuple[str, ...], low: int = 6, high: int = 16) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high))).capitalize() + "."


def paragraphs(rng: random.Random, size: int, words: list[str] | tuple[str, ...] = WORDS) -> str:
    """Prose of about ``size`` characters, wrapped at 72 columns like a mail client."""
    out: list[str] = []
    total = 0
    while total < size:
        para = wrap(" ".join(sentence(rng, words) for _ in range(rng.randint(2, 6))))
        out.append(para)
        total += len(para) + 2
    return "\n\n".join(out)


def wrap(text: str, width: int = 72) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def target_size(rng: random.Random) -> int:
    """2-50 KB, most of it small, as on a real gateway."""
    return int(min(50_000, max(2_000, rng.lognormvariate(8.8, 0.8))))


def encoded_subject(rng: random.Random, text: str) -> str:
    """An RFC 2047 subject in UTF-8 (base64) or ISO-8859-1 (quoted-printable)."""
    charset = rng.choice(("utf-8", "iso-8859-1"))
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return Header(text, charset).encode()


def multipart(subtype: str, boundary: str, parts: list[tuple[str, str]]) -> tuple[str, str]:
    """(Content-Type value, body) for parts given as (part headers, part body)."""
    chunks = [f"--{boundary}\n{head}\n\n{body}\n" for head, body in parts]
    body = "This is a multi-part message in MIME format.\n\n" + "".join(chunks) + f"--{boundary}--\n"
    return f'multipart/{subtype}; boundary="{boundary}"', body


def html_of(text: str, links: list[str] | None = None) -> str:
    paras = "".join(f"<p>{p.replace(chr(10), ' ')}</p>\n" for p in text.split("\n\n"))
    anchors = "".join(f'<p><a href="{u}">Read more</a></p>\n' for u in links or [])
    return f"<html><head><meta charset=\"utf-8\"></head><body>\n{paras}{anchors}</body></html>"


def plain_body(rng: random.Random, size: int) -> tuple[str, str, dict[str, str]]:
    text = "Hello,\n\n" + paragraphs(rng, size) + "\n\nBest regards,\nAlex\n"
    return sentence(rng, WORDS, 3, 7), text, {"Content-Type": "text/plain; charset=us-ascii"}


def alternative_body(rng: random.Random, size: int) -> tuple[str, str, dict[str, str]]:
    text = "Hi,\n\n" + paragraphs(rng, size // 2) + "\n\nThanks,\nSam\n"
    ctype, body = multipart("alternative", f"alt-{rng.getrandbits(48):x}", [
        ("Content-Type: text/plain; charset=utf-8", text),
        ("Content-Type: text/html; charset=utf-8", html_of(text)),
    ])
    return sentence(rng, WORDS, 3, 7), body, {"Content-Type": ctype}


def attachment_body(rng: random.Random, size: int) -> tuple[str, str, dict[str, str]]:
    text = "Hello,\n\nplease find the document attached.\n\n" + paragraphs(rng, 600) + "\n\nRegards,\nKim\n"
    binary = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(max(600, (size - len(text)) * 3 // 4))
    name = rng.choice(("invoice", "report", "contract", "statement", "scan")) + f"-{rng.randint(1000, 9999)}.pdf"
    ctype, body = multipart("mixed", f"mix-{rng.getrandbits(48):x}", [
        ("Content-Type: text/plain; charset=us-ascii", text),
        (f'Content-Type: application/pdf; name="{name}"\nContent-Transfer-Encoding: base64\n'
         f'Content-Disposition: attachment; filename="{name}"', b64_lines(binary)),
    ])
    return f"Document {name}", body, {"Content-Type": ctype}


def quoted_printable_body(rng: random.Random, size: int) -> tuple[str, str, dict[str, str]]:
    charset = rng.choice(("utf-8", "iso-8859-1"))
    text = "Bonjour,\n\n" + paragraphs(rng, size, WORDS + ACCENTED) + "\n\nCordialement,\nRené\n"
    encoded = quopri.encodestring(text.encode(charset)).decode("ascii")
    subject = encoded_subject(rng, "Réunion: " + " ".join(rng.sample(ACCENTED, 3)))
    headers = {"Content-Type": f"text/plain; charset={charset}", "Content-Transfer-Encoding": "quoted-printable"}
    return subject, encoded, headers


def newsletter_body(rng: random.Random, size: int, domain: str) -> tuple[str, str, dict[str, str]]:
    links = [f"https://{domain}/c/{rng.getrandbits(64):x}?utm_source=digest&utm_medium=email&i={i}"
             for i in range(rng.randint(20, 80))]
    text = paragraphs(rng, size // 3, WORDS + list(NEWS_WORDS))
    plain = text + "\n\n" + "\n".join(links) + f"\n\nUnsubscribe: https://{domain}/u/{rng.getrandbits(64):x}\n"
    ctype, body = multipart("alternative", f"nl-{rng.getrandbits(48):x}", [
        ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", plain),
        ("Content-Type: text/html; charset=utf-8", html_of(text, links)),
    ])
    subject = sentence(rng, NEWS_WORDS, 3, 6)
    if rng.random() < 0.4:
        subject = encoded_subject(rng, "Neu: " + subject + " – " + rng.choice(ACCENTED))
    return subject, body, {"Content-Type": ctype}


def intimidation_body(rng: random.Random, size: int, sextortion: bool) -> tuple[str, str, dict[str, str]]:
    if sextortion:
        password = rng.choice(("hunter2", "qwerty123", "Summer2024!", "letmein99"))
        threat = SEXTORTION.format(password=password, wallet=rng.choice(WALLETS))
        subject = f"Your account has been hacked - {rng.randint(10, 99)} hours left"
    else:
        threat, subject = VOTER_THREAT, "Vote for Trump or else!"
    text = wrap(threat) + "\n\n" + paragraphs(rng, max(0, size - len(threat)) // 4) + "\n"
    return subject, text, {"Content-Type": "text/plain; charset=utf-8"}


def received(rng: random.Random, by: str, from_host: str, ip: str, when: datetime, rcpt: str) -> str:
    queue_id = f"4{rng.getrandbits(40):X}"
    return (f" from {from_host} ({from_host} [{ip}])\n\tby {by} (Postfix) with ESMTPS id {queue_id}\n"
            f"\tfor <{rcpt}>; {format_datetime(when)}")


def dkim_signature(rng: random.Random, domain: str) -> str:
    """A well-formed signature that will not verify: the gateway still has to try."""
    bh = base64.b64encode(rng.randbytes(32)).decode()
    b = base64.b64encode(rng.randbytes(256)).decode()
    folded = "\n\t ".join(b[i : i + 70] for i in range(0, len(b), 70))
    return (f" v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=sel{rng.randint(1, 3)};\n"
            f"\th=from:to:subject:date:message-id; bh={bh};\n\tb={folded}")


def make_mail(index: int, rng: random.Random, clients: list[str], when: datetime) -> Mail:
    """Message ``index``: every twentieth is an intimidation text, the rest a weighted mix."""
    domain = SENDER_DOMAINS[index % len(SENDER_DOMAINS) if rng.random() < 0.5 else rng.randrange(len(SENDER_DOMAINS))]
    size = target_size(rng)
    if index % 20 == 3:
        category = "intimidation"
        subject, body, mime = intimidation_body(rng, size, sextortion=index % 40 == 23)
    else:
        category = rng.choices(("plain", "alternative", "attachment", "quoted-printable", "newsletter"),
                               weights=(30, 22, 15, 10, 23))[0]
        subject, body, mime = build_body(category, rng, size, domain)
        while len(body) > MAX_BODY:  # links and MIME overhead come on top of the target
            size = size * 4 // 5
            subject, body, mime = build_body(category, rng, size, domain)
    rcpts = tuple(f"{u}@{RCPT_DOMAIN}" for u in rng.sample(RCPT_USERS, rng.choice((1, 1, 1, 2, 3))))
    ip = rng.choice(clients)
    client_name = f"mail{clients.index(ip)}.{domain}" if rng.random() < 0.8 else "unknown"
    local = "news" if category == "newsletter" else rng.choice(("alex", "sam", "kim", "billing", "info"))
    sender = f"{local}@{domain}"
    headers = envelope_headers(rng, domain, client_name, ip, when, rcpts[0])
    headers += [
        ("DKIM-Signature", dkim_signature(rng, domain)),
        ("Message-ID", f" <{rng.getrandbits(64):016x}.{index}@{domain}>"),
        ("Date", " " + format_datetime(when)),
        ("From", f" {local.capitalize()} <{sender}>"),
        ("To", " " + ", ".join(rcpts)),
        ("Subject", " " + subject),
        ("MIME-Version", " 1.0"),
    ]
    if category == "newsletter":
        headers.append(("List-Unsubscribe", f" <https://{domain}/u/{rng.getrandbits(64):x}>, <mailto:unsubscribe@{domain}>"))
        headers.append(("List-Unsubscribe-Post", " List-Unsubscribe=One-Click"))
    headers += [(name, " " + value.replace("\n", "\n\t")) for name, value in mime.items()]
    return Mail(index, category, ip, client_name, f"mail.{domain}", sender, rcpts, rng.random() < 0.7,
                tuple(headers), crlf(body).encode("utf-8"))


def build_body(category: str, rng: random.Random, size: int, domain: str) -> tuple[str, str, dict[str, str]]:
    if category == "plain":
        subject, body, mime = plain_body(rng, size)
        if rng.random() < 0.25:
            subject = encoded_subject(rng, "Re: " + subject + " " + rng.choice(ACCENTED))
        return subject, body, mime
    if category == "alternative":
        return alternative_body(rng, size)
    if category == "attachment":
        return attachment_body(rng, size)
    if category == "quoted-printable":
        return quoted_printable_body(rng, size)
    return newsletter_body(rng, size, domain)


def envelope_headers(rng: random.Random, domain: str, client_name: str, ip: str, when: datetime,
                     rcpt: str) -> list[tuple[str, str]]:
    """Received x2-4, newest first; the top one is the gateway's own, as Postfix adds it."""
    hops = [("Received", received(rng, MTA_HOSTNAME, client_name, ip, when, rcpt))]
    for hop in range(rng.randint(1, 3)):
        inner = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        earlier = when - timedelta(seconds=5 * (hop + 1))
        hops.append(("Received", received(rng, f"relay{hop}.{domain}", f"host{hop}.{domain}", inner, earlier, rcpt)))
    return hops


def generate(count: int, seed: int) -> list[Mail]:
    """The same ``count`` messages for the same seed, on every run and in every process."""
    rng = random.Random(seed)
    clients = client_pool(rng)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    return [make_mail(i, rng, clients, start + timedelta(minutes=7 * i)) for i in range(count)]


def dump(mails: list[Mail], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for mail in mails:
        (directory / f"{mail.index:04d}-{mail.category}.eml").write_bytes(mail.raw())


# -- the milter protocol, MTA side -----------------------------------------------------


def packet(cmd: str, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data) + 1) + cmd.encode() + data


def cstr(*values: str) -> bytes:
    return b"".join(v.encode("utf-8", "surrogateescape") + b"\0" for v in values)


@dataclass(slots=True)
class Negotiated:
    """What the milter answered to SMFIC_OPTNEG."""

    version: int
    actions: int
    protocol: int
    macros: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def sends(self, stage: str) -> bool:
        return not self.protocol & STAGE_FLAGS[stage][0]

    def waits(self, stage: str) -> bool:
        return not self.protocol & STAGE_FLAGS[stage][1]


def parse_negotiation(data: bytes) -> Negotiated:
    """Version, actions, protocol, then optional (SMFIM stage, "macro names\\0") pairs."""
    if len(data) < 12:
        raise ProtocolError(f"short negotiation reply ({len(data)} bytes)")
    version, actions, protocol = struct.unpack(">III", data[:12])
    if version < 2 or version > MILTER_VERSION:
        raise ProtocolError(f"milter speaks protocol version {version}")
    if protocol & ~POSTFIX_PROTOCOL:
        raise ProtocolError(f"milter asked for protocol bits not offered: {protocol & ~POSTFIX_PROTOCOL:#x}")
    macros: dict[str, tuple[str, ...]] = {}
    rest = data[12:]
    while len(rest) >= 4:
        (stage,) = struct.unpack(">I", rest[:4])
        names, _, rest = rest[4:].partition(b"\0")
        if stage in MACRO_STAGES:
            macros[MACRO_STAGES[stage]] = tuple(names.decode().replace(",", " ").split())
    return Negotiated(version, actions, protocol, macros)


@dataclass(slots=True)
class Outcome:
    """How one session ended, from the MTA's point of view."""

    verdict: str | None = None
    modifications: list[str] = field(default_factory=list)  # "addheader:Subject", "quarantine"
    eom_ms: float | None = None
    session_ms: float = 0.0
    error: str | None = None
    packets: Counter[str] = field(default_factory=Counter)
    negotiated: str | None = None  # "v6 actions=0x.. protocol=0x..", to show in the report


class Session:
    """One SMTP session's milter conversation, as Postfix's milter8 client runs it."""

    def __init__(self, sock: socket.socket, mail: Mail, queue_id: str) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.mail = mail
        self.outcome = Outcome()
        self.neg = Negotiated(MILTER_VERSION, 0, 0)
        self.macro_values = macro_values(mail, queue_id)

    def send(self, *packets: tuple[str, bytes]) -> None:
        """One write per event (macros and command together), like milter8's flushes."""
        for cmd, _ in packets:
            self.outcome.packets[cmd] += 1
        self.sock.sendall(b"".join(packet(cmd, data) for cmd, data in packets))

    def read(self) -> tuple[str, bytes]:
        head = self.reader.read(4)
        if len(head) < 4:
            raise EOFError("milter closed the connection")
        (size,) = struct.unpack(">I", head)
        if size < 1 or size > 1 << 24:
            raise ProtocolError(f"bad packet length {size}")
        body = self.reader.read(size)
        if len(body) < size:
            raise EOFError("milter closed the connection mid-packet")
        return chr(body[0]), body[1:]

    def negotiate(self) -> None:
        self.send(("O", struct.pack(">III", MILTER_VERSION, POSTFIX_ACTIONS, POSTFIX_PROTOCOL)))
        cmd, data = self.read()
        if cmd != "O":
            raise ProtocolError(f"expected 'O' in reply to negotiation, got {cmd!r}")
        self.neg = parse_negotiation(data)
        self.outcome.negotiated = (f"v{self.neg.version} actions={self.neg.actions:#x} "
                                   f"protocol={self.neg.protocol:#x}")

    def macros(self, stage: str) -> list[tuple[str, bytes]]:
        names = self.neg.macros.get(stage, DEFAULT_MACROS.get(stage, ()))
        pairs = [(n, self.macro_values[n]) for n in names if self.macro_values.get(n)]
        if not pairs:
            return []
        return [("D", stage.encode() + cstr(*(x for pair in pairs for x in pair)))]

    def event(self, stage: str, data: bytes = b"") -> str | None:
        """Send one stage unless disabled; its reply unless no-reply. None means go on."""
        if not self.neg.sends(stage):
            return None
        self.send(*self.macros(stage), (stage, data))
        if not self.neg.waits(stage):
            return None
        while True:
            cmd, _ = self.read()
            if cmd == PROGRESS:
                continue
            if cmd == "c":
                return None
            if cmd == SKIP and stage == "B" and self.neg.protocol & P_SKIP:
                return SKIP
            if cmd in FINAL_REPLIES:
                return FINAL_REPLIES[cmd]
            raise ProtocolError(f"reply {cmd!r} is not allowed after {stage!r}")

    def end_of_message(self) -> str:
        """Send 'E' and collect modifications until the final reply."""
        self.send(*self.macros("E"), ("E", b""))
        while True:
            cmd, data = self.read()
            if cmd in FINAL_REPLIES:
                return FINAL_REPLIES[cmd]
            if cmd == PROGRESS:
                continue
            if cmd not in MODIFICATIONS:
                raise ProtocolError(f"unknown reply {cmd!r} at end of message")
            self.outcome.modifications.append(modification_label(cmd, data))

    def transaction(self) -> str:
        """Connect .. end of message; returns the verdict of the stage that ended it."""
        mail = self.mail
        family_port = b"4" + struct.pack(">H", 25000 + mail.index % 30000)
        steps: list[tuple[str, bytes]] = [
            ("C", cstr(mail.client_name) + family_port + cstr(mail.client_ip)),
            ("H", cstr(mail.helo)),
            ("M", cstr(f"<{mail.mail_from}>")),
        ]
        steps += [("R", cstr(f"<{rcpt}>")) for rcpt in mail.rcpts]
        steps.append(("T", b""))
        leadspc = bool(self.neg.protocol & P_HDR_LEADSPC)
        steps += [("L", cstr(name, value if leadspc else value.lstrip(" \t"))) for name, value in mail.headers]
        steps.append(("N", b""))
        for stage, data in steps:
            verdict = self.event(stage, data)
            if verdict is not None:
                return verdict
        for start in range(0, len(mail.body), CHUNK):
            verdict = self.event("B", mail.body[start : start + CHUNK])
            if verdict == SKIP:
                break
            if verdict is not None:
                return verdict
        started = time.perf_counter()
        verdict = self.end_of_message()
        self.outcome.eom_ms = (time.perf_counter() - started) * 1000
        return verdict

    def run(self) -> Outcome:
        self.negotiate()
        self.outcome.verdict = self.transaction()
        self.send(("Q", b""))
        return self.outcome


def modification_label(cmd: str, data: bytes) -> str:
    """'addheader:X-Spoofguard-Score', 'chgheader:Subject', 'quarantine', ..."""
    kind = MODIFICATIONS[cmd]
    if cmd in "hm":
        offset = 4 if cmd == "m" else 0  # chgheader starts with the header index
        name = data[offset:].split(b"\0", 1)[0].decode("utf-8", "replace")
        return f"{kind}:{name}"
    if cmd == "i":
        name = data[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
        return f"{kind}:{name}"
    return kind


def macro_values(mail: Mail, queue_id: str) -> dict[str, str]:
    return {
        "j": MTA_HOSTNAME,
        "{daemon_name}": MTA_HOSTNAME,
        "{client_addr}": mail.client_ip,
        "{client_name}": mail.client_name,
        "_": f"{mail.client_name} [{mail.client_ip}]",
        "{tls_version}": "TLSv1.3" if mail.tls else "",
        "i": queue_id,
        "{mail_addr}": mail.mail_from,
        "{rcpt_addr}": mail.rcpts[0],
    }


def parse_target(target: str) -> tuple[int, Any]:
    """Postfix/Sendmail socket names: inet:PORT@HOST, inet6:PORT@HOST, unix:PATH."""
    kind, _, rest = target.partition(":")
    if kind in ("unix", "local"):
        return socket.AF_UNIX, rest
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        family = socket.AF_INET6 if kind == "inet6" else socket.AF_INET
        return family, (host or "127.0.0.1", int(port))
    raise ValueError(f"unsupported target {target!r}: use inet:PORT@HOST or unix:/path")


def run_session(target: tuple[int, Any], mail: Mail, queue_id: str, timeout: float) -> Outcome:
    """One full session; failures become an error kind instead of an exception."""
    started = time.perf_counter()
    family, address = target
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError as exc:
                return Outcome(error=f"connect:{type(exc).__name__}", session_ms=elapsed_ms(started))
            if family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(sock, mail, queue_id)
            try:
                outcome = session.run()
            except Exception as exc:
                outcome = session.outcome
                outcome.error = error_kind(exc)
                if outcome.error == "closed" and outcome.negotiated is None:
                    outcome.error = "unanswered"  # connected, then dropped before the milter said a word
    except OSError as exc:
        outcome = Outcome(error=error_kind(exc))
    outcome.session_ms = elapsed_ms(started)
    return outcome


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, ProtocolError):
        return "protocol"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, EOFError | ConnectionResetError | BrokenPipeError):
        return "closed"
    return type(exc).__name__


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- closed-loop workers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What every worker needs; inherited through fork, so the messages are not copied."""

    target: tuple[int, Any]
    concurrency: int
    processes: int
    duration: float | None
    messages: int | None
    warmup: float
    timeout: float


@dataclass(slots=True)
class Tally:
    """Per-process results: raw latencies (for exact percentiles) and counters."""

    eom_ms: list[float] = field(default_factory=list)
    session_ms: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    modifications: Counter[str] = field(default_factory=Counter)
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    packets: Counter[str] = field(default_factory=Counter)
    negotiated: Counter[str] = field(default_factory=Counter)

    def add(self, mail: Mail, outcome: Outcome, done_at: float) -> None:
        self.done_at.append(done_at)
        self.session_ms.append(outcome.session_ms)
        self.packets.update(outcome.packets)
        if outcome.negotiated:
            self.negotiated[outcome.negotiated] += 1
        per_category = self.categories.setdefault(mail.category, Counter())
        per_category["messages"] += 1
        if outcome.error:
            self.errors[outcome.error] += 1
            per_category["error"] += 1
            return
        assert outcome.verdict is not None
        if outcome.eom_ms is not None:
            self.eom_ms.append(outcome.eom_ms)
        self.verdicts[outcome.verdict] += 1
        per_category[outcome.verdict] += 1
        for mod in set(outcome.modifications):
            per_category[mod] += 1
        self.modifications.update(outcome.modifications)
        if "quarantine" in outcome.modifications:
            self.verdicts["quarantine"] += 1

    def merge(self, other: Tally) -> None:
        self.eom_ms += other.eom_ms
        self.session_ms += other.session_ms
        self.done_at += other.done_at
        for name in ("errors", "verdicts", "modifications", "packets", "negotiated"):
            getattr(self, name).update(getattr(other, name))
        for category, counts in other.categories.items():
            self.categories.setdefault(category, Counter()).update(counts)


def sequence(slot: int, plan: Plan, stop_at: float) -> Iterator[int]:
    """Message numbers for one in-flight slot: slot, slot+N, slot+2N... until done."""
    seq = slot
    while (plan.messages is None or seq < plan.messages) and time.monotonic() < stop_at:
        yield seq
        seq += plan.concurrency


def slot_loop(slot: int, plan: Plan, mails: list[Mail], start_at: float, tally: Tally, lock: threading.Lock) -> None:
    """One in-flight session at a time, back to back (closed loop)."""
    stop_at = start_at + plan.duration if plan.duration is not None else float("inf")
    measure_from = start_at + plan.warmup
    for seq in sequence(slot, plan, stop_at):
        mail = mails[seq % len(mails)]
        outcome = run_session(plan.target, mail, f"{seq:010X}", plan.timeout)
        done = time.monotonic()
        if done < measure_from or done > stop_at:
            continue
        with lock:
            tally.add(mail, outcome, done)


def worker(index: int, plan: Plan, mails: list[Mail], go: Any, start_value: Any, results: Any) -> None:
    """One process: its share of the slots as threads; reports one Tally."""
    slots = [s for s in range(plan.concurrency) if s % plan.processes == index]
    tally, lock = Tally(), threading.Lock()
    go.wait()
    start_at = start_value.value
    time.sleep(max(0.0, start_at - time.monotonic()))
    threads = [threading.Thread(target=slot_loop, args=(s, plan, mails, start_at, tally, lock), daemon=True)
               for s in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(tally)


def run_load(plan: Plan, mails: list[Mail]) -> tuple[Tally, float]:
    """Start the worker processes together; returns the merged tally and the start time."""
    ctx = multiprocessing.get_context("fork")
    go, start_value, results = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(i, plan, mails, go, start_value, results), daemon=True)
             for i in range(plan.processes)]
    for proc in procs:
        proc.start()
    start_value.value = time.monotonic() + 0.2
    go.set()
    total = Tally()
    for _ in procs:
        total.merge(results.get())
    for proc in procs:
        proc.join()
    return total, start_value.value


# -- report ----------------------------------------------------------------------------


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 3)


def summary(tally: Tally, plan: Plan, start_at: float) -> dict[str, Any]:
    measured_from = start_at + plan.warmup
    last = max(tally.done_at, default=measured_from)
    window = plan.duration - plan.warmup if plan.duration is not None else last - measured_from
    count = len(tally.done_at)
    return {
        "messages": count,
        "errors": dict(tally.errors),
        "verdicts": dict(tally.verdicts),
        "modifications": dict(sorted(tally.modifications.items())),
        "categories": {k: dict(v) for k, v in sorted(tally.categories.items())},
        "msgs_per_s": round(count / window, 1) if window > 0 else None,
        "eom_p50_ms": percentile(tally.eom_ms, 50),
        "eom_p99_ms": percentile(tally.eom_ms, 99),
        "session_p50_ms": percentile(tally.session_ms, 50),
        "session_p99_ms": percentile(tally.session_ms, 99),
        "elapsed_s": round(last - start_at, 3),
        "packets_sent": dict(sorted(tally.packets.items())),
        "negotiated": dict(tally.negotiated),
        "concurrency": plan.concurrency,
        "processes": plan.processes,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("messages", result["messages"]),
        ("msgs/s", result["msgs_per_s"]),
        ("eom p50 / p99 ms", f"{result['eom_p50_ms']} / {result['eom_p99_ms']}"),
        ("session p50 / p99 ms", f"{result['session_p50_ms']} / {result['session_p99_ms']}"),
        ("verdicts", ", ".join(f"{k}={v}" for k, v in result["verdicts"].items()) or "-"),
        ("errors", ", ".join(f"{k}={v}" for k, v in result["errors"].items()) or "none"),
        ("elapsed s", result["elapsed_s"]),
        ("concurrency / processes", f"{result['concurrency']} / {result['processes']}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="inet:8895@127.0.0.1", help="inet:PORT@HOST or unix:/path")
    parser.add_argument("--concurrency", type=int, default=8, help="sessions in flight")
    parser.add_argument("--processes", type=int, help="worker processes (default min(concurrency, 4))")
    parser.add_argument("--duration", type=float, help="seconds to run (default 10 unless --messages)")
    parser.add_argument("--messages", type=int, help="total messages to send instead of --duration")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds at the start left out of the figures")
    parser.add_argument("--count", type=int, default=240, help="distinct messages to generate (>= 200 useful)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait on the milter per read")
    parser.add_argument("--dump", type=Path, help="write the generated messages as .eml files here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.duration is None and args.messages is None:
        args.duration = 10.0
    args.processes = max(1, min(args.processes or min(args.concurrency, 4), args.concurrency))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mails = generate(args.count, args.seed)
    if args.dump:
        dump(mails, args.dump)
        if args.messages == 0:
            return 0
    plan = Plan(parse_target(args.target), args.concurrency, args.processes, args.duration,
                args.messages, args.warmup, args.timeout)
    tally, start_at = run_load(plan, mails)
    result = summary(tally, plan, start_at)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
