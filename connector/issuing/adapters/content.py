"""Award snapshot + school + learner -> :class:`CredentialContent` (what the document builders take)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.frameworks import (
    credit_points_from_snapshot,
    nqf_level_from_snapshot,
    primary_credit,
)
from credbridge.connector.issuing.formats.images import MEDIA_TYPES, Branding, Image, badge_svg, image_from_data_uri
from credbridge.connector.issuing.formats.supervision import supervision_from_snapshot
from credbridge.mappings import vocab

_HOURS_PER_CREDIT = Decimal(25)  # ECTS users' guide: 25-30 hours per credit; the lower bound is used
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_CREDENTIAL_NS = uuid.UUID("0b6f1a52-3c1e-5a8e-8f55-4c0c3f7d9a21")


class SnapshotError(ValueError):
    """The award snapshot lacks something the credential needs; names the field."""


def credential_uuid(idempotency_key: str, fmt: str, award_secret: str) -> str:
    """Deterministic per (award target key, format), so a retried issuance makes the same document id.

    The award's random secret (its snapshot's ``identity_salt``) is mixed in because the id is public
    (verification URLs): from the idempotency key alone — school, learner number, template — anyone
    could enumerate every learner's credentials.
    """
    if not award_secret:
        raise ValueError("an award snapshot without identity_salt cannot name its credentials")
    return str(uuid.uuid5(_CREDENTIAL_NS, f"{idempotency_key}:{fmt}:{award_secret}"))


def _concept(name: str, uri: str | None) -> fc.Concept | None:
    if not uri:
        return None
    try:
        found = vocab.lookup(name, uri)
        return fc.Concept(found.uri, found.label("en"))
    except ValueError:
        return fc.Concept(uri, uri.rsplit("/", 1)[-1])


def add_duration(start: datetime, duration: str) -> datetime:
    match = _DURATION.match(duration)
    if not match:
        raise SnapshotError(f"validity {duration!r} is not a P…Y…M…W…D duration")
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    month_index = start.month - 1 + months + 12 * years
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, 28) if month == 2 else min(start.day, 30 if month in (4, 6, 9, 11) else 31)
    return start.replace(year=year, month=month, day=day) + timedelta(weeks=weeks, days=days)


def _langmap(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise SnapshotError(f"award snapshot: {field} is missing")
    return {str(k): str(v) for k, v in value.items()}


def _reasons(derived: dict[str, Any], value: str) -> str:
    """Why the award has this value: the reasons of the evidence behind it, each once (snapshots from
    before provenance named its values give every reason to every value)."""
    provenance = derived.get("provenance") or []
    mine = [p["reason"] for p in provenance if value in (p.get("values") or [value])]
    return "; ".join(dict.fromkeys(mine)) or "declared in the mapping"


def _quality_assurance(qa: dict[str, Any]) -> fc.QualityAssurance:
    qa_type = _concept("accreditation", qa.get("type"))
    if qa_type is None:
        raise SnapshotError("award snapshot: a quality_assurance entry has no type")
    accrediting = qa.get("accrediting_body") or {}
    return fc.QualityAssurance(qa_type, next(iter(accrediting.values()), ""), qa.get("decision_url") or None,
                               qa.get("decision_reference") or None)


def _joined(entries: list[dict[str, str]]) -> dict[str, str] | None:
    """Several units' prerequisites as one text per language (each unit's, in that language where it
    has one, else in English or its first)."""
    entries = [e for e in entries if e]
    if not entries:
        return None
    languages = list(dict.fromkeys(lang for e in entries for lang in e))
    return {lang: "; ".join(dict.fromkeys(e.get(lang) or e.get("en") or next(iter(e.values())) for e in entries))
            for lang in languages}


def _organisation(data: dict[str, Any], field: str, *, did: str, homepage: str) -> fc.Issuer:
    return fc.Issuer(legal_name=_langmap(data.get("legal_name"), f"{field}.legal_name"),
                     country=str(data.get("country") or ""), homepage=str(data.get("homepage") or homepage),
                     did=did, identifiers=tuple(fc.OrgIdentifier(i["scheme"], i["value"])
                                                for i in data.get("identifiers", [])))


def _organisation_urn(data: dict[str, Any]) -> str:
    """A stable id for an organisation that has no DID here: from its first registry identifier,
    else from its name (the same organisation gets the same id in every credential)."""
    idents = data.get("identifiers") or []
    if idents:
        key = f"{idents[0]['scheme']}:{idents[0]['value']}"
    else:
        key = next(iter((data.get("legal_name") or {"": ""}).values()))
    return f"urn:credbridge:organisation:{data.get('country', '')}:{uuid.uuid5(_CREDENTIAL_NS, key)}"


def _languages(snapshot: dict[str, Any]) -> tuple[str, ...]:
    return tuple(snapshot.get("languages") or ("en",))


def issuer_name(snapshot: dict[str, Any]) -> str:
    """The issuing school's name as the credential states it (OB 3.0 ``issuer.name``): in the
    credential's primary language. Every page showing the credential names the issuer with this."""
    school = snapshot.get("issuing_school") or snapshot.get("awarding_body") or {}
    return fc.primary_text(_langmap(school.get("legal_name"), "issuing_school.legal_name"), _languages(snapshot))


