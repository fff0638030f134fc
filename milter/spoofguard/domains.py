"""Domain names as mail carries them: IDNA forms, organizational domains and domain lists.

Every function here takes arbitrary text from message headers and never raises on it:
a header is written by whoever sent the message, so a malformed domain is an ordinary
input, not an error.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Final

import idna
from publicsuffixlist import PublicSuffixList

from spoofguard.errors import ConfigError

MAX_DOMAIN_LENGTH: Final = 253
MAX_LABEL_LENGTH: Final = 63
ACE_PREFIX: Final = "xn--"
# Full stops that IDNA treats as label separators (RFC 3490 3.1).
_IDNA_DOTS: Final = ("\u3002", "\uff0e", "\uff61")
# Letters, digits and hyphen, plus the underscore that real host names carry in the wild:
# rejecting it would make DMARC alignment fail for an otherwise ordinary domain.
_ASCII_LABEL_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_LDH_CHARS: Final = _ASCII_LABEL_CHARS - {"_"}

_psl: PublicSuffixList | None = None
_psl_lock = threading.Lock()


def public_suffix_list() -> PublicSuffixList:
    """The shared Public Suffix List, parsed on first use from the copy the package ships."""
    global _psl
    if _psl is None:
        with _psl_lock:
            if _psl is None:
                _psl = PublicSuffixList(accept_unknown=True)
    return _psl


def _ascii_label(label: str) -> str | None:
    label = label.lower()
    if not 0 < len(label) <= MAX_LABEL_LENGTH or not _ASCII_LABEL_CHARS.issuperset(label):
        return None
    if label.startswith(ACE_PREFIX) and _decode_ace(label) is None:
        return None
    return label


def _decode_ace(label: str) -> str | None:
    """The U-label for a lowercase ``xn--`` label, or None when it does not round-trip."""
    try:
        decoded: str = idna.decode(label)  # IDNA 2008, as registries apply it
    except (UnicodeError, ValueError):
        return None
    if not decoded or "." in decoded or decoded.isascii():
        return None
    return decoded


def _label_to_ascii(label: str) -> str | None:
    if label.isascii():
        return _ascii_label(label)
    try:
        encoded: bytes = idna.encode(label, uts46=True)  # IDNA 2008 with UTS #46 mapping
    except (UnicodeError, ValueError):
        return None
    # Compatibility mapping can turn one character into several, dots included ("⒈" -> "1.").
    result = encoded.decode("ascii", "replace")
    if "." in result:
        return None
    return _ascii_label(result)


def to_ascii(domain: str) -> str | None:
    """The lowercase A-label (ASCII) form of ``domain``, or None when it is not a domain name.

    Accepts Unicode and ``xn--`` labels alike and strips one trailing dot.
    """
    text = domain
    for dot in _IDNA_DOTS:
        text = text.replace(dot, ".")
    if text.endswith("."):
        text = text[:-1]
    # A Unicode form outgrows its A-label only by characters that IDNA maps to nothing.
    if not text or len(text) > 4 * MAX_DOMAIN_LENGTH:
        return None
    labels = []
    for label in text.split("."):
        converted = _label_to_ascii(label)
        if converted is None:
            return None
        labels.append(converted)
    result = ".".join(labels)
    return result if len(result) <= MAX_DOMAIN_LENGTH else None


def to_unicode(domain: str) -> str:
    """``domain`` with each valid ``xn--`` label shown as Unicode; other labels lowercased as they are."""
    labels = []
    for label in domain.lower().split("."):
        decoded = _decode_ace(label) if label.startswith(ACE_PREFIX) and label.isascii() else None
        labels.append(decoded if decoded is not None else label)
    return ".".join(labels)


def is_domain_name(domain: str) -> bool:
    """True for a host name of two or more letter-digit-hyphen labels (IDN allowed)."""
    ascii_form = to_ascii(domain)
    if ascii_form is None or "." not in ascii_form:
        return False
    return all(
        _LDH_CHARS.issuperset(label) and not label.startswith("-") and not label.endswith("-")
        for label in ascii_form.split(".")
    )


def registrable_parts(domain: str) -> tuple[str, str] | None:
    """``(label, public_suffix)`` of the organizational domain, in A-label form.

    ``a.b.example.co.uk`` gives ``("example", "co.uk")``. None when ``domain`` is not a
    domain name or is itself a public suffix, so nothing below the suffix is registered.
    """
    ascii_form = to_ascii(domain)
    if ascii_form is None:
        return None
    psl = public_suffix_list()
    suffix = psl.publicsuffix(ascii_form)
    org = psl.privatesuffix(ascii_form)
    if suffix is None or org is None or len(org) <= len(suffix) + 1:
        return None
    return org[: -len(suffix) - 1], suffix


@functools.lru_cache(maxsize=8192)
def organizational_domain(domain: str) -> str:
    """The registrable domain per the Public Suffix List, in A-label form (RFC 7489 3.2).

    ``a.b.example.co.uk`` -> ``example.co.uk``; a public suffix such as ``co.uk`` is its own
    organizational domain; text that is not a domain name comes back lowercased, unchanged.
    """
    ascii_form = to_ascii(domain)
    if ascii_form is None:
        return domain.lower()
    org = public_suffix_list().privatesuffix(ascii_form)
    return org if org is not None else ascii_form


def domain_of(address: str) -> str | None:
    """The domain after the last ``@`` of an address, lowercased without a trailing dot."""
    at = address.rfind("@")
    if at < 0:
        return None
    domain = address[at + 1 :].strip().rstrip(">").strip().lower()
    if domain.endswith("."):
        domain = domain[:-1]
    return domain or None


def load_domain_list(path: Path) -> frozenset[str]:
    """Domains from a list file: one per line, ``#`` starts a comment; returned in A-label form.

    A line that is not a domain name stops start-up rather than silently protecting nothing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read domain list: {exc}") from exc
    domains: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        ascii_form = to_ascii(entry)
        if ascii_form is None or not is_domain_name(entry):
            raise ConfigError(path, f"line {number}", f"{entry!r} is not a domain name")
        domains.add(ascii_form)
    return frozenset(domains)
