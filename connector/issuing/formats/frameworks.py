"""National qualifications frameworks and credit systems, as the credential documents name them.

Europass has concepts for only part of what an Annex I credential says here:

* credit systems: the education-credit list (``mappings/vocab/credit-points.csv``) holds ECTS and
  ECVET only. National systems such as Croatia's CSVET get a credbridge concept (see
  :func:`local_concept_uri`). The EDC shapes allow that: ``CreditPoint.framework`` only has to be a
  ``skos:Concept`` (EDC-generic-no-cv ``CrediPoint-elm_framework``; EDC-generic-full adds no
  vocabulary restriction), and the EDC software treats education-credit as a non-mandatory list.
* NQF levels: Europass keeps them in the Qualification Dataset Register scheme
  (``http://data.europa.eu/snb/qdr/25831c2``, concepts ``…/qdr/c_<hash>``). That list is NOT
  shipped with credbridge, so a level carries a QDR URI only when the mapping provides one.
  The EDC treats qdr as a *mandatory* list: it downloads every concept that claims that scheme
  and rejects the credential when the concept does not exist
  (european-commission-empl/european-digital-credentials, configuration/documentation/controlledLists.md). So
  credbridge never mints a URI inside the qdr scheme; ``elm.py`` writes a level without a QDR
  concept as a note instead (explained there).

Local concepts are URNs ``urn:credbridge:<kind>:<code>`` in the concept scheme
``urn:credbridge:concept-scheme:<kind>``: stable, clearly not Europass, the same in every school.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from credbridge.connector.issuing.formats.content import (
    ECTS,
    ECVET,
    Concept,
    CreditPoints,
    NqfLevel,
)
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.mappings import vocab

LOCAL_PREFIX = "urn:credbridge:"
LOCAL_SCHEME_PREFIX = "urn:credbridge:concept-scheme:"
QDR_PREFIX = "http://data.europa.eu/snb/qdr/"
_SPACES = re.compile(r"\s+")


def local_concept_uri(kind: str, code: str) -> str:
    """``urn:credbridge:<kind>:<code>`` for a value no Europass vocabulary has.

    Spaces become ``-``; anything else outside ASCII letters, digits and ``-._~`` is percent-encoded
    (RFC 8141), so a name written only in Cyrillic (``Кредити``) gets a URN and two names that
    differ only in punctuation or accents get two.
    """
    text = _SPACES.sub("-", code.strip())
    if not any(ch.isalnum() for ch in text):
        raise ContentError(f"cannot name a local {kind} concept after {code!r}")
    return f"{LOCAL_PREFIX}{kind}:{quote(text, safe='')}"


def local_scheme(uri: str) -> str | None:
    """The credbridge concept scheme of a local concept URI, or None for any other URI."""
    if not uri.startswith(LOCAL_PREFIX) or uri.startswith(LOCAL_SCHEME_PREFIX):
        return None
    kind = uri[len(LOCAL_PREFIX):].split(":", 1)[0]
    return f"{LOCAL_SCHEME_PREFIX}{kind}"


# --- national qualifications frameworks -----------------------------------------------------

@dataclass(frozen=True)
class NationalFramework:
    name: str  # English name
    acronym: str  # e.g. HKO, SOK, NOKS


#: Frameworks of the countries credbridge's schools are in. Other countries fall back to
#: "National qualifications framework of <country>" rather than a name nobody checked.
NATIONAL_FRAMEWORKS: dict[str, NationalFramework] = {
    "HR": NationalFramework("Croatian Qualifications Framework", "HKO"),  # Hrvatski kvalifikacijski okvir
    "SI": NationalFramework("Slovenian Qualifications Framework", "SOK"),  # Slovensko ogrodje kvalifikacij
    # Nacionalni okvir kvalifikacija Srbije
    "RS": NationalFramework("National Qualifications Framework of Serbia", "NOKS"),
    "ME": NationalFramework("Montenegrin Qualifications Framework", "MQF"),
}


def national_framework(country: str) -> NationalFramework:
    known = NATIONAL_FRAMEWORKS.get(country)
    if known:
        return known
    found = vocab.COUNTRIES.get(country)
    if found is None:
        raise ContentError(f"NQF country {country!r} is not an ISO 3166-1 alpha-2 code credbridge knows")
    return NationalFramework(f"National qualifications framework of {found.name}", f"NQF {country}")


def nqf_level(level: str, country: str, qdr_uri: str | None = None) -> NqfLevel:
    """The NQF level of a mapping (``NQFLevel(level, country)``) with its framework's names.

    ``qdr_uri`` is the Europass QDR concept of that level when the caller knows it; anything else
    under ``http://data.europa.eu/snb/qdr/`` is refused because the EDC would reject it.
    """
    level = str(level).strip()
    if not level:
        raise ContentError("NQF level is empty")
    if qdr_uri is not None and not (qdr_uri.startswith(QDR_PREFIX + "c_") and len(qdr_uri) > len(QDR_PREFIX) + 2):
        raise ContentError(f"NQF concept {qdr_uri!r} is not a Europass QDR concept ({QDR_PREFIX}c_…)")
    fw = national_framework(country)
    return NqfLevel(level=level, country=country, framework=f"{fw.name} ({fw.acronym})",
                    label=f"{fw.acronym} level {level}", qdr_uri=qdr_uri,
                    local_uri=local_concept_uri("nqf-level", f"{country}-{level}"))


def nqf_level_from_snapshot(nqf: Any) -> NqfLevel | None:
    """The award snapshot's ``nqf`` entry (``{"level": "4", "country": "HR"}``, optionally ``"uri"``)."""
    if not nqf:
        return None
    if not isinstance(nqf, dict) or not nqf.get("level") or not nqf.get("country"):
        raise ContentError(f"award snapshot: nqf {nqf!r} needs level and country")
    return nqf_level(str(nqf["level"]), str(nqf["country"]), nqf.get("uri"))


