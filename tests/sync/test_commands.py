"""The command-line surface, through click's CliRunner against the emulator and a SQLite file."""

from __future__ import annotations

import functools

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from credbridge.connector.commands.sync import connections, import_results, sync
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Evidence, LmsConnection, LtiRegistration, School
from credbridge.connector.sync import runner
from credbridge.emulator.server import NOCAP_TOKEN, RunningEmulator
from tests.conftest import TEST_SECRET_KEY
from tests.sync.conftest import TOKEN


@pytest.fixture
def cli(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", sqlite_database.url)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_CONFIG", "/dev/null")
    monkeypatch.setenv("COLUMNS", "400")  # rich tables on one line each, so the text can be asserted
    # the production rate limit (20 calls/s) would only slow the test down
    monkeypatch.setattr(runner, "client_factory", functools.partial(MoodleClient, rate_per_second=None))
    with sqlite_database.unit_of_work() as session:
        session.add(School(slug="vet", legal_name="VET College Example", country="FI"))
    return CliRunner()


def add(cli: CliRunner, url: str, token: str = TOKEN, name: str = "moodle"):
    return cli.invoke(connections, ["add", name, "--school", "vet", "--url", url], input=f"{token}\n")


def test_add_stores_the_token_encrypted_and_never_echoes_it(cli, sqlite_database, emulator: RunningEmulator):
    result = add(cli, emulator.url)
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    with sqlite_database.unit_of_work() as session:
        conn = session.scalar(select(LmsConnection))
        assert conn.ws_token.reveal_text() == TOKEN
        stored = session.connection().exec_driver_sql("select ws_token from lms_connection").scalar()
        assert TOKEN.encode() not in bytes(stored)
    listed = cli.invoke(connections, ["list"])
    assert listed.exit_code == 0 and "moodle" in listed.output and TOKEN not in listed.output
    again = add(cli, emulator.url)
    assert again.exit_code == 2 and "already has a connection named 'moodle'" in again.output


def test_add_links_the_lti_registration_of_the_same_moodle(cli, sqlite_database):
    with sqlite_database.unit_of_work() as session:
        school = session.scalar(select(School))
        session.add(LtiRegistration(school_id=school.id, name="Moodle 4.5", issuer="https://moodle.vet.example",
                                    client_id="c", auth_login_url="https://a", auth_token_url="https://t",
                                    key_set_url="https://k"))
    result = add(cli, "https://moodle.vet.example/")
    assert result.exit_code == 0 and "linked the LTI registration(s) of this Moodle: Moodle 4.5" in result.output
    with sqlite_database.unit_of_work() as session:
        assert session.scalar(select(LtiRegistration.connection_id)) == session.scalar(select(LmsConnection.id))


def test_add_refuses_a_bad_url(cli):
    result = cli.invoke(connections, ["add", "m", "--school", "vet", "--url", "moodle.example"], input=f"{TOKEN}\n")
    assert result.exit_code == 2 and "must start with http:// or https://" in result.output


def test_check_passes_for_the_sync_user(cli, emulator):
    add(cli, emulator.url)
    result = cli.invoke(connections, ["check", "moodle"])
    assert result.exit_code == 0, result.output
    assert "all required checks passed" in result.output


def test_check_names_what_the_admin_must_grant(cli, emulator):
    add(cli, emulator.url, token=NOCAP_TOKEN)
    result = cli.invoke(connections, ["check", "moodle"], terminal_width=400)
    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "capability for core_enrol_get_enrolled_users" in result.output
    assert "grant moodle/course:viewparticipants, moodle/course:enrolreview" in result.output
    assert "grant gradereport/user:view, moodle/grade:viewall" in result.output


def test_check_reports_an_invalid_token(cli, emulator):
    add(cli, emulator.url, token="0" * 32)
    result = cli.invoke(connections, ["check", "moodle"], terminal_width=400)
    assert result.exit_code == 1 and "invalidtoken" in result.output


def test_sync_command_then_remove(cli, sqlite_database, emulator):
    add(cli, emulator.url)
    result = cli.invoke(sync, ["--connection", "moodle"])
    assert result.exit_code == 0, result.output
    assert "sync moodle (incremental): 3 courses" in result.output
    course = cli.invoke(sync, ["--connection", "moodle", "--course", "3"])
    assert course.exit_code == 0 and "sync moodle (course): 1 courses" in course.output
    missing = cli.invoke(sync, ["--connection", "nope"])
    assert missing.exit_code == 2 and "no connection named 'nope'" in missing.output
    removed = cli.invoke(connections, ["remove", "moodle", "--yes"])
    assert removed.exit_code == 0
    with sqlite_database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_import_results_all_or_nothing(cli, sqlite_database, emulator, tmp_path):
    add(cli, emulator.url)
    cli.invoke(sync, ["--connection", "moodle"])
    sheet = tmp_path / "practical.csv"
    sheet.write_text("idnumber;assessment;result;grade;max;date;id_checked;supervised;mode\n"
                     "STU-2026-001;WELD-PRACT-1;pass;18;20;2026-06-01;yes;yes;onsite\n"
                     "STU-2026-002;WELD-PRACT-1;maybe;18;20;2026-06-01;yes;yes;onsite\n"
                     "STU-9999-999;WELD-PRACT-1;fail;;;01.06.2026;no;yes;onsite\n", encoding="utf-8")
    result = cli.invoke(import_results, [str(sheet), "--connection", "moodle"])
    assert result.exit_code == 1
    assert "practical.csv:3:result: expected pass or fail, got 'maybe'" in result.output
    assert "practical.csv:4:idnumber: no learner with idnumber 'STU-9999-999' in this school" in result.output
    assert "nothing was imported" in result.output
    with sqlite_database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Evidence).where(Evidence.source == "csv")) == 0
    skipped = cli.invoke(import_results, [str(sheet), "--connection", "moodle", "--skip-bad-rows"])
    assert skipped.exit_code == 0, skipped.output
    assert "imported 1 rows: 1 new, 0 changed, 2 rows skipped" in skipped.output
    with sqlite_database.unit_of_work() as session:
        row = session.scalar(select(Evidence).where(Evidence.source == "csv"))
        assert row.kind == "external" and row.source_key == "assessment:WELD-PRACT-1"
        assert row.payload["percent"] == "90" and row.payload["supervised"] is True and row.payload["mode"] == "onsite"
