"""The shipped rule set against a small corpus: genre mail scores high, ordinary mail low.

The score is the content check's: the strongest rule of each move, plus the bonus for each
move beyond the first, less the discount for a report. Genre messages must reach the
quarantine threshold (8.0) on content alone; ordinary mail (newsletters, invoices, campaign
mail, a news story quoting a threat) must stay under the tag threshold (4.0). Regular
expressions in rule files (tests/data/pattern_rules.toml holds realistic ones) are linted
for nested unbounded quantifiers and run against large adversarial texts with a time limit.
"""

from __future__ import annotations

import re._parser as sre_parse  # Python 3.11+: the parser behind re.compile
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spoofguard import config
from spoofguard.checks.content.check import ContentCheck, ContentSection
from spoofguard.checks.content.normalize import fold
from spoofguard.checks.content.rules import Rule, load_rule_files

SETTINGS = config.load()
CONTENT = SETTINGS.section(ContentSection)
CHECK = ContentCheck(load_rule_files(SETTINGS.rule_files()), ContentSection(
    co_occurrence_bonus=CONTENT.co_occurrence_bonus, threat_bonus=CONTENT.threat_bonus))
PATTERN_RULES: list[Rule] = list(load_rule_files([Path(__file__).resolve().parents[2] / "data" / "pattern_rules.toml"]).rules)
QUARANTINE = SETTINGS.policy.quarantine
TAG = SETTINGS.policy.tag


def score(body: str, subject: str = "") -> tuple[float, dict[str, str]]:
    """Content score of a message and the detail of each content signal."""
    text = fold(f"{subject}\n{body}")
    signals = CHECK.judge(text.folded, fold(subject).folded, evasions=text.evasions, plain=text.plain)
    return sum(s.score for s in signals), {s.name: s.detail for s in signals}


@pytest.mark.parametrize("word", ["bitcoin", "btc", "deadline", "camera", "webcam", "password", "contraseña",
                                  "vote", "votar", "hours", "horas", "police", "policía", "address", "video",
                                  "malware", "pay", "paga", "comply", "consequences", "contacts", "bomb", "kill"])
def test_a_bare_word_scores_nothing(word: str) -> None:
    for text in (word, f"the {word} item is on the agenda", f"{word}: see below", f"re: {word}"):
        assert score(text, subject=word)[0] == 0.0, text


# -- genre messages: each reaches the quarantine threshold on content alone ----------------------

