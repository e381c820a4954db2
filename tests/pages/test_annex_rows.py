"""The Annex I rows teachers, learners and verifiers read: codes become names in the reader's language."""

from __future__ import annotations

import pytest

from credbridge.lti.pages.queries import annex_rows


def _row(snapshot: dict, element: str, locale: str) -> str:
    return next(r.value for r in annex_rows(snapshot, locale) if r.element == element)


@pytest.mark.parametrize(("locale", "country"), [("en", "Croatia"), ("hr", "Hrvatska"), ("sl", "Hrvaška"),
                                                 ("sr_Latn", "Hrvatska"), ("bs", "Hrvatska")])
def test_country_by_name_in_the_readers_language(locale: str, country: str) -> None:
    assert _row({"country": "HR"}, "country", locale) == country


def test_nqf_level_with_its_frameworks_acronym() -> None:
    assert _row({"nqf": {"level": "4.1", "country": "HR"}}, "nqf", "en") == "HKO 4.1"
    assert _row({"nqf": {"level": "5", "country": "SI"}}, "nqf", "sl") == "SOK 5"
    assert _row({"nqf": {"level": "5", "country": "DE"}}, "nqf", "en") == "NQF DE 5"  # no national acronym checked


def test_unknown_codes_are_shown_as_stored() -> None:
    assert _row({"country": "XX"}, "country", "en") == "XX"
    assert _row({"nqf": {"level": "5", "country": "XX"}}, "nqf", "en") == "level: 5, country: XX"


def test_only_a_language_map_gives_a_lang_attribute() -> None:
    # a screen reader switches voice by lang: credits or an NQF level are no language (axe: valid-lang)
    rows = {r.element: r.lang for r in annex_rows({"credits": {"CSVET": "5"}, "nqf": {"level": "4.1", "country": "HR"},
                                                   "further_information": {"en": "Stackable", "hr": "Slaže se"}}, "hr")}
    assert rows["credits"] is None and rows["nqf"] is None and rows["further_information"] == "hr"
