"""The base of every config section, and the value rules sections share.

A section is a frozen msgspec Struct that refuses unknown keys: msgspec checks types,
missing keys and unknown keys; a field's ``Annotated[..., Rule(fn)]`` checks its value.
The section an admin writes is the object the code receives, so each default is written
once, next to the code that uses it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec


@dataclass(frozen=True, slots=True)
class Rule:
    """A value rule: returns the problem with a value, or None."""

    check: Callable[[Any], str | None]


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[table]`` of the config file."""

    def __post_init__(self) -> None:
        for name, rules in _rules(type(self)).items():
            value = getattr(self, name)
            for rule in rules:
                problem = rule.check(value)
                if problem:
                    # "name: problem"; msgspec adds where the section sits in the file
                    raise ValueError(f"{name}: {problem}")


@functools.cache
def _rules(cls: type) -> dict[str, tuple[Rule, ...]]:
    found = {}
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        rules = tuple(m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Rule))
        if rules:
            found[name] = rules
    return found


def at_least(low: float, what: str = "") -> Rule:
    return Rule(lambda v: None if v >= low else f"must be at least {low:g}{what}")


def between(low: float, high: float) -> Rule:
    return Rule(lambda v: None if low <= v <= high else f"must be between {low:g} and {high:g}")


def one_line(v: str) -> str | None:
    return None if "\n" not in v and "\r" not in v else "must be one line"


def _cidrs(v: tuple[str, ...]) -> str | None:
    for item in v:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP network (CIDR)"
    return None


def _ips(v: tuple[str, ...]) -> str | None:
    for item in v:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            return f"{item!r} is not an IP address"
    return None


DOMAIN = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?:xn--[a-z0-9-]+|[a-z]{2,63})")


def _is_domain(v: str) -> bool:
    return DOMAIN.fullmatch(v.lower().rstrip(".")) is not None


def _domains(v: tuple[str, ...]) -> str | None:
    return next((f"{item!r} is not a domain name" for item in v if not _is_domain(item)), None)


def _zone(v: str) -> str | None:
    return None if _is_domain(v) else f"{v!r} is not a DNS zone name"


def short_name(name: str, zone: str) -> str:
    """A DNS list's or age zone's name in signals: the one given, else the zone's first label."""
    return name or zone.lower().rstrip(".").split(".")[0]


def first_repeated(names: list[str]) -> str | None:
    return next((name for index, name in enumerate(names) if name in names[:index]), None)


def url(v: str) -> str | None:
    return None if v.startswith(("https://", "http://")) else f"{v!r} is not an http(s) URL"


Positive = Annotated[float, Rule(lambda v: None if v > 0 else "must be greater than 0")]
PositiveInt = Annotated[int, Rule(lambda v: None if v > 0 else "must be greater than 0")]
NonNegative = Annotated[float, Rule(lambda v: None if v >= 0 else "must not be negative")]
NonPositive = Annotated[float, Rule(lambda v: None if v <= 0 else "must not be positive")]
Fraction = Annotated[float, Rule(lambda v: None if 0 <= v <= 1 else "must be between 0 and 1")]
Networks = Annotated[tuple[str, ...], Rule(_cidrs)]
Addresses = Annotated[tuple[str, ...], Rule(_ips)]
Domains = Annotated[tuple[str, ...], Rule(_domains)]
Zone = Annotated[str, Rule(_zone)]
OneLine = Annotated[str, Rule(one_line)]