GENRE = {
    "voter_2020": (
        "Your vote",
        "We are in possession of all your information (email, address, telephone... everything). "
        "You are currently registered as a Democrat and we know this because we have gained access "
        "into the entire voting infrastructure. You will vote for Trump on Election Day or we will "
        "come after you. Change your party affiliation to Republican to let us know you received our "
        "message and will comply. We will know which candidate you voted for. I would take this "
        "seriously if I were you. Good luck.",
    ),
    "sextortion_btc_48h": (
        "Security alert: your account was hacked",
        "Hello! I know your password is p4ssw0rd123. I installed malware on your device months ago "
        "and recorded you through your webcam while you were watching adult videos. Send $1500 in "
        "Bitcoin to the address below. BTC address: 1AVSEj7UKjadhWCjcPcC1mbS5VVv89Hvgb. You have 48 "
        "hours. Once you open this email the timer starts. If you don't pay, I will send the video "
        "to all your contacts.",
    ),
    "sextortion_password_only": (
        "hunter2",
        "I'm aware that hunter2 is your password. Let's get straight to the point. I have been "
        "watching you for months through a trojan on your computer. Pay 0.12 BTC to my wallet or I "
        "will upload the footage. I will delete the video immediately after I receive the payment. "
        "I give you two days.",
    ),
    "doxxing_threat": (
        "We found you",
        "We know where you live. We will publish your home address and phone number online and send "
        "this to all your colleagues and family. Delete your posts by Friday, or else.",
    ),
    "doxxing_passive": (
        "Last warning",
        "This is your last warning. Your address and phone number will be posted on every forum, "
        "and everyone you know will find out who you really are. Something bad will happen to your "
        "family.",
    ),
    "harm_and_coercion": (
        "Do what we say",
        "Do exactly as I say and nobody gets hurt. Don't go to the police. If you talk, we will hurt "
        "your family. You have 24 hours.",
    ),
    "voter_stay_home": (
        "Election Day",
        "Don't vote this Tuesday, or else. We will know how you voted. Your ballot is not secret. "
        "We know where you live.",
    ),
    "extortion_no_crypto_word": (
        "Pay up",
        "I hacked your email account and copied your contact list. Pay $900 in BTC or I release the "
        "photos. After 48 hours, the photos will be sent to all your contacts.",
    ),
    "es_passwords": (
        "Tu cuenta",
        "Hola. Sé que tu contraseña es 123456. Tengo todas tus contraseñas y he hackeado tu correo. "
        "Envía 1000 dólares en bitcoin a mi billetera. Tienes 48 horas. Si no pagas, enviaré la "
        "grabación a todos tus contactos.",
    ),
    "es_sextortion": (
        "Aviso importante",
        "He instalado un troyano en tu ordenador y te he grabado a través de tu cámara. Paga o "
        "publicaré el vídeo. Borraré el vídeo en cuanto reciba el pago. En cuanto abriste este "
        "correo, el temporizador empezó a correr.",
    ),
    "es_voter": (
        "Tu voto",
        "Tenemos toda tu información. Votarás por nuestro candidato el día de las elecciones o iremos "
        "por ti. Sabremos por quién votaste. Cambia tu afiliación a republicano.",
    ),
    "es_threat": (
        "Última advertencia",
        "Sabemos dónde vives. Si avisas a la policía, lo sabremos. Te vamos a hacer daño. Publicaremos "
        "tu dirección y tu teléfono. Esta es tu última advertencia.",
    ),
    "es_doxxing_extortion": (
        "Fotos",
        "Estamos en posesión de tus datos y de tus fotos. Si no pagas, vamos a publicarlo todo: "
        "enviaremos las fotos a toda tu familia. Transfiere 0,05 BTC a esta dirección de bitcoin.",
    ),
    "surveillance_keylogger": (
        "I see everything",
        "I have been monitoring your activity: I installed a keylogger and turned on your webcam. "
        "I copied your contact list. Transfer 500 USD in bitcoin to my wallet, or I will share the "
        "recording with all your friends.",
    ),
    "coercion_publish": (
        "Final notice",
        "You have been warned. If you don't comply, we will publish everything. We will ruin your "
        "reputation. You have until Friday.",
    ),
}


@pytest.mark.parametrize("name", GENRE)
def test_genre_message_reaches_quarantine_on_content(name: str) -> None:
    subject, body = GENRE[name]
    total, hits = score(body, subject)
    assert total >= QUARANTINE, (total, hits)


def test_the_2020_voter_email_makes_the_moves_of_its_genre() -> None:
    _, found = score(GENRE["voter_2020"][1])
    assert {"content.possession", "content.harm", "content.action", "content.voter_intimidation"} <= set(found)
    assert "come after you" in found["content.harm"]


# -- ordinary mail: each stays under the tag threshold ------------------------------------------

