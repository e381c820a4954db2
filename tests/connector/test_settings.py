"""Bad configuration stops start-up with one line naming the setting, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_KEY = "k" * 40


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    return subprocess.run([sys.executable, "-m", "credbridge", *args], env={**clean, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "CREDBRIDGE_SECRET_KEY is not set"),
        ({"CREDBRIDGE_SECRET_KEY": "short"}, "CREDBRIDGE_SECRET_KEY is wrong: must be at least 32"),
        ({"CREDBRIDGE_SECRET_KEY": GOOD_KEY, "CREDBRIDGE_BASE_URL": "moodle.school"},
         "CREDBRIDGE_BASE_URL is wrong: must be an absolute http(s) URL"),
        ({"CREDBRIDGE_SECRET_KEY": GOOD_KEY, "CREDBRIDGE_DATABASE_URL": "mysql://x/y"},
         "CREDBRIDGE_DATABASE_URL is wrong: must start with sqlite:// or postgresql+psycopg://"),
        ({"CREDBRIDGE_SECRET_KEY": GOOD_KEY, "CREDBRIDGE_LTI_LEEWAY_SECONDS": "ten"},
         "CREDBRIDGE_LTI_LEEWAY_SECONDS is wrong"),
        ({"CREDBRIDGE_CONFIG": "/nonexistent/credbridge.toml"}, "CREDBRIDGE_CONFIG: file /nonexistent"),
    ],
)
def test_bad_setting_gives_one_line_and_exit_code_2(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    result = run_cli(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "credbridge.db").exists(), "nothing may change on bad settings"


def test_unknown_key_in_config_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "credbridge.toml").write_text(f'[credbridge]\nsecret_key = "{GOOD_KEY}"\ndatabse_url = "x"\n')
    result = run_cli(["db", "upgrade"], {}, tmp_path)
    assert result.returncode == 2
    assert "databse_url: unknown setting" in result.stderr


def test_init_writes_a_private_config_and_a_migrated_database(tmp_path: Path) -> None:
    result = run_cli(["init"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    config = tmp_path / "credbridge.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert "secret_key" in config.read_text()
    assert (tmp_path / "credbridge.db").exists()
    again = run_cli(["init"], {}, tmp_path)
    assert again.returncode == 0 and "keeping it" in again.stdout


def test_admin_command_stores_a_scrypt_hash_never_the_password(tmp_path: Path) -> None:
    assert run_cli(["init"], {}, tmp_path).returncode == 0
    assert run_cli(["schools", "add", "--slug", "tss", "--name", "Tehnička škola", "--country", "HR"], {},
                   tmp_path).returncode == 0
    short = run_cli(["admins", "add", "--school", "tss", "--email", "a@tss.example", "--password", "short"], {},
                    tmp_path)
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    ok = run_cli(["admins", "add", "--school", "tss", "--email", "A@tss.example", "--password",
                  "correct horse battery"], {}, tmp_path)
    assert ok.returncode == 0, ok.stderr
    import sqlite3

    row = sqlite3.connect(tmp_path / "credbridge.db").execute("SELECT email, password_hash FROM admin_user").fetchone()
    assert row[0] == "a@tss.example"
    assert row[1].startswith("scrypt:") and "correct horse" not in row[1]


def test_a_school_in_no_country_is_refused_by_its_option(tmp_path: Path) -> None:
    assert run_cli(["init"], {}, tmp_path).returncode == 0
    for country in ("ZZ", "ß", "EU"):
        refused = run_cli(["schools", "add", "--slug", "tss", "--name", "Tehnička škola", "--country", country], {},
                          tmp_path)
        assert refused.returncode == 2 and "--country" in refused.stderr and "not an ISO 3166-1" in refused.stderr
    import sqlite3

    assert sqlite3.connect(tmp_path / "credbridge.db").execute("SELECT count(*) FROM school").fetchone() == (0,)
