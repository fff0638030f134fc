"""Configuration: strict TOML, every error naming the file, the dotted key and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spoofguard import config
from spoofguard.assembly import build_analyzer
from spoofguard.checks.content.check import ContentSection
from spoofguard.checks.content.moves import example_failures
from spoofguard.checks.content.rules import load_rule_file, load_rule_files
from spoofguard.checks.ip_reputation.check import IpReputationSection
from spoofguard.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> tuple[ConfigError, Path]:
    path = write(tmp_path / "spoofguard.toml", text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return info.value, path


# -- a good file -----------------------------------------------------------------------------


def test_packaged_default_config_loads_with_documented_defaults() -> None:
    settings = config.load(config.PACKAGED_CONFIG)
    assert settings.policy.tag == 4.0
    assert settings.policy.quarantine == 8.0
    assert settings.policy.reject_enabled is False
    assert settings.policy.on_error == "accept"
    assert settings.policy.require_content_and_sender_risk is True
    assert settings.milter.socket == "inet:8895@127.0.0.1"
    assert settings.analysis.body_in_memory == 2 * 1024 * 1024
    assert settings.section(ContentSection).max_text == 1_000_000
    assert settings.section(ContentSection).unscanned_text_weight == 2.0
    files = settings.rule_files()
    assert files, "the packaged config must ship rule files"
    assert all(f.is_file() for f in files)
    assert load_rule_files(files).rules  # and they parse into rules


def _keys(section: object, prefix: str = "") -> dict[str, object]:
    """Every setting of a section and its sub-sections, by dotted key."""
    found: dict[str, object] = {}
    for name in getattr(section, "__struct_fields__", ()):
        value = getattr(section, name)
        if hasattr(value, "__struct_fields__"):
            found.update(_keys(value, f"{prefix}{name}."))
        elif isinstance(value, dict) and name == "checks":
            for check, check_section in value.items():
                found.update(_keys(check_section, f"checks.{check}."))
        elif name != "path":
            found[prefix + name] = value
    return found


def test_the_packaged_file_names_every_key_and_agrees_with_the_code_defaults(tmp_path: Path) -> None:
    """Defaults are written once, in the code; the shipped file shows them all, and where it
    sets a value, the value is that default (the file is documentation, not a second truth)."""
    text = config.PACKAGED_CONFIG.read_text(encoding="utf-8")
    shipped = _keys(config.load(config.PACKAGED_CONFIG))
    defaults = _keys(config.load(write(tmp_path / "empty.toml", "")))
    assert shipped.keys() == defaults.keys()
    differing = {key for key in defaults if shipped[key] != defaults[key]}
    assert differing == {"checks.ip_reputation.dnsbl"}  # the lists we ship; none unless configured
    unnamed = {key for key in defaults if f"[[{key}]]" not in text
               and not re.search(rf"^#? ?{re.escape(key.rsplit('.', 1)[-1])} *=", text, re.M)}
    assert unnamed == set()


def test_empty_file_gives_all_defaults(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path / "s.toml", ""))
    assert settings.policy.tag == 4.0
    assert settings.rules.files == ("builtin",)
    assert settings.path == (tmp_path / "s.toml").resolve()


def test_values_from_the_file_are_used(tmp_path: Path) -> None:
    text = """
