"""A real DNS server on loopback for tests: dnspython talks to it over UDP like to any
other server. Zones are set per test; the server counts queries and can be told to
delay, drop, SERVFAIL or REFUSE, which is how outages are simulated."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord


@dataclass
class LoopbackDNS:
    delay: float = 0.0
    mode: str = "answer"  # answer | drop | servfail | refused
    records: dict[str, list[RR]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queries: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)  # so stop() is noticed promptly
        self.address, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="loopback-dns", daemon=True)

    def __enter__(self) -> LoopbackDNS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def add(self, name: str, rtype: str, value: str, ttl: int = 300) -> None:
        """Add a record in zone-file syntax, e.g. ``add("x.test", "TXT", '"v=spf1 -all"')``."""
        record = RR.fromZone(f"{name.rstrip('.')}. {ttl} IN {rtype} {value}")[0]
        self.records.setdefault(_key(name), []).append(record)

    def add_txt(self, name: str, text: str, ttl: int = 300) -> None:
        """A TXT record holding ``text``, split into 255-octet strings as DNS requires."""
        data = text.encode()
        chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
        record = RR(name.rstrip(".") + ".", QTYPE.TXT, ttl=ttl, rdata=TXT(chunks))
        self.records.setdefault(_key(name), []).append(record)

    def add_ptr(self, ip: str, hostname: str, ttl: int = 300) -> None:
        reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
        self.add(reverse, "PTR", hostname.rstrip(".") + ".", ttl)

    def count(self, name: str | None = None, rtype: str | None = None) -> int:
        with self._lock:
            return sum(
                n for (qname, qtype), n in self.queries.items()
                if (name is None or qname == _key(name)) and (rtype is None or qtype == rtype)
            )

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                request = DNSRecord.parse(data)
            except Exception:
                continue
            qname, qtype = _key(str(request.q.qname)), QTYPE[request.q.qtype]
            with self._lock:
                self.queries[(qname, qtype)] += 1
            if self.mode == "drop":
                continue
            reply = self._reply(request, qname, qtype)
            if self.delay:
                threading.Timer(self.delay, self._send, (reply, peer)).start()
            else:
                self._send(reply, peer)

    def _reply(self, request: DNSRecord, qname: str, qtype: str) -> bytes:
        reply = request.reply()
        if self.mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
        elif self.mode == "refused":
            reply.header.rcode = RCODE.REFUSED
        elif qname not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            for record in self.records[qname]:
                if QTYPE[record.rtype] == qtype:
                    reply.add_answer(record)
        return reply.pack()

    def _send(self, payload: bytes, peer: tuple[str, int]) -> None:
        try:
            self._sock.sendto(payload, peer)
        except OSError:
            pass


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
