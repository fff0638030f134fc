"""Every signal a built-in check can emit is declared by its plugin, with what it means,
so `spoofguard signals` lists all an admin may see in a report header or a log line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spoofguard.checks.registry import plugins

CHECKS = Path(__file__).resolve().parents[2] / "milter" / "spoofguard" / "checks"
# the name argument of Signal(...), Signal.unknown(...) and the checks' _signal(...) helpers
_EMITTED = re.compile(r"""(?:Signal(?:\.unknown)?|_signal)\(\s*(f?)"([a-z_.{}()A-Z]+)["]""")


def emitted(name: str) -> set[str]:
    found = set()
    for path in (CHECKS / name).glob("*.py"):
        for is_f, text in _EMITTED.findall(path.read_text(encoding="utf-8")):
            shape = re.sub(r"\{[^}]*\}", "<>", text) if is_f else text
            found.add(shape if shape.startswith(f"{name}.") else f"{name}.{shape}")
    return found


def _pattern(shape: str) -> re.Pattern[str]:
    """A name with placeholders (``<result>`` declared, ``<>`` emitted) as a regex."""
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]*>", shape)))


def covered(shape: str, declared: list[str]) -> bool:
    return any(_pattern(d).fullmatch(shape) or _pattern(shape).fullmatch(d) for d in declared)


@pytest.mark.parametrize("name", ["auth", "impersonation", "content", "ip_reputation", "domain_age", "sender"])
def test_every_emitted_signal_is_declared_with_a_meaning(name: str) -> None:
    plugin = plugins()[name]
    declared = [f"{name}.{signal}" for signal in plugin.signals]
    assert all(meaning.strip() for meaning in plugin.signals.values())
    missing = {shape for shape in emitted(name) if not covered(shape, declared)}
    assert emitted(name) and not missing


def test_an_undeclared_signal_would_be_found() -> None:
    assert not covered("auth.dkim_pass", ["auth.spf_<result>"])
    assert covered("auth.dkim_pass", ["auth.dkim_<result>"])
