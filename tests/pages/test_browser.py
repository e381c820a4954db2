"""Headless Chromium through the real flow: the platform frames the tool (cross-site), a teacher
approves, the issuer runs, the verification page says VALID; a learner sees and downloads only their
own; an administrator fixes a mapping error shown at its line. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, Page
from sqlalchemy import select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, WorkItem
from tests.awards.conftest import MAPPING
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID
from tests.pages.browser_support import SCREENSHOTS, BrowserWorld, browser_world
from tests.pages.conftest import ADMIN_PASSWORD, HOSTILE_COURSE, HOSTILE_LEARNER

pytestmark = pytest.mark.browser


@pytest.fixture
def world(sqlite_database: Database) -> Iterator[BrowserWorld]:
    with browser_world(sqlite_database) as found:
        yield found


def _launched_frame(page: Page, world: BrowserWorld, user_id: int, lands_on: str) -> Frame:
    """Open the platform's course page; the launch inside its iframe must land on ``lands_on``."""
    page.goto(world.course_page(user_id))
    target = world.tool_url + lands_on
    for _ in range(150):
        frame = next((f for f in page.frames if f.url.split("?")[0] == target), None)
        if frame is not None:
            frame.wait_for_load_state()
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"the launch did not land on {target}: {[f.url for f in page.frames]}")


def _assert_no_script_ran(frame: Frame | Page) -> None:
    assert frame.evaluate("() => window.__xss === undefined"), "injected markup executed"
    assert frame.locator("script:not([src])").count() == 0


def _state(frame: Frame, learner_name: str, code: str) -> str:
    row = frame.locator("tr", has=frame.locator("th.learner-name", has_text=learner_name))
    return row.locator(f'td[data-code="{code}"]').get_attribute("data-state") or ""


def test_teacher_approves_in_the_iframe_and_the_credential_verifies(world: BrowserWorld, page: Page) -> None:
    frame = _launched_frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    learner = world.platform.site.users[LEARNER_ID]
    name = f"{learner.firstname} {learner.lastname}"
    assert frame.locator("#course-title").inner_text() == HOSTILE_COURSE  # the hostile name is just text
    assert frame.locator("th.learner-name", has_text=HOSTILE_LEARNER).count() == 1
    _assert_no_script_ran(frame)
    assert _state(frame, name, "CNC-OPERATOR") == "pending_approval"
    assert _state(frame, name, "TD-BASICS") == "issued"
    assert _state(frame, HOSTILE_LEARNER, "CNC-OPERATOR") == "not_started"
    cell = frame.locator("tr", has=frame.locator("th.learner-name", has_text=name)).locator(
        'td[data-code="CNC-OPERATOR"]')
    cell.locator("details.annex-values > summary").click()
    assert cell.locator("details.annex-values > dl > dd").first.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "teacher-course-in-iframe.png"), full_page=True)

    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}/awards/{world.award_pending}/preview")
    assert "AchievementCredential" in frame.locator("pre.json").text_content()
    page.screenshot(path=str(SCREENSHOTS / "teacher-preview.png"), full_page=True)
    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}")
    frame.check(f"#a{world.award_pending}")
    with frame.expect_navigation():  # a click's page, not the one already loaded
        frame.click("button[value=approve]")
    assert f"Approved for {name} (CNC machine operator" in frame.locator(".flashes").inner_text()
    assert _state(frame, name, "CNC-OPERATOR") == "approved"

    assert world.issue_due() == 1  # the daemon's issuer tick
    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}")
    assert _state(frame, name, "CNC-OPERATOR") == "issued"
    page.screenshot(path=str(SCREENSHOTS / "teacher-course-after-issue.png"), full_page=True)
    with world.db.unit_of_work() as s:
        assert s.get(Award, world.award_pending).status == "issued"
        uuid = s.scalars(select(Credential.uuid).where(Credential.award_id == world.award_pending,
                                                       Credential.format == "ob3-jwt")).one()
    verify = page.context.new_page()  # the public page, opened by anyone, outside Moodle
    verify.goto(f"{world.tool_url}/credentials/{uuid}")
    assert verify.locator("#verdict").get_attribute("data-verdict") == "valid"
    assert "The signature is genuine" in verify.locator(".checks").inner_text()
    assert "Ed25519" in verify.locator("details.technical").text_content()
    verify.screenshot(path=str(SCREENSHOTS / "verification-valid.png"), full_page=True)

    refused: list[str] = []
    verify.on("console", lambda m: refused.append(m.text) if "Refused" in m.text or "Security Policy" in m.text
              else None)
    verify.click("#certificate-link")
    verify.wait_for_url(f"**/credentials/{uuid}/certificate")
    assert verify.locator("#certificate svg.segno path").count() == 1  # the QR code drew under the CSP
    assert verify.locator("#verification-url").inner_text().endswith(f"/credentials/{uuid}")
    verify.screenshot(path=str(SCREENSHOTS / "certificate.png"), full_page=True)
    pdf = verify.pdf(prefer_css_page_size=True, print_background=True)  # what "Save as PDF" makes
    (SCREENSHOTS / "certificate.pdf").write_bytes(pdf)
    verify.emulate_media(media="print")
    verify.set_viewport_size({"width": 1123, "height": 794})  # A4 landscape at 96 dpi
    assert verify.locator("button[data-print]").is_hidden() and verify.locator(".navbar").is_hidden()
    verify.screenshot(path=str(SCREENSHOTS / "certificate-print.png"))
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert pdf.startswith(b"%PDF") and pages == 1, pages  # a three-unit micro-credential fits one A4 page
    assert not refused, refused


