"""End to end in headless Chromium, with nothing written into the store by hand.

An operator sets credbridge up with the command line against the emulated Moodle (the recorded 4.5
site), a real sync reads it over HTTP, the evaluation and the outbox decide and issue; then the
teacher of CNC101 launches the tool inside Moodle (a cross-site iframe) and must see exactly the
learners and states that Moodle's own data implies (``moodle_truth``, an oracle that reads the
emulator, not credbridge). A quiz attempt and a competency rating change in Moodle; the teacher's
"Sync this course now" goes through the daemon's workers and the reloaded page shows the new states.
Last, a learner sees only her own records and her share link verifies.
Screenshots: test-artifacts/screenshots/synced-*.png.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Frame, Page
from sqlalchemy import select

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Course, LearnerIdentity
from credbridge.connector.sync import runner
from credbridge.emulator.dataset import Site
from tests.pages.browser_support import SCREENSHOTS
from tests.pages.moodle_truth import Mapping, Truth
from tests.pages.synced_world import EXAMPLE_MAPPING, SCHOOL, SyncedWorld, synced_world

pytestmark = pytest.mark.browser

COURSE = "CNC101"
TEACHER = "Mikko Laine"  # the recorded site's editing teacher of CNC101 and WELD201
LEARNER = "Aino Virtanen"  # the recorded site's first student: in every course, the most awards
LEARNER_WHO_CATCHES_UP = "Chloé Dubois"  # graded assignment in CNC101 but no quiz attempt yet
MATRIX_JS = """() => Object.fromEntries(Array.from(document.querySelectorAll('#matrix tbody tr')).map(tr => [
    tr.querySelector('th.learner-name').textContent.trim(),
    Object.fromEntries(Array.from(tr.querySelectorAll('td.cell')).map(td => [td.dataset.code, td.dataset.state]))]))"""


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedWorld]:
    """One operated installation for the module: setting it up (CLI, sync, issue) is most of the time."""
    path = tmp_path_factory.mktemp("synced") / "credbridge.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        with pytest.MonkeyPatch.context() as patch, synced_world(database) as found:
            # the production rate limit (20 WS calls/s) would only slow the test down
            patch.setattr(runner, "client_factory", functools.partial(MoodleClient, rate_per_second=None))
            found.set_up_as_operator()
            found.sync_and_issue()
            yield found
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def truth(world: SyncedWorld) -> Truth:
    return Truth(world.site, Mapping.read(EXAMPLE_MAPPING))


def _launched_frame(page: Page, world: SyncedWorld, user_id: int, course_id: int, lands_on: str) -> Frame:
    """Open Moodle's course page as ``user_id``; the launch in its iframe must land on ``lands_on``."""
    page.goto(world.course_page(user_id, course_id))
    target = world.tool_url + lands_on
    for _ in range(150):
        frame = next((f for f in page.frames if f.url.split("?")[0] == target), None)
        if frame is not None:
            frame.wait_for_load_state()
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"the launch did not land on {target}: {[f.url for f in page.frames]}")


def _user_id(site: Site, fullname: str) -> int:
    return next(u.id for u in site.users.values() if u.fullname == fullname)


def _store_course_id(world: SyncedWorld, moodle_id: int) -> int:
    with world.db.unit_of_work() as session:
        return session.scalars(select(Course.id).where(Course.moodle_id == moodle_id)).one()


def _without_work(truth: Truth) -> set[str]:
    """Enrolled learners with nothing recorded anywhere."""
    return {name for userid, name in truth.students(COURSE).items() if not truth.has_evidence(userid)}


def _shown_matrix(frame: Frame) -> dict[str, dict[str, str]]:
    shown = frame.evaluate(MATRIX_JS)
    assert len(shown) == frame.locator("#matrix tbody tr").count(), "two rows with one name"
    return shown


def _assert_matrix(shown: dict[str, dict[str, str]], truth: Truth) -> None:
    expected = truth.matrix(COURSE)
    assert sorted(shown) == sorted(expected), "the matrix must list exactly the course's active students"
    wrong = {name: (shown[name], states) for name, states in expected.items() if shown[name] != states}
    assert not wrong, f"cells differ from what Moodle's data implies (shown, expected): {wrong}"