def awarding_body_name(snapshot: dict[str, Any]) -> str:
    """The awarding body's name as the credential states it (the issuer, or the partner it issues for)."""
    body = snapshot.get("awarding_body") or snapshot.get("issuing_school") or {}
    return fc.primary_text(_langmap(body.get("legal_name"), "awarding_body.legal_name"), _languages(snapshot))


_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def branding_of(school: Any) -> Branding:
    """The school's brand colour and logo (set in the admin console) for the badges credbridge draws."""
    colour = getattr(school, "brand_colour", None)
    logo, logo_type = getattr(school, "logo", None), getattr(school, "logo_type", None)
    return Branding(colour if isinstance(colour, str) and _COLOUR.fullmatch(colour) else None,
                    Image(logo_type, bytes(logo)) if logo and logo_type in MEDIA_TYPES else None)


def credential_image(snapshot: dict[str, Any], branding: Branding | None = None) -> Image:
    """The template's image from the mapping file, else a badge drawn from the title, the EQF level and
    the school's brand colour and logo (without them, in the default colour)."""
    title = fc.primary_text(_langmap(snapshot.get("title"), "title"), _languages(snapshot))
    if snapshot.get("image"):
        try:
            return image_from_data_uri(snapshot["image"], caption=title)
        except ContentError as error:
            raise SnapshotError(f"award snapshot: {error}") from error
    branding = branding or Branding()
    eqf = str(snapshot.get("eqf_level") or "").rsplit("/", 1)[-1]
    return badge_svg(title, int(eqf) if eqf.isdigit() else 0, issuer_name(snapshot), branding.colour, branding.logo)


