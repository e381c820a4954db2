"""Dead ends are not dead: a lost session, an expired form, a missing page or a refused one each get a
page with the look of the others, in the reader's language, saying what happened and what to do;
technical reasons (English, for logs and support) only behind "Technical details"."""

from __future__ import annotations

import re

from tests.pages.conftest import Env

STYLESHEET = "/static/pages/pages.css"


def _main(html: str) -> str:
    found = re.search(r"<main\b.*?</main>", html, flags=re.S)
    assert found, "the page has no <main>"
    return found.group(0)


def _outside_details(html: str) -> str:
    return re.sub(r"<details\b.*?</details>", "", _main(html), flags=re.S)


def test_an_admin_whose_session_ended_is_told_to_log_in_again(env: Env) -> None:
    response = env.client().get("/admin/outbox")
    html = response.get_data(as_text=True)
    assert response.status_code == 401 and STYLESHEET in html and 'class="skip-link"' in html
    assert "Please log in again" in html and 'href="/admin/login"' in html and "Log in again" in html
    assert "launch the tool from Moodle" not in _outside_details(html)  # the technical reason waits behind the toggle
    hr = env.client().get("/admin/outbox", headers={"Accept-Language": "hr"}).get_data(as_text=True)
    assert '<html lang="hr">' in hr and "Prijavite se ponovno" in hr and "Please log in again" not in hr


def test_a_teacher_whose_session_ended_is_sent_back_to_moodle(env: Env) -> None:
    response = env.client().get("/teacher/course/2", headers={"Accept-Language": "sl"})
    html = response.get_data(as_text=True)
    assert response.status_code == 401 and STYLESHEET in html and '<html lang="sl">' in html
    assert "Moodle" in html and 'href="/admin/login"' not in html
    assert "Your session has ended" not in html  # in Slovenian


def test_a_form_without_its_token_explains_itself_in_the_readers_language(env: Env) -> None:
    response = env.client().post("/admin/keys/rotate", data={"confirm": "rotate"}, headers={"Accept-Language": "hr"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and STYLESHEET in html
    assert 'href="/admin/login"' in html  # nobody signed in: log in
    visible = _outside_details(html)
    assert "CSRF" not in visible and "This form has expired" not in visible and "expired" not in visible
    assert "CSRF" in _main(html)  # the technical reason, behind the toggle
    en = env.admin().post("/admin/keys/rotate", data={"csrf_token": "forged", "confirm": "rotate"},
                          headers={"Referer": "http://localhost/admin/keys?rotate=confirm"})
    html = en.get_data(as_text=True)
    assert "This form has expired" in html and "Nothing was changed." in html
    # still signed in: back to the form (not "log in again"); never to another site
    assert 'href="http://localhost/admin/keys?rotate=confirm"' in html and 'href="/admin/login"' not in html
    elsewhere = env.admin().post("/admin/keys/rotate", data={"confirm": "rotate"},
                                 headers={"Referer": "https://evil.example/admin/keys"}).get_data(as_text=True)
    assert "evil.example" not in elsewhere and 'href="/admin/login"' in elsewhere


def test_a_teacher_page_form_without_its_token_points_back_to_moodle(env: Env) -> None:
    client = env.teacher()
    response = client.post("/teacher/course/2/awards", data={"action": "approve", "award_id": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "This form has expired" in html and "Moodle" in html
    assert 'href="/admin/login"' not in html


def test_missing_and_refused_pages_share_the_look_and_keep_technical_words_in_details(env: Env) -> None:
    missing = env.client().get("/no/such/page", headers={"Accept-Language": "bs"})
    assert missing.status_code == 404 and STYLESHEET in missing.get_data(as_text=True)
    assert "There is nothing at this address." not in missing.get_data(as_text=True)
    teacher = env.teacher(locale="sr_Latn")
    refused = teacher.get("/admin/")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 403 and STYLESHEET in html
    assert "needs the role" not in _outside_details(html) and "needs the role" in html


def test_a_sentence_of_ours_in_an_abort_is_the_message(env: Env) -> None:
    # teacher.py aborts with a translated sentence when a course was never synced: it is the message
    from babel.support import Translations

    from credbridge.lti.i18n import TRANSLATIONS_DIR

    sentence = "This course has not been synchronised from Moodle yet."
    html = env.teacher(context_id="99").get("/teacher/course/99").get_data(as_text=True)
    assert sentence in _outside_details(html)
    croatian = Translations.load(str(TRANSLATIONS_DIR), ["hr"]).gettext(sentence)
    assert croatian != sentence
    html = env.teacher(context_id="99", locale="hr").get("/teacher/course/99").get_data(as_text=True)
    assert croatian in _outside_details(html)