[milter]
socket = "unix:/run/spoofguard/spoofguard.sock"
[policy]
tag = 3
quarantine = 6.5
reject = 12
reject_enabled = true
on_error = "tempfail"
[dns]
nameservers = ["127.0.0.53", "::1"]
[checks.ip_reputation]
deny = ["203.0.113.0/24", "2001:db8::/32"]
"""
    settings = config.load(write(tmp_path / "s.toml", text))
    assert settings.policy.tag == 3.0 and isinstance(settings.policy.tag, float)
    assert settings.policy.quarantine == 6.5
    assert settings.policy.reject_enabled is True
    assert settings.policy.on_error == "tempfail"
    assert settings.dns.nameservers == ("127.0.0.53", "::1")
    assert settings.section(IpReputationSection).deny == ("203.0.113.0/24", "2001:db8::/32")
    assert settings.milter.socket == "unix:/run/spoofguard/spoofguard.sock"


# -- errors: names file and key ------------------------------------------------------------------


ERROR_CASES = [
    ("[polcy]\ntag = 3\n", "polcy", "unknown key"),
    ("[checks.spf]\nenabled = true\n", "checks.spf", "unknown key"),
    ("[policy]\ntagg = 3\n", "policy.tagg", "unknown key"),
    ("[checks.content]\nbonus = 1\n", "checks.content.bonus", "unknown key"),
    ('[policy]\ntag = "4"\n', "policy.tag", "must be a number, got a string"),
    ('[analysis]\nbody_in_memory = "2M"\n', "analysis.body_in_memory", "must be an integer, got a string"),
    ("[analysis]\nmax_body = 4096.5\n", "analysis.max_body", "must be an integer, got a number"),
    ("[analysis]\nscan_cap = 2097152\n", "analysis.scan_cap", "use analysis.body_in_memory"),
    ("[checks.content]\nmax_text = 10\n", "checks.content.max_text", "at least 1000"),
    ("[checks.content]\nunscanned_text_weight = -1\n", "checks.content.unscanned_text_weight", "not be negative"),
    ("[policy]\ndry_run = 1\n", "policy.dry_run", "must be true or false, got an integer"),
    ('[policy]\nreject_enabled = "yes"\n', "policy.reject_enabled", "must be true or false"),
    ("[policy]\ntag = true\n", "policy.tag", "must be a number, got a boolean"),
    ('[checks.ip_reputation]\ndeny = "10.0.0.0/8"\n', "checks.ip_reputation.deny", "must be a list of strings"),
    ("[dns]\nnameservers = [53]\n", "dns.nameservers", "must be a list of strings"),
    ("policy = 3\n", "policy", "must be a table"),
    ("[policy]\ntag = 8\nquarantine = 8\n", "policy.quarantine", "greater than policy.tag"),
    ("[policy]\ntag = 9\n", "policy.quarantine", "greater than policy.tag"),
    ("[policy]\nreject_enabled = true\nreject = 8\n", "policy.reject", "greater than policy.quarantine"),
    ("[policy]\nreject_enabled = true\nreject = 5\n", "policy.reject", "greater than policy.quarantine"),
    ('[milter]\nsocket = "tcp:8895@127.0.0.1"\n', "milter.socket", "inet:PORT@HOST"),
    ('[milter]\nsocket = "inet:99999@127.0.0.1"\n', "milter.socket", "inet:PORT@HOST"),
    ('[milter]\nsocket = "inet:port@127.0.0.1"\n', "milter.socket", "inet:PORT@HOST"),
    ('[milter]\nsocket = "unix:"\n', "milter.socket", "unix:PATH"),
    ('[checks.ip_reputation]\ndeny = ["203.0.113.0/24", "300.1.2.0/24"]\n',
     "checks.ip_reputation.deny", "'300.1.2.0/24' is not an IP network"),
    ('[checks.ip_reputation]\nallow = ["example.org"]\n', "checks.ip_reputation.allow", "not an IP network"),
    ('[dns]\nnameservers = ["dns.example"]\n', "dns.nameservers", "'dns.example' is not an IP address"),
    ('[dns]\nnameservers = ["10.0.0.0/8"]\n', "dns.nameservers", "not an IP address"),
    ("[analysis]\nbody_in_memory = 1023\n", "analysis.body_in_memory", "at least 1024"),
    ('[policy]\non_error = "drop"\n', "policy.on_error", "must be one of: accept, tempfail"),
    ("[analysis]\nbudget = 0\n", "analysis.budget", "greater than 0"),
    ("[analysis]\nlookup_workers = 0\n", "analysis.lookup_workers", "between 1 and 1024"),
    ("[dns]\nport = 70000\n", "dns.port", "port number"),
    ('[log]\nlevel = "verbose"\n', "log.level", "must be one of"),
    ("[checks.content]\nco_occurrence_bonus = -1\n", "checks.content.co_occurrence_bonus", "must not be negative"),
    ('[actions]\nsubject_prefix = "[X]\\nBcc: a@b "\n', "actions.subject_prefix", "one line"),
]


@pytest.mark.parametrize(
    ("text", "key", "problem"), ERROR_CASES, ids=[f"{key}: {problem[:24]}" for _, key, problem in ERROR_CASES]
)
def test_error_names_file_and_dotted_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error, path = config_error(tmp_path, text)
    assert error.path == str(path)
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{path}: {key}: ")


def test_reject_not_above_quarantine_is_fine_while_reject_is_disabled(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path / "s.toml", "[policy]\nreject = 5\nreject_enabled = false\n"))
    assert settings.policy.reject == 5.0


def test_unknown_key_error_lists_the_known_keys(tmp_path: Path) -> None:
    error, _ = config_error(tmp_path, "[policy]\nquarantine_at = 3\n")
    assert "quarantine" in error.problem and "on_error" in error.problem


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    error, path = config_error(tmp_path, "[policy\ntag = 4\n")
    assert error.path == str(path)
    assert error.key == ""
    assert "not valid TOML" in error.problem
    assert str(error).startswith(str(path))


def test_missing_config_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        config.load(missing)
    assert info.value.path == str(missing)
    assert "not found" in info.value.problem


def test_missing_rule_file_is_an_error_at_load(tmp_path: Path) -> None:
    error, path = config_error(tmp_path, '[rules]\nfiles = ["builtin", "local/extra.toml"]\n')
    assert error.path == str(path)
    assert error.key == "rules.files"
    assert str(tmp_path / "local" / "extra.toml") in error.problem
    assert "does not exist" in error.problem


def test_rule_paths_are_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "etc" / "rules" / "local.toml", RULE_TEMPLATE.format(id="local.one"))
    path = write(tmp_path / "etc" / "spoofguard.toml", '[rules]\nfiles = ["rules/local.toml", "rules.d/*.toml"]\n')
    monkeypatch.chdir(tmp_path)  # not the config's directory
    settings = config.load(path)
    assert settings.rule_files() == [(tmp_path / "etc" / "rules" / "local.toml").resolve()]


# -- search order --------------------------------------------------------------------------------


def test_explicit_path_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path / "explicit.toml", "[policy]\ntag = 2\n")
    env = write(tmp_path / "env.toml", "[policy]\ntag = 3\n")
    monkeypatch.setenv(config.ENV_VAR, str(env))
    assert config.locate(explicit) == explicit
    assert config.load(explicit).policy.tag == 2.0


def test_environment_wins_over_system_and_packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = write(tmp_path / "env.toml", "[policy]\ntag = 3\n")
    monkeypatch.setenv(config.ENV_VAR, str(env))
    monkeypatch.setattr(config, "SYSTEM_CONFIG", write(tmp_path / "etc.toml", "[policy]\ntag = 1\n"))
    assert config.locate() == env
    assert config.load().policy.tag == 3.0


def test_system_config_wins_over_packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    system = write(tmp_path / "etc.toml", "[policy]\ntag = 1\n")
    monkeypatch.setattr(config, "SYSTEM_CONFIG", system)
    assert config.locate() == system
    assert config.load().policy.tag == 1.0


def test_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(config.ENV_VAR, "")
    monkeypatch.setattr(config, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    assert config.locate() == config.PACKAGED_CONFIG


def test_packaged_default_when_no_system_config(monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/etc/spoofguard/spoofguard.toml").exists():
        pytest.skip("/etc/spoofguard/spoofguard.toml exists on this machine")
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert config.locate() == config.PACKAGED_CONFIG
    settings = config.load()
    assert settings.path == config.PACKAGED_CONFIG.resolve()


def test_bad_environment_config_is_reported_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = write(tmp_path / "env.toml", "[policy]\ntag = 30\n")
    monkeypatch.setenv(config.ENV_VAR, str(env))
    with pytest.raises(ConfigError) as info:
        config.load()
    assert info.value.path == str(env)
    assert info.value.key == "policy.quarantine"


# -- rule files ----------------------------------------------------------------------------------

RULE_TEMPLATE = """
[[rule]]
id = "{id}"
move = "harm"
language = "en"
weight = 2.0
description = "test rule"
pattern = '''\\bwe will find you\\b'''
match = ["We will find you."]
no_match = ["We will find your parcel."]
"""
WORD_RULE_TEMPLATE = """
[class.seek]
description = "to look for"
en = ["find", "found", "track*"]

