"""The engine under the content rules, on a small vocabulary of its own: how words are
found (lexicon), how a rule fires on them (moves) and how quotation and reporting are
read (quotation). The shipped rule set is tested in test_rules.py and test_genres.py;
these tests pin the behaviour an admin writing rules relies on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofguard.checks.content.lexicon import Lexicon, WordClass, normalise_entry
from spoofguard.checks.content.moves import PART_BREAK, find_evidence, sentence_breaks
from spoofguard.checks.content.normalize import fold
from spoofguard.checks.content.quotation import Framing, mark_block_quotes, quoted_spans
from spoofguard.checks.content.rules import RuleSet, load_rule_file

RULES = """
[class.hack]
en = ["hacked", "broke into"]
de = ["gehackt"]
[class.device]
en = ["device", "computer", "account"]
de = ["gerat", "konto"]
[class.record]
es = ["grab*"]
en = ["video"]
[class.reader]
en = ["you", "your"]
de = ["ihr", "ihre", "deine"]
[class.reader_weak]
es = ["su"]
[class.formal_you]
es = ["usted"]
[class.speaker]
en = ["i", "we", "our"]
fr = ["j'"]
[class.send]
fr = ["enverrai"]
en = ["send"]
[class.negation]
en = ["not", "never", "don't"]
[class.condition]
en = ["if you don't", "unless"]
[class.pay]
en = ["pay"]
[class.world]
de = ["deine welt"]
[class.report_verb]
en = ["said", "says", "claims", "reads"]
fr = ["exige"]
[class.report_subject]
en = ["the scammers", "victims"]
[class.report_person]
en = ["police", "the email"]
[class.hearsay]
en = ["allegedly"]
[class.aftermath]
en = ["if you have already paid"]
[class.scam_word]
en = ["scam"]
[class.advice]
en = ["do not pay", "don't pay"]
[class.fiction]
en = ["film", "novel", "chapter", "villain"]

[[rule]]
id = "access.hacked"
move = "access"
weight = 2.5
description = "hacked the reader's device"
all = ["hack", "device"]
within = 4
reader = true
unless = ["negation"]
match = ["I hacked your computer."]
no_match = ["The computer was hacked."]

[[rule]]
id = "access.spoken"
move = "access"
weight = 2.0
description = "a speaker who hacked a device"
all = ["hack", "device"]
within = 4
speaker = true
match = ["We hacked the account."]
no_match = ["Someone hacked the account."]

[[rule]]
id = "payment.unless"
move = "payment"
weight = 2.0
description = "pay, in order"
all = ["pay", "condition"]
ordered = true
within = 3
match = ["Pay unless you want trouble."]
no_match = ["Unless stated, pay nothing."]

