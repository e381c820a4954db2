"""Europass vocabulary concepts in the reader's language.

The vocabularies shipped in ``mappings/vocab/`` carry English labels only (the EC's CSV exports),
so the labels of the concepts the pages show — EQF levels, types of assessment, forms of
participation, supervision levels, types of quality assurance, credit systems — are catalogue
strings here, translated in the ``.po`` files like every other text. A concept without one falls
back to its English label from the vocabulary.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _

from credbridge.mappings.vocab import all_vocabularies

SNB = "http://data.europa.eu/snb/"

LABELS: dict[str, Any] = {
    **{f"{SNB}eqf/{n}": _("Level %(level)s", level=n) for n in range(1, 9)},
    f"{SNB}assessment/19a2e5e671": _("peer assessment"),
    f"{SNB}assessment/2939dae15f": _("marked assignment"),
    f"{SNB}assessment/3484bd7e51": _("continuous evaluation"),
    f"{SNB}assessment/4f03b91c0e": _("portfolio"),
    f"{SNB}assessment/56539a6507": _("group performance"),
    f"{SNB}assessment/6a4db9f11d": _("practical assessment"),
    f"{SNB}assessment/6e6cb2cc78": _("written examination"),
    f"{SNB}assessment/7331eb4762": _("level of attendance"),
    f"{SNB}assessment/795dac4096": _("project work"),
    f"{SNB}assessment/812e3b0ae1": _("peer review"),
    f"{SNB}assessment/b1b68f6735": _("quiz"),
    f"{SNB}assessment/c4256a2726": _("problem-based learning"),
    f"{SNB}assessment/d30284d7df": _("oral examination"),
    f"{SNB}assessment/de4d165a6c": _("artefact assessment"),
    f"{SNB}learning-assessment/729f3bed4b": _("work-based"),
    f"{SNB}learning-assessment/7813801c77": _("project-based"),
    f"{SNB}learning-assessment/9191af2ed9": _("in person"),
    f"{SNB}learning-assessment/920fbb3cbe": _("online"),
    f"{SNB}learning-assessment/e92d221e4d": _("blended (online and in person)"),
    f"{SNB}learning-assessment/ed4c557045": _("research or laboratory based"),
    f"{SNB}supervision-verification/c598449d64": _("unsupervised, identity not verified"),
    f"{SNB}supervision-verification/70be69aaf9": _("supervised, identity verified"),
    f"{SNB}supervision-verification/44314532f9": _("identity verified"),
    f"{SNB}accreditation/003293d2ce": _("institutional licence"),
    f"{SNB}accreditation/820101cba6": _("programme quality assurance"),
    f"{SNB}accreditation/bb4618238e": _("institutional quality assurance"),
    f"{SNB}accreditation/e57dddfcf3": _("programme licence"),
    f"{SNB}education-credit/60b314e826": _("ECVET credits"),
    f"{SNB}education-credit/6fcec5c5af": _("ECTS credits"),
}

#: supervision levels the domain names by key when the vocabulary has no URI for them
SUPERVISION_KEYS: dict[str, Any] = {
    "unsupervised_no_id": LABELS[f"{SNB}supervision-verification/c598449d64"],
    "unsupervised_id": _("unsupervised, identity verified"),
    "supervised_no_id": _("supervised, identity not verified"),
    "supervised_online_id": _("supervised online, identity verified"),
    "supervised_onsite_id": _("supervised on site, identity verified"),
}


@cache
def _english() -> dict[str, str]:
    return {c.uri: c.label("en") for vocabulary in all_vocabularies().values() for c in vocabulary.concepts}


def is_concept(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SNB)


def concept_label(uri: str) -> str:
    """The concept in the reader's language; its English label when the catalogue has none."""
    label = LABELS.get(uri)
    if label is not None:
        return str(label)
    return " ".join(_english().get(uri, uri).split())
