"""Re-review: the school identity form. Its website goes into every credential the school issues
(OB 3.0 ``issuer.url``, ELM ``homepage``) and onto the console as a link, so it must be a web address:
``javascript:`` or ``data:`` there would be signed into credentials that wallets and verifiers show
as links. Before, any text was saved."""

from __future__ import annotations

import pytest

from credbridge.connector.store.models import School
from tests.pages.conftest import Env, csrf_token

WAS = "https://alpha.example.hr"


def _save(env: Env, **fields: str):  # type: ignore[no-untyped-def]
    client = env.admin()
    data = {"csrf_token": csrf_token(client, "/admin/"), "legal_name": "Tehnička škola Alpha", "country": "HR",
            "locality": "Split", **fields}
    return client.post("/admin/school", data=data, follow_redirects=True)


@pytest.mark.parametrize("homepage", ["javascript:alert(document.domain)", " JavaScript:alert(1)",
                                      "data:text/html,<script>alert(1)</script>", "//evil.example/",
                                      "https://", "ftp://alpha.example.hr/", "alpha.example.hr",
                                      "https://alpha.example.hr/\njavascript:x"])
def test_a_website_that_is_not_a_web_address_changes_nothing(env: Env, homepage: str) -> None:
    page = _save(env, homepage=homepage).get_data(as_text=True)
    assert "The website must be an http or https address" in page
    with env.db.unit_of_work() as s:
        school = s.get(School, env.world.school_a)
        assert (school.homepage, school.locality) == (WAS, None)
    assert 'href="javascript:' not in env.admin().get("/admin/").get_data(as_text=True).lower()


@pytest.mark.parametrize("homepage", ["https://www.alpha.example.hr/o-nama?x=1", "http://alpha.example.hr", ""])
def test_a_web_address_or_none_is_saved(env: Env, homepage: str) -> None:
    page = _save(env, homepage=homepage).get_data(as_text=True)
    assert "School profile saved." in page
    with env.db.unit_of_work() as s:
        assert s.get(School, env.world.school_a).homepage == (homepage or None)


@pytest.mark.parametrize("country", ["ZZ", "EU", "ÄÖ", "ß", "QQ", "H", "HRV", "1A"])
def test_a_country_that_is_no_country_changes_nothing(env: Env, country: str) -> None:
    """The awarding body's country is signed into every credential (OB 3.0 address, ELM countryCode):
    a code that names no country ("ZZ" unknown, "ß" which upper-cases to South Sudan's "SS") is refused."""
    page = _save(env, country=country).get_data(as_text=True)
    assert "a two-letter country code; nothing was changed" in page
    with env.db.unit_of_work() as s:
        school = s.get(School, env.world.school_a)
        assert (school.locality, school.country) == (None, "HR")


@pytest.mark.parametrize("country", ["si", "BA", "XK", "US"])
def test_a_country_code_is_saved_in_capitals(env: Env, country: str) -> None:
    assert "School profile saved." in _save(env, country=country).get_data(as_text=True)
    with env.db.unit_of_work() as s:
        assert s.get(School, env.world.school_a).country == country.upper()
