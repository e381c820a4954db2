"""Acceptance (issue 11): `connections check` proves with Moodle's data that sync sees every activity.

Against the emulator of the recorded capability site, the README's old role must fail the check, naming
the hidden quiz and assignment and mod/quiz:view and mod/assign:view; the role with the module view
capabilities must pass it."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from credbridge.connector.commands.sync import connections
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.functions import MoodleApi
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, School
from credbridge.connector.sync import runner
from credbridge.connector.sync.capabilities import check_connection
from credbridge.emulator.dataset import Site
from credbridge.emulator.roles import RECORDED_README_ROLE, RECORDED_WITH_MODULE_VIEW, SYNC_ROLE
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from credbridge.emulator.ws import RECORDED_SERVICE_FUNCTIONS, Principal
from tests.conftest import FIXTURES, TEST_SECRET_KEY

README_TOKEN, MODULE_VIEW_TOKEN = "a" * 32, "b" * 32


@pytest.fixture(scope="module")
def recorded_site() -> Iterator[RunningEmulator]:
    site = Site.from_capability_recording(FIXTURES / "capabilities")
    tokens = {README_TOKEN: Principal(3, RECORDED_README_ROLE),
              MODULE_VIEW_TOKEN: Principal(3, RECORDED_WITH_MODULE_VIEW)}
    with serve_in_thread(site, tokens=tokens, functions=RECORDED_SERVICE_FUNCTIONS) as emu:
        yield emu


@pytest.fixture
def cli(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", sqlite_database.url)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_CONFIG", "/dev/null")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(runner, "client_factory", functools.partial(MoodleClient, rate_per_second=None))
    with sqlite_database.unit_of_work() as session:
        session.add(School(slug="vet", legal_name="VET College Example", country="FI"))
    return CliRunner()


def check(cli: CliRunner, url: str, token: str):
    added = cli.invoke(connections, ["add", "moodle", "--school", "vet", "--url", url], input=f"{token}\n")
    assert added.exit_code == 0, added.output
    return cli.invoke(connections, ["check", "moodle"], terminal_width=400)


def test_the_readme_role_fails_naming_the_hidden_activities_and_the_capabilities(cli, recorded_site, sqlite_database):
    result = check(cli, recorded_site.url, README_TOKEN)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "all required checks passed" not in output
    for name in ("CNC fundamentals quiz", "Program a facing operation"):
        assert name in output
    assert "HIDDEN: grant mod/quiz:view" in output and "HIDDEN: grant mod/assign:view" in output
    assert "Moodle hides 2 activities from the sync user: grant mod/assign:view, mod/quiz:view" in output
    # the page, which the authenticated-user role shows, is not reported
    assert "G-code quick reference" in output and output.count("HIDDEN") == 2
    with sqlite_database.unit_of_work() as session:
        conn = session.scalar(select(LmsConnection))
        assert "mod/quiz:view" in conn.last_error and "CNC fundamentals quiz" in conn.last_error
        hidden = [a for a in conn.site_info["check_activities"] if a["hidden"]]
        assert {(a["name"], a["modname"], a["cmid"]) for a in hidden} == {
            ("Program a facing operation", "assign", 2), ("CNC fundamentals quiz", "quiz", 3)}


def test_the_role_with_module_view_passes(cli, recorded_site, sqlite_database):
    result = check(cli, recorded_site.url, MODULE_VIEW_TOKEN)
    assert result.exit_code == 0, result.output
    assert "every activity of 3 course(s) is visible" in result.output and "HIDDEN" not in result.output
    with sqlite_database.unit_of_work() as session:
        conn = session.scalar(select(LmsConnection))
        assert conn.last_error is None
        assert {a["name"] for a in conn.site_info["check_activities"]} == {
            "G-code quick reference", "Program a facing operation", "CNC fundamentals quiz"}


def test_each_source_is_compared(recorded_site):
    """Where each hidden activity showed: the completion criteria name it, the gradebook holds its item,
    the course contents leave it out."""
    client = MoodleClient(recorded_site.url, README_TOKEN, rate_per_second=None)
    try:
        report = check_connection(MoodleApi(client))
    finally:
        client.close()
    rows = {a.name: a for a in report.activities}
    quiz = rows["CNC fundamentals quiz"]
    assert (quiz.contents, quiz.criteria, quiz.gradebook, quiz.hidden) == (False, True, True, True)
    page = rows["G-code quick reference"]
    assert (page.contents, page.criteria, page.hidden) == (True, True, False)
    assert report.hidden_capabilities() == ["mod/assign:view", "mod/quiz:view"]


def test_a_course_without_criteria_still_shows_hidden_items_through_the_gradebook():
    site = Site.from_capability_recording(FIXTURES / "capabilities")
    site.courses[2].criteria.clear()
    with serve_in_thread(site, tokens={README_TOKEN: Principal(3, RECORDED_README_ROLE)}) as emu:
        client = MoodleClient(emu.url, README_TOKEN, rate_per_second=None)
        report = check_connection(MoodleApi(client))
        client.close()
    assert {(a.name, a.gradebook, a.criteria) for a in report.hidden} == {
        ("CNC fundamentals quiz", True, None), ("Program a facing operation", True, None)}
    assert not report.ok


def test_the_readme_role_of_today_passes_on_the_recorded_site():
    site = Site.from_capability_recording(FIXTURES / "capabilities")
    with serve_in_thread(site, tokens={"s" * 32: Principal(3, SYNC_ROLE)}) as emu:
        client = MoodleClient(emu.url, "s" * 32, rate_per_second=None)
        report = check_connection(MoodleApi(client))
        client.close()
    assert report.ok and not report.hidden, [f for f in report.findings if not f.ok]


def test_a_course_without_learners_has_no_false_alarm():
    """With nobody enrolled the user report has no row to compare the gradebook with: nothing is called hidden."""
    site = Site.from_capability_recording(FIXTURES / "capabilities")
    for userid in [u for (course, u), e in site.enrolments.items() if course == 2 and e.roleid == 5]:
        site.withdraw(userid, 2, mode="unenrol")
    with serve_in_thread(site, tokens={"s" * 32: Principal(3, SYNC_ROLE)}) as emu:
        client = MoodleClient(emu.url, "s" * 32, rate_per_second=None)
        report = check_connection(MoodleApi(client))
        client.close()
    assert not report.hidden
