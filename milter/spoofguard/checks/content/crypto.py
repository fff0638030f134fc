"""Cryptocurrency addresses in mail text, recognised by format and checksum.

Extortion mail almost always names a wallet. A string that merely looks like an address
(a hash, a token, random base58) proves nothing, so only addresses whose checksum holds
are reported: a real address is strong evidence, a look-alike is not evidence at all.

Scan the text *before* case folding: base58 and EIP-55 checksums are case sensitive.
Only main-network formats are recognised; a test-network address in a demand is not money.

Libraries: ``base58`` does Bitcoin's base58check; ``pycryptodome`` supplies keccak-256
(Ethereum and Monero hash with the original Keccak padding, not hashlib's SHA3-256).
Written here: bech32/bech32m, because the ``bech32`` package (last release 2020) predates
BIP 350 and rejects every taproot address; and Monero's block-wise base58, which no small
maintained package offers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import base58
from Crypto.Hash import keccak

__all__ = ["CryptoAddress", "find_addresses"]


@dataclass(frozen=True, slots=True)
class CryptoAddress:
    coin: str  # "bitcoin" | "ethereum" | "monero"
    address: str
    checksum: str  # "valid" | "none" (an all-lower or all-upper Ethereum address carries none)


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_CLASS = "1-9A-HJ-NP-Za-km-z"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

# One pass over the text finds every candidate; the checksum code only ever sees the few
# strings that already have an address's shape. The boundaries keep a candidate from being
# cut out of a longer token (a 64-digit hash does not contain an Ethereum address).
_CANDIDATE = re.compile(
    rf"""(?<![0-9A-Za-z])(?:
        (?P<xmr>[48][{_B58_CLASS}]{{94}}(?:[{_B58_CLASS}]{{11}})?)
      | (?P<b58>[13][{_B58_CLASS}]{{25,34}})
      | (?P<bech>(?:bc1[02-9ac-hj-np-z]{{8,87}}|BC1[02-9AC-HJ-NP-Z]{{8,87}}))
      | (?P<eth>0x[0-9a-fA-F]{{40}})
    )(?![0-9A-Za-z])""",
    re.VERBOSE,
)


_LONG_RUN = re.compile(r"[0-9A-Za-z]{11,}")  # the shortest address: bech32 "bc1" + 8


def _candidates(text: str) -> list[re.Match[str]]:
    """What ``_CANDIDATE.finditer(text)`` finds, only faster: an address is a whole run of
    at least 11 letters and digits, so it lies inside a whitespace-separated token at least
    that long, and those are rare in mail text. Splitting on whitespace runs in C; the
    look-behind regex would otherwise start at every position of the text."""
    found: list[re.Match[str]] = []
    for token in text.split():
        if len(token) < 11:
            continue
        for run in _LONG_RUN.finditer(token):
            match = _CANDIDATE.fullmatch(run.group())
            if match is not None:
                found.append(match)
    return found


def find_addresses(text: str) -> list[CryptoAddress]:
    """Every checksum-valid address in ``text``, in order of appearance (repeats kept)."""
    found: list[CryptoAddress] = []
    for match in _candidates(text):
        kind, candidate = match.lastgroup, match.group()
        if kind == "xmr":
            if _monero_valid(candidate):
                found.append(CryptoAddress("monero", candidate, "valid"))
        elif kind == "b58":
            if _base58check_valid(candidate):
                found.append(CryptoAddress("bitcoin", candidate, "valid"))
        elif kind == "bech":
            if _segwit_valid(candidate):
                found.append(CryptoAddress("bitcoin", candidate, "valid"))
        else:
            checksum = _eip55(candidate[2:])
            if checksum is not None:
                found.append(CryptoAddress("ethereum", candidate, checksum))
    return found


# --- Bitcoin: base58check (P2PKH, P2SH) -------------------------------------------------

_BTC_VERSIONS = frozenset({0x00, 0x05})  # mainnet P2PKH, P2SH


def _base58check_valid(address: str) -> bool:
    try:
        payload = base58.b58decode_check(address)
    except ValueError:
        return False
    return len(payload) == 21 and payload[0] in _BTC_VERSIONS


# --- Bitcoin: segwit bech32 (BIP 173) and bech32m (BIP 350) -----------------------------

_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_HRP_EXPANDED = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"]


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _segwit_valid(address: str) -> bool:
    """A mainnet segwit address: v0 with bech32, v1..16 with bech32m (BIP 350)."""
    if len(address) > 90:
        return False
    data = [_BECH32.index(c) for c in address[3:].lower()]  # the regex allowed only charset
    if len(data) < 7:
        return False
    const = _polymod(_HRP_EXPANDED + data)
    version, program = data[0], _convert_5_to_8(data[1:-6])
    if program is None or not 2 <= len(program) <= 40 or version > 16:
        return False
    if version == 0:
        return const == _BECH32_CONST and len(program) in (20, 32)
    return const == _BECH32M_CONST


def _convert_5_to_8(data: list[int]) -> bytes | None:
    acc = bits = 0
    out = bytearray()
    for value in data:
        acc = (acc << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:  # padding must be short and all zeros
        return None
    return bytes(out)


# --- Ethereum: EIP-55 -------------------------------------------------------------------


def _keccak256(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


def _eip55(hex40: str) -> str | None:
    """'valid' for a correct mixed-case checksum, 'none' for single case, None if wrong."""
    if hex40 == hex40.lower() or hex40 == hex40.upper():
        return "none"
    lower = hex40.lower()
    digest = _keccak256(lower.encode("ascii")).hex()
    expected = "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower, digest[:40], strict=True))
    return "valid" if hex40 == expected else None


# --- Monero: block base58 with a keccak-256 checksum -------------------------------------

# Monero encodes 8-byte blocks as 11 characters each; a shorter last block of n bytes takes
# _BLOCK_CHARS[n] characters.
_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_CHAR_BYTES = {chars: size for size, chars in enumerate(_BLOCK_CHARS)}
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
# Mainnet network bytes: standard address, integrated address, subaddress.
_XMR_PREFIXES = {95: frozenset({18, 42}), 106: frozenset({19})}


def _monero_decode(address: str) -> bytes | None:
    out = bytearray()
    for start in range(0, len(address), 11):
        block = address[start : start + 11]
        size = _CHAR_BYTES.get(len(block))
        if size is None:
            return None
        value = 0
        for c in block:
            value = value * 58 + _B58_INDEX[c]
        if value >> (8 * size):
            return None  # overflows its block: not something Monero would have written
        out += value.to_bytes(size, "big")
    return bytes(out)


def _monero_valid(address: str) -> bool:
    raw = _monero_decode(address)
    if raw is None or raw[0] not in _XMR_PREFIXES.get(len(address), frozenset()):
        return False
    return _keccak256(raw[:-4])[:4] == raw[-4:]
