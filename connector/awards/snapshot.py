"""The award snapshot: everything the evaluation resolved for one earned template, frozen as JSON
when the award is decided, so that issuing later (or again, to another target) says exactly what
was decided — with the provenance of every derived Annex I value and the evidence ids behind it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from credbridge.mappings import EarnedTemplate, MappingSet
from credbridge.mappings.derive import Derived, SupervisionLevel

SNAPSHOT_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, SupervisionLevel):
        return {"key": value.key, "label": value.label, "uri": value.uri}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _derived(d: Derived) -> dict[str, Any]:
    return {
        "value": _plain(d.value),
        "source": d.source,
        "provenance": [{"evidence_ids": list(p.evidence_ids), "rule": p.rule, "reason": p.reason,
                        **({"values": list(p.values)} if p.values else {})}
                       for p in d.provenance],
    }


def build_snapshot(earned: EarnedTemplate, mapping_set: MappingSet) -> dict[str, Any]:
    annex = earned.annex
    template = mapping_set.template(earned.code)
    units = []
    for code in annex.units:
        unit = mapping_set.unit(code)
        units.append({"code": code, "title": dict(unit.title),
                      "outcomes": [_plain(lo) for lo in unit.learning_outcomes]})
    parents = []
    for code in annex.part_of:
        parent = next((t for t in mapping_set.templates if t.code == code), None)
        parents.append({"code": code, "title": dict(parent.title) if parent else {"en": code},
                        "version": parent.version if parent else None})
    return {
        "snapshot_version": SNAPSHOT_VERSION,
        "template": {"code": earned.code, "version": earned.version},
        "title": dict(annex.title),
        "description": dict(annex.description) if annex.description else None,
        "awarding_body": _plain(annex.awarding_body),
        # the school that signs: the issuer, which a partner awarding body is not
        "issuing_school": _plain(mapping_set.school.as_awarding_body()),
        "country": annex.country,
        "country_uri": annex.country_uri,
        "learning_outcomes": [_plain(lo) for lo in annex.learning_outcomes],
        "credits": {k: str(v) for k, v in annex.credits.items()},
        "hours": str(annex.hours) if annex.hours is not None else None,
        "eqf_level": annex.eqf_level,
        "nqf": _plain(annex.nqf) if annex.nqf else None,
        "isced_f": list(annex.isced_f),
        "assessment_types": _derived(annex.assessment_types),
        "mode": _derived(annex.mode),
        "supervision": _derived(annex.supervision),
        "quality_assurance": [_plain(q) for q in annex.quality_assurance],
        "prerequisites": [dict(p) for p in annex.prerequisites],
        "grades": {code: {"percent": str(g.percent), "label": dict(g.label) if g.label else None,
                          "scheme_title": dict(g.scheme_title),
                          "evidence_ids": list(g.provenance.evidence_ids)}
                   for code, g in annex.grades.items()},
        "part_of": parents,
        "has_parts": list(annex.has_parts),
        "validity": annex.validity,
        "credential_type": annex.credential_type,
        "learning_opportunity_type": annex.learning_opportunity_type,
        "languages": list(annex.languages),
        "outputs": list(annex.outputs),
        "issue_policy": annex.issue_policy,
        "further_information": dict(annex.further_information) if annex.further_information else None,
        # the credential's face: the template's image (else the issuer draws a badge in the school's brand)
        "image": template.image,
        "units": units,
        "achieved_at": earned.achieved_at.isoformat(),
        "evidence_ids": list(earned.evidence_ids),
        # salt of the hashed e-mail identity in the OB 3.0 document, kept so the hash can be re-checked
        "identity_salt": secrets.token_hex(16),
    }
