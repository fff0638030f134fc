"""A real WHOIS server (RFC 3912) on loopback for tests: one query line in, the
registry's text out, connection closed. Answers are set per domain in the format of
the TLD's registry; the server counts queries."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter

from tests.support.background import BackgroundServer

# Swedish Internet Foundation (.se), the layout its port-43 service uses.
SE_HEADER = """\
# Copyright (c) 1997- The Swedish Internet Foundation.
# All rights reserved.
# The information obtained through searches, or otherwise, is protected
# by the Swedish Copyright Act (1960:729) and international conventions.
# It is also subject to database protection according to the Swedish
# Copyright Act.
# Any use of this material to target advertising or
# similar activities is forbidden and will be prosecuted.
# If any of the information below is transferred to a third
# party, it must be done in its entirety. This server must
# not be used as a backend for a search engine.
# Result of search for registered domain names under
# the .se top level domain.
# This whois printout is printed with UTF-8 encoding.
#
"""


def se_record(domain: str, created: str, modified: str, expires: str) -> str:
    """A .se answer for a registered domain (dates as the registry prints them)."""
    return SE_HEADER + f"""\
state:            active
domain:           {domain}
holder:           (not shown)
created:          {created}
modified:         {modified}
expires:          {expires}
transferred:      {created}
nserver:          ns1.{domain}
nserver:          ns2.{domain}
dnssec:           unsigned delegation
registry-lock:    unlocked
status:           ok
registrar:        Example Registrar AB

"""


def se_not_found(domain: str) -> str:
    return SE_HEADER + f'domain "{domain}" not found\n'


# DENIC (.de): port 43 publishes no holder and no creation date, only "Changed".
DE_HEADER = """\
% Restricted rights.
%
% Terms and Conditions of Use
%
% The above data may only be used within the scope of technical or
% administrative necessities of Internet operation or to remedy legal
% problems.
% The use for other purposes, in particular for advertising, is not permitted.
%
% The DENIC whois service on port 43 doesn't disclose any information concerning
% the domain holder, general request and abuse contact.
% This information can be obtained through use of our web-based whois service
% available at the DENIC website:
% http://www.denic.de/en/domains/whois-service/web-whois.html
%
%

"""


def de_record(domain: str, changed: str) -> str:
    return DE_HEADER + f"""\
Domain: {domain}
Nserver: ns1.{domain}
Nserver: ns2.{domain}
Status: connect
Changed: {changed}
"""


def de_free(domain: str) -> str:
    return f"Domain: {domain}\nStatus: free\n"


class LoopbackWHOIS(BackgroundServer):
    """Context manager: ``with LoopbackWHOIS() as whois: whois.add("x.se", text)``."""

    def __init__(self, default: str = "No match for domain.\n") -> None:
        self.default = default
        self.queries: Counter[str] = Counter()
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 2.0

            def handle(self) -> None:
                try:
                    line = self.rfile.readline(1024)
                except OSError:
                    return
                query = line.decode("ascii", "replace").strip().lower()
                with owner._lock:
                    owner.queries[query] += 1
                    text = owner._answers.get(query, owner.default)
                self.wfile.write(text.replace("\n", "\r\n").encode())

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._serve(Server(("127.0.0.1", 0), Handler), "loopback-whois")

    def add(self, domain: str, text: str) -> None:
        with self._lock:
            self._answers[domain.lower()] = text

    def count(self, domain: str) -> int:
        with self._lock:
            return self.queries[domain.lower()]


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