# --- credit systems -------------------------------------------------------------------------

@dataclass(frozen=True)
class CreditSystem:
    concept: Concept
    #: the system's acronym as mapping files write it (``mappings.model.CreditSystem`` values)
    code: str


def _europass_credit(uri: str, code: str) -> CreditSystem:
    return CreditSystem(Concept(uri, vocab.lookup("credit-points", uri).label("en")), code)


#: The credit systems a mapping may name. ECTS and ECVET use their Europass concepts.
CREDIT_SYSTEMS: dict[str, CreditSystem] = {
    "ECTS": _europass_credit(ECTS, "ECTS"),
    "ECVET": _europass_credit(ECVET, "ECVET"),
    # Croatian credit system for VET (used for Croatian micro-qualifications, 2-9 credits): no Europass concept
    "CSVET": CreditSystem(Concept(local_concept_uri("credit-system", "CSVET"),
                                  "Croatian credit system for vocational education and training (CSVET)"),
                          "CSVET"),
}


def credit_system(code: str, label: str | None = None) -> CreditSystem:
    """A credit system by its mapping code; ``other`` (or any unknown code) needs the system's name."""
    known = CREDIT_SYSTEMS.get(code)
    if known:
        return known
    name = (label or "").strip()
    if not name:
        raise ContentError(f"credit system {code!r} is not one credbridge knows and has no name; "
                           "give the national system's name")
    return CreditSystem(Concept(local_concept_uri("credit-system", name), name), code)


def credit_points_from_snapshot(credits: Any, labels: dict[str, str] | None = None) -> tuple[CreditPoints, ...]:
    """The award snapshot's ``credits`` (``{"CSVET": "5", "ECVET": "2"}``) as document credit points.

    A national system the mapping declared as ``other`` is keyed by its name
    (``mappings.model.CreditPoints.key``); snapshots written before that say just ``other``.
    ``labels`` may name a system better than its key.
    """
    out = []
    for code, points in (credits or {}).items():
        try:
            value = Decimal(str(points))
        except InvalidOperation as exc:
            raise ContentError(f"award snapshot: credits {code!r} = {points!r} is not a number") from exc
        name = (labels or {}).get(code) or ("national credit system" if code == "other" else code)
        out.append(CreditPoints(credit_system(code, name).concept, value))
    return tuple(out)


def primary_credit(credit_points: tuple[CreditPoints, ...]) -> CreditPoints | None:
    """The credits a single-number field (OB 3.0 ``creditsAvailable``) reports: ECTS, else ECVET, else the first."""
    for uri in (ECTS, ECVET):
        for cp in credit_points:
            if cp.framework.uri == uri:
                return cp
    return credit_points[0] if credit_points else None
