"""Annex I "supervision and identity verification" as a document concept.

Every value the mappings can produce gets a concept:

* the levels of ``mappings.derive.SupervisionLevel`` (the award snapshot stores them as
  ``{"key", "label", "uri"}``) and
* a concept URI declared on a unit (``Unit.supervision``, one of the partial Europass list
  ``mappings/vocab/supervision-verification.PARTIAL.csv``).

Levels with a Europass concept use it. The two levels without one ("unsupervised with ID
verification", "supervised without ID verification") get credbridge concepts in their own scheme
rather than an invented URI in the Europass scheme: the EDC treats supervision-verification as a
mandatory list and rejects a credential naming a concept that list does not have
(european-commission-empl/european-digital-credentials, configuration/documentation/controlledLists.md),
while
``LearningAssessment.idVerification`` itself only has to be a ``skos:Concept`` (EDC-generic-no-cv
``LearningAssessment-elm_idVerification``; EDC-generic-full restricts no vocabulary there).
"""

from __future__ import annotations

from typing import Any

from credbridge.connector.issuing.formats.content import Concept
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.frameworks import local_concept_uri
from credbridge.mappings import vocab
from credbridge.mappings.derive import SupervisionLevel

EUROPASS_PREFIX = "http://data.europa.eu/snb/supervision-verification/"

#: Labels for the Europass concepts (the shipped list marks one label as uncertain in the label itself).
_EUROPASS_LABELS = {
    "http://data.europa.eu/snb/supervision-verification/c598449d64": "Unsupervised without ID verification",
    "http://data.europa.eu/snb/supervision-verification/70be69aaf9": "Supervised with ID verification",
    "http://data.europa.eu/snb/supervision-verification/44314532f9": "ID verification",
}


def level_concept(level: SupervisionLevel) -> Concept:
    if level.uri:
        return europass_concept(level.uri)
    return Concept(local_concept_uri("supervision-verification", level.key), level.label)


def europass_concept(uri: str) -> Concept:
    """A concept of the (partial) Europass list; other URIs in the Europass scheme are refused."""
    try:
        found = vocab.lookup("supervision-verification", uri)
    except vocab.VocabularyError as exc:
        raise ContentError(f"supervision {uri!r} is not a Europass supervision-verification concept "
                           "credbridge knows") from exc
    return Concept(found.uri, _EUROPASS_LABELS.get(found.uri, found.label("en")))


def supervision_from_snapshot(value: Any) -> Concept | None:
    """The award snapshot's ``supervision.value``: a level dict, a concept URI, or nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        level = SupervisionLevel.from_uri(value)
        return level_concept(level) if level else europass_concept(value)
    if isinstance(value, dict) and value.get("key"):
        by_key = {lvl.key: lvl for lvl in SupervisionLevel}
        if value["key"] not in by_key:
            raise ContentError(f"award snapshot: supervision level {value['key']!r} is not one credbridge knows")
        return level_concept(by_key[value["key"]])
    raise ContentError(f"award snapshot: supervision {value!r} is neither a level nor a concept URI")
