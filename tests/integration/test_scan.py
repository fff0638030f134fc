"""``spoofguard scan`` over a Maildir, an mbox, single files and a directory tree, as an
admin runs it before enabling quarantine."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.messages import BENIGN, THREAT, make_message


def spoofguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spoofguard.cli", *args], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def mail(tmp_path: Path) -> Path:
    root = tmp_path / "mail"
    root.mkdir()
    maildir = mailbox.Maildir(root / "Maildir")
    maildir.add(make_message(THREAT, subject="Vote", to="voter@example.test").as_bytes())
    maildir.add(make_message(BENIGN, subject="Lunch").as_bytes())
    box = mailbox.mbox(root / "archive.mbox")
    for subject, body in (("Notice", THREAT), ("Minutes", BENIGN), ("Agenda", BENIGN)):
        box.add(make_message(body, subject=subject).as_bytes())
    box.flush()
    (root / "nested").mkdir()
    (root / "nested" / "one.eml").write_bytes(make_message(BENIGN, subject="Hi").as_bytes())
    return root


def records(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_has_one_record_per_message_across_maildir_mbox_and_files(mail: Path) -> None:
    result = spoofguard("scan", "--offline", "--json", str(mail))
    assert result.returncode == 0, result.stderr
    found = records(result.stdout)
    assert len(found) == 6
    by_path = {Path(str(r["path"])).name: r for r in found}
    assert {"archive.mbox:1", "archive.mbox:2", "archive.mbox:3", "one.eml"} <= set(by_path)
    threat = by_path["archive.mbox:1"]
    assert set(threat) == {"path", "score", "action", "categories", "degraded", "signals"}
    assert threat["action"] == "tag" and "harm" in threat["categories"]  # type: ignore[operator]
    assert all({"name", "score", "kind", "detail"} == set(s) for s in threat["signals"])  # type: ignore[attr-defined]
    assert by_path["archive.mbox:2"]["action"] == "accept" and by_path["archive.mbox:2"]["categories"] == []
    # the summary goes to stderr so stdout stays one JSON object per line; no progress bar when piped
    assert "6 message(s), 0 unreadable" in result.stderr
    assert "scanning" not in result.stderr


def test_table_summary_counts_actions_and_categories(mail: Path) -> None:
    result = spoofguard("scan", "--offline", str(mail / "archive.mbox"), str(mail / "Maildir"))
    assert result.returncode == 0, result.stderr
    rows = {tuple(cell.strip() for cell in line.split("│")[1:4]) for line in result.stdout.splitlines() if "│" in line}
    assert ("action", "accept", "3") in rows and ("action", "tag", "2") in rows
    assert ("category", "harm", "2") in rows


def test_workers_give_the_same_records(mail: Path) -> None:
    one = {r["path"]: (r["score"], r["action"]) for r in records(spoofguard("scan", "--offline", "--json", str(mail)).stdout)}
    two = {r["path"]: (r["score"], r["action"]) for r in records(spoofguard("scan", "--offline", "--json", "--workers", "2", str(mail)).stdout)}
    assert one == two and len(one) == 6


def test_unreadable_input_is_reported_and_exits_4(mail: Path) -> None:
    result = spoofguard("scan", "--offline", "--json", str(mail / "nested"), str(mail / "missing.eml"))
    assert result.returncode == 4
    found = records(result.stdout)
    assert found[-1] == {"path": str(mail / "missing.eml"), "error": "no such file or directory"}
    assert "1 message(s), 1 unreadable" in result.stderr


def test_bad_configuration_stops_the_scan(mail: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\ntag = 'high'\n")
    result = spoofguard("scan", "--config", str(bad), str(mail))
    assert result.returncode == 78 and "policy.tag" in result.stderr


def test_delivered_mail_keeps_its_own_authentication_results(tmp_path: Path) -> None:
    """Mail this host delivered carries the Authentication-Results it added. Scanned as
    found, they claim our authserv-id from outside: forged. With --delivered they are ours:
    their DMARC pass counts, and the delivered verdict's headers are shown beside."""
    config = tmp_path / "sg.toml"
    config.write_text('[checks.auth]\nauthserv_id = "mx.example.test"\n')
    delivered = (b"Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=news.test;\r\n"
                 b" dmarc=pass header.from=news.test\r\n"
                 b"X-Spoofguard-Score: -1.0 (tag at 4.0, quarantine at 8.0)\r\n"
                 + make_message(BENIGN, subject="Newsletter", sender="news@news.test").as_bytes())
    (tmp_path / "delivered.eml").write_bytes(delivered)

    def signals(*flags: str) -> tuple[dict[str, object], set[str]]:
        result = spoofguard("scan", "--offline", "--json", "--config", str(config), *flags, str(tmp_path / "delivered.eml"))
        assert result.returncode == 0, result.stderr
        [record] = records(result.stdout)
        return record, {s["name"] for s in record["signals"]}  # type: ignore[union-attr, index]

    as_found, found_names = signals()
    assert "auth.forged_results" in found_names
    as_delivered, delivered_names = signals("--delivered")
    assert "auth.forged_results" not in delivered_names and "auth.dmarc_pass" in delivered_names
    assert as_delivered["delivered"] == {"X-Spoofguard-Score": "-1.0 (tag at 4.0, quarantine at 8.0)"}
