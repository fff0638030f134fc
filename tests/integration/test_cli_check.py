"""``spoofguard check``: the same core as the milter, explained on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.dns_server import LoopbackDNS
from tests.support.messages import BENIGN, THREAT, make_message
from tests.support.milter_process import loopback_config, toml_text


def spoofguard(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spoofguard.cli", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def write(tmp_path: Path, name: str, body: str, subject: str = "Hello") -> Path:
    path = tmp_path / name
    path.write_bytes(make_message(body, subject=subject).as_bytes())
    return path


def test_benign_message_exits_0_and_says_accept(tmp_path: Path) -> None:
    result = spoofguard("check", "--offline", str(write(tmp_path, "ok.eml", BENIGN)))
    assert result.returncode == 0, result.stderr
    assert "-> accept" in result.stdout


def test_threat_table_names_each_signal_with_its_score(tmp_path: Path) -> None:
    result = spoofguard("check", "--offline", str(write(tmp_path, "threat.eml", THREAT)))
    assert result.returncode == 1, result.stderr  # tag: content alone never quarantines
    out = result.stdout
    for name, score in (("content.harm", "+3.0"), ("content.possession", "+2.5"),
                        ("content.voter_intimidation", "+3.8")):
        line = next(row for row in out.splitlines() if name in row)
        assert score in line
    assert "-> tag" in out
    assert "no sender-risk signal" in out


def test_json_output_and_quarantine_exit_code_with_a_risky_client(tmp_path: Path) -> None:
    with LoopbackDNS() as dns:  # answers NXDOMAIN for the client's PTR
        config = tmp_path / "sg.toml"
        config.write_text(toml_text(loopback_config(dns.port, tmp_path)))
        eml = write(tmp_path, "threat.eml", THREAT, subject="Vote")
        result = spoofguard("check", "--config", str(config), "--json", "--client-ip", "203.0.113.66",
                            "--mail-from", "x@sender.test", "--rcpt", "alice@example.test", str(eml))
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["action"] == "quarantine"
    assert report["path"] == str(eml)
    names = {s["name"]: s for s in report["signals"]}
    assert names["ip_reputation.no_ptr"]["kind"] == "sender_risk"
    assert names["content.harm"]["score"] == 3.0
    assert {"harm", "voter_intimidation"} <= set(report["categories"])
    added = {h["name"]: h["value"] for h in report["headers"]}
    assert added["X-Spoofguard-Report"].startswith("action=quarantine")
    assert added["Subject"] == "[SUSPICIOUS] Vote"


def test_unreachable_dns_gives_the_verdicts_code_and_says_answers_are_missing(tmp_path: Path) -> None:
    """A verdict formed without some answers is still the verdict: the exit code says what
    the milter would do, the output says what was missing; ``--strict`` makes it 4."""
    with LoopbackDNS(mode="servfail") as dns:
        config = tmp_path / "sg.toml"
        config.write_text(toml_text(loopback_config(dns.port, tmp_path)))
        benign = make_message(BENIGN).as_bytes()
        result = spoofguard("check", "--config", str(config), "--client-ip", "203.0.113.66", "-", stdin=benign)
        threat = make_message(THREAT, subject="Vote", to="alice@example.test").as_bytes()
        held = spoofguard("check", "--config", str(config), "--client-ip", "203.0.113.66", "-", stdin=threat)
        strict = spoofguard("check", "--strict", "--config", str(config), "--client-ip", "203.0.113.66", "-",
                            stdin=benign)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ip_reputation.fcrdns_unknown" in result.stdout and "unknown" in result.stdout
    assert "answers missing (" in result.stdout and "ip_reputation.fcrdns_unknown" in result.stdout.split("answers missing")[1]
    assert held.returncode in (1, 2), held.stdout  # the verdict's own code, not 4
    assert strict.returncode == 4, strict.stdout


def test_config_error_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\ntag = 9.0\nquarantine = 8.0\n")
    result = spoofguard("config", "check", str(bad))
    assert result.returncode == 78
    assert f"{bad}: policy.quarantine: must be greater than policy.tag" in result.stderr
    assert "Traceback" not in result.stderr
    serve = spoofguard("serve", "--config", str(bad))
    assert serve.returncode == 78 and "policy.quarantine" in serve.stderr


def test_config_check_accepts_the_shipped_default() -> None:
    result = spoofguard("config", "check", str(Path(__file__).parents[2] / "config" / "spoofguard.toml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_config_signals_lists_every_check_with_the_configured_weights(tmp_path: Path) -> None:
    path = tmp_path / "spoofguard.toml"
    path.write_text("[checks.auth.weights]\nunauthenticated = 2.5\n[checks.ip_reputation]\nallow_weight = -3\n"
                    "[checks.domain_age]\nenabled = false\n")
    result = spoofguard("config", "signals", str(path))
    assert result.returncode == 0, result.stderr
    for section in ("auth", "impersonation", "content", "ip_reputation"):
        assert f"[checks.{section}]\n" in result.stdout
    assert "[checks.domain_age] (disabled)" in result.stdout
    assert "auth.unauthenticated +2.5: nothing authenticates the From domain" in result.stdout
    assert "ip_reputation.local_allow -3.0:" in result.stdout
    assert "auth.dmarc_temperror: " in result.stdout  # unknown, weighs nothing of its own


def test_check_shows_domain_age_with_its_source_and_each_dns_list_answer(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.support.rdap_server import LoopbackRDAP

    with LoopbackDNS() as dns, LoopbackRDAP() as rdap:
        dns.add("2.0.0.127.bl.test", "A", "127.0.0.2")
        dns.add("66.113.0.203.bl.test", "A", "127.0.0.2")
        dns.add("2.0.0.127.refusing.test", "A", "127.255.255.254")
        dns.add("66.113.0.203.refusing.test", "A", "127.255.255.254")
        rdap.add_domain("fresh.test", datetime.now(UTC) - timedelta(days=3))
        bootstrap = tmp_path / "dns.json"
        bootstrap.write_text(json.dumps(rdap.bootstrap_for(["test"])))
        config = tmp_path / "sg.toml"
        config.write_text(toml_text(loopback_config(dns.port, tmp_path, checks={
            "ip_reputation": {"dnsbl": [{"name": "bl", "zone": "bl.test", "codes": {"127.0.0.2": "scam source"}, "weight": 4.0},
                                        {"name": "refusing", "zone": "refusing.test"}]},
            "domain_age": {"rdap_bootstrap": str(bootstrap)},
        })))
        eml = tmp_path / "new.eml"
        eml.write_bytes(make_message(BENIGN, subject="Hi", sender="New <info@fresh.test>").as_bytes())
        args = ("check", "--config", str(config), "--client-ip", "203.0.113.66", "--mail-from", "info@fresh.test", str(eml))
        table = spoofguard(*args)
        report = json.loads(spoofguard(*args, "--json").stdout)
    signals = {s["name"]: s for s in report["signals"]}
    assert signals["domain_age.young"]["score"] == 3.0
    assert "registered" in signals["domain_age.young"]["detail"] and "RDAP" in signals["domain_age.young"]["detail"]
    assert signals["ip_reputation.dnsbl.bl"]["detail"] == "203.0.113.66 listed in bl.test: scam source (127.0.0.2)"
    assert signals["ip_reputation.dnsbl_unusable"]["score"] == 0.0
    assert "127.255.255.254" in signals["ip_reputation.dnsbl_unusable"]["detail"]
    for name in ("domain_age.young", "ip_reputation.dnsbl.bl", "ip_reputation.dnsbl_unusable"):
        assert name in table.stdout
    # the second run is a new process: the age came from the SQLite cache the first left
    assert "RDAP, cached" in signals["domain_age.young"]["detail"]
    assert rdap.count("fresh.test") == 1


def test_update_bootstrap_writes_the_state_dir_copy_and_keeps_it_on_failure(tmp_path: Path) -> None:
    from tests.support.rdap_server import LoopbackRDAP

    state = tmp_path / "state"
    config = tmp_path / "sg.toml"
    config.write_text(toml_text({"state": {"dir": str(state)}}))
    with LoopbackRDAP() as rdap:
        rdap.add_file("/dns.json", json.dumps(rdap.bootstrap_for(["test", "example"])))
        rdap.add_file("/broken.json", "<html>maintenance</html>")
        ok = spoofguard("update-bootstrap", "--config", str(config), "--url", f"{rdap.url}/dns.json")
        written = (state / "rdap" / "dns.json").read_text()
        failed = spoofguard("update-bootstrap", "--config", str(config), "--url", f"{rdap.url}/broken.json")
    assert ok.returncode == 0, ok.stderr
    assert "2 TLDs with RDAP service, published 2026-01-01T00:00:00Z" in ok.stdout
    assert json.loads(written)["services"][0][0] == ["test", "example"]
    assert failed.returncode == 75 and "bootstrap not updated" in failed.stderr
    assert (state / "rdap" / "dns.json").read_text() == written


def test_a_loopback_client_is_said_not_to_be_judged(tmp_path: Path) -> None:
    """A test from localhost is a local submission: check says it judged nothing, and how
    to judge the message as inbound mail instead of printing a bare score 0."""
    threat = make_message(THREAT, subject="Vote", to="alice@example.test").as_bytes()
    local = spoofguard("check", "--offline", "--client-ip", "127.0.0.1", "-", stdin=threat)
    remote = spoofguard("check", "--offline", "--client-ip", "203.0.113.66", "-", stdin=threat)
    assert local.returncode == 0
    assert "reason: local submission, not judged" in local.stdout
    assert "not judged; give --client-ip of a remote host" in " ".join(local.stdout.split())
    assert remote.returncode in (1, 2) and "not judged" not in remote.stdout

