"""Europass controlled vocabularies and country codes used by the Annex I elements.

The concept lists are the Europass CSVs shipped in ``mappings/vocab/`` (copied from the EC's
European-Learning-Model repository, see ``/work/shared/standards/SOURCES.md``). Mapping files may
name a concept by URI or by any label (case-insensitive, whitespace-normalised); we always store
the URI. An unknown value raises :class:`VocabularyError` with the closest known labels.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = [
    "COUNTRIES",
    "Concept",
    "Country",
    "Vocabulary",
    "VocabularyError",
    "all_vocabularies",
    "country",
    "get",
    "lookup",
]

_WS = re.compile(r"\s+")


class VocabularyError(ValueError):
    """A value that is not a concept of the named vocabulary (message carries a suggestion)."""

    def __init__(self, vocabulary: str, value: object, suggestions: list[str]):
        self.vocabulary = vocabulary
        self.value = value
        self.suggestions = suggestions
        hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"{value!r} is not a concept of the {vocabulary} vocabulary{hint}")


@dataclass(frozen=True, slots=True)
class Concept:
    uri: str
    labels: dict[str, str]  # language -> label
    scheme: str

    @property
    def notation(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or next(iter(self.labels.values()))


@dataclass(frozen=True)
class Vocabulary:
    name: str
    scheme: str
    concepts: tuple[Concept, ...]
    #: accept the last URI segment ("4" for EQF level 4, "0715" for an ISCED-F field) as an alias
    notation_alias: bool = False
    partial: bool = False
    _index: dict[str, Concept] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for c in self.concepts:
            self._index[c.uri.lower()] = c
            for lab in c.labels.values():
                self._index.setdefault(_norm(lab), c)
            if self.notation_alias:
                self._index.setdefault(c.notation.lower(), c)

    def __contains__(self, uri: object) -> bool:
        return isinstance(uri, str) and any(c.uri == uri for c in self.concepts)

    def uris(self) -> list[str]:
        return [c.uri for c in self.concepts]

    def lookup(self, value: object) -> Concept:
        """Concept for a URI, a label in any language, or (where allowed) a notation."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise VocabularyError(self.name, value, [])
        found = self._index.get(_norm(str(value)))
        if found is None:
            raise VocabularyError(self.name, value, self.suggest(str(value)))
        return found

    def suggest(self, value: str) -> list[str]:
        labels = {c.label(): c for c in self.concepts}
        candidates = list(labels) + [c.uri for c in self.concepts]
        close = difflib.get_close_matches(value, candidates, n=2, cutoff=0.5)
        if not close:
            close = difflib.get_close_matches(_norm(value), [k.lower() for k in labels], n=2, cutoff=0.5)
            close = [next(lab for lab in labels if lab.lower() == c) for c in close]
        return close

    def uri_for(self, value: object) -> str:
        return self.lookup(value).uri


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


# file name, vocabulary name, concept scheme (from credential-formats.md §B), notation alias
_FILES: tuple[tuple[str, str, str, bool], ...] = (
    ("eqf.csv", "eqf", "http://data.europa.eu/snb/eqf/25831c2", True),
    ("isced-f.csv", "isced-f", "http://data.europa.eu/snb/isced-f/25831c2", True),
    ("credit-points.csv", "credit-points", "http://data.europa.eu/snb/education-credit/25831c2", False),
    ("europass-learning-assessment-types.csv", "assessment",
     "http://data.europa.eu/snb/assessment/25831c2", False),
    ("europass-modes.csv", "mode", "http://data.europa.eu/snb/learning-assessment/25831c2", False),
    ("europass-accreditation-types.csv", "accreditation",
     "http://data.europa.eu/snb/accreditation/25831c2", False),
    ("europass-learning-setting-types.csv", "learning-setting",
     "http://data.europa.eu/snb/learning-setting/25831c2", False),
    ("europass-learning-opportunity-types.csv", "learning-opportunity",
     "http://data.europa.eu/snb/learning-opportunity/25831c2", False),
    ("europass-learning-activity-types.csv", "learning-activity",
     "http://data.europa.eu/snb/learning-activity/25831c2", False),
    ("europass-credential-types.csv", "credential", "http://data.europa.eu/snb/credential/25831c2", False),
    # PARTIAL: the shipped list holds only the concepts seen in EC samples. The scheme's other
    # concepts (e.g. "supervised without ID verification") have no URI we could verify, so they
    # are not invented here; derive.SupervisionLevel carries them as labels without a URI.
    ("supervision-verification.PARTIAL.csv", "supervision-verification",
     "http://data.europa.eu/snb/supervision-verification/25831c2", False),
)


