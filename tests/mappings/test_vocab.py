"""Vocabularies: every concept of the shipped CSVs loads and matches the standards folder."""

from __future__ import annotations

import csv
import re

import pytest

from credbridge.mappings import vocab
from tests.mappings.helpers import DATA, REPO

STANDARD = DATA / "standards" / "elm" / "vocab"
PACKAGE = REPO / "mappings" / "vocab"


def _rows(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["concept_uri"], re.sub(r"\s+", " ", r["label_en"]).strip()) for r in csv.DictReader(fh)]


def test_package_copy_is_identical_to_the_standards_folder():
    shipped = sorted(p.name for p in STANDARD.glob("*.csv"))
    assert shipped == sorted(p.name for p in PACKAGE.glob("*.csv"))
    for name in shipped:
        assert (PACKAGE / name).read_bytes() == (STANDARD / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(p.name for p in STANDARD.glob("*.csv")))
def test_every_concept_loads(name):
    voc = next(v for v in vocab.all_vocabularies().values()
               if any(c.uri == _rows(STANDARD / name)[0][0] for c in v.concepts))
    rows = _rows(STANDARD / name)
    assert [(c.uri, c.label()) for c in voc.concepts] == rows
    for uri, label in rows:
        assert voc.lookup(uri).uri == uri
        assert voc.lookup(label.upper()).uri in {u for u, lab in rows if lab.lower() == label.lower()}
        assert uri.startswith(voc.scheme.rsplit("/", 1)[0] + "/")


def test_all_files_are_used():
    assert len(vocab.all_vocabularies()) == len(list(STANDARD.glob("*.csv")))
    assert vocab.get("supervision-verification").partial
    assert len(vocab.get("isced-f").concepts) == len(_rows(STANDARD / "isced-f.csv"))


def test_labels_are_case_and_whitespace_insensitive_and_notations_work():
    assert vocab.lookup("mode", "  blended ").uri == "http://data.europa.eu/snb/learning-assessment/e92d221e4d"
    assert vocab.lookup("eqf", 4).uri == "http://data.europa.eu/snb/eqf/4"
    assert vocab.lookup("eqf", "level 4").uri == "http://data.europa.eu/snb/eqf/4"
    assert vocab.lookup("isced-f", "0715").label() == "Mechanics and metal trades"
    assert vocab.lookup("credit-points", "european credit system for vocational education and training").uri \
        == "http://data.europa.eu/snb/education-credit/60b314e826"


@pytest.mark.parametrize(("name", "value", "suggestion"), [
    ("assessment", "written exam", "written examination"),
    ("mode", "onlin", "Online"),
    ("accreditation", "Institutional QA", "Institutional Quality Assurance"),
    ("eqf", "http://data.europa.eu/snb/eqf/9", "http://data.europa.eu/snb/eqf/8"),
])
def test_unknown_value_rejected_with_suggestion(name, value, suggestion):
    with pytest.raises(vocab.VocabularyError) as info:
        vocab.lookup(name, value)
    assert suggestion in info.value.suggestions
    assert f"did you mean {suggestion!r}" in str(info.value) or suggestion in str(info.value)


def test_unrelated_value_has_no_suggestion_and_non_strings_rejected():
    with pytest.raises(vocab.VocabularyError, match=r"is not a concept of the mode vocabulary$"):
        vocab.lookup("mode", "zzzzzzzzzzzz")
    with pytest.raises(vocab.VocabularyError):
        vocab.lookup("eqf", True)
    with pytest.raises(vocab.VocabularyError):
        vocab.lookup("eqf", None)
    with pytest.raises(vocab.VocabularyError):  # notation aliases only where they mean something
        vocab.lookup("mode", "920fbb3cbe")


def test_countries():
    hr = vocab.country("hr")
    assert (hr.alpha2, hr.alpha3, hr.authority_uri) == (
        "HR", "HRV", "http://publications.europa.eu/resource/authority/country/HRV")
    assert vocab.country("SVN").alpha2 == "SI"
    assert vocab.country("Montenegro").alpha2 == "ME"
    assert vocab.country("http://publications.europa.eu/resource/authority/country/BIH").alpha2 == "BA"
    with pytest.raises(vocab.VocabularyError, match="did you mean 'HR'"):
        vocab.country("Croatai")
    with pytest.raises(vocab.VocabularyError):
        vocab.country("US")
    with pytest.raises(vocab.VocabularyError):
        vocab.country(191)
