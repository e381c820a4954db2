"""Every string of the pages is translated into every supported language, with the same placeholders;
the language follows the launch, then the browser."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from credbridge.lti.i18n import SUPPORTED_LOCALES, TRANSLATIONS_DIR, compile_catalogues, normalise_locale
from tests.pages.conftest import Env

LTI = Path(TRANSLATIONS_DIR).parent
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _extracted() -> set[str]:
    method_map, options_map = parse_mapping_cfg(io.StringIO((LTI / "babel.cfg").read_text("utf-8")))
    found = {message if isinstance(message, str) else message[0]
             for _f, _l, message, _c, _ctx in extract_from_dir(str(LTI), method_map, options_map, keywords=KEYWORDS)}
    assert len(found) > 150, "the extraction found too little: is babel.cfg right?"
    return found


@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED_LOCALES if loc != "en"])
def test_every_string_is_translated(locale: str) -> None:
    path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    # a plural message counts as translated when every one of the language's plural forms is
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog
                  if m.id and m.string and not m.fuzzy and (isinstance(m.string, str) or all(m.string))}
    missing = sorted(_extracted() - set(translated))
    assert not missing, f"{locale}: {len(missing)} untranslated: {missing[:10]}"
    wrong = [msgid for msgid, text in translated.items()
             for form in ([text] if isinstance(text, str) else text)
             if sorted(set(PLACEHOLDER.findall(msgid))) != sorted(set(PLACEHOLDER.findall(form)))]
    assert not wrong, f"{locale}: placeholders differ in {wrong}"


def test_catalogues_compile_from_a_fresh_checkout(tmp_path: Path) -> None:
    for locale in ("hr", "sl"):
        target = tmp_path / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / "messages.po").write_bytes((TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").read_bytes())
    written = compile_catalogues(tmp_path)
    assert sorted(p.parent.parent.name for p in written) == ["hr", "sl"]
    assert compile_catalogues(tmp_path) == []  # up to date: nothing rewritten


@pytest.mark.parametrize(("tag", "expected"), [
    ("hr-HR", "hr"), ("sl", "sl"), ("sr-Latn-RS", "sr_Latn"), ("sr_RS", "sr_Latn"), ("bs-BA", "bs"),
    ("en-GB", "en"), ("de", None), ("", None), (None, None),
])
def test_locale_tags_are_normalised(tag: str | None, expected: str | None) -> None:
    assert normalise_locale(tag) == expected


@pytest.mark.parametrize(("locale", "phrase"), [
    ("hr", "Sinkroniziraj ovaj kolegij sada"), ("sl", "Uskladi ta predmet zdaj"),
    ("sr-Latn-RS", "Sinhronizuj ovaj kurs sada"), ("bs", "Sinhronizuj ovaj kurs sada"),
    ("en", "Sync this course now"),
])
def test_language_follows_the_launch(env: Env, locale: str, phrase: str) -> None:
    client = env.teacher(locale=locale)
    html = client.get("/teacher/course/2", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert phrase in html


def test_without_a_launch_locale_the_browser_language_is_used(env: Env) -> None:
    html = env.teacher().get("/teacher/course/2", headers={"Accept-Language": "sl,en;q=0.5"}).get_data(as_text=True)
    assert "Uskladi ta predmet zdaj" in html and '<html lang="sl">' in html


def test_dates_are_localised(env: Env) -> None:
    client = env.teacher(locale="hr")
    html = client.get("/teacher/course/2").get_data(as_text=True)
    dates = re.findall(r'class="date">([^<]*)', html)
    assert dates and all(re.fullmatch(r"\d{1,2}\. [a-zčćšžđ]{5,9} 20\d\d\.", d) for d in dates), dates
    english = env.teacher(locale="en").get("/teacher/course/2").get_data(as_text=True)
    dates = re.findall(r'class="date">([^<]*)', english)  # day, month, year in English too
    assert dates and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]+ 20\d\d", d) for d in dates), dates


def test_numbers_are_localised(env: Env) -> None:
    html = env.teacher(locale="hr").get("/teacher/course/2").get_data(as_text=True)
    assert "84,5\u00a0%" in html and "84.50" not in html  # the CNC-PROG grade, Croatian decimal comma
    english = env.teacher(locale="en").get("/teacher/course/2").get_data(as_text=True)
    assert "84.5%" in english


def test_error_pages_speak_the_readers_language(env: Env) -> None:
    missing = env.client().get("/no-such-page", headers={"Accept-Language": "hr"})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 404 and '<html lang="hr">' in html
    assert "Nije pronađeno" in html and "Na ovoj adresi nema ničega." in html
    assert "requested URL was not found" not in html  # werkzeug's own English text is replaced
    english = env.client().get("/no-such-page").get_data(as_text=True)
    assert "There is nothing at this address." in english
