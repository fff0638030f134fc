"""DKIM (RFC 6376) with dkimpy: every signature, a result per ``d=``.

dkimpy answers True/False per signature; the reasons it logs are captured so a user can
read why a signature failed ("body hash mismatch"). A key lookup that cannot be answered
now is *temperror*; a body past the scan cap cannot be hashed, so its signatures are
*unverified*, which DMARC treats as unknown rather than as a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import dkim
import dkim.util

from ...message import Message
from .dnsfuncs import DnsTempError


@dataclass(frozen=True, slots=True)
class DkimResult:
    domain: str  # d=
    selector: str  # s=
    result: str  # pass | fail | permerror | temperror | unverified
    reason: str = ""

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True, slots=True)
class SignatureTags:
    domain: str
    selector: str


def signature_tags(message: Message, header: str = "DKIM-Signature") -> list[SignatureTags]:
    """``d=`` and ``s=`` of each signature, known at end of headers: their keys can be
    fetched while the body is still arriving."""
    tags = (_tags_of(field.raw) for field in message.header_all(header))
    return [t for t in tags if t.domain and t.selector]


class _Reasons(logging.Logger):
    """Collects what dkimpy logs about one signature, to explain a failure."""

    def __init__(self) -> None:
        super().__init__("spoofguard.dkim", logging.DEBUG)
        self.messages: list[str] = []

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            self.messages.append(record.getMessage())


def verify_dkim(message: Message, dnsfunc: Callable[..., bytes | None], timeout: float) -> list[DkimResult]:
    """A result per signature. Keys come first: a signature whose key is missing or cannot
    be fetched now is answered without reading the message, and the message is parsed once
    for all the signatures that remain (dkimpy parses it whole when a verifier is made)."""
    fields = message.header_all("DKIM-Signature")
    if not fields:
        return []
    tags = [_tags_of(f.raw) for f in fields]
    if message.beyond_memory:
        return [DkimResult(t.domain, t.selector, "unverified", "body over analysis.body_in_memory was not hashed")
                for t in tags]
    found = [_without_key(tag, dnsfunc, timeout) for tag in tags]
    if all(result is not None for result in found):
        return [result for result in found if result is not None]
    verifier = dkim.DKIM(message.raw_bytes(), timeout=max(1, int(timeout)))
    results = []
    for index, (tag, early) in enumerate(zip(tags, found, strict=True)):
        results.append(early or _verify_one(verifier, index, tag, dnsfunc))
    return results


def _without_key(tag: SignatureTags, dnsfunc: Callable[..., bytes | None], timeout: float) -> DkimResult | None:
    """The result of a signature whose key is not there (permerror) or not to be had now
    (temperror); None when there is a key, or the tags are for dkimpy to judge. The answer
    is cached, so dkimpy's own fetch of the key costs nothing."""
    if not tag.domain or not tag.selector:
        return None
    name = f"{tag.selector}._domainkey.{tag.domain}."
    try:
        key = dnsfunc(name.encode("ascii", "replace"), timeout=timeout)
    except DnsTempError as exc:
        return DkimResult(tag.domain, tag.selector, "temperror", str(exc))
    except Exception:  # a name dkimpy would refuse on its own: let it say why
        return None
    return None if key else DkimResult(tag.domain, tag.selector, "permerror", f"missing public key: {name}")


def _verify_one(verifier: dkim.DKIM, index: int, tag: SignatureTags,
                dnsfunc: Callable[..., bytes | None]) -> DkimResult:
    reasons = _Reasons()
    verifier.logger = reasons
    try:
        ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
        result = "pass" if ok else "fail"
    except DnsTempError as exc:
        result, reasons.messages = "temperror", [str(exc)]
    except (dkim.KeyFormatError, dkim.MessageFormatError, dkim.ParameterError) as exc:
        result, reasons.messages = "permerror", [str(exc)]  # unusable signature or key
    except dkim.DKIMException as exc:
        result, reasons.messages = "fail", [str(exc)]  # e.g. body hash mismatch
    except Exception as exc:  # dkimpy on hostile input: report, never raise
        result, reasons.messages = "permerror", [f"{type(exc).__name__}: {exc}"]
    reason = reasons.messages[-1] if reasons.messages and result != "pass" else ""
    return DkimResult(tag.domain, tag.selector, result, reason)


def _tags_of(raw: str) -> SignatureTags:
    try:
        tags = dkim.util.parse_tag_value(raw.encode("utf-8", "surrogateescape"))
    except Exception:
        return SignatureTags("", "")
    return SignatureTags(
        tags.get(b"d", b"").decode("ascii", "replace").strip().lower(),
        tags.get(b"s", b"").decode("ascii", "replace").strip().lower(),
    )
