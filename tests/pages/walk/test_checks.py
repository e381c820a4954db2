"""The walk's detectors catch what they are there to catch (and leave alone what people supplied)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.pages.walk.checks import check_page, english_msgids, leftovers_for, unit_code_pattern

pytestmark = pytest.mark.browser
CODES = unit_code_pattern({"CNC-PROG", "TD-BASICS"})


@pytest.fixture
def blank(walk_browser: Browser) -> Iterator[Page]:
    context = walk_browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def _page(page: Page, body: str, lang: str = "hr") -> Page:
    page.set_content(f'<!doctype html><html lang="{lang}"><head><title>Naslov</title></head>'
                     f'<body><main><h1>Stranica</h1>{body}</main></body></html>')
    return page


def test_the_catalogue_is_extracted_from_the_sources() -> None:
    ids = english_msgids()
    assert "Waiting for the teacher's approval" in ids and "Audit log" in ids
    croatian = leftovers_for("hr")
    assert croatian.find("Audit log") == "Audit log"  # a short msgid, alone in a text node
    assert croatian.find("Ovdje: Waiting for the teacher's approval!")  # a phrase, inside a text
    assert croatian.find("Revizijski zapis") is None
    assert croatian.find("Credly") is None  # the same word in Croatian


def test_english_left_on_a_croatian_page_is_found(blank: Page) -> None:
    report = check_page(_page(blank, "<p>Audit log</p><p>Zapis: Waiting to be sent</p>"
                                     '<button aria-label="Log in again">x</button>'), "t", "hr", CODES)
    assert {msgid for _t, msgid in report.english} == {"Audit log", "Waiting to be sent", "Log in again"}


def test_what_people_supplied_hidden_text_and_code_are_left_alone(blank: Page) -> None:
    report = check_page(_page(blank, '<p data-content="user">Audit log</p><p translate="no">Audit log</p>'
                                     "<code>pending_approval</code><p hidden>Audit log</p>"
                                     "<details><summary>Detalji</summary><p>CNC-PROG moodle_ws:1:x</p></details>"),
                        "t", "hr", CODES)
    assert report.ok, str(report)


def test_raw_codes_are_found(blank: Page) -> None:
    report = check_page(_page(blank, "<p>stanje pending_approval</p><p>moodle_ws:1:quiz:3</p>"
                                     "<p>kviz >= 60%</p><p>jedinica CNC-PROG</p><p>TD-BASICS-X nije kod</p>"
                                     "<td>pending</td>"),
                        "t", "hr", CODES)
    found = {what for what, _text in report.codes}
    assert found == {"approval state code", "snake_case code", "evidence key", "rule expression",
                     "unit or template code", "state code"}
    assert not any("TD-BASICS-X" in text for _w, text in report.codes)


def test_axe_violations_and_a_wrong_language_are_reported(blank: Page) -> None:
    report = check_page(_page(blank, '<img src="data:,"><input id="x">', lang="en"), "t", "hr", None)
    assert report.wrong_lang == "en"
    rules = {line.split(" ", 1)[0] for line in report.axe}
    assert {"image-alt", "label"} <= rules