ORDINARY = {
    "meeting_notes": (
        "Minutes: Tuesday sync",
        "Hi all, the minutes of Tuesday's meeting are attached. Action items: Ana will track down the "
        "missing invoices; Bob will come after lunch to set up the projector. We have until Friday to "
        "submit the proposal. Let us know if you received the agenda.",
    ),
    "invoice": (
        "Invoice 4471",
        "Please find attached invoice 4471. Kindly transfer $1,200 to our bank account within 30 days. "
        "If you do not pay by the due date, we will charge a late fee of 2%. Thank you for your business.",
    ),
    "shipping": (
        "Your package is on its way",
        "Good news! Your package will be released to the courier today. We will share your address "
        "with the carrier for delivery. Track your parcel here. Orders ship within 24 hours.",
    ),
    "bank_security_tip": (
        "Security tip",
        "Protect yourself from scams: we will never ask for your password or PIN by email. If someone "
        "claims to have recorded you or demands payment in bitcoin, do not pay and report it. Don't "
        "ignore the signs of phishing. If you see something suspicious, call the police.",
    ),
    "campaign": (
        "Vote for Jane!",
        "Vote for Jane Doe on Election Day! We hope you will vote for Jane, who will fight for our "
        "schools. Remember to vote on Election Day. Don't forget to vote on Tuesday! Here is how to "
        "change your party affiliation online before the primary.",
    ),
    "news_quote": (
        "Officials warn of threatening emails",
        "The FBI said the emails threatened to 'come after' voters who did not switch parties and "
        "claimed the senders knew 'all your information'. Officials said the messages were sent to "
        "Democrats in several states and urged recipients to report them; 'you will regret it', one "
        "read. "
        "Election officials reminded voters that their ballot is secret.",
    ),
    "password_reset": (
        "Reset your password",
        "We received a request to reset your password. Click the link below to choose a new password. "
        "The link expires in 24 hours. If you did not request this, you can ignore this email. We will "
        "never ask for your password.",
    ),
    "sale_48h": (
        "48 hours left!",
        "Last chance: you have 48 hours left to use your discount! Don't miss out. Shop now and "
        "you won't regret it. Pay with Bitcoin or card at checkout.",
    ),
    "es_newsletter": (
        "Boletín de noviembre",
        "Hola, en el boletín de este mes: ¿votarás en las elecciones del club? Tienes 48 horas para "
        "aprovechar el descuento. Comparte este boletín con todos tus amigos. Nunca te pediremos tu "
        "contraseña. Llámame mañana o si no te escribo el lunes.",
    ),
    "crypto_newsletter": (
        "Weekly crypto digest",
        "Bitcoin prices rose this week, analysts say. Our guide explains how to buy bitcoin safely and "
        "how to move funds into your bitcoin wallet. Bitcoin address formats explained.",
    ),
    "it_helpdesk": (
        "Ticket 9912 resolved",
        "Hi, I installed the virus scanner on your computer and I have access to your calendar now. I "
        "copied your notes into the shared document. Your account settings are unchanged.",
    ),
    "webinar": (
        "Recording available",
        "Thanks for joining! The webinar was recorded for you to watch later. I recorded you a quick "
        "video walkthrough of the dashboard. Turn on your webcam before joining the next call.",
    ),
    "school_photos": (
        "Class photos",
        "Upload the photos of the trip from your phone camera. Scan the QR code using your camera. We "
        "have been watching the weather and the trip is on.",
    ),
    "privacy_policy": (
        "We updated our privacy policy",
        "We track your activity to improve our services. We may share your information with partners. "
        "You have access to your account settings and can delete your data at any time.",
    ),
    "hr_reminder": (
        "Policy reminder",
        "You must comply with the new travel policy by May. If you do not comply with the rules, your "
        "expenses may be rejected. There will be a training session on Monday.",
    ),
    "parcel_customs": (
        "Customs fee",
        "Your parcel is held at customs. Please pay the fee of 12 euros online. We will release the "
        "parcel once the payment is confirmed.",
    ),
    "birthday": (
        "Surprise!",
        "Don't tell anyone about the surprise party! We've been watching you grow up, happy birthday. "
        "I will send the photos to the team after the party.",
    ),
    "es_ticket": (
        "Tu pedido",
        "Ya tenemos su información y le contactaremos pronto. Los pedidos se envían en 24 horas. Te "
        "enviaré la factura a tu correo. Tu dirección será compartida con la empresa de transporte.",
    ),
    "es_campaign": (
        "Vota por Ana",
        "Vota por Ana el domingo: la escuela pública lo merece. Tu voto es secreto. No vayas a votar sin "
        "tu documento de identidad. Te explicamos cómo cambiar tu afiliación en línea.",
    ),
    "es_news": (
        "Estafas por correo",
        "La policía advierte de correos que dicen 'te he grabado a través de tu cámara'. En caso de "
        "robo, acude a la policía. El bitcoin subió un 5 % esta semana.",
    ),
    "sports_news": (
        "Match report",
        "The coach said: we will hunt down the best players and I will break your record next season. "
        "There will be consequences for the budget if the vote fails.",
    ),
    "security_alert": (
        "Unusual sign-in",
        "Your account has been compromised. Reset your password now. If you did not sign in, secure "
        "your account. Once you open this email on your phone, tap the link.",
    ),
    "real_estate": (
        "Your new home",
        "We will publish your listing next week. Your phone number will be published in the members "
        "directory. We will expose you to new ideas at the open house.",
    ),
    "gym": (
        "New class",
        "This workout will hurt your muscles in the best way. You will suffer less back pain with the "
        "new chairs. We give you 30 days free trial.",
    ),
    "es_office": (
        "Reunión",
        "Te vamos a encontrar un hueco en la agenda. Iremos por la tarde a la reunión. Haz lo que te "
        "recomendamos en la guía. Te he grabado un vídeo explicando el nuevo panel.",
    ),
}


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_message_stays_under_tag(name: str) -> None:
    subject, body = ORDINARY[name]
    total, hits = score(body, subject)
    assert total < TAG, (total, hits)