[[rule]]
id = "recording.su"
move = "recording"
weight = 2.0
description = "a recording of the reader, formally addressed"
all = ["record"]
reader = true
match = ["Usted sabe que grabé su video."]
no_match = ["Grabaron su video en la fiesta."]
"""


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path: Path = tmp_path_factory.mktemp("rules") / "engine.toml"
    path.write_text(RULES, encoding="utf-8")
    return load_rule_file(path)


def words(ruleset: RuleSet, text: str) -> list[tuple[str, set[str]]]:
    folded = fold(text).folded
    return [(folded[h.start:h.end], set(h.classes)) for h in ruleset.lexicon.scan(folded)]


def fired(ruleset: RuleSet, text: str) -> list[str]:
    folded = fold(text).folded
    return [e.rule.id for e in find_evidence(ruleset.lexicon.scan(folded, sentence_breaks(folded)),
                                             ruleset.word_rules)]


# -- lexicon ---------------------------------------------------------------------------------

def test_a_stem_takes_any_ending_and_a_word_only_itself(ruleset: RuleSet) -> None:
    assert ("grabado", {"record"}) in words(ruleset, "Lo he grabado todo.")
    assert ("grabacion", {"record"}) in words(ruleset, "Tengo la grabación.")
    assert not any(w == "videography" for w, _ in words(ruleset, "videography class"))


def test_case_accents_and_disguises_are_read_back(ruleset: RuleSet) -> None:
    assert ("gerat", {"device"}) in words(ruleset, "Ihr GERÄT wurde gehackt")
    assert ("hacked", {"hack"}) in words(ruleset, "I h-a-c-k-e-d your device")


def test_a_phrase_also_counts_as_the_word_it_starts_with(ruleset: RuleSet) -> None:
    assert ("deine welt", {"world", "reader"}) in words(ruleset, "Ich werde deine Welt zerstören")


def test_french_elision_is_two_words(ruleset: RuleSet) -> None:
    found = words(ruleset, "J'enverrai la vidéo")
    assert ("j'", {"speaker"}) in found and ("enverrai", {"send"}) in found


@pytest.mark.parametrize("text", ["pay $1,200 now", "send 0.5 BTC", "150 000 euros", "1.500,00 EUR", "€45k",
                                  "45 mil reais"])
def test_sums_of_money_are_found(ruleset: RuleSet, text: str) -> None:
    assert any("amount" in classes for _, classes in words(ruleset, text))


@pytest.mark.parametrize("text", ["you owe me 20 bucks", "10 pounds for the pizza", "$12.50 shipping"])
def test_pocket_money_is_no_sum(ruleset: RuleSet, text: str) -> None:
    assert not any("amount" in classes for _, classes in words(ruleset, text))


@pytest.mark.parametrize("text", ["you have 48 hours", "72 Stunden", "within 24h", "two days", "cuarenta y ocho horas"])
def test_stretches_of_time_are_found(ruleset: RuleSet, text: str) -> None:
    assert any("duration" in classes for _, classes in words(ruleset, text))


@pytest.mark.parametrize("text", ["aberto das 8h às 17h", "ouvert de 9h-18h", "réunion à 17h"])
def test_clock_times_are_no_stretch_of_time(ruleset: RuleSet, text: str) -> None:
    assert not any("duration" in classes for _, classes in words(ruleset, text))


def test_entries_are_normalised_as_text_is() -> None:
    assert normalise_entry("Vídeo") == "video"
    assert normalise_entry("grabé*") == "grabe*"
    lexicon = Lexicon([WordClass("x", "", (normalise_entry("naïve"),))])
    assert [h.classes for h in lexicon.scan(fold("NAIVE").folded)] == [frozenset({"x"})]


# -- moves -----------------------------------------------------------------------------------

def test_a_rule_fires_on_its_classes_within_reach_in_any_order(ruleset: RuleSet) -> None:
    assert "access.hacked" in fired(ruleset, "I hacked your computer.")
    assert "access.hacked" in fired(ruleset, "Ihr Konto wurde gehackt.")  # German puts the verb last


def test_words_too_far_apart_make_no_move(ruleset: RuleSet) -> None:
    assert "access.hacked" not in fired(ruleset, "Your computer is, as we all know very well, hacked.")


def test_a_move_is_made_within_one_sentence(ruleset: RuleSet) -> None:
    assert "access.hacked" not in fired(ruleset, "Your computer. Hacked sites are common.")


def test_the_subject_is_a_sentence_of_its_own(ruleset: RuleSet) -> None:
    assert "access.hacked" not in fired(ruleset, "Your device" + PART_BREAK + "hacked accounts abound")


def test_the_reader_must_be_in_the_same_sentence(ruleset: RuleSet) -> None:
    assert "access.hacked" not in fired(ruleset, "Someone hacked the computer. You know who.")


def test_a_speaker_anywhere_in_the_sentence_counts(ruleset: RuleSet) -> None:
    far = "We, the group that has for many long and patient years now quietly hacked the account."
    assert "access.spoken" in fired(ruleset, far)


def test_a_negation_right_before_voids_the_move_and_a_distant_one_does_not(ruleset: RuleSet) -> None:
    assert "access.hacked" not in fired(ruleset, "Your account was not hacked.")
    assert "access.hacked" not in fired(ruleset, "Your account has not been hacked.")  # one auxiliary away
    assert "access.hacked" in fired(ruleset, "Not a word to anyone: I hacked your computer.")


def test_ordered_groups_must_come_in_order(ruleset: RuleSet) -> None:
    assert "payment.unless" in fired(ruleset, "Pay unless you want trouble.")
    assert "payment.unless" not in fired(ruleset, "Unless stated, pay nothing.")


def test_su_is_your_only_when_the_reader_is_addressed_formally(ruleset: RuleSet) -> None:
    assert "recording.su" not in fired(ruleset, "Grabaron su video en la fiesta.")
    assert "recording.su" in fired(ruleset, "Usted sabe que grabé su video.")


# -- quotation -------------------------------------------------------------------------------

def spans(text: str) -> list[str]:
    return [text[a:b] for a, b in quoted_spans(text)]


@pytest.mark.parametrize("text, inside", [
    ("he wrote “pay or else” to them", "pay or else"),
    ("sie schrieb „zahlen Sie“ sofort", "zahlen Sie"),
    ("sie schrieb „zahlen Sie\" sofort", "zahlen Sie"),
    ("il a écrit «payez» hier", "payez"),
    ('they said "pay now" twice', "pay now"),
])
def test_quotation_marks_of_every_language(text: str, inside: str) -> None:
    assert any(inside in span for span in spans(text))


def test_an_apostrophe_opens_no_quotation() -> None:
    assert spans("don't pay, it's a scam, isn't it") == []


def test_block_quotes_become_quotations() -> None:
    marked = mark_block_quotes("The mail said:\n> I hacked you\n> pay now\nStay calm.")
    assert "\u201cI hacked you\npay now\u201d" in marked


def framing(ruleset: RuleSet, text: str) -> tuple[Framing, str]:
    folded = fold(text).folded
    breaks = sentence_breaks(folded)
    return Framing(folded, ruleset.lexicon.scan(folded, breaks), breaks), folded


def reported(ruleset: RuleSet, text: str, words_: str) -> bool:
    frame, folded = framing(ruleset, text)
    start = folded.index(words_)
    return frame.reported(start, start + len(words_))


def test_a_quotation_opening_inside_the_words_still_covers_most_of_them(ruleset: RuleSet) -> None:
    assert reported(ruleset, 'Otherwise the video "goes to all your friends and family".',
                    'video "goes to all your friends and family')


def test_a_sentence_that_names_the_mail_or_its_senders_reports(ruleset: RuleSet) -> None:
    assert reported(ruleset, "The scammers claim they hacked your computer.", "hacked your computer")
    assert reported(ruleset, "Police said someone hacked your computer.", "hacked your computer")
    assert reported(ruleset, "He allegedly hacked your computer.", "hacked your computer")
    assert reported(ruleset, "If you have already paid, your computer is safe.", "your computer")
    assert not reported(ruleset, "I hacked your computer.", "hacked your computer")


def test_a_colon_introduces_quoted_words_only_after_a_sentence_that_reports(ruleset: RuleSet) -> None:
    assert reported(ruleset, "The email reads: I hacked your computer.", "hacked your computer")
    assert not reported(ruleset, "Montant exigé : I hacked your computer.", "hacked your computer")


def test_the_frame_of_a_report(ruleset: RuleSet) -> None:
    frame, _ = framing(ruleset, "Victims receive emails. It is a scam. Do not pay.")
    assert set(frame.cues) == {"reporting", "naming the scam", "advice"}


def test_no_frame_from_a_threat_own_words(ruleset: RuleSet) -> None:
    frame, _ = framing(ruleset, "This is not a scam. If you don't pay, I send the video.")
    assert frame.cues == {}


def test_three_words_of_a_story_frame_it(ruleset: RuleSet) -> None:
    frame, _ = framing(ruleset, "In chapter two of the novel the villain threatens the town.")
    assert "a review of it" in frame.cues
