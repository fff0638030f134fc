"""Which IP to judge: the connecting client, or, behind your own relays, the first hop
from outside them, found by walking the Received chain as SpamAssassin does."""

from __future__ import annotations

import ipaddress
import re

from .message import Message

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The address a receiving MTA recorded for the host it received from: "[192.0.2.1]" or
# "[IPv6:2001:db8::1]" inside the from-clause, before " by ".
_FROM_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")


def networks(items: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Validated CIDR strings (config) as networks."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def parse_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").removeprefix("IPv6:"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def trusted(ip: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    return ip is not None and any(ip in net for net in networks if net.version == ip.version)


def relay_ip(message: Message, networks: tuple[IPNetwork, ...]) -> tuple[IPAddress | None, str]:
    """The IP to judge and where it came from ("client" or "Received header N")."""
    client = parse_ip(message.envelope.client_ip)
    if not trusted(client, networks):
        return client, "client"
    for number, header in enumerate(message.header_all("Received"), 1):
        from_clause = header.value.split(" by ", 1)[0]
        found = _FROM_IP.search(from_clause)
        hop = parse_ip(found.group(1)) if found else None
        if hop is None or trusted(hop, networks):
            continue
        return hop, f"Received header {number}"
    return client, "client (every hop is trusted)"


def client_is_trusted(message: Message, networks: tuple[IPNetwork, ...]) -> bool:
    """The connecting client is one of your own relays."""
    return trusted(parse_ip(message.envelope.client_ip), networks)
