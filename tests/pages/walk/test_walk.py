"""Every page, in each of the five languages, in headless Chromium against the operated installation
(tests/pages/walk/conftest.py): no English left on a non-English page outside what people supplied,
no raw internal code in the text, no axe-core violation (see checks.py for what each check does).

The console (with the connections page), its error pages, the deep-linking picker and the launch
pages are walked in one test per language; the teacher matrix, preview, learner pages, verification
page and certificate in another (mark ``people_pages``, to run them alone). One browser and one
installation serve every language: the language comes from the browser (``Accept-Language``, for the
console and the public pages) or from Moodle (the user's language in the launch).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, Page, Route
from sqlalchemy import select

from credbridge.connector.store.models import Award, Credential, LearnerIdentity, MappingFile
from credbridge.mappings.loader import load_mapping_text
from tests.pages.browser_support import SCREENSHOTS
from tests.pages.conftest import ADMIN_PASSWORD
from tests.pages.synced_world import EXAMPLE_MAPPING, SCHOOL, SyncedWorld
from tests.pages.walk.checks import check_page, unit_code_pattern
from tests.pages.walk.conftest import ADMIN_EMAIL

pytestmark = pytest.mark.browser

LANGUAGES = ("en", "sl", "hr", "sr_Latn", "bs")
BROWSER_LANGUAGE = {"en": "en-GB", "sl": "sl-SI", "hr": "hr-HR", "sr_Latn": "sr-Latn-RS", "bs": "bs-BA"}
TEACHER = "Mikko Laine"  # the recorded site's teacher of CNC101 (tests keep the recording as recorded)
LEARNER = "Aino Virtanen"
COURSE = "CNC101"


def _codes() -> re.Pattern[str]:
    ms = load_mapping_text(EXAMPLE_MAPPING.read_text("utf-8"), EXAMPLE_MAPPING.name, check_completeness=False)
    return unit_code_pattern({u.code for u in ms.units} | {t.code for t in ms.templates})


@pytest.fixture(scope="module")
def world(walk_world: SyncedWorld) -> SyncedWorld:
    """A second saved version of the mapping (a reviewer's comment), so history has something to compare."""
    if len(_mapping_versions(walk_world)) < 2:
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / EXAMPLE_MAPPING.name
            copy.write_text("# reviewed by the quality team\n" + EXAMPLE_MAPPING.read_text("utf-8"), "utf-8")
            walk_world.cli("mappings", "import", str(copy), "--school", SCHOOL)
    return walk_world


def _mapping_versions(world: SyncedWorld) -> list[int]:
    with world.db.unit_of_work() as session:
        return list(session.scalars(select(MappingFile.id).order_by(MappingFile.id)))


def _user(world: SyncedWorld, fullname: str) -> int:
    return next(u.id for u in world.site.users.values() if u.fullname == fullname)


def _course(world: SyncedWorld, shortname: str) -> int:
    return next(c.id for c in world.site.courses.values() if c.shortname == shortname)


@contextmanager
def _context(browser: Browser, locale: str) -> Iterator[BrowserContext]:
    context = browser.new_context(locale=BROWSER_LANGUAGE[locale], viewport={"width": 1280, "height": 800},
                                  bypass_csp=False)
    context.set_default_timeout(15000)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def _moodle_language(world: SyncedWorld, locale: str, *user_ids: int) -> Iterator[None]:
    """The Moodle users' language, which Moodle sends in every launch."""
    users = [world.site.users[i] for i in user_ids]
    before = [u.lang for u in users]
    for user in users:
        user.lang = locale
    try:
        yield
    finally:
        for user, lang in zip(users, before, strict=True):
            user.lang = lang


class Walk:
    """Collects one report per page; screenshots of every page of the run for a person to look at."""

    def __init__(self, locale: str) -> None:
        self.locale, self.reports = locale, []
        self.codes = _codes()

    def check(self, target: Page | Frame, name: str) -> None:
        target.wait_for_load_state()
        report = check_page(target, name, self.locale, self.codes)
        self.reports.append(report)
        page = target if isinstance(target, Page) else target.page
        slug = re.sub(r"\W+", "-", name)
        page.screenshot(path=str(SCREENSHOTS / f"walk-{self.locale}-{slug}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert len(self.reports) >= 1
        bad = [r for r in self.reports if not r.ok]
        assert not bad, f"{self.locale}: {len(bad)} of {len(self.reports)} pages fail:\n" + "\n".join(map(str, bad))


def _landed(page: Page, url_start: str) -> Frame:
    """The frame (the page itself or Moodle's iframe) that shows ``url_start``."""
    for _ in range(150):
        found = next((f for f in page.frames if f.url.startswith(url_start)), None)
        if found is not None:
            found.wait_for_load_state()
            return found
        page.wait_for_timeout(100)
    raise AssertionError(f"nothing landed on {url_start}: {[f.url for f in page.frames]}")


def _log_in(page: Page, world: SyncedWorld) -> None:
    page.goto(f"{world.tool_url}/admin/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def _without_cookies(route: Route) -> None:
    """The tool's login answer as a browser that blocks cookies in frames receives it."""
    response = route.fetch(max_redirects=0)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
    route.fulfill(response=response, headers=headers)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_console_error_launch_and_picker_pages(world: SyncedWorld, walk_browser: Browser, locale: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    walk = Walk(locale)
    tool = world.tool_url
    first, second = _mapping_versions(world)[:2]
    with _context(walk_browser, locale) as context:
        page = context.new_page()
        visits: list[tuple[str, Callable[[], object]]] = [
            ("nothing here", lambda: page.goto(f"{tool}/no/such/page")),
            ("opened without a launch", lambda: page.goto(f"{tool}/")),
            ("console session lost", lambda: page.goto(f"{tool}/admin/outbox")),
            ("Moodle session lost", lambda: page.goto(f"{tool}/teacher/course/{_course(world, COURSE)}")),
            ("console login", lambda: page.goto(f"{tool}/admin/login")),
        ]
        for name, go in visits:
            go()
            walk.check(page, name)
        _log_in(page, world)
        walk.check(page, "console home")
        for name, path in (("connections", "/admin/connections"), ("registrations", "/admin/registrations"),
                           ("mapping history", "/admin/mappings"),
                           ("mapping version", f"/admin/mappings/{first}"),
                           ("mapping diff", f"/admin/mappings/{second}/diff"),
                           ("mapping restore", f"/admin/mappings/edit?from={first}"),
                           ("templates", "/admin/templates"), ("outbox", "/admin/outbox"),
                           ("outbox filtered", "/admin/outbox?state=waiting_teacher"),
                           ("audit log", "/admin/audit"), ("audit log filtered", "/admin/audit?action=award."),
                           ("keys", "/admin/keys"), ("key rotation step", "/admin/keys?rotate=confirm"),
                           ("operations", "/admin/operations/"), ("learner search", "/admin/operations/?q=a")):
            page.goto(tool + path)
            walk.check(page, name)
        # the mapping editor: a change that versions every template, checked, then saved (asks first)
        page.goto(f"{tool}/admin/mappings/edit")
        walk.check(page, "mapping editor")
        text = EXAMPLE_MAPPING.read_text("utf-8").replace("Reading technical drawings", "Reading workshop drawings")
        page.fill("#content", text)
        page.click("button[value=check]")
        walk.check(page, "mapping dry run")
        page.click("#mapping-form button[value=save]")
        page.wait_for_selector("#confirm")
        walk.check(page, "mapping save confirmation")
        # a form whose security token went stale
        page.goto(f"{tool}/admin/keys?rotate=confirm")
        page.evaluate("() => document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'stale')")
        page.click("button[value=rotate]")
        walk.check(page, "expired form")

    teacher, course = _user(world, TEACHER), _course(world, COURSE)
    with _context(walk_browser, locale) as context, _moodle_language(world, locale, teacher):
        page = context.new_page()
        page.goto(world.platform.launch_url(teacher, course, message_type="LtiDeepLinkingRequest"))
        picker = _landed(page, f"{tool}/lti/deep-link")
        walk.check(picker, "deep-linking picker")
        picker.click("main button[type=submit]")
        picker.wait_for_selector("#picker-problem")
        walk.check(picker, "deep-linking picker, nothing chosen")
    with _context(walk_browser, locale) as context, _moodle_language(world, locale, teacher):
        page = context.new_page()
        page.route(f"{tool}/lti/login*", _without_cookies)
        page.goto(world.course_page(teacher, course))
        walk.check(_landed(page, f"{tool}/lti/launch"), "launch without the login cookie")
    walk.assert_clean()


@pytest.mark.people_pages
@pytest.mark.parametrize("locale", LANGUAGES)
def test_teacher_learner_verification_and_certificate_pages(world: SyncedWorld, walk_browser: Browser,
                                                            locale: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    walk = Walk(locale)
    tool = world.tool_url
    teacher, learner, course = _user(world, TEACHER), _user(world, LEARNER), _course(world, COURSE)
    with world.db.unit_of_work() as session:
        learner_id = session.scalar(select(LearnerIdentity.learner_id)
                                    .where(LearnerIdentity.external_id == str(learner)))
        awards = list(session.scalars(select(Award).where(Award.learner_id == learner_id).order_by(Award.id)))
        award_ids = [a.id for a in awards]
        credential = session.scalar(select(Credential.uuid).where(Credential.award_id.in_(award_ids))
                                    .order_by(Credential.id).limit(1))
    assert award_ids and credential
    with _context(walk_browser, locale) as context, _moodle_language(world, locale, teacher, learner):
        page = context.new_page()
        page.goto(world.course_page(teacher, course))
        frame = _landed(page, f"{tool}/teacher/course/")
        walk.check(frame, "teacher matrix")
        frame.goto(f"{tool}/teacher/course/{course}/awards/{award_ids[0]}/preview")
        walk.check(frame, "preview")
        page = context.new_page()
        page.goto(world.course_page(learner, course))
        frame = _landed(page, f"{tool}/learner/")
        walk.check(frame, "learner records")
        frame.goto(f"{tool}/learner/awards/{award_ids[0]}")
        walk.check(frame, "learner credential")
    with _context(walk_browser, locale) as context:
        page = context.new_page()
        page.goto(f"{tool}/credentials/{credential}")
        walk.check(page, "verification")
        page.goto(f"{tool}/credentials/{credential}/certificate")
        walk.check(page, "certificate")
    walk.assert_clean()


def test_console_inside_moodles_iframe_by_keyboard(world: SyncedWorld, walk_browser: Browser) -> None:
    """A Moodle site administrator opens credbridge inside the course page's iframe (a cross-site
    frame, as in Moodle), goes to the console, moves by keyboard, sends a form and logs in there."""
    tool, course = world.tool_url, _course(world, COURSE)
    admin = next(u.id for u in world.site.users.values() if u.username == "admin")
    world.platform.admins.add(admin)
    with _context(walk_browser, "hr") as context, _moodle_language(world, "hr", admin):
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text or "Security Policy" in m.text
                else None)
        page.goto(world.course_page(admin, course))
        frame = _landed(page, f"{tool}/teacher/course/")
        frame.goto(f"{tool}/admin/")
        assert frame.locator("h1").inner_text() == "VET College of Mechanical Engineering"
        assert frame.evaluate("() => document.documentElement.lang") == "hr"
        # keyboard: from Moodle's page, Tab enters the frame at the skip link, which shows itself
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press("Tab")
        focused = frame.evaluate("""() => { const e = document.activeElement, r = e.getBoundingClientRect(),
            s = getComputedStyle(e); return {cls: e.className, left: r.left, outline: s.outlineStyle,
            width: parseFloat(s.outlineWidth)}; }""")
        assert focused["cls"] == "skip-link" and focused["left"] >= 0, focused
        page.keyboard.press("Enter")
        assert frame.evaluate("() => document.activeElement.id") == "main"
        page.keyboard.press("Shift+Tab")  # back up into the navigation: a clear outline on each link
        for _ in range(3):
            page.keyboard.press("Tab")
            style = frame.evaluate("() => { const s = getComputedStyle(document.activeElement); "
                                   "return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }")
            assert style[1] == "solid" and float(style[2].rstrip("px")) >= 2, style
        # a form inside the frame: session and CSRF cookies travel in the cross-site iframe
        frame.locator("#qa_body").fill("Agencija za strukovno obrazovanje i obrazovanje odraslih")
        with frame.expect_navigation():
            frame.locator("#profile-h ~ form button[type=submit]").click()
        assert frame.locator(".flashes .alert-success").count() == 1  # saved, and said so
        assert "Agencija za strukovno obrazovanje" in frame.locator("#qa_body").input_value()
        # and the console's own login, inside the frame too
        frame.locator("nav form button[type=submit]").click()  # log out
        frame.wait_for_url(re.compile(r"/admin/login$"))
        frame.fill("#email", ADMIN_EMAIL)
        frame.fill("#password", ADMIN_PASSWORD)
        frame.click("main button[type=submit]")
        frame.wait_for_url(re.compile(r"/admin/$"))
        assert frame.locator("h1").inner_text() == "VET College of Mechanical Engineering"
        page.screenshot(path=str(SCREENSHOTS / "walk-console-in-moodle.png"), full_page=True)
        assert not refused, refused
