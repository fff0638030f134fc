"""Folding undoes the usual ways of writing past a filter, and names each one it undid."""

from __future__ import annotations

import pytest

from spoofguard.checks.content.normalize import fold, normalize


def test_normalize_contract() -> None:
    assert normalize("  ＷＥ  Know\u200b\n\tWHERE\u202e ") == "we know where"


@pytest.mark.parametrize(
    ("text", "folded", "evasion"),
    [
        ("c o m e  a f t e r  y o u", "come after you", "spaced-out letters"),
        ("we will c 0 m e", "we will come", "spaced-out letters"),
        ("v.o.t.e for him", "vote for him", "punctuated letters"),
        ("v-o-t-e", "vote", "punctuated letters"),
        ("v_o_t_e", "vote", "punctuated letters"),
        ("c. o. m. e after you", "come after you", "punctuated letters"),
        ("c0me after y0u", "come after you", "leetspeak"),
        ("we will k1ll you", "we will kill you", "leetspeak"),
        ("v0te or else", "vote or else", "leetspeak"),
        ("send b1tc0in", "send bitcoin", "leetspeak"),
        ("p@y now, ca$h only", "pay now, cash only", "leetspeak"),
        ("w\u0435 kn\u043ew where you live", "we know where you live", "confusable characters"),
        ("\u0440\u0430\u0443 now", "pay now", "confusable characters"),
        ("we kn\u200dow wh\u200bere", "we know where", "zero-width characters"),
        ("we kn\u202cow", "we know", "bidi controls"),
        ("\u202euoy llik lliw ew", "we will kill you", "bidi controls"),
    ],
)
def test_evasion_is_folded_and_named(text: str, folded: str, evasion: str) -> None:
    result = fold(text)
    assert result.folded == folded
    assert evasion in result.evasions
    assert result.plain == normalize(text)


@pytest.mark.parametrize(
    "text",
    [
        "pay $500 within 24 hours",
        "in 2026 and 10am, room 4b, mp3, 24h, x509, covid19, 1st, ipv4",
        "write to j.r.smith@example.com or bob_99@mail.example.org",
        "see https://t.co/a4bx9k1l?x=1.2.3 and www.example.com/v-o-t-e",
        "version 1.2.3, order 3f4a9c0e55, 1 2 3 go",
        "hello world, nothing to see here.",
        "tenemos toda tu información",
        "привет, как дела? сор",
        "emoji family \U0001F468\u200d\U0001F469\u200d\U0001F467",
        "Schiff\u00adfahrt",
    ],
)
def test_near_misses_are_not_evasions(text: str) -> None:
    result = fold(text)
    assert result.evasions == ()


def test_near_misses_keep_their_text() -> None:
    assert fold("pay $500 within 24 hours in 2026").folded == "pay $500 within 24 hours in 2026"
    assert fold("mail j.r.smith@example.com").folded == "mail j.r.smith@example.com"
    assert fold("https://t.co/a4bx9k1l").folded == "https://t.co/a4bx9k1l"


def test_abbreviations_join_without_an_evasion() -> None:
    # "U.S.A." joining to "usa" is harmless and keeps the punctuated-letter rule simple.
    result = fold("Made in the U.S.A.")
    assert result.folded == "made in the usa"
    assert result.evasions == ()


def test_accents_stripped_in_folded_only() -> None:
    result = fold("Sabemos dónde vives, señor")
    assert result.plain == "sabemos dónde vives, señor"
    assert result.folded == "sabemos donde vives, senor"


def test_real_foreign_words_are_kept() -> None:
    result = fold("Мы знаем, где вы живёте")
    assert result.folded == "мы знаем, где вы живете"  # only the accent (ё) is folded
    assert result.evasions == ()


def test_several_evasions_are_all_named_once() -> None:
    result = fold("c o m e  a f t e r  y o u or w\u0435 will k1ll, v.o.t.e, ex\u200bposed")
    assert result.folded == "come after you or we will kill, vote, exposed"
    assert set(result.evasions) == {
        "spaced-out letters", "confusable characters", "leetspeak", "punctuated letters",
        "zero-width characters",
    }
    assert len(result.evasions) == len(set(result.evasions))


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000, "a " * 50_000, "a." * 50_000, "k1" * 50_000, "\u0430" * 50_000 + "a" * 50_000,
     "a@" * 50_000, "x:" * 50_000, "\u0430 " * 50_000, "\u202e" * 10_000 + "ab" * 10_000],
)
def test_pathological_input_stays_linear(text: str) -> None:
    import time

    started = time.perf_counter()
    fold(text)
    assert time.perf_counter() - started < 1.0