def test_teacher_page_progress_chart_and_keyboard_skip_link(world: BrowserWorld, page: Page) -> None:
    frame = _launched_frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    assert frame.locator("svg.chart title").first.text_content() == "Progress per unit and credential"
    frame.locator("body").press("Tab")
    assert frame.evaluate("() => document.activeElement.className") == "skip-link"
    with frame.expect_navigation():  # a click's page, not the one already loaded
        frame.click("button:has-text('Sync this course now')")
    box = frame.locator("#sync-progress")
    assert box.get_attribute("aria-live") == "polite"
    frame.wait_for_function("() => document.getElementById('sync-progress').textContent.includes('Waiting')")
    with world.db.unit_of_work() as s:  # the sync daemon reports progress on its work item
        item = s.scalars(select(WorkItem).where(WorkItem.kind == "sync_course")).one()
        item.status, item.progress = "running", {"done": 3, "total": 7, "stage": "grades"}
    frame.wait_for_function("() => document.getElementById('sync-progress').textContent.includes('grades 3 / 7')")
    assert frame.locator("#sync-bar").get_attribute("value") == "3"
    with world.db.unit_of_work() as s:
        s.get(WorkItem, item.id).status = "done"
    frame.wait_for_url(lambda url: "work=" not in url)  # done: the page reloads itself with the new results
    assert frame.locator("#sync-progress").inner_text().strip() == ""


def test_learner_sees_only_own_records_and_downloads(world: BrowserWorld, page: Page) -> None:
    frame = _launched_frame(page, world, LEARNER_ID, "/learner/")
    learner = world.platform.site.users[LEARNER_ID]
    assert frame.locator("#learner-name").inner_text() == f"{learner.firstname} {learner.lastname}"
    assert HOSTILE_LEARNER not in frame.locator("main").inner_text()
    _assert_no_script_ran(frame)
    assert frame.locator("section.award").count() == 2
    with page.expect_download() as download_info:
        frame.locator("ul.downloads a[download][href$='.jwt']").first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".jwt")
    token = Path(download.path()).read_text()
    assert token.count(".") == 2
    share = frame.locator("input.share").first.input_value()
    assert share.startswith(f"{world.tool_url}/credentials/")
    page.screenshot(path=str(SCREENSHOTS / "learner-in-iframe.png"), full_page=True)
    # another learner's award is refused, even by guessing its id
    response = frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}")
    assert response is not None and response.status == 403


