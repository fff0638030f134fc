"""Cryptocurrency addresses: real ones found, one-character typos and look-alikes not."""

from __future__ import annotations

import hashlib
import random
import time
import uuid

import pytest

from spoofguard.checks.content.crypto import CryptoAddress, find_addresses

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

BITCOIN = [
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",  # genesis block coinbase (P2PKH)
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",  # Bitcoin wiki P2SH example
    # BIP 173 / BIP 350 valid mainnet vectors
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
]
ETHEREUM_CHECKSUMMED = [  # EIP-55 "test cases", normal (mixed case) addresses
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
ETHEREUM_SINGLE_CASE = [  # EIP-55 all-caps and all-lower test cases: no checksum to check
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
]
MONERO = [
    # Monero general fund donation address (a subaddress), from the project's site
    "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
    # the project's earlier donation address (standard)
    "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
    # integrated address: the one above with payment id feedbeef00c0ffee (made by monero-python)
    "4DrvGduF3ynBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVPv2oLVoc3crTvr5XNn",
]
VALID = (
    [CryptoAddress("bitcoin", a, "valid") for a in BITCOIN]
    + [CryptoAddress("ethereum", a, "valid") for a in ETHEREUM_CHECKSUMMED]
    + [CryptoAddress("ethereum", a, "none") for a in ETHEREUM_SINGLE_CASE]
    + [CryptoAddress("monero", a, "valid") for a in MONERO]
)
INVALID_VECTORS = [  # BIP 350 invalid mainnet addresses that still have an address's shape
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32 for v1
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # bech32 for v16
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # bech32m for v0
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # witness version 17
    "bc1pw5dgrnzv",  # program of 1 byte
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # more than 4 bits of padding
    "bc1gmk9yu",  # empty data section
    "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",  # mixed case
]


def mutate(address: str) -> str:
    """Change one character in the middle to another of the same alphabet and case kind."""
    i = len(address) // 2
    c = address[i]
    if address.lower().startswith("bc1"):
        alphabet = BECH32.upper() if c.isupper() else BECH32
    elif address.startswith("0x"):
        alphabet = "0123456789abcdef" if not c.isupper() else "0123456789ABCDEF"
    else:
        alphabet = B58
    return address[:i] + alphabet[(alphabet.index(c) + 1) % len(alphabet)] + address[i + 1 :]


@pytest.mark.parametrize("expected", VALID, ids=lambda a: a.address[:14])
def test_real_address_found_in_prose(expected: CryptoAddress) -> None:
    text = f"Send the money to\n{expected.address}.\nYou have 48 hours."
    assert find_addresses(text) == [expected]
    assert find_addresses(f"({expected.address})") == [expected]


@pytest.mark.parametrize("address", BITCOIN + ETHEREUM_CHECKSUMMED + MONERO, ids=lambda a: a[:14])
def test_one_character_typo_rejected(address: str) -> None:
    typo = mutate(address)
    assert typo != address
    assert find_addresses(f"pay to {typo} now") == []


@pytest.mark.parametrize("address", ETHEREUM_CHECKSUMMED, ids=lambda a: a[:14])
def test_eip55_case_flip_rejected(address: str) -> None:
    i = next(i for i, c in enumerate(address) if i > 2 and c.isalpha())
    flipped = address[:i] + address[i].swapcase() + address[i + 1 :]
    assert find_addresses(flipped) == []


@pytest.mark.parametrize("address", INVALID_VECTORS)
def test_bip350_invalid_vectors_rejected(address: str) -> None:
    assert find_addresses(f"wallet {address} thanks") == []


def test_genesis_address_by_hand() -> None:
    """Base58check done independently: int decode, double SHA-256, known hash160."""
    value = 0
    for c in BITCOIN[0]:
        value = value * 58 + B58.index(c)
    leading = len(BITCOIN[0]) - len(BITCOIN[0].lstrip("1"))
    raw = b"\0" * leading + value.to_bytes((value.bit_length() + 7) // 8, "big")
    payload, checksum = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum
    assert payload.hex() == "00" + "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"


def test_keccak_is_not_sha3() -> None:
    """Ethereum and Monero use original Keccak; the known empty-input digest pins it."""
    from Crypto.Hash import keccak

    assert keccak.new(data=b"", digest_bits=256).hexdigest() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert hashlib.sha3_256(b"").hexdigest() != keccak.new(data=b"", digest_bits=256).hexdigest()


def test_look_alikes_not_flagged() -> None:
    rng = random.Random(20240611)
    body = "1" + "".join(rng.choice(B58) for _ in range(94))
    look_alikes = [
        "1" + "".join(rng.choice(B58) for _ in range(33)),
        "3" + "".join(rng.choice(B58) for _ in range(33)),
        "4" + body[1:],
        "8" + body[1:],
        "4" + "".join(rng.choice(B58) for _ in range(105)),
        "bc1q" + "".join(rng.choice(BECH32) for _ in range(38)),
        "bc1p" + "".join(rng.choice(BECH32) for _ in range(58)),
        "0x" + "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(40)),  # bad EIP-55
        "".join(rng.choice("0123456789abcdef") for _ in range(40)),  # hex without 0x
        "3b18e512dba79e4c8300dd08aeb37f8e728b8dad",  # a git commit id
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256("")
        "0x" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a tx hash
        str(uuid.UUID(int=rng.getrandbits(128))),
        "x" + ETHEREUM_SINGLE_CASE[2],  # inside a longer token
        BITCOIN[0] + "Z",
        "a" + MONERO[0],
    ]
    for text in look_alikes:
        assert find_addresses(f"ref {text} end") == [], text


def test_every_address_in_order() -> None:
    text = " and ".join(a.address for a in VALID) + " " + VALID[0].address
    assert find_addresses(text) == [*VALID, VALID[0]]


def test_fast_on_a_megabyte() -> None:
    rng = random.Random(7)
    words = "the invoice is attached 2024 please pay by friday https://example.com/a?b=1 ID 3f2a9c1e".split()
    text = " ".join(rng.choice(words) for _ in range(150_000))[:1_000_000] + " " + MONERO[0]
    started = time.perf_counter()
    assert find_addresses(text) == [CryptoAddress("monero", MONERO[0], "valid")]
    assert time.perf_counter() - started < 1.0  # about 0.03 s on the reference machine
