"""DKIM keys made for the tests with the openssl command, and signing with dkimpy."""

from __future__ import annotations

import base64
import functools
import subprocess

import dkim


@functools.lru_cache(maxsize=8)
def rsa_key(label: str = "default") -> tuple[bytes, str]:
    """A fresh 1024-bit RSA key: (private key PEM, DNS TXT value). One per label per run."""
    private = subprocess.run(["openssl", "genrsa", "1024"], capture_output=True, check=True).stdout
    der = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "DER"], input=private, capture_output=True, check=True
    ).stdout
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def sign(message: bytes, domain: str, selector: str, key: bytes, headers: list[bytes] | None = None) -> bytes:
    """``message`` with a DKIM-Signature prepended (relaxed/simple, as most senders use)."""
    signature = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        key,
        canonicalize=(b"relaxed", b"simple"),
        include_headers=headers or [b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return signature + message


def arc_seal(message: bytes, domain: str, selector: str, key: bytes, authserv_id: str) -> bytes:
    """``message`` with an ARC set added by ``domain``, as a mailing list would."""
    headers = dkim.arc_sign(
        message,
        selector.encode(),
        domain.encode(),
        key,
        authserv_id.encode(),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return b"".join(headers) + message
