"""A real RDAP server on loopback for tests: ``requests`` talks HTTP to it like to any
registry. Domains answer with RFC 9083 JSON shaped like Verisign's .com service;
errors (429 with Retry-After, 500, garbage) are scripted per domain, and the server
counts requests per path and the most requests it had in flight at once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.background import BackgroundServer

RDAP_PREFIX = "/rdap/"


def _date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def domain_object(
    name: str, base_url: str, registered: datetime, events: dict[str, datetime] | None = None
) -> dict[str, Any]:
    """An RDAP domain object as a gTLD registry publishes it (RFC 9083 §5.3)."""
    upper = name.upper()
    all_events = {"registration": registered, **(events or {})}
    all_events.setdefault("expiration", registered.replace(year=registered.year + 10))
    all_events.setdefault("last update of RDAP database", datetime.now(UTC).replace(microsecond=0))
    return {
        "objectClassName": "domain",
        "handle": f"{abs(hash(name)) % 10**10}_DOMAIN_{name.rsplit('.', 1)[-1].upper()}-VRSN",
        "ldhName": upper,
        "links": [
            {
                "value": f"{base_url}domain/{upper}",
                "rel": "self",
                "href": f"{base_url}domain/{upper}",
                "type": "application/rdap+json",
            },
            {
                "value": f"https://rdap.registrar.invalid/rdap/domain/{upper}",
                "rel": "related",
                "href": f"https://rdap.registrar.invalid/rdap/domain/{upper}",
                "type": "application/rdap+json",
            },
        ],
        "status": ["client transfer prohibited"],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "1068",
                "roles": ["registrar"],
                "publicIds": [{"type": "IANA Registrar ID", "identifier": "1068"}],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", "Example Registrar, Inc."]],
                ],
                "entities": [
                    {
                        "objectClassName": "entity",
                        "roles": ["abuse"],
                        "vcardArray": [
                            "vcard",
                            [
                                ["version", {}, "text", "4.0"],
                                ["fn", {}, "text", ""],
                                ["tel", {"type": "voice"}, "uri", "tel:+1.5555550100"],
                                ["email", {}, "text", "abuse@registrar.invalid"],
                            ],
                        ],
                    }
                ],
            }
        ],
        "events": [
            {"eventAction": action, "eventDate": _date(when)} for action, when in all_events.items()
        ],
        "secureDNS": {"delegationSigned": False},
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": f"NS{i}.{upper}"} for i in (1, 2)
        ],
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_technical_implementation_guide_0",
            "icann_rdap_response_profile_0",
        ],
        "notices": [
            {
                "title": "Terms of Use",
                "description": ["Service subject to Terms of Use."],
                "links": [{"href": "https://registry.invalid/rdap/terms", "type": "text/html"}],
            },
            {
                "title": "Status Codes",
                "description": [
                    "For more information on domain status codes, please visit https://icann.org/epp"
                ],
                "links": [{"href": "https://icann.org/epp", "type": "text/html"}],
            },
        ],
    }


NOT_FOUND_BODY = json.dumps(
    {
        "errorCode": 404,
        "title": "Not Found",
        "description": ["The requested object was not found."],
        "rdapConformance": ["rdap_level_0"],
    }
)


class LoopbackRDAP(BackgroundServer):
    """Context manager: ``with LoopbackRDAP() as rdap: rdap.add_domain(...)``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds each answer is held back
        self.requests: Counter[str] = Counter()
        self.max_active = 0
        self._active = 0
        self._lock = threading.Lock()
        self._domains: dict[str, bytes] = {}
        self._files: dict[str, tuple[int, bytes]] = {}
        self._scripts: dict[str, deque[list[Any]]] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._serve(server, "loopback-rdap")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The RDAP base URL, as a bootstrap file would list it (trailing slash)."""
        return self.url + RDAP_PREFIX

    def path_for(self, name: str) -> str:
        return f"{RDAP_PREFIX}domain/{name.lower()}"

    def add_domain(
        self, name: str, registered: datetime, events: dict[str, datetime] | None = None
    ) -> None:
        body = json.dumps(domain_object(name, self.base_url, registered, events))
        with self._lock:
            self._domains[name.lower()] = body.encode()

    def respond(
        self,
        name: str,
        status: int,
        body: str | bytes,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Script an answer for ``name``: used ``times`` times (None: for good), in the
        order scripted, before the domain's normal answer."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._scripts.setdefault(name.lower(), deque()).append(
                [status, data, dict(headers or {}), times]
            )

    def add_file(self, path: str, body: str | bytes, status: int = 200) -> None:
        """Serve any other path, e.g. a ``dns.json`` for bootstrap downloads."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._files[path] = (status, data)

    def bootstrap_for(self, tlds: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """A ``dns.json``-shaped dict sending these TLDs to this server."""
        return {
            "description": "RDAP bootstrap file for Domain Name System registrations",
            "publication": "2026-01-01T00:00:00Z",
            "services": [[list(tlds), [self.base_url]]],
            "version": "1.0",
        }

    def count(self, name: str) -> int:
        with self._lock:
            return self.requests[self.path_for(name)]

    # -- serving ------------------------------------------------------------------------

    def _answer(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.requests[path] += 1
            if path in self._files:
                status, data = self._files[path]
                return status, data, {"Content-Type": "application/json"}
            if not path.startswith(RDAP_PREFIX + "domain/"):
                return 400, b'{"errorCode":400,"title":"Bad Request"}', {}
            name = path[len(RDAP_PREFIX + "domain/"):].lower()
            script = self._scripts.get(name)
            if script:
                entry = script[0]
                status, data, headers, times = entry
                if times is not None:
                    entry[3] = times - 1
                    if entry[3] <= 0:
                        script.popleft()
                return status, data, headers
            if name in self._domains:
                return 200, self._domains[name], {}
            return 404, NOT_FOUND_BODY.encode(), {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with owner._lock:
                    owner._active += 1
                    owner.max_active = max(owner.max_active, owner._active)
                try:
                    if owner.delay:
                        time.sleep(owner.delay)
                    status, data, headers = owner._answer(self.path.split("?", 1)[0])
                finally:
                    # counted as finished before the answer leaves, so a client that has
                    # read it can never look like an overlapping request
                    with owner._lock:
                        owner._active -= 1
                self.send_response(status)
                headers = {"Content-Type": "application/rdap+json", **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