def test_admin_fixes_a_mapping_error_shown_at_its_line(world: BrowserWorld, page: Page) -> None:
    page.goto(f"{world.tool_url}/admin/login")  # a window of its own, not inside Moodle
    page.fill("#email", world.admin_email)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.screenshot(path=str(SCREENSHOTS / "admin-home.png"), full_page=True)
    good = Path(MAPPING).read_text("utf-8")
    lines = good.splitlines()
    line_no = next(i for i, line in enumerate(lines) if line.strip().startswith("eqf_level: 3")) + 1
    broken = good.replace(lines[line_no - 1], lines[line_no - 1].replace("eqf_level: 3", "eqf_level: 11"), 1)
    broken = '# </textarea><script>window.__xss=3</script> "quoted"\n' + broken
    page.goto(f"{world.tool_url}/admin/mappings/edit")
    page.fill("#content", broken)
    with page.expect_navigation():  # a click's page, not the one already loaded
        page.click("button[value=check]")
    _assert_no_script_ran(page)
    marked = page.locator(f"#line-{line_no + 1}")  # one comment line was added on top
    assert marked.get_attribute("class") == "has-problem"
    assert "eqf" in marked.locator(".problem").inner_text().lower() or marked.locator(".problem").count() == 1
    assert "</textarea><script>" in page.locator("#content").input_value()  # kept as text for fixing
    page.screenshot(path=str(SCREENSHOTS / "admin-mapping-error.png"), full_page=True)
    page.fill("#content", good.replace("Reading technical drawings", "Reading engineering drawings"))
    with page.expect_navigation():  # a click's page, not the one already loaded
        page.click("button[value=check]")
    assert page.locator("#dry-run").is_visible()
    assert page.locator('#version-plan tr.new-version[data-code="CNC-OPERATOR"]').count() == 1
    assert "engineering" in page.locator("#changes").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin-mapping-preview.png"), full_page=True)
    page.click("#mapping-form button[value=save]")
    page.wait_for_selector("#confirm")  # new template versions: saving asks first
    page.screenshot(path=str(SCREENSHOTS / "admin-mapping-confirm.png"), full_page=True)
    page.click("#confirm button[value=save]")
    page.wait_for_url(re.compile(r"/admin/mappings$"))
    assert "Mapping file saved." in page.locator(".flashes").inner_text()


def test_console_tour_screenshots_without_policy_violations(world: BrowserWorld, page: Page) -> None:
    """Every console page renders under the strict CSP (no inline script or style is refused)."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{world.tool_url}/admin/login")
    page.fill("#email", world.admin_email)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    for name in ("connections", "registrations", "mappings", "templates", "outbox", "audit", "keys"):
        page.goto(f"{world.tool_url}/admin/{name}")
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)
    with world.db.unit_of_work() as s:
        uuid = s.scalars(select(Credential.uuid).where(Credential.award_id == world.award_issued)).first()
    from credbridge.connector.awards import actions

    with world.db.unit_of_work() as s:
        actions.revoke(s, world.school_id, world.award_issued, reason="the practical task was repeated",
                       public_reason="assessment_changed", actor="admin@vet.example")
    page.goto(f"{world.tool_url}/credentials/{uuid}")
    assert page.locator("#verdict").get_attribute("data-verdict") == "revoked"
    assert "The assessment result it records has changed" in page.locator("#verdict").inner_text()
    assert "the practical task was repeated" not in page.locator("main").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "verification-revoked.png"), full_page=True)
    assert not problems, problems


def test_a_site_that_is_not_a_registered_platform_cannot_frame_the_pages(world: BrowserWorld,
                                                                         browser: Browser) -> None:
    from werkzeug.wrappers import Response

    from tests.lti.support import serve

    target = f"{world.tool_url}/admin/login"

    def stranger(environ, start_response):
        body = f'<!doctype html><title>x</title><iframe id="f" src="{target}"></iframe>'
        return Response(body, mimetype="text/html")(environ, start_response)

    context = browser.new_context()
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text))
        with serve(stranger) as stranger_url:
            page.goto(stranger_url)
            for _ in range(100):  # Chromium reports the refusal once the frame's response arrives
                if any("frame-ancestors" in text for text in refused):
                    break
                page.wait_for_timeout(100)
            frame = next(f for f in page.frames if f != page.main_frame)
            assert frame.locator("#email").count() == 0  # the login form never rendered in the stranger's frame
        assert any("frame-ancestors" in text for text in refused), refused  # (the platform may: tests above)
    finally:
        context.close()
