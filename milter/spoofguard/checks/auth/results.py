"""Authentication-Results (RFC 8601): reading upstream ones, spotting forged ones, writing
ours. Parsing uses ``authres``; a header it cannot parse is ignored, never trusted.

Which authserv-id a field claims is read by hand (``claimed_authserv_id``): ``authres``
gives up on whole fields a forger has made unparsable, and the id must still be found
to remove the field. RFC 8601's lexical forms are undone (comments, quoted strings, case,
a trailing dot); an id that cannot be read with certainty counts as claiming ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import authres
from authres import AuthenticationResult, AuthenticationResultProperty, AuthenticationResultsHeader

from ...message import Message

HEADER = "Authentication-Results"


@dataclass(frozen=True, slots=True)
class ReportedResult:
    method: str
    result: str
    properties: tuple[tuple[str, str, str], ...] = ()
    reason: str = ""

    def prop(self, ptype: str, name: str) -> str:
        for t, n, v in self.properties:
            if t == ptype and n == name:
                return v.lower()
        return ""


@dataclass(frozen=True, slots=True)
class ParsedResults:
    authserv_id: str
    results: tuple[ReportedResult, ...]


@dataclass(frozen=True, slots=True)
class ResultsField:
    index: int  # 1-based among Authentication-Results fields, as chgheader counts
    name: str
    parsed: ParsedResults | None
    claimed: str | None  # the normalised authserv-id ("" for none); None when it cannot be read for sure

    def claims(self, ids: frozenset[str]) -> bool:
        """Whether the field claims one of ``ids`` (normalised), failing closed: a field
        whose id cannot be read is taken to claim ours."""
        return self.claimed is None or self.claimed in ids


def parse_results(value: str) -> ParsedResults | None:
    try:
        header = AuthenticationResultsHeader.parse_value(" ".join(value.split()))
    except (authres.AuthResError, Exception):  # authres raises its own and builtin errors
        return None
    results = tuple(
        ReportedResult(
            method=str(r.method).lower(),
            result=str(r.result).lower(),
            properties=tuple((str(p.type).lower(), str(p.name).lower(), str(p.value)) for p in r.properties),
            reason=str(r.reason or r.result_comment or ""),
        )
        for r in header.results
    )
    return ParsedResults(str(header.authserv_id).lower(), results)


def results_fields(message: Message) -> list[ResultsField]:
    return [
        ResultsField(index, header.name, parse_results(header.raw), claimed_authserv_id(header.raw))
        for header, index in message.indexed_headers()
        if header.name.lower() == HEADER.lower()
    ]


def normalise_authserv_id(value: str) -> str:
    """Case folded, without a trailing dot: ``MX.Example.org.`` is ``mx.example.org``."""
    return value.strip().casefold().rstrip(".")


_ID = re.compile(r"[a-z0-9](?:[a-z0-9._\-]*[a-z0-9_\-])?")
_TOKEN_END = re.compile(r"[\s;()\"]")
_RESULT = re.compile(r"[a-z0-9_-]+=", re.IGNORECASE)


def claimed_authserv_id(value: str) -> str | None:
    """The authserv-id a field claims, lexically normalised; None when it is not certain:
    an unbalanced comment or quote, characters no host name has, or anything but a
    version number or ``;`` after it."""
    text = " ".join(value.split())
    at = _skip_cfws(text, 0)
    if at is None or at >= len(text):
        return None
    if text[at] == '"':
        quoted = _quoted_string(text, at)
        if quoted is None:
            return None
        raw_id, at = quoted
    else:
        end = _TOKEN_END.search(text, at)
        stop = end.start() if end else len(text)
        raw_id, at = text[at:stop], stop
    claimed = normalise_authserv_id(raw_id)
    if _RESULT.match(raw_id):
        return ""  # no authserv-id at all ("dkim=none ...", as some providers stamp): claims nobody's
    if not _ID.fullmatch(claimed):
        return None
    after = _skip_cfws(text, at)
    if after is None:
        return None
    rest = text[after:]
    if rest and not (rest[0] == ";" or rest[0].isdigit()):
        return None
    return claimed


def _skip_cfws(text: str, at: int) -> int | None:
    """Index past spaces and (nested, escaped) comments; None if a comment never closes."""
    depth = 0
    while at < len(text):
        char = text[at]
        if char == "\\" and depth:
            at += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not (depth or char.isspace()):
            return at
        at += 1
    return None if depth else at


def _quoted_string(text: str, at: int) -> tuple[str, int] | None:
    chars: list[str] = []
    at += 1
    while at < len(text):
        char = text[at]
        if char == "\\" and at + 1 < len(text):
            chars.append(text[at + 1])
            at += 2
            continue
        if char == '"':
            return "".join(chars), at + 1
        chars.append(char)
        at += 1
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One result in the header we write."""

    method: str
    result: str
    properties: tuple[tuple[str, str, str], ...] = ()
    reason: str = ""
    comment: str = ""


_SAFE_VALUE = re.compile(r"[A-Za-z0-9.@_+\-]+")


def build_value(authserv_id: str, entries: list[Entry]) -> str:
    """Our header value: ``id; spf=pass smtp.mailfrom=...; dkim=...``, in authres syntax.

    Property values taken from the message (addresses, domains) are quoted unless plainly
    safe, so a crafted envelope address cannot smuggle a fake ``; dkim=pass`` into it.
    """
    header = AuthenticationResultsHeader(
        authserv_id=authserv_id,
        results=[
            AuthenticationResult(
                method=e.method,
                result=e.result,
                reason=e.reason or None,
                result_comment=_comment(e.comment) or None,
                properties=[AuthenticationResultProperty(t, n, _quoted(v)) for t, n, v in e.properties if v],
            )
            for e in entries
        ],
    )
    return str(header).split(":", 1)[1].strip()


def _quoted(value: str) -> str:
    if _SAFE_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return text.replace("(", "[").replace(")", "]").replace("\\", "/")
