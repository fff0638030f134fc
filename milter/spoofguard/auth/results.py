"""Authentication-Results (RFC 8601): reading upstream ones, spotting forged ones, writing
ours. Parsing uses ``authres``; a header it cannot parse is ignored, never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import authres
from authres import AuthenticationResult, AuthenticationResultProperty, AuthenticationResultsHeader

from ..message import Message

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
        ResultsField(index, header.name, parse_results(header.raw))
        for header, index in message.indexed_headers()
        if header.name.lower() == HEADER.lower()
    ]


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
