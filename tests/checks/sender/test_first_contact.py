"""First contact: flagged once, then known; lists known by List-Id; replies to people a
local user wrote to are known; only keyed hashes are stored; a failing store says nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from spoofguard.checks import Facts
from spoofguard.checks.sender.check import SenderCheck, SenderSection
from spoofguard.checks.sender.memory import KnownSenders, load_secret
from spoofguard.core import Analyzer
from spoofguard.lookups import LookupSession
from spoofguard.lookups.store import CacheSection, GuardedStore, open_store
from spoofguard.message import Envelope, Message
from spoofguard.policy import Policy
from spoofguard.verdict import Action

SECRET = b"s" * 32


def message(sender: str = "Mallory <mallory@far.test>", rcpts: tuple[str, ...] = ("alice@example.test",),
            client: str = "203.0.113.9", extra: str = "") -> Message:
    data = f"From: {sender}\r\nTo: alice@example.test\r\nSubject: hello\r\n{extra}\r\nhi\r\n".encode()
    return Message.from_bytes(data, Envelope(client_ip=client, mail_from="bounce@far.test", rcpts=list(rcpts)))


def check(store: GuardedStore | None = None, weight: float = 0.0) -> SenderCheck:
    store = store or open_store(CacheSection(backend="memory"))
    return SenderCheck(SenderSection(first_contact_weight=weight), KnownSenders(store, SECRET, 3600))


def first_contact(sender_check: SenderCheck, mail: Message) -> list[str]:
    found = sender_check.run(mail, LookupSession(None, budget=5.0, default_timeout=1.0), Facts())
    return [f"{s.name} {s.score:+.1f} {s.kind.value}: {s.detail}" for s in found.signals]


def test_the_first_message_is_flagged_and_once_delivered_untagged_the_sender_is_known() -> None:
    sender_check = check()
    assert first_contact(sender_check, message()) == [
        "sender.first_contact +0.0 notice: first message from this sender to you"]
    sender_check.learn(message(), outbound=False)
    assert first_contact(sender_check, message()) == []
    assert first_contact(sender_check, message(rcpts=("bob@example.test",))) != []  # known to alice only


def test_with_a_weight_it_is_sender_risk() -> None:
    assert first_contact(check(weight=1.5), message()) == [
        "sender.first_contact +1.5 sender_risk: first message from this sender to you"]


def test_a_list_is_known_by_its_list_id_not_by_each_poster() -> None:
    sender_check = check()
    posted = message(sender="Ann <ann@members.test>", extra="List-Id: Gardening <garden.lists.test>\r\n")
    sender_check.learn(posted, outbound=False)
    other = message(sender="Zed <zed@elsewhere.test>", extra="List-Id: <garden.lists.test>\r\n")
    assert first_contact(sender_check, other) == []
    assert first_contact(sender_check, message(sender="Ann <ann@members.test>")) != []  # off the list: unknown


def test_a_reply_to_someone_a_local_user_wrote_to_is_known() -> None:
    sender_check = check()
    sent = message(sender="Alice <alice@example.test>", rcpts=("carol@far.test",), client="127.0.0.1")
    sender_check.learn(sent, outbound=True)
    assert first_contact(sender_check, message(sender="Carol <Carol@far.test>")) == []


def test_the_analyzer_learns_only_from_mail_delivered_untagged() -> None:
    sender_check = check()
    analyzer = Analyzer([sender_check], Policy())
    mail = message()
    tagged = analyzer.analyze(message(), LookupSession(None, budget=5.0, default_timeout=1.0))
    analyzer.learn(mail, dataclasses.replace(tagged, action=Action.TAG))
    assert first_contact(sender_check, message()) != []  # tagged mail teaches nothing
    analyzer.learn(mail, tagged)  # accepted
    assert first_contact(sender_check, message()) == []


def test_only_keyed_hashes_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "known.sqlite"
    store = open_store(CacheSection(backend="sqlite"), path=path)
    sender_check = check(store)
    sender_check.learn(message(), outbound=False)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"mallory" not in raw.lower() and b"alice" not in raw.lower() and b"far.test" not in raw


def test_a_failing_store_says_nothing_rather_than_flag_everyone(tmp_path: Path) -> None:
    store = open_store(CacheSection(backend="redis", redis_url="redis://127.0.0.1:9/0", timeout=0.2), backoff=0)
    sender_check = check(store)
    assert first_contact(sender_check, message()) == []
    sender_check.learn(message(), outbound=False)  # and learning fails quietly


def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "known-senders.key"
    first = load_secret(path)
    assert len(first) == 32 and path.stat().st_mode & 0o077 == 0
    assert load_secret(path) == first
    assert KnownSenders(None, first, 1).key("a@x.test", "b@y.test") != KnownSenders(None, b"t" * 32, 1).key("a@x.test", "b@y.test")


def test_workers_starting_together_all_read_one_whole_secret(tmp_path: Path) -> None:
    """Several worker processes make the secret at the same moment: each gets the same
    complete secret (none reads a file still being written), and no draft is left."""
    import multiprocessing

    path = tmp_path / "known-senders.key"
    context = multiprocessing.get_context("fork")
    for _round in range(5):
        if path.exists():
            path.unlink()
        with context.Pool(6) as pool:
            found = pool.map(load_secret, [path] * 24)
        assert len(set(found)) == 1 and len(found[0]) == 32
        assert [p.name for p in tmp_path.iterdir()] == ["known-senders.key"]
