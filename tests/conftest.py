"""Test-wide guard: network traffic from tests goes to loopback only.

Any connect or datagram to another address fails the test loudly instead of quietly
asking a real resolver, RDAP or WHOIS server on the internet."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NonLoopbackTraffic(AssertionError):
    pass


# Violations in background threads are swallowed by the code under test (a lookup error
# becomes *unknown*), so each is also recorded here and fails the test that caused it.
VIOLATIONS: list[str] = []


def _check(address: Any) -> None:
    if not isinstance(address, tuple) or not address:
        return  # AF_UNIX paths and the like
    host = address[0]
    if host in ("localhost", ""):
        return
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        VIOLATIONS.append(f"by name: {host!r}")
        raise NonLoopbackTraffic(f"test tried to reach {host!r} by name") from None
    if not ip.is_loopback:
        VIOLATIONS.append(repr(address))
        raise NonLoopbackTraffic(f"test tried to reach {address!r}, outside loopback")


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    originals = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto")}

    def connect(self: socket.socket, address: Any) -> Any:
        _check(address)
        return originals["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        _check(address)
        return originals["connect_ex"](self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        _check(args[-1])
        return originals["sendto"](self, data, *args)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    yield
    for name, fn in originals.items():
        setattr(socket.socket, name, fn)


@pytest.fixture(autouse=True)
def no_traffic_outside_loopback(loopback_only: None) -> Iterator[None]:
    before = len(VIOLATIONS)
    yield
    assert VIOLATIONS[before:] == [], f"traffic outside loopback: {VIOLATIONS[before:]}"