[[rule]]
id = "{id}"
move = "harm"
weight = 2.0
description = "test rule"
all = ["seek", "victim"]
within = 3
match = ["We will find you."]
no_match = ["We will find your parcel."]
"""


def rule_error(tmp_path: Path, body: str) -> tuple[ConfigError, Path]:
    path = write(tmp_path / "rules" / "bad.toml", body)
    with pytest.raises(ConfigError) as info:
        load_rule_files([path])
    return info.value, path


def test_good_rule_file_loads(tmp_path: Path) -> None:
    loaded = load_rule_file(write(tmp_path / "r.toml", RULE_TEMPLATE.format(id="t.find")))
    (rule,) = loaded.rules
    assert rule.id == "t.find"
    assert example_failures(rule, loaded.lexicon) == []


def test_word_class_rule_uses_classes_from_any_loaded_file(tmp_path: Path) -> None:
    builtin = config.load(config.PACKAGED_CONFIG).rule_files()
    loaded = load_rule_files([*builtin, write(tmp_path / "w.toml", WORD_RULE_TEMPLATE.format(id="t.seek"))])
    rule = next(r for r in loaded.rules if r.id == "t.seek")
    assert rule.groups == (frozenset({"seek"}), frozenset({"victim"}))  # "victim" is a shipped class
    assert example_failures(rule, loaded.lexicon) == []


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[class.seek]\nen = ["track* down"]\n', "class.seek.en", "a stem ending in '*'"),
        ('[class.seek]\nen = ["ab*"]\n', "class.seek.en", "at least three letters"),
        ('[class.seek]\nenglish = ["find"]\n', "class.seek.english", "two-letter language code"),
        ('[class.seek]\nen = "find"\n', "class.seek.en", "list of words"),
        ('[class.Seek-Words]\nen = ["find"]\n', "class.Seek-Words", "lower case"),
    ],
    ids=["stem-inside-phrase", "short-stem", "bad-language", "not-a-list", "bad-name"],
)
def test_word_class_errors_name_the_file_and_key(tmp_path: Path, body: str, key: str, problem: str) -> None:
    error, path = rule_error(tmp_path, body)
    assert (error.path, error.key) == (str(path), key)
    assert problem in error.problem


def test_a_file_of_ones_own_adds_words_to_a_shipped_class(tmp_path: Path) -> None:
    builtin = config.load(config.PACKAGED_CONFIG).rule_files()
    extra = write(tmp_path / "x.toml", '[class.malware]\nen = ["stalkerware"]\n')
    loaded = load_rule_files([*builtin, extra])
    assert "stalkerware" in loaded.lexicon.classes["malware"].entries
    assert "trojan" in loaded.lexicon.classes["malware"].entries


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("pattern = '''\\bwe will find you\\b'''", "pattern = '''(we will find you'''", "rule.t.bad.pattern",
         "invalid regular expression"),
        ('move = "harm"', 'move = "rudeness"', "rule.t.bad.move", "unknown move 'rudeness'"),
        ('match = ["We will find you."]\n', "", "rule.t.bad.match", "missing"),
        ('no_match = ["We will find your parcel."]\n', "", "rule.t.bad.no_match", "missing"),
        ("weight = 2.0", "weight = 0", "rule.t.bad.weight", "(0, 20]"),
        ("weight = 2.0", 'weight = "2"', "rule.t.bad.weight", "(0, 20]"),
        ('language = "en"', 'language = "en"\ncolour = "red"', "rule.t.bad.colour", "unknown key"),
        ('description = "test rule"', 'description = "test rule"\nscope = "body"', "rule.t.bad.scope", "one of"),
        ('match = ["We will find you."]', "match = [1]", "rule.t.bad.match", "list of strings"),
        ("pattern = '''\\bwe will find you\\b'''", 'all = ["nosuchclass", "victim"]', "rule.t.bad.all",
         "unknown word class 'nosuchclass'"),
        ('description = "test rule"', 'description = "test rule"\nwithin = 99', "rule.t.bad.within", "0 to 40"),
    ],
    ids=["bad-regex", "unknown-move", "missing-match", "missing-no_match", "zero-weight",
         "string-weight", "unknown-key", "bad-scope", "non-string-example", "unknown-class", "bad-within"],
)
def test_rule_error_names_file_and_rule_key(tmp_path: Path, old: str, new: str, key: str, problem: str) -> None:
    body = RULE_TEMPLATE.format(id="t.bad")
    assert old in body
    error, path = rule_error(tmp_path, body.replace(old, new))
    assert error.path == str(path)
    assert error.key == key
    assert problem in error.problem


def test_rule_with_both_pattern_and_phrases_is_an_error(tmp_path: Path) -> None:
    body = RULE_TEMPLATE.format(id="t.both") + 'phrases = ["we will find you"]\n'
    error, path = rule_error(tmp_path, body)
    assert error.path == str(path)
    assert error.key == "rule.t.both"
    assert "exactly one of 'all', 'pattern' or 'phrases'" in error.problem


def test_rule_without_id_is_named_by_position(tmp_path: Path) -> None:
    body = RULE_TEMPLATE.format(id="t.first") + RULE_TEMPLATE.format(id="x").replace('id = "x"\n', "")
    error, _ = rule_error(tmp_path, body)
    assert error.key == "rule[1].id"
    assert error.problem == "missing"


def test_duplicate_rule_id_across_two_files_names_the_second_file_and_the_first(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", RULE_TEMPLATE.format(id="t.same"))
    second = write(tmp_path / "b.toml", RULE_TEMPLATE.format(id="other") + RULE_TEMPLATE.format(id="t.same"))
    with pytest.raises(ConfigError) as info:
        load_rule_files([first, second])
    assert info.value.path == str(second)
    assert info.value.key == "rule.t.same"
    assert "duplicate rule id" in info.value.problem
    assert str(first) in info.value.problem


def test_duplicate_of_a_builtin_rule_id_is_an_error(tmp_path: Path) -> None:
    builtin = load_rule_files(config.load(config.PACKAGED_CONFIG).rule_files()).rules
    local = write(tmp_path / "local.toml", RULE_TEMPLATE.format(id=builtin[0].id))
    path = write(tmp_path / "spoofguard.toml", '[rules]\nfiles = ["builtin", "local.toml"]\n')
    settings = config.load(path)
    with pytest.raises(ConfigError) as info:
        build_analyzer(settings, offline=True)  # what `spoofguard config check` and start-up do
    assert info.value.path == str(local.resolve())
    assert info.value.key == f"rule.{builtin[0].id}"


def test_invalid_toml_rule_file_names_the_file(tmp_path: Path) -> None:
    error, path = rule_error(tmp_path, "[[rule]\nid = 'x'\n")
    assert error.path == str(path)
    assert "not valid TOML" in error.problem


def test_rule_file_with_other_top_level_keys_is_an_error(tmp_path: Path) -> None:
    error, path = rule_error(tmp_path, 'rules = []\n')
    assert error.path == str(path)
    assert error.key == "rules"


def test_bad_rule_file_stops_the_analyzer_build(tmp_path: Path) -> None:
    write(tmp_path / "bad.toml", RULE_TEMPLATE.format(id="t.re").replace("\\bwe will", "(we will"))
    path = write(tmp_path / "spoofguard.toml", '[rules]\nfiles = ["bad.toml"]\n')
    settings = config.load(path)
    with pytest.raises(ConfigError) as info:
        build_analyzer(settings, offline=True)
    assert info.value.key == "rule.t.re.pattern"
