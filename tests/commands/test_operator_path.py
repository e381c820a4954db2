"""The operator's one-shot path (issue 11): `credbridge issue` runs once and exits like `sync`, `--watch`
keeps it running, and `schools show|set` read and change the school's policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from credbridge.connector.commands import issue as issue_module
from credbridge.connector.commands.issue import issue
from credbridge.connector.commands.setup import schools
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, School
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def env(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", sqlite_database.url)
    monkeypatch.setenv("CREDBRIDGE_CONFIG", "/dev/null")
    monkeypatch.setenv("COLUMNS", "300")
    with sqlite_database.unit_of_work() as s:
        s.add(School(slug="vet", legal_name="VET College", country="HR", policy={"revoke_on_regression": "ask"}))
    return sqlite_database


def test_issue_runs_once_and_exits(env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issue_module.time, "sleep", lambda _s: pytest.fail("a one-shot issue must not wait"))
    result = CliRunner().invoke(issue, [])
    assert result.exit_code == 0, result.output
    assert result.output.count("evaluated 0 learners") == 1


def test_issue_watch_keeps_running_until_stopped(env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(issue_module.time, "sleep", sleep)
    result = CliRunner().invoke(issue, ["--watch", "--interval", "7"])
    assert result.exit_code == 0, result.output
    assert naps == [7, 7] and result.output.count("evaluated 0 learners") == 2


def test_schools_show_and_set_the_policy(env: Database) -> None:
    runner = CliRunner()
    shown = runner.invoke(schools, ["show", "vet"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.replace("│", " ").split())
    assert "ags_score default (off: no AGS line item yet)" in text
    assert "notify_email off" in text and "suspended_enrolment teacher_approval" in text
    changed = runner.invoke(schools, ["set", "vet", "--notify-email", "on", "--ags-score", "off",
                                      "--suspended-enrolment", "hold"])
    assert changed.exit_code == 0, changed.output
    with env.unit_of_work() as s:
        school = s.scalar(select(School))
        assert school.policy == {"revoke_on_regression": "ask", "notify_email": True, "ags_score": False,
                                 "suspended_enrolment": "hold"}
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "school.policy_changed"))
        assert audit.details["after"] == {"notify_email": "on", "ags_score": "off", "suspended_enrolment": "hold"}
    assert "ags_score off" in " ".join(runner.invoke(schools, ["show", "vet"]).output.replace("│", " ").split())
    back = runner.invoke(schools, ["set", "vet", "--ags-score", "default"])
    assert back.exit_code == 0
    with env.unit_of_work() as s:
        assert "ags_score" not in s.scalar(select(School)).policy


@pytest.mark.parametrize("args", [["set", "vet"], ["set", "vet", "--notify-email", "maybe"],
                                  ["set", "nope", "--notify-email", "on"]])
def test_schools_set_refuses_bad_input_and_changes_nothing(env: Database, args: list[str]) -> None:
    result = CliRunner().invoke(schools, args)
    assert result.exit_code == 2
    with env.unit_of_work() as s:
        assert s.scalar(select(School)).policy == {"revoke_on_regression": "ask"}