def test_synced_course_matrix_follows_moodle_through_a_teacher_sync(world: SyncedWorld, truth: Truth,
                                                                    page: Page) -> None:
    course_id = truth.course(COURSE)
    frame = _launched_frame(page, world, _user_id(world.site, TEACHER), course_id, f"/teacher/course/{course_id}")
    before = truth.matrix(COURSE)
    # the recorded site must exercise every state the oracle knows, or the comparison proves little
    assert {s for row in before.values() for s in row.values()} >= {"achieved", "pending_approval", "issued",
                                                                    "in_progress"}
    _assert_matrix(_shown_matrix(frame), truth)
    page.screenshot(path=str(SCREENSHOTS / "synced-teacher-course.png"), full_page=True)

    # Moodle changes: Chloé (graded assignment, TD-BASICS already issued) passes the CNC101 quiz with
    # full marks and the teacher rates ME-C2 competent; the course completion follows in Moodle
    chloe = _user_id(world.site, LEARNER_WHO_CATCHES_UP)
    quiz = next(m for m in world.site.course_modules(course_id) if m.modname == "quiz")
    world.mutate("finish_quiz_attempt", userid=chloe, cmid=quiz.id, marks=float(quiz.settings.get("sumgrades", 3.0)))
    world.mutate("rate_competency", userid=chloe, courseid=course_id, competency="ME-C2", grade=2)
    after = truth.matrix(COURSE)
    name = LEARNER_WHO_CATCHES_UP
    assert after[name] != before[name], "the mutation must change what Moodle's data implies"
    assert after[name]["CNC-OPERATOR"] == "pending_approval"  # so the daemon's evaluation must decide an award
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}

    with world.daemon():
        # the POST answers with the course page carrying the sync's id; until it lands, the old address
        # (without "work=") would satisfy the wait below before the sync was even requested
        with frame.expect_navigation(url=lambda url: "work=" in url):
            frame.click("button:has-text('Sync this course now')")
        # when the sync and the evaluations it queued are done, the page shows the new results by itself
        frame.wait_for_url(lambda url: "work=" not in url, timeout=30000)
        frame.wait_for_load_state()
        assert "Last synced with Moodle:" in frame.locator("#last-synced").inner_text()
        world.wait_for_idle_work()  # the sync queued an evaluation of each learner whose evidence changed
    world.cli("issue", "--once", "--school", SCHOOL)  # the daemon's outbox pass
    frame.goto(f"{world.tool_url}/teacher/course/{course_id}")
    shown = _shown_matrix(frame)
    _assert_matrix(shown, truth)
    assert shown[name] == after[name]
    page.screenshot(path=str(SCREENSHOTS / "synced-teacher-after-sync.png"), full_page=True)
    frame.locator("#matrix").screenshot(path=str(SCREENSHOTS / "synced-teacher-matrix-after-sync.png"))


def test_synced_learner_sees_only_her_own_records_and_her_share_link_verifies(world: SyncedWorld, truth: Truth,
                                                                             page: Page) -> None:
    course_id = truth.course(COURSE)
    aino = _user_id(world.site, LEARNER)
    frame = _launched_frame(page, world, aino, course_id, "/learner/")
    assert frame.locator("#learner-name").inner_text() == LEARNER
    with world.db.unit_of_work() as session:
        learner_id = session.scalar(select(LearnerIdentity.learner_id).where(LearnerIdentity.external_id == str(aino)))
        own = {a.id: a.template_code for a in session.scalars(select(Award).where(Award.learner_id == learner_id))}
    shown_ids = {int(v) for v in frame.locator("section.award").evaluate_all("s => s.map(e => e.dataset.award)")}
    assert shown_ids == set(own)
    assert sorted(own.values()) == sorted(truth.earned_templates(aino))  # one award per template she earned
    text = frame.locator("main").inner_text()
    others = [u.fullname for u in world.site.users.values() if u.id != aino and u.fullname in text]
    assert not others, f"another person's name is on the learner's page: {others}"
    her_courses = [c.shortname for c in world.site.courses.values() if aino in truth.students(c.shortname)]
    assert COURSE in her_courses
    for shortname in her_courses:  # her own progress, course by course, as Moodle's data implies
        section = f"section.progress[aria-labelledby='course-{_store_course_id(world, truth.course(shortname))}']"
        rows = frame.locator(f"{section} tr[data-code]")
        progress = dict(rows.evaluate_all("rs => rs.map(r => [r.dataset.code, r.dataset.state])"))
        assert progress == truth.cell_states(aino, truth.mapping.course_columns(shortname)), shortname
    page.screenshot(path=str(SCREENSHOTS / "synced-learner.png"), full_page=True)
    records = frame.evaluate(f"() => fetch('{world.tool_url}/learner/records.json').then(r => r.json())")
    assert {a["id"] for a in records["awards"]} == set(own)

    share = frame.locator("input.share").first.input_value()
    assert share.startswith(f"{world.tool_url}/credentials/")
    verification = page.context.new_page()  # opened by anyone she shares it with, outside Moodle
    verification.goto(share)
    assert verification.locator("#verdict").get_attribute("data-verdict") == "valid"
    verification.screenshot(path=str(SCREENSHOTS / "synced-verification.png"), full_page=True)

    with world.db.unit_of_work() as session:  # someone else's award, by guessing its id
        other = session.scalars(select(Award.id).where(Award.learner_id != learner_id).limit(1)).one()
    response = frame.goto(f"{world.tool_url}/learner/awards/{other}")
    assert response is not None and response.status == 403


def test_synced_learner_without_any_work_shows_not_started(world: SyncedWorld, truth: Truth, page: Page) -> None:
    idle = _without_work(truth)
    assert idle, "the recorded site has enrolled learners who never opened anything"
    course_id = truth.course(COURSE)
    frame = _launched_frame(page, world, _user_id(world.site, TEACHER), course_id, f"/teacher/course/{course_id}")
    shown = _shown_matrix(frame)
    expected = truth.matrix(COURSE)
    assert {name: shown[name] for name in idle} == {name: expected[name] for name in idle}