def test_a_news_quote_of_one_threat_stays_under_tag() -> None:
    total, found = score("The FBI said the emails threatened voters: 'we will come after you'.")
    assert total < TAG
    assert "content.harm" in found


# -- pattern hygiene: no catastrophic backtracking --------------------------------------------


_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT) if hasattr(
    sre_parse, "POSSESSIVE_REPEAT") else (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT)


def _nested_unbounded(items: sre_parse.SubPattern | list, inside_unbounded: bool = False) -> list[str]:
    """Unbounded quantifiers inside another unbounded quantifier, e.g. (a+)+ or (?:\\w+ )*."""
    found: list[str] = []
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            unbounded = high == sre_parse.MAXREPEAT
            if unbounded and inside_unbounded:
                found.append(f"{op} {low}..")
            found += _nested_unbounded(sub, inside_unbounded or unbounded)
        elif op == sre_parse.SUBPATTERN:
            found += _nested_unbounded(arg[-1], inside_unbounded)
        elif op == sre_parse.BRANCH:
            for branch in arg[1]:
                found += _nested_unbounded(branch, inside_unbounded)
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            found += _nested_unbounded(arg[1], inside_unbounded)
        elif op == sre_parse.GROUPREF_EXISTS:
            found += _nested_unbounded(arg[1], inside_unbounded)
            if arg[2] is not None:
                found += _nested_unbounded(arg[2], inside_unbounded)
    return found


def test_the_lint_catches_nested_unbounded_quantifiers() -> None:
    assert _nested_unbounded(sre_parse.parse(r"(a+)+b"))
    assert _nested_unbounded(sre_parse.parse(r"(?:\w+ )*x"))
    assert not _nested_unbounded(sre_parse.parse(r"(?:\W+\w+){0,6}"))


@pytest.mark.parametrize("rule", PATTERN_RULES, ids=[r.id for r in PATTERN_RULES])
def test_pattern_has_no_nested_unbounded_quantifier(rule: Rule) -> None:
    assert _nested_unbounded(sre_parse.parse(rule.regex.pattern)) == []
    assert ".*" not in rule.regex.pattern and ".+" not in rule.regex.pattern


ADVERSARIAL = {
    "a": "a " * 100_000,
    "we": "we " * 50_000,
    "you": "you will " * 25_000,
    "words": "send pay or i will the video your " * 6_000,
    "digits": "1" * 200_000,
    "dollars": "$1, " * 50_000,
    "spanish": "si no te vamos a " * 12_000,
    "nospace": "x" * 200_000,
    "punct": "!. " * 70_000,
}


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"regex ran longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("rule", PATTERN_RULES, ids=[r.id for r in PATTERN_RULES])
def test_pattern_finishes_on_adversarial_text(rule: Rule) -> None:
    with time_limit(10):
        for text in ADVERSARIAL.values():
            rule.regex.search(text)
            rule.regex.search(text + " bitcoin")