def build_content(*, snapshot: dict[str, Any], credential_id: str, issuer_did: str, school_homepage: str,
                  learner: fc.Learner, issued_at: datetime, status: fc.StatusEntry,
                  achievement_url: str | None = None, branding: Branding | None = None) -> CredentialContent:
    s = snapshot
    title = _langmap(s.get("title"), "title")
    body = s.get("awarding_body") or {}
    # snapshots from before the issuing school was recorded name only the awarding body
    school = s.get("issuing_school") or body
    issuer = _organisation(school, "issuing_school", did=issuer_did, homepage=school_homepage)
    awarding_body = None
    if body and body != school:
        awarding_body = _organisation(body, "awarding_body", did=_organisation_urn(body), homepage=issuer.homepage)
    credits = credit_points_from_snapshot(s.get("credits"))
    # several systems (e.g. CSVET and ECVET) measure the same work, so hours come from one of them, not their sum
    primary = primary_credit(credits)
    hours = Decimal(s["hours"]) if s.get("hours") else (primary.points * _HOURS_PER_CREDIT if primary else Decimal(0))
    eqf_uri = s.get("eqf_level")
    if not eqf_uri:
        raise SnapshotError("award snapshot: eqf_level is missing")
    isced = _concept("isced-f", (s.get("isced_f") or [None])[0])
    if isced is None:
        raise SnapshotError("award snapshot: isced_f is missing")
    assessment = s.get("assessment_types") or {}
    assessment_types = tuple(
        fc.AssessmentType(c.uri, c.label, _reasons(assessment, uri))
        for uri, c in ((uri, _concept("assessment", uri)) for uri in assessment.get("value") or []) if c is not None
    )
    mode = _concept("mode", (s.get("mode") or {}).get("value"))
    if mode is None:
        raise SnapshotError("award snapshot: mode (form of participation) is missing")
    qa_list = s.get("quality_assurance") or []
    if not qa_list:
        raise SnapshotError("award snapshot: quality_assurance is missing")
    quality, *more_quality = (_quality_assurance(qa) for qa in qa_list)
    supervision = supervision_from_snapshot((s.get("supervision") or {}).get("value"))
    grades = list((s.get("grades") or {}).values())
    grade = None
    # a unit's grade is the credential's only when the credential is that one unit: beside ungraded
    # units it would stand for work it did not grade (per-unit grades stay on the verification page)
    if len(grades) == 1 and len(s.get("units") or []) <= 1:
        g = grades[0]
        label = g.get("label") or {}
        scheme = next(iter(g["scheme_title"].values()))
        if label:
            lang = next((x for x in [*(s.get("languages") or ()), "en"] if label.get(x)), next(iter(label)))
            grade = fc.Grade(value=label[lang], scheme_label=scheme, result_type="LetterGrade", lang=lang)
        else:
            grade = fc.Grade(value=f"{Decimal(g['percent']).normalize():f}", scheme_label=scheme,
                             result_type="Percent")
    parents = s.get("part_of") or []
    stacked = [fc.Stackability(p["code"], p["title"], parent_version=str(p["version"]) if p.get("version") else None)
               for p in parents]
    stack = replace(stacked[0], more=tuple(stacked[1:])) if stacked else fc.Stackability()
    prerequisites = _joined(s.get("prerequisites") or [])
    valid_until = add_duration(issued_at, s["validity"]) if s.get("validity") else None
    return CredentialContent(
        credential_id=f"urn:uuid:{credential_id}",
        template_code=s["template"]["code"], template_version=str(s["template"]["version"]),
        title=title, description=s.get("description") or title,
        learner=learner, issuer=issuer, issued_at=issued_at,
        learning_outcomes=tuple(fc.LearningOutcome(lo["statement"], lo.get("esco_skill"))
                                for lo in s.get("learning_outcomes") or []),
        credit_points=credits, hours=hours, eqf_level=int(str(eqf_uri).rsplit("/", 1)[-1]),
        isced_f=isced, assessment_types=assessment_types, mode=mode, quality_assurance=quality,
        languages=tuple(s.get("languages") or ("en",)), status=status, valid_until=valid_until,
        nqf_level=nqf_level_from_snapshot(s.get("nqf")),
        supervision=supervision, prerequisites=prerequisites, grade=grade, stackability=stack,
        units=tuple(fc.Unit(u["code"], u["title"], tuple(fc.LearningOutcome(o["statement"], o.get("esco_skill"))
                                                        for o in u.get("outcomes", [])))
                    for u in s.get("units") or []),
        further_info_url=None, identity_salt=s.get("identity_salt") or "", achievement_url=achievement_url,
        awarding_body=awarding_body,
        further_information=dict(s["further_information"]) if s.get("further_information") else None,
        more_quality_assurance=tuple(more_quality),
        image=credential_image(s, branding),
    )
