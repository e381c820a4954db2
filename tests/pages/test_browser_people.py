"""The pages teachers, learners and the public see, in headless Chromium inside the platform's iframe:
what is missing reads as sentences with links to the Moodle activity (Croatian, Slovenian), no code
words reach people, revocation asks whose and why, the verification page of a revoked credential
says when and offers nothing to download, sharing (copy, LinkedIn, file names), the matrix's sticky
header and column, select-all and actions on the preview, and ``lti.frameResize`` to the platform."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Frame, Page
from sqlalchemy import select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Course, Credential, Enrolment, Learner
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID
from tests.pages.browser_support import BrowserWorld, browser_world
from tests.pages.conftest import HOSTILE_LEARNER

pytestmark = pytest.mark.browser

#: what must never reach a teacher or learner outside a "technical details" toggle
CODE_WORDS = re.compile(r"moodle_ws:|>=\s*\d|\b(CNC-PROG|CNC-OPS|TD-READ|CNC-OPERATOR|TD-BASICS|WELD-SAFE)\b|"
                        r"pending_approval|course_declaration|http://data\.europa\.eu")
#: every <details> open except the technical ones, then the text a person reads
READABLE_TEXT = """() => {
    document.querySelectorAll('details:not(.technical)').forEach(d => { d.open = true; });
    return document.querySelector('main').innerText;
}"""


@pytest.fixture
def world(sqlite_database: Database) -> Iterator[BrowserWorld]:
    with browser_world(sqlite_database) as found:
        yield found


def _frame(page: Page, world: BrowserWorld, user_id: int, lands_on: str, *, at: str | None = None) -> Frame:
    page.goto(at or world.course_page(user_id))
    target = world.tool_url + lands_on
    for _ in range(150):
        frame = next((f for f in page.frames if f.url.split("?")[0] == target), None)
        if frame is not None:
            frame.wait_for_load_state()
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"the launch did not land on {target}: {[f.url for f in page.frames]}")


def _cell(frame: Frame, learner: str, code: str):
    row = frame.locator("tr", has=frame.locator("th.learner-name", has_text=learner))
    return row.locator(f'td[data-code="{code}"]')


def _cmid(world: BrowserWorld, name: str) -> tuple[int, str]:
    module = next(m for m in world.platform.site.course_modules(COURSE_ID) if m.name == name)
    return module.id, module.modname


@pytest.mark.parametrize(("lang", "verb", "best"), [("hr", "Položiti", "dosad najbolje"),
                                                    ("sl", "Opraviti", "doslej najboljše")])
def test_what_is_missing_reads_as_sentences_with_links_to_moodle(world: BrowserWorld, page: Page, lang: str,
                                                                verb: str, best: str) -> None:
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}?lang={lang}")
    cell = _cell(frame, HOSTILE_LEARNER, "CNC-PROG")
    cell.locator("details.missing > summary").click()
    quiz = cell.locator("ul.needs li", has_text="CNC fundamentals quiz")
    assert quiz.inner_text().startswith(f"{verb} CNC fundamentals quiz")
    assert "60\u00a0%" in quiz.inner_text() and best not in quiz.inner_text()  # no attempt yet: no score
    cmid, modname = _cmid(world, "CNC fundamentals quiz")
    assert quiz.locator("a").get_attribute("href") == f"{world.platform_url}/mod/{modname}/view.php?id={cmid}"
    assert quiz.locator("a").get_attribute("target") == "_top"  # opens in Moodle, not inside the frame
    text = frame.evaluate(READABLE_TEXT)
    assert not CODE_WORDS.search(text), CODE_WORDS.search(text)
    # the learner's own page: the same sentences, the date in the language's own order
    learner = _frame(page, world, LEARNER_ID, "/learner/")
    learner.goto(f"{world.tool_url}/learner/?lang={lang}")
    text = learner.evaluate(READABLE_TEXT)
    assert not CODE_WORDS.search(text), CODE_WORDS.search(text)
    dates = learner.locator("span.date").all_inner_texts()
    assert dates and all(re.fullmatch(r"\d{1,2}\. \w+ 20\d\d\.?", d) for d in dates), dates


def test_a_score_so_far_is_shown_in_the_readers_number_format(world: BrowserWorld, page: Page) -> None:
    from tests.mappings.helpers import CNC, Facts

    with world.db.unit_of_work() as s:  # the other learner tried the quiz once: 1 of 3 marks
        other = s.scalars(select(Learner.id).where(Learner.full_name == HOSTILE_LEARNER)).one()
    assert world.book is not None
    world.book.facts[other] = [Facts.quiz(3, CNC, 33.33, t=5, fid="q-try")]
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}?lang=hr")
    cell = _cell(frame, HOSTILE_LEARNER, "CNC-PROG")
    cell.locator("details.missing > summary").click()
    assert "dosad najbolje 33,33\u00a0%" in cell.locator("ul.needs").inner_text()


def test_revocation_names_whose_credential_asks_a_public_reason_and_the_public_page_shows_the_date(
        world: BrowserWorld, page: Page) -> None:
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    learner = world.platform.site.users[LEARNER_ID]
    name = f"{learner.firstname} {learner.lastname}"
    frame.check(f"#a{world.award_issued}")
    with frame.expect_navigation():  # a click's page, not the one already loaded
        frame.click("button[value=revoke]")
    assert frame.locator("h1").inner_text() == "Revoke 1 credential?"
    assert frame.locator("#revoke-whom").inner_text().strip() == f"{name} (Technical drawing basics)"
    frame.fill("#note", "zamijenjeni radovi dvaju polaznika")
    frame.click("#confirm-revoke")  # no public reason chosen: the browser keeps the form open
    assert frame.locator("#revoke-form").is_visible()
    with world.db.unit_of_work() as s:
        assert s.get(Award, world.award_issued).status == "issued"
    frame.check("#reason-wrong_learner")
    with frame.expect_navigation():  # a click's page, not the one already loaded
        frame.click("#confirm-revoke")
    assert f"Revoked for {name} (Technical drawing basics)." in frame.locator(".flashes").inner_text()
    with world.db.unit_of_work() as s:
        credential = s.scalars(select(Credential).where(Credential.award_id == world.award_issued)).first()
        uuid, revoked_at = credential.uuid, credential.revoked_at
    public = page.context.new_page()
    public.goto(f"{world.tool_url}/credentials/{uuid}?lang=hr")
    assert public.locator("#verdict").get_attribute("data-verdict") == "revoked"
    assert public.locator("#revoked-on").inner_text().startswith(
        f"Škola je opozvala ovu vjerodajnicu {revoked_at.day}. ")
    assert public.locator("#revocation-reason").inner_text() == "Razlog: Izdana pogrešnoj osobi"
    assert "zamijenjeni radovi" not in public.locator("body").inner_text()  # the private note stays private
    assert public.locator("#downloads a[href$='.jwt'], #downloads a[href$='.json']").count() == 0
    assert public.locator("#no-downloads").is_visible()
    assert public.locator("#signer-did").inner_text().startswith("did:web:")


def test_sharing_copy_linkedin_and_meaningful_file_names(world: BrowserWorld, page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    frame = _frame(page, world, LEARNER_ID, "/learner/")
    section = frame.locator(f'section.award[data-award="{world.award_issued}"]')
    section.locator("button.copy-link").click()
    assert section.locator(".copy-status").inner_text() == "Link copied"
    share = section.locator("input.share").input_value()
    linkedin = urlsplit(section.locator("a.linkedin").get_attribute("href") or "")
    assert (linkedin.scheme, linkedin.netloc, linkedin.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {k: v[0] for k, v in parse_qs(linkedin.query).items()}
    with world.db.unit_of_work() as s:
        # the signed form the share link names (TD-BASICS is issued as VC-JWT and as Data Integrity)
        credential = next(c for c in s.scalars(select(Credential).where(Credential.award_id == world.award_issued))
                          if share.endswith(c.uuid))
        assert credential.format in ("ob3-jwt", "ob3-di")
        issued = credential.issued_at
        school = s.get(Award, world.award_issued).snapshot["issuing_school"]
    assert query == {"startTask": "CERTIFICATION_NAME", "name": "Technical drawing basics",
                     "organizationName": query["organizationName"], "issueYear": str(issued.year),
                     "issueMonth": str(issued.month), "certUrl": share, "certId": credential.uuid}
    assert query["organizationName"] and school
    with page.expect_download() as download:
        section.locator("ul.downloads a[href$='.jwt']").click()
    learner = world.platform.site.users[LEARNER_ID]
    expected = f"-technical-drawing-basics-{learner.firstname}-{learner.lastname}.jwt".lower()
    name = download.value.suggested_filename
    assert name.endswith(expected) and name.isascii() and " " not in name, name


def test_matrix_keeps_header_and_names_in_view_selects_all_waiting_and_acts_on_the_preview(
        world: BrowserWorld, page: Page) -> None:
    with world.db.unit_of_work() as s:  # a class of 30, so that the matrix scrolls
        course = s.scalars(select(Course).where(Course.moodle_id == COURSE_ID)).one()
        for i in range(30):
            extra = Learner(school_id=world.school_id, full_name=f"Polaznik {i:02d} Horvatović", locale="hr")
            s.add(extra)
            s.flush()
            s.add(Enrolment(course_id=course.id, learner_id=extra.id, roles=["student"]))
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    page.evaluate("() => { document.getElementById('contentframe').style.width = '760px'; }")
    wrap = frame.locator("#matrix-wrap")
    wrap.evaluate("w => { w.scrollTop = 400; w.scrollLeft = 300; }")
    frame.wait_for_timeout(100)
    box = wrap.bounding_box()
    header = frame.locator("#matrix thead th").nth(2).bounding_box()
    name = frame.locator("#matrix tbody th.learner-name").nth(12).bounding_box()
    assert box and header and name
    assert abs(header["y"] - box["y"]) <= 2, (header, box)  # the header row stays on top
    assert abs(name["x"] - box["x"]) <= 2, (name, box)  # the learners' names stay on the left
    assert frame.locator("#action-bar").is_visible()  # the actions sit above the table, not below 30 rows
    frame.check("#select-pending")
    checked = frame.locator("input[name=award_id]:checked")
    assert checked.count() == 1 and checked.get_attribute("data-state") == "pending_approval"
    assert frame.locator("#selected-count").inner_text() == "Selected: 1"
    assert "1 credential waiting for your approval" in frame.locator("#matrix-counts").inner_text()
    # approve from the preview, and stay there
    frame.goto(f"{world.tool_url}/teacher/course/{COURSE_ID}/awards/{world.award_pending}/preview")
    with frame.expect_navigation():  # a click's page, not the one already loaded
        frame.click("#preview-actions button[value=approve]")
    assert frame.url.endswith(f"/awards/{world.award_pending}/preview")
    assert "Approved for " in frame.locator(".flashes").inner_text()
    with world.db.unit_of_work() as s:
        assert s.get(Award, world.award_pending).status == "approved"


def test_the_tool_tells_the_platform_its_height(world: BrowserWorld, page: Page) -> None:
    """The platform page listens as a platform's message handler does; the frame's content reports
    its height on load and again when it grows."""
    page.add_init_script("window.__heights = []; window.addEventListener('message', e => {"
                         " try { const m = JSON.parse(e.data); if (m.subject === 'lti.frameResize')"
                         " window.__heights.push(m.height); } catch (x) {} });")
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}")
    page.wait_for_function("() => window.__heights.length > 0")
    first = page.evaluate("() => window.__heights[window.__heights.length - 1]")
    assert first == _body_height(frame) and first > 620  # taller than the frame the platform gave it
    frame.locator("details.annex-values > summary").first.click()
    page.wait_for_function(f"() => window.__heights[window.__heights.length - 1] > {first}")
    assert json.loads(json.dumps(page.evaluate("() => window.__heights")))[-1] == _body_height(frame)


HEIGHTS_HEARD = ("window.__heights = []; window.addEventListener('message', e => {"
                 " try { const m = JSON.parse(e.data); if (m.subject === 'lti.frameResize')"
                 " window.__heights.push(m.height); } catch (x) {} });")
FRAME_HEIGHT = "document.getElementById('contentframe').clientHeight"


def _body_height(frame: Frame) -> int:
    return int(frame.evaluate("() => Math.ceil(Math.max(document.body.scrollHeight,"
                              " document.body.getBoundingClientRect().height))"))


def test_in_moodles_view_page_the_shipped_snippet_fits_the_frame_to_the_page(world: BrowserWorld,
                                                                             page: Page) -> None:
    """Moodle's view.php makes the frame as high as the window (here 560 px) and ignores frameResize;
    with deploy/moodle's Additional HTML snippet the frame grows to the page, follows it when it grows
    and shrinks, and keeps fitting after Moodle re-sizes it on a window resize."""
    page.set_viewport_size({"width": 1280, "height": 560})
    frame = _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}",
                   at=world.moodle_view_page(TEACHER_ID))
    content = _body_height(frame)
    assert content > 560  # taller than the window, so Moodle alone would leave the teacher scrolling
    page.wait_for_function(f"() => {FRAME_HEIGHT} === {content}")
    frame.locator("details.annex-values > summary").first.click()
    grown = _body_height(frame)
    assert grown > content
    page.wait_for_function(f"() => {FRAME_HEIGHT} === {grown}")
    frame.locator("details.annex-values > summary").first.click()
    page.wait_for_function(f"() => {FRAME_HEIGHT} === {content}")  # and back: the page shrank
    page.set_viewport_size({"width": 1100, "height": 520})  # Moodle's script sets its window height again
    frame.wait_for_timeout(300)
    assert page.evaluate(f"() => {FRAME_HEIGHT}") == _body_height(frame)


@pytest.mark.parametrize("trusted", ["http://localhost:1", "http://127.0.0.1:9"])
def test_the_snippet_ignores_messages_from_any_other_origin(world: BrowserWorld, page: Page, trusted: str) -> None:
    """Set up for another address (a typo, another tool), the snippet leaves Moodle's window-high frame
    alone although the page did send its height; a message the course page posts itself (not from a
    frame) with a height is ignored too."""
    page.set_viewport_size({"width": 1280, "height": 560})
    page.add_init_script(HEIGHTS_HEARD)
    _frame(page, world, TEACHER_ID, f"/teacher/course/{COURSE_ID}", at=world.moodle_view_page(
        TEACHER_ID, origin=trusted))
    page.wait_for_function("() => window.__heights.length > 0 && window.__heights[0] > 560")
    moodles = page.evaluate("() => { const f = document.getElementById('contentframe');"
                            " return Math.round(window.innerHeight - f.getBoundingClientRect().top - 15); }")
    page.evaluate("() => window.postMessage(JSON.stringify({subject: 'lti.frameResize', height: 5000}), '*')")
    page.wait_for_function("() => window.__heights.includes(5000)")  # the forged message was delivered
    frame_height = page.evaluate(f"() => {FRAME_HEIGHT}")
    assert abs(frame_height - moodles) <= 1 and frame_height < 560
