"""The school's offer as ELM v3 JSON-LD: learning opportunities and qualification descriptions.

One document (context ``http://data.europa.eu/snb/model/context/edc-ap`` + id/type aliases) with an ``@graph`` of:
the awarding organisations, one ``Qualification`` per template and per unit (units are partial
qualifications the template ``hasPart``), and one ``LearningOpportunity`` per template that points
at its specification. Controlled values are embedded ``Concept`` objects with their scheme, as
the EDC application profile's CV shapes expect.

CSVET (Croatian VET credits) has no concept in the Europass education-credit scheme, so CSVET
points go into an ``additionalNote`` instead of a ``CreditPoint``.
"""

from __future__ import annotations

from typing import Any

from credbridge.mappings import vocab
from credbridge.mappings.model import (
    CREDIT_FRAMEWORK_URI,
    KNOWN_CREDIT_SYSTEMS,
    AwardingBody,
    MappingSet,
    QualityAssurance,
    Template,
    Unit,
    credit_totals,
    hours_total,
)

__all__ = ["ELM_CONTEXT", "catalogue", "concept"]

ELM_CONTEXT = "http://data.europa.eu/snb/model/context/edc-ap"
#: credentials get "id"/"type" from the VC context; a catalogue is no credential, so it says so itself
ID_TYPE_ALIASES = {"id": "@id", "type": "@type"}
LANGUAGE_AUTHORITY = "http://publications.europa.eu/resource/authority/language"
#: ISO 639-1 -> the EU language authority table (ISO 639-3 based); the languages our schools use
_LANGUAGES = {"en": "ENG", "hr": "HRV", "sl": "SLV", "sr": "SRP", "bs": "BOS", "cnr": "CNR", "de": "DEU",
              "it": "ITA", "hu": "HUN", "fi": "FIN", "sv": "SWE", "fr": "FRA", "es": "SPA", "pl": "POL",
              "cs": "CES", "sk": "SLK", "mk": "MKD", "sq": "SQI", "ro": "RON", "bg": "BUL", "el": "ELL",
              "nl": "NLD", "pt": "POR", "et": "EST", "lv": "LAV", "lt": "LIT", "da": "DAN", "ga": "GLE",
              "mt": "MLT"}


def concept(vocabulary: str, uri: str) -> dict[str, Any]:
    c = next(c for c in vocab.get(vocabulary).concepts if c.uri == uri)
    return {"id": c.uri, "type": "Concept", "inScheme": {"id": c.scheme, "type": "ConceptScheme"},
            "prefLabel": dict(c.labels)}


def _country(alpha2: str) -> dict[str, Any]:
    country = vocab.country(alpha2)
    return {"id": country.authority_uri, "type": "Concept",
            "inScheme": {"id": vocab.EU_COUNTRY_AUTHORITY, "type": "ConceptScheme"},
            "prefLabel": {"en": country.name}}


def _language(code: str) -> dict[str, Any] | None:
    three = _LANGUAGES.get(code.split("-")[0])
    if three is None:
        return None
    return {"id": f"{LANGUAGE_AUTHORITY}/{three}", "type": "Concept",
            "inScheme": {"id": LANGUAGE_AUTHORITY, "type": "ConceptScheme"}, "prefLabel": {"en": code}}


def _note(nid: str, text: dict[str, str]) -> dict[str, Any]:
    return {"id": nid, "type": "Note", "noteLiteral": dict(text)}


