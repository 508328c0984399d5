"""The operator's conveniences (docs/operations.md): `--config FILE` for every long-running
command, `--version`, `-v` after the subcommand, help that lists the category codes,
`rules canonical` without an identity, and a .gitignore that keeps keys and ledgers out of
a clone's history."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from candor.cli import _config_flags, build_parser, main
from core.errors import InvalidInput
from core.rules import DEFAULT_CATEGORIES

REPO = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> argparse.Namespace:
    """What `main` parses: the command line plus its --config file's settings."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv + _config_flags(argv, parser))
    assert not unknown
    return args


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(("command", "settings", "expected"), [
    (["witness"], 'identity = "/srv/w1"\nserver = "10.0.0.5:7400"\ninterval = 2.5\n',
     {"identity": "/srv/w1", "server": "10.0.0.5:7400", "interval": 2.5}),
    (["trustee", "serve"], 'identity = "/srv/t1"\nlisten = "0.0.0.0:7410"\ndata = "/srv/t1/mirror.db"\n',
     {"identity": "/srv/t1", "listen": "0.0.0.0:7410", "data": "/srv/t1/mirror.db"}),
    (["explore"], 'identity = "/srv/r"\nlisten = "127.0.0.1:8081"\nverify-all = true\n',
     {"identity": "/srv/r", "listen": "127.0.0.1:8081", "verify_all": True}),
    (["serve"], 'identity = "/srv/op"\ncheckpoint_ms = 20\nlog_json = true\nepoch_interval = 60\n',
     {"identity": "/srv/op", "checkpoint_ms": 20, "log_json": True, "epoch_interval": 60.0}),
])
def test_config_file_sets_the_flags_of_each_long_running_command(tmp_path: Path, command: list[str], settings: str,
                                                                 expected: dict[str, object]) -> None:
    config = tmp_path / "candor.toml"
    config.write_text(settings)
    args = parse([*command, "--config", str(config)])
    assert {k: getattr(args, k) for k in expected} == expected


def test_flags_override_the_file_and_the_file_overrides_the_environment(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "operator.toml"
    config.write_text('identity = "/srv/op"\nlisten = "127.0.0.1:7400"\n')
    assert parse(["serve", "--config", str(config), "--listen", "127.0.0.1:7999"]).listen == "127.0.0.1:7999"
    assert parse(["serve", f"--config={config}", "--listen=127.0.0.1:7998"]).listen == "127.0.0.1:7998"
    monkeypatch.setenv("CANDOR_LISTEN", "127.0.0.1:7001")
    monkeypatch.setenv("CANDOR_DATA", "/srv/env.db")
    args = parse(["serve", "--config", str(config)])
    assert (args.listen, args.data) == ("127.0.0.1:7400", "/srv/env.db")  # the file wins, the env fills the rest
    monkeypatch.setenv("CANDOR_IDENTITY", "/srv/env-op")
    assert parse(["serve"]).identity == "/srv/env-op"  # no file at all: environment as before


@pytest.mark.parametrize(("settings", "named"), [
    ("chekpoint_ms = 20\n", "chekpoint_ms"),  # a typo
    ("inter = 2\n", "inter"),                 # argparse would take it as an abbreviation of --interval
    ("help = true\n", "help"),
    ("config = \"other.toml\"\n", "config"),
    ("checkpoint_ms = 20\n", "checkpoint_ms"),  # a flag of serve, not of witness
])
def test_unknown_config_keys_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     settings: str, named: str) -> None:
    config = tmp_path / "witness.toml"
    config.write_text('identity = "/srv/w1"\n' + settings)
    line = one_line(capsys, ["witness", "--config", str(config)])
    assert f"unknown setting(s) {named} for `candor witness`" in line


def test_bad_config_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("listen = [1, 2]\nidentity = '/x'\n")
    assert "listen must be a string, number or true/false" in one_line(capsys, ["serve", "--config", str(config)])
    config.write_text("listen = \n")
    assert "is not valid TOML" in one_line(capsys, ["serve", "--config", str(config)])
    assert "No such file" in one_line(capsys, ["serve", "--config", str(tmp_path / "missing.toml")])
    with pytest.raises(InvalidInput):
        _config_flags(["serve", "--config", str(config)])


def test_version_and_verbose_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "candor.cli", "--version"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("candor ")
    assert parse(["status", "--identity", "/x", "-v"]).verbose is True
    assert parse(["-v", "status", "--identity", "/x"]).verbose is True
    assert parse(["status", "--identity", "/x"]).verbose is False


def test_category_help_lists_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(code in text for code in DEFAULT_CATEGORIES)


def test_rules_canonical_needs_no_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["rules", "canonical", "--file", str(REPO / "candor" / "rules" / "default.toml")])
    assert capsys.readouterr().out.startswith("version = ")
    bad = tmp_path / "rules.toml"
    bad.write_text((REPO / "candor" / "rules" / "default.toml").read_text().replace("fake_traffic", "fake_trafic"))
    assert "fake_trafic" in one_line(capsys, ["rules", "canonical", "--file", str(bad)])


def test_gitignore_keeps_alliances_and_ledgers_out() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    for pattern in ("/alliance/", "*.db", "*.db-wal", "*.db-shm", "*.db.lock", "*.state"):
        assert pattern in ignored
    probe = ["alliance/operator/identity.json", "ledger.db", "ledger.db-wal", "ledger.db-shm", "mirror.db.lock"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *probe], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=60)
    assert sorted(done.stdout.split()) == sorted(probe)


@pytest.mark.parametrize("command", [["db", "backup", "--out", "x.db"], ["db", "restore", "--from", "x.db"]])
def test_backup_of_postgresql_is_refused_with_the_pg_dump_recipe(capsys: pytest.CaptureFixture[str],
                                                                 command: list[str]) -> None:
    line = one_line(capsys, [*command, "--data", "postgresql://candor:secret@db.example/candor"])
    assert "pg_dump --format=custom" in line and "secret" not in line  # the recipe, never the password


def test_backup_refuses_what_is_not_a_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    assert "notes.txt" in one_line(capsys, ["db", "backup", "--data", str(tmp_path / "notes.txt"),
                                            "--out", str(tmp_path / "copy.db")])
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "copy.db.partial").exists()


def test_status_exits_non_zero_naming_an_unreachable_operator(alliance_dir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--identity", str(alliance_dir / "member-a"), "--server", f"127.0.0.1:{port}", "--json"])
    assert exit_info.value.code == 1
    status = json.loads(capsys.readouterr().out)
    assert status["operator_reachable"] is False and status["ok"] is False
    assert any(f"127.0.0.1:{port}" in p and "candor serve" in p for p in status["problems"]), status["problems"]
