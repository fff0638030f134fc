"""Write config/rules/inflections.toml: every inflected form of the words in words.toml.

A hand-written class names a word once or twice ("copiamos", "publierons"); mail uses
every other form of it too ("copiaron", "copiado", "publions", "publié"). simplemma maps
forms to their lemma; read backwards, its dictionaries give each lemma's forms. This runs
when the vocabulary changes, not on the mail server: the dictionaries take hundreds of
megabytes, the file they produce is plain words an admin can read, and the lexicon scans
it in the same single pass as the rest.

Left out, because they would make a word class match what it does not mean:
  - the forms of auxiliaries and other verbs that are everywhere (have, haben, avoir, ir);
  - forms shorter than four letters;
  - a form that is a word of another language the class does not list: Italian "more"
    (from morire) is English "more", German "totes" is English "totes";
  - a form some other class lists by hand in that language: the hand-written place wins
    ("dice" is a reporting verb, not a way to tell the police);
  - forms an entry or a stem of the class already covers.

Usage: python tools/inflections.py [--check]   (make inflections)
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

from simplemma.strategies.dictionaries import DefaultDictionaryFactory  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "milter"))

from spoofguard.checks.content.lexicon import normalise_entry  # noqa: E402

WORDS = ROOT / "config" / "rules" / "words.toml"
OUTPUT = ROOT / "config" / "rules" / "inflections.toml"
LANGUAGES = ("es", "de", "fr", "nl", "pt", "it")  # English verbs have few forms: written by hand
CHECKED = (*LANGUAGES, "en")  # where a form must not be a word of another meaning
MIN_LENGTH = 4

# Classes of verbs. Nouns are left to the hand-written lists: the dictionaries take many a
# noun for a verb ("Schule" for schulen, "marca" for marcar) and would bring in its forms.
CLASSES = (
    "hack", "hacked", "install", "turn_on", "record", "possess", "steal", "know_verb", "watch", "contract",
    "publish", "receive", "harm_verb", "explosive", "disclose", "attack", "sell", "pay", "tell", "comply", "vote",
    "benign_watch", "report_verb", "harm_act", "write",
)
# Verbs kept out of one class: their other senses are the common ones ("vous savez" is
# not someone receiving the photos; "riprendere" is mostly "to resume", "stimmt" "right").
CLASS_SKIP = {
    "receive": {"savoir", "sapere", "erfahren"},
    "record": {"riprendere"},
    "vote": {"partire", "stimmen", "candidare"},
    "watch": {"comprobar", "revisar", "verificare", "controllare", "kontrollieren", "bekijken"},
    "harm_verb": {"descendre", "enlever", "frapper", "entfahren"},
    "know_verb": {"saurer"},
}
# A verb's lemma is its infinitive; anything else is a noun or adjective the dictionary
# lemmatised to itself.
INFINITIVE = {
    "es": ("ar", "er", "ir"), "pt": ("ar", "er", "ir", "or"), "fr": ("er", "ir", "re"),
    "it": ("are", "ere", "ire", "rre"), "de": ("en", "ern", "eln"), "nl": ("en",), "en": ("",),
}

# Verbs whose forms are in every other sentence, or mean too many things ("seguimos a su
# disposición" follows no one).
COMMON_LEMMAS = {
    "en": {"be", "have", "do", "get", "go", "make", "say", "see", "take"},
    "es": {"haber", "ser", "estar", "tener", "ir", "hacer", "poder", "decir", "dar", "ver", "poner", "seguir",
           "llevar", "quedar", "pasar"},
    "de": {"haben", "sein", "werden", "gehen", "machen", "sagen", "geben", "sehen", "stellen", "stehen", "folgen",
           "laden", "lassen"},
    "fr": {"avoir", "être", "aller", "faire", "dire", "voir", "mettre", "pouvoir", "suivre", "passer", "rester"},
    "nl": {"hebben", "zijn", "worden", "gaan", "maken", "zeggen", "zien", "doen", "komen", "volgen", "houden"},
    "pt": {"ter", "ser", "estar", "ir", "haver", "fazer", "dizer", "ver", "dar", "pôr", "poder", "seguir", "ficar",
           "passar", "levar"},
    "it": {"avere", "essere", "andare", "stare", "fare", "dire", "vedere", "dare", "potere", "seguire", "restare",
           "passare", "tenere"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--lemmas", action="store_true", help="list the verbs expanded, per class, and stop")
    args = parser.parse_args()
    lemmas: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    text = render(inflections(tomllib.loads(WORDS.read_text(encoding="utf-8"))["class"], lemmas))
    if args.lemmas:
        for (name, lang), counts in sorted(lemmas.items()):
            print(f"{name}.{lang}: " + ", ".join(f"{lemma} ({n})" for lemma, n in sorted(counts.items())))
        return 0
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run make inflections", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


def inflections(classes: dict[str, dict[str, object]],
                lemmas: dict[tuple[str, str], dict[str, int]]) -> dict[str, dict[str, list[str]]]:
    """Per class and language, the forms to add; ``lemmas`` is filled with the verbs used."""
    factory = DefaultDictionaryFactory()
    dictionaries = {lang: factory.get_dictionary(lang) for lang in CHECKED}
    # Each language's words (as the lexicon reads them) and their lemmas.
    read_as = {lang: {normalise_entry(form.lower()): str(lemma) for form, lemma in d.items()}
               for lang, d in dictionaries.items()}
    verbs = {(name, lang): _verbs(classes, name, lang, dictionaries[lang]) for name in CLASSES for lang in CHECKED}
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for lang in LANGUAGES:
        forms_of = _forms_by_lemma(dictionaries[lang])
        placed = _placed_by_hand(classes, lang)
        for name in CLASSES:
            own = {normalise_entry(str(e)) for e in classes[name].get(lang, ())}  # type: ignore[attr-defined]
            listed_anywhere = {normalise_entry(str(e)) for other in CHECKED
                               for e in classes[name].get(other, ())}  # type: ignore[attr-defined]
            stems = tuple(e[:-1] for e in own if e.endswith("*"))
            added: set[str] = set()
            for lemma in sorted(verbs[(name, lang)]):
                for form in sorted(forms_of.get(lemma, ())):
                    word = normalise_entry(form.lower())
                    if (len(word) < MIN_LENGTH or not word.isalpha() or word in own or word.startswith(stems)
                            or word in added or name not in placed.get(word, {name})):
                        continue
                    # A word of another language must mean the same there: Spanish "saber"
                    # is Portuguese "saber", Italian "more" is not English "more".
                    if word not in listed_anywhere and any(
                            word in read_as[other] and read_as[other][word] not in verbs[(name, other)]
                            for other in CHECKED if other != lang):
                        continue
                    added.add(word)
                    counts = lemmas[(name, lang)]
                    counts[lemma] = counts.get(lemma, 0) + 1
            if added:
                out[name][lang] = sorted(added)
    return out


def _verbs(classes: dict[str, dict[str, object]], name: str, lang: str, dictionary: object) -> set[str]:
    """The verbs a class names by hand in ``lang``, as lemmas (infinitives)."""
    found: set[str] = set()
    for entry in classes[name].get(lang, ()):  # type: ignore[attr-defined]
        entry = str(entry)
        if entry.endswith("*") or " " in entry or "'" in entry:
            continue
        lemma = _lemma(dictionary, entry)
        if (lemma in COMMON_LEMMAS[lang] or lemma in CLASS_SKIP.get(name, ()) or " " in lemma
                or not lemma.endswith(INFINITIVE[lang])):
            continue
        found.add(lemma)
    return found


def _forms_by_lemma(dictionary: object) -> dict[str, set[str]]:
    forms: dict[str, set[str]] = defaultdict(set)
    for form, lemma in dictionary.items():  # type: ignore[attr-defined]
        forms[lemma].add(form)
        forms[lemma].add(lemma)
    return forms


def _lemma(dictionary: object, word: str) -> str:
    for candidate in (word, word.capitalize()):
        lemma = dictionary.get(candidate)  # type: ignore[attr-defined]
        if lemma:
            return str(lemma)
    return word


def _placed_by_hand(classes: dict[str, dict[str, object]], lang: str) -> dict[str, set[str]]:
    """Each hand-written word of ``lang`` and the classes it was written in."""
    placed: dict[str, set[str]] = defaultdict(set)
    for name, table in classes.items():
        for entry in table.get(lang, ()):  # type: ignore[attr-defined]
            placed[normalise_entry(str(entry))].add(name)
    return placed


def render(found: dict[str, dict[str, list[str]]]) -> str:
    lines = [
        "# Inflected forms of the words in words.toml, written by tools/inflections.py from",
        "# simplemma's dictionaries (make inflections). Do not edit: change words.toml and run",
        "# it again. These tables add to the classes of the same name.",
    ]
    for name in CLASSES:
        if name not in found:
            continue
        lines += ["", f"[class.{name}]"]
        for lang in LANGUAGES:
            if lang in found[name]:
                words = ", ".join(f'"{w}"' for w in found[name][lang])
                lines.append(f"{lang} = [{words}]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
