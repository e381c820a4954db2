"""Acceptance (issue 11): sync never mistakes an activity Moodle hides from the sync user for one that is
gone. A course synced under the README's old role, then under the right one (and back): no evidence is
ever withdrawn, and the connection carries the permission error exactly while the role lacks a capability.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Activity, Evidence, LmsConnection, SyncRun
from credbridge.emulator.dataset import Site
from credbridge.emulator.roles import RECORDED_README_ROLE, SYNC_ROLE
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from tests.conftest import FIXTURES
from tests.sync.conftest import TOKEN, Harness, make_connection


@pytest.fixture
def capability_site() -> Iterator[RunningEmulator]:
    """The site the capability fixtures were recorded on: CNC101 with a page, an assignment and a quiz."""
    with serve_in_thread(Site.from_capability_recording(FIXTURES / "capabilities")) as emu:
        yield emu


@pytest.fixture
def harness(sqlite_database: Database, capability_site: RunningEmulator) -> Iterator[Harness]:
    client = MoodleClient(capability_site.url, TOKEN, rate_per_second=None, max_concurrency=1)
    yield Harness(sqlite_database, capability_site, make_connection(sqlite_database, capability_site.url), client)
    client.close()


def withdrawn_versions(h: Harness) -> int:
    with h.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Evidence).where(Evidence.withdrawn.is_(True)))


def connection_error(h: Harness) -> str | None:
    with h.db.unit_of_work() as session:
        return session.get(LmsConnection, h.connection_id).last_error


def current_kinds(h: Harness) -> set[tuple[str, str]]:
    return {(kind, key) for _user, kind, key, _values, withdrawn in h.snapshot() if not withdrawn}


def test_the_old_role_then_the_right_one_withdraws_nothing(harness: Harness):
    harness.emulator.set_role(RECORDED_README_ROLE)
    first = harness.sync()
    error = connection_error(harness)
    assert error is not None
    assert "CNC fundamentals quiz" in error and "Program a facing operation" in error
    assert "mod/quiz:view" in error and "mod/assign:view" in error
    assert first.problem == error
    seen = current_kinds(harness)
    assert ("activity_completion", "cm:1") in seen and ("course_completion", "course:2") in seen
    assert not any(key.startswith("attempt:") for _kind, key in seen)  # the quiz is hidden: nothing read of it
    again = harness.sync(full=True)  # a full reconciliation under the same role changes nothing
    assert (again.counts.new, again.counts.changed, again.counts.withdrawn) == (0, 0, 0)
    assert connection_error(harness) == error

    harness.emulator.set_role(SYNC_ROLE)  # the school grants the README's role of today
    fixed = harness.sync()
    assert connection_error(harness) is None and fixed.problem is None
    now = current_kinds(harness)
    assert seen <= now
    assert {("activity_completion", "cm:2"), ("activity_completion", "cm:3"), ("assignment_grade", "assign:1"),
            ("quiz_attempt", "attempt:1")} <= now
    assert withdrawn_versions(harness) == 0
    with harness.db.unit_of_work() as session:
        runs = [r.status for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert runs == ["incomplete", "incomplete", "ok"]


def test_the_right_role_then_the_old_one_keeps_every_activity_and_its_evidence(harness: Harness):
    harness.sync()
    before = current_kinds(harness)
    assert ("quiz_attempt", "attempt:1") in before and ("grade_item", "gi:3") in before
    harness.emulator.set_role(RECORDED_README_ROLE)
    for full in (False, True):
        report = harness.sync(full=full)
        assert report.counts.withdrawn == 0, full
        assert withdrawn_versions(harness) == 0
        error = connection_error(harness)
        assert error and "mod/quiz:view" in error and "mod/assign:view" in error
    assert current_kinds(harness) == before
    with harness.db.unit_of_work() as session:  # still known: hidden, not deleted
        assert set(session.scalars(select(Activity.cmid))) == {1, 2, 3}
    harness.emulator.set_role(SYNC_ROLE)
    harness.sync()
    assert connection_error(harness) is None and withdrawn_versions(harness) == 0


def test_a_deleted_activity_is_still_forgotten(harness: Harness):
    """Told apart by core_course_get_course_module: deleted activities go, as before."""
    harness.sync()
    harness.emulator.site.delete_activity(2)
    harness.sync(full=True)
    assert connection_error(harness) is None
    with harness.db.unit_of_work() as session:
        assert set(session.scalars(select(Activity.cmid))) == {1, 3}


def test_without_the_course_module_function_a_vanished_activity_is_kept_and_flagged(harness: Harness):
    harness.sync()
    harness.emulator.set_functions([f for f in harness.emulator._state.dispatcher.config.functions
                                    if f != "core_course_get_course_module"])
    harness.emulator.set_role(RECORDED_README_ROLE)
    harness.sync(full=True)
    error = connection_error(harness)
    assert error and "cannot say whether they were deleted or hidden" in error
    assert "core_course_get_course_module" in error
    assert withdrawn_versions(harness) == 0


def test_connections_list_shows_the_permission_error(harness: Harness, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from credbridge.connector.commands.sync import connections
    from tests.conftest import TEST_SECRET_KEY

    harness.emulator.set_role(RECORDED_README_ROLE)
    harness.sync()
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", harness.db.url)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_CONFIG", "/dev/null")
    monkeypatch.setenv("COLUMNS", "3000")
    listed = CliRunner().invoke(connections, ["list"], terminal_width=1000)
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.replace("│", " ").split())
    assert "grant mod/assign:view, mod/quiz:view to the sync user's role" in text