def _read(filename: str) -> list[tuple[str, dict[str, str]]]:
    text = resources.files("credbridge.mappings").joinpath("vocab", filename).read_text("utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        labels = {k.removeprefix("label_"): _WS.sub(" ", v).strip()
                  for k, v in row.items() if k.startswith("label_") and v}
        rows.append((row["concept_uri"].strip(), labels))
    return rows


@cache
def all_vocabularies() -> dict[str, Vocabulary]:
    out = {}
    for filename, name, scheme, alias in _FILES:
        concepts = tuple(Concept(uri, labels, scheme) for uri, labels in _read(filename))
        out[name] = Vocabulary(name, scheme, concepts, notation_alias=alias, partial="PARTIAL" in filename)
    return out


def get(name: str) -> Vocabulary:
    return all_vocabularies()[name]


def lookup(name: str, value: object) -> Concept:
    return get(name).lookup(value)


# --- countries -------------------------------------------------------------------------------
# Hand-written because the venv has no ISO 3166 library (pycountry would be the one to use) and
# credbridge serves EU, EEA and candidate-country schools only. ELM wants the EU Publications
# Office authority URI, which uses the alpha-3 code.

EU_COUNTRY_AUTHORITY = "http://publications.europa.eu/resource/authority/country"


@dataclass(frozen=True, slots=True)
class Country:
    alpha2: str
    alpha3: str
    name: str

    @property
    def authority_uri(self) -> str:
        return f"{EU_COUNTRY_AUTHORITY}/{self.alpha3}"


_COUNTRY_ROWS = """
AT AUT Austria|BE BEL Belgium|BG BGR Bulgaria|HR HRV Croatia|CY CYP Cyprus|CZ CZE Czechia|
DK DNK Denmark|EE EST Estonia|FI FIN Finland|FR FRA France|DE DEU Germany|GR GRC Greece|
HU HUN Hungary|IE IRL Ireland|IT ITA Italy|LV LVA Latvia|LT LTU Lithuania|LU LUX Luxembourg|
MT MLT Malta|NL NLD Netherlands|PL POL Poland|PT PRT Portugal|RO ROU Romania|SK SVK Slovakia|
SI SVN Slovenia|ES ESP Spain|SE SWE Sweden|IS ISL Iceland|LI LIE Liechtenstein|NO NOR Norway|
CH CHE Switzerland|AL ALB Albania|BA BIH Bosnia and Herzegovina|GE GEO Georgia|MD MDA Moldova|
ME MNE Montenegro|MK MKD North Macedonia|RS SRB Serbia|TR TUR Türkiye|UA UKR Ukraine
"""

COUNTRIES: dict[str, Country] = {
    a2: Country(a2, a3, name)
    for a2, a3, name in (
        (row.split(" ", 2)[0], row.split(" ", 2)[1], row.split(" ", 2)[2])
        for row in (r.strip() for r in _COUNTRY_ROWS.replace("\n", "").split("|"))
        if row
    )
}
_BY_ALPHA3 = {c.alpha3: c for c in COUNTRIES.values()}


def country(value: object) -> Country:
    """Country for an alpha-2 code, alpha-3 code, English name or EU authority URI."""
    if not isinstance(value, str):
        raise VocabularyError("country (ISO 3166-1 alpha-2)", value, [])
    text = value.strip()
    if text.startswith(EU_COUNTRY_AUTHORITY + "/"):
        text = text.rsplit("/", 1)[-1]
    up = text.upper()
    found = COUNTRIES.get(up) or _BY_ALPHA3.get(up)
    if found is None:
        found = next((c for c in COUNTRIES.values() if c.name.lower() == text.lower()), None)
    if found is None:
        names = [c.name for c in COUNTRIES.values()]
        raise VocabularyError("country (ISO 3166-1 alpha-2)", value,
                              [COUNTRIES[c].alpha2 for c in COUNTRIES if COUNTRIES[c].name in
                               difflib.get_close_matches(text, names, n=2, cutoff=0.6)])
    return found