class _Builder:
    def __init__(self, ms: MappingSet, base: str):
        self.ms = ms
        self.base = base.rstrip(":")
        self.orgs: dict[str, dict[str, Any]] = {}
        self.counter = 0

    def nid(self, kind: str) -> str:
        self.counter += 1
        return f"{self.base}:{kind}:{self.counter}"

    def organisation(self, body: AwardingBody) -> str:
        key = body.model_dump_json()
        if key not in self.orgs:
            org: dict[str, Any] = {
                "id": f"{self.base}:org:{len(self.orgs) + 1}", "type": "Organisation",
                "legalName": dict(body.legal_name),
                "location": {"id": self.nid("location"), "type": "Location",
                             "address": {"id": self.nid("address"), "type": "Address",
                                         "countryCode": _country(body.country)}},
            }
            if body.homepage:
                org["homepage"] = {"id": body.homepage, "type": "WebResource", "contentURL": body.homepage}
            ids = [{"id": self.nid("identifier"), "type": "Identifier", "notation": i.value, "schemeName": i.scheme}
                   for i in body.identifiers]
            if ids:
                org["identifier"] = ids
            if body.quality_assurance:
                org["accreditation"] = [self.accreditation(body.quality_assurance, body.country)]
            self.orgs[key] = org
        return self.orgs[key]["id"]

    def accreditation(self, qa: QualityAssurance, country: str) -> dict[str, Any]:
        agent = {"id": self.nid("org"), "type": "Organisation", "legalName": dict(qa.accrediting_body),
                 "location": {"id": self.nid("location"), "type": "Location",
                              "address": {"id": self.nid("address"), "type": "Address",
                                          "countryCode": _country(country)}}}
        acc: dict[str, Any] = {"id": self.nid("accreditation"), "type": "Accreditation",
                               "dcType": concept("accreditation", qa.type),
                               "title": {"en": vocab.lookup("accreditation", qa.type).label()},
                               "accreditingAgent": agent}
        if qa.decision_url:
            acc["homepage"] = {"id": qa.decision_url, "type": "WebResource", "contentURL": qa.decision_url}
        if qa.decision_reference:
            acc["additionalNote"] = [_note(self.nid("note"), {"en": f"Decision {qa.decision_reference}"})]
        return acc

    def credits(self, units: list[Unit], spec: dict[str, Any]) -> None:
        totals = credit_totals(u.workload for u in units)
        hours = hours_total(u.workload for u in units)
        points, notes = [], []
        for system, value in totals.items():
            text = f"{value.normalize():f}"
            if cp_uri := CREDIT_FRAMEWORK_URI.get(system):  # a StrEnum key matches its str
                points.append({"id": self.nid("creditPoint"), "type": "CreditPoint",
                               "framework": concept("credit-points", cp_uri), "point": text})
            elif system in KNOWN_CREDIT_SYSTEMS:
                notes.append(_note(self.nid("note"), {"en": f"{text} {system} credits"}))
            else:  # a national system named in the mapping
                notes.append(_note(self.nid("note"), {"en": f"{system}: {text}"}))
        if points:
            spec["creditPoint"] = points
        if notes:
            spec.setdefault("additionalNote", []).extend(notes)
        if hours:
            spec["volumeOfLearning"] = f"PT{hours.normalize():f}H"

    def qualification(self, qid: str, title: dict[str, str], units: list[Unit], *, eqf: str | None,
                      isced: list[str], partial: bool, template: Template | None = None,
                      unit: Unit | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"id": qid, "type": "Qualification", "title": dict(title),
                                "isPartialQualification": partial}
        if eqf:
            spec["eqfLevel"] = concept("eqf", eqf)
        if isced:
            spec["thematicArea"] = [concept("isced-f", i) for i in dict.fromkeys(isced)]
        outcomes = [lo for u in units for lo in u.learning_outcomes]
        if outcomes:
            spec["learningOutcome"] = []
            for lo in outcomes:
                node: dict[str, Any] = {"id": self.nid("learningOutcome"), "type": "LearningOutcome",
                                        "title": dict(lo.statement)}
                if lo.esco_skill:
                    node["relatedESCOSkill"] = [{"id": lo.esco_skill, "type": "Concept", "inScheme": {
                        "id": "http://data.europa.eu/esco/concept-scheme/skills", "type": "ConceptScheme"}}]
                spec["learningOutcome"].append(node)
        self.credits(units, spec)
        modes = {u.mode for u in units if u.mode}
        if len(modes) == 1:
            spec["mode"] = [concept("mode", modes.pop())]
        settings = {u.learning_setting for u in units if u.learning_setting}
        if len(settings) == 1:
            spec["learningSetting"] = concept("learning-setting", settings.pop())
        prereq = unit.prerequisites if unit else None
        if prereq:
            spec["entryRequirement"] = _note(self.nid("note"), prereq)
        if template is not None:
            spec["dcType"] = concept("learning-opportunity", template.learning_opportunity_type)
            if template.description:
                spec["description"] = dict(template.description)
            langs = [lang for lang in (_language(code) for code in template.languages) if lang]
            if langs:
                spec["language"] = langs
            if template.further_information:
                spec.setdefault("additionalNote", []).append(_note(self.nid("note"), template.further_information))
            qa = template.quality_assurance or self.ms.awarding_body(template).quality_assurance
            if qa:
                spec["accreditation"] = [self.accreditation(qa, self.ms.template_country(template))]
        elif unit is not None and unit.description:
            spec["description"] = dict(unit.description)
        return spec


def catalogue(ms: MappingSet, base: str = "urn:credbridge") -> dict[str, Any]:
    """ELM v3 JSON-LD of every template and unit of ``ms``; ``base`` prefixes the node ids."""
    b = _Builder(ms, f"{base}:{ms.school.code}")
    units = {u.code: u for u in ms.units}
    graph: list[dict[str, Any]] = []
    unit_ids = {u.code: f"{b.base}:unit:{u.code}" for u in ms.units}
    tpl_ids = {t.code: f"{b.base}:template:{t.code}:v{t.version}" for t in ms.templates}
    for u in ms.units:
        graph.append(b.qualification(unit_ids[u.code], u.title, [u], eqf=u.eqf_level,
                                     isced=[u.isced_f] if u.isced_f else [], partial=True, unit=u))
    for t in ms.templates:
        codes = ms.template_unit_codes(t.code)
        tunits = [units[c] for c in codes if c in units]
        levels = [u.eqf_level for u in tunits if u.eqf_level]
        eqf = t.eqf_level or (max(levels, key=lambda uri: int(uri.rsplit("/", 1)[-1])) if levels else None)
        isced = [x for x in [t.isced_f, *(u.isced_f for u in tunits)] if x]
        spec = b.qualification(tpl_ids[t.code], t.title, tunits, eqf=eqf, isced=isced, partial=bool(t.part_of),
                               template=t)
        spec["hasPart"] = [unit_ids[c] for c in t.units if c in unit_ids] + [
            tpl_ids[c.code] for c in ms.children(t.code)]
        if t.part_of:
            spec["isPartOf"] = [tpl_ids[p] for p in t.part_of if p in tpl_ids]
        graph.append(spec)
        org = b.organisation(ms.awarding_body(t))
        opportunity: dict[str, Any] = {
            "id": f"{b.base}:opportunity:{t.code}:v{t.version}", "type": "LearningOpportunity",
            "title": dict(t.title), "learningAchievementSpecification": tpl_ids[t.code],
            "providedBy": org, "dcType": concept("learning-opportunity", t.learning_opportunity_type),
        }
        lang = _language(t.languages[0]) if t.languages else None
        if lang:
            opportunity["defaultLanguage"] = lang
        graph.append(opportunity)
    return {"@context": [ELM_CONTEXT, ID_TYPE_ALIASES], "@graph": list(b.orgs.values()) + graph}
