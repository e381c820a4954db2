"""Open Badges 3.0 ``AchievementCredential`` for an EU micro-credential (docs/credential-formats.md §A).

Annex I elements OB 3.0 has no property for are carried as ``Alignment`` objects with ``ext:`` target
types, which keeps the document inside the OB 3.0 context (no custom context to host or trust).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from credbridge.connector.issuing.formats.content import CredentialContent, Issuer, iso_z
from credbridge.connector.issuing.formats.frameworks import primary_credit
from credbridge.connector.issuing.formats.jsonld_offline import OB_EXTENSIONS, OB_V3, VC_V2
from credbridge.connector.issuing.formats.status_list import status_entry

OB3_SCHEMA_ID = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json-ld/ob_v3p0_achievementcredential_schema.json"
)
OB3_SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
EQF_FRAMEWORK = "European Qualifications Framework"
# Namespace for pseudonymous learner ids (uuid5 of issuer DID + Moodle user id).
SUBJECT_NAMESPACE = uuid.UUID("6b0a3c59-5d3c-4b8e-9d7e-3b8f0f6f2f11")


def achievement_id(content: CredentialContent) -> str:
    return content.achievement_url or (
        f"urn:credbridge:achievement:{content.template_code}:{content.template_version}"
    )


def subject_id(content: CredentialContent) -> str:
    learner = content.learner
    if learner.subject_id:
        return learner.subject_id
    return "urn:uuid:" + str(uuid.uuid5(SUBJECT_NAMESPACE, f"{content.issuer.did}|{learner.moodle_id}"))


def hashed_email(email: str, salt: str) -> str:
    """OB 3.0 ``identityHash``: ``sha256$`` + hex SHA-256 of the identity followed by the salt."""
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode("utf-8")).hexdigest()


def issuer_profile(content: CredentialContent, issuer: Issuer | None = None) -> dict[str, Any]:
    """The OB 3.0 Profile of the issuer (the school, under its DID), or of another organisation."""
    issuer = issuer or content.issuer
    profile: dict[str, Any] = {
        "id": issuer.did,
        "type": ["Profile"],
        "name": content.text(issuer.legal_name),
        "url": issuer.homepage,
        "address": {"type": ["Address"], "addressCountryCode": issuer.country},
    }
    if issuer.email:
        profile["email"] = issuer.email
    if issuer.identifiers:
        profile["otherIdentifier"] = [
            {"type": "IdentifierEntry", "identifier": ident.value, "identifierType": _ext(ident.scheme)}
            for ident in issuer.identifiers
        ]
    return profile


def _ext(name: str) -> str:
    return "ext:" + "".join(ch for ch in name if ch.isalnum() or ch in "._")


def _alignment(target_type: str, name: str, url: str, **extra: str) -> dict[str, Any]:
    return {"type": ["Alignment"], "targetType": target_type, "targetName": name, "targetUrl": url, **extra}


def alignments(content: CredentialContent) -> list[dict[str, Any]]:
    c = content
    out = [_alignment("ext:EQFLevel", f"EQF level {c.eqf_level}", f"http://data.europa.eu/snb/eqf/{c.eqf_level}",
                      targetCode=str(c.eqf_level), targetFramework=EQF_FRAMEWORK)]
    if c.nqf_level:
        nqf = c.nqf_level
        # targetUrl is the Europass QDR concept when known, else credbridge's URN for the level
        # (the schema asks for a URI, and no national register publishes stable level URLs)
        out.append(_alignment("ext:NQFLevel", nqf.label, nqf.uri, targetCode=nqf.level,
                              targetFramework=nqf.framework))
    primary = primary_credit(c.credit_points)
    for credit in c.credit_points:
        extra = {"targetDescription": "creditsAvailable counts these credits"} if credit is primary else {}
        out.append(_alignment("ext:CreditPoints", f"{_number(credit.points)} {credit.framework.label}",
                              credit.framework.uri, targetCode=_number(credit.points),
                              targetFramework=credit.framework.label, **extra))
    out.append(_alignment("ext:ISCEDF", c.isced_f.label, c.isced_f.uri,
                          targetCode=c.isced_f.uri.rsplit("/", 1)[-1], targetFramework="ISCED-F 2013"))
    for assessment in c.assessment_types:
        out.append(_alignment("ext:AssessmentType", assessment.label, assessment.uri,
                              targetDescription=assessment.provenance))
    out.append(_alignment("ext:ModeOfLearning", c.mode.label, c.mode.uri))
    for qa in c.all_quality_assurance:
        # targetUrl is required: the decision where the mapping names one, else the QA type's own concept
        extra = {"targetDescription": f"Decision {qa.decision_reference}"} if qa.decision_reference else {}
        out.append(_alignment("ext:QualityAssurance", f"{qa.type.label}: {qa.accrediting_body}",
                              qa.decision_url or qa.type.uri, targetCode=qa.type.uri, targetFramework=qa.type.label,
                              **extra))
    if c.supervision:
        out.append(_alignment("ext:SupervisionVerification", c.supervision.label, c.supervision.uri))
    for outcome in _all_outcomes(c):
        if outcome.esco_uri:
            out.append(_alignment("ceasn:Competency", outcome.esco_label or c.text(outcome.text),
                                  outcome.esco_uri, targetFramework="ESCO"))
    for parent in c.stackability.parents:
        out.append(_alignment("ceterms:Credential", c.text(parent.parent_title or {"en": parent.parent_code or ""}),
                              parent.parent_id, targetCode=parent.parent_code or ""))
    return out


def _all_outcomes(c: CredentialContent) -> list[Any]:
    seen: set[str | None] = set()
    result = []
    for outcome in [*c.learning_outcomes, *(o for u in c.units for o in u.outcomes)]:
        if outcome.esco_uri not in seen:
            seen.add(outcome.esco_uri)
            result.append(outcome)
    return result


def _number(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def criteria_narrative(c: CredentialContent) -> str:
    lines = ["Learning outcomes:", ""]
    lines += [f"- {c.text(o.text)}" for o in c.learning_outcomes]
    if c.units:
        lines += ["", "Units:", ""]
        lines += [f"- {u.code}: {c.text(u.title)}" for u in c.units]
    lines += ["", "Assessment:", ""]
    lines += [f"- {a.label}: {a.provenance}" for a in c.assessment_types]
    if c.prerequisites:
        lines += ["", f"Prerequisites: {c.text(c.prerequisites)}"]
    lines += ["", f"Notional workload: {_number(c.hours)} hours."]
    if c.stackability.stand_alone:
        lines += ["", "Stand-alone micro-credential."]
    else:
        names = [f"{c.text(p.parent_title) if p.parent_title else p.parent_code} ({p.parent_code})"
                 for p in c.stackability.parents]
        lines += ["", f"Part of: {'; '.join(names)}."]
    if c.further_information:
        lines += ["", f"Further information: {c.text(c.further_information)}"]
    return "\n".join(lines)


def build_ob3(content: CredentialContent) -> dict[str, Any]:
    """The unsigned OB 3.0 AchievementCredential (a JSON-compatible dict)."""
    c = content
    ach_id = achievement_id(c)
    achievement: dict[str, Any] = {
        "id": ach_id,
        "type": ["Achievement"],
        "achievementType": "MicroCredential",
        "name": c.text(c.title),
        "description": c.text(c.description),
        "criteria": {"narrative": criteria_narrative(c)},
        "alignment": alignments(c),
        "fieldOfStudy": c.isced_f.label,
        "humanCode": c.template_code,
        "version": c.template_version,
        "inLanguage": c.languages[0],
    }
    if c.image:
        achievement["image"] = {"id": c.image.data_uri, "type": "Image", "caption": c.image.caption or c.text(c.title)}
    if c.awarding_body:
        # the partner the school issues for made the achievement; the school stays the issuer
        achievement["creator"] = issuer_profile(c, c.awarding_body)
    primary = primary_credit(c.credit_points)
    if primary:
        achievement["creditsAvailable"] = float(primary.points)
    if c.further_info_url:
        achievement["criteria"]["id"] = c.further_info_url
    if not c.stackability.stand_alone:
        achievement["related"] = [{"id": p.parent_id, "type": ["Related"], "inLanguage": c.languages[0]}
                                  for p in c.stackability.parents]
    subject: dict[str, Any] = {
        "id": subject_id(c),
        "type": ["AchievementSubject"],
        "identifier": [{
            "type": "IdentityObject",
            "identityType": "emailAddress",
            "hashed": True,
            "identityHash": hashed_email(c.learner.email, c.identity_salt),
            "salt": c.identity_salt,
        }],
        "achievement": achievement,
    }
    if primary:
        subject["creditsEarned"] = float(primary.points)
    if c.grade:
        rd_id = f"{ach_id}#grade"
        achievement["resultDescription"] = [{
            "id": rd_id, "type": ["ResultDescription"], "name": c.grade.scheme_label,
            "resultType": c.grade.result_type,
        }]
        subject["result"] = [{"type": ["Result"], "resultDescription": rd_id, "value": c.grade.value}]
    credential: dict[str, Any] = {
        # the extensions context defines the credentialSchema type (as in 1EdTech's own samples):
        # without it the type is a relative IRI that safe-mode JSON-LD processors reject
        "@context": [VC_V2, OB_V3, OB_EXTENSIONS],
        "id": c.credential_id,
        "type": ["VerifiableCredential", "AchievementCredential"],
        "issuer": issuer_profile(c),
        "validFrom": iso_z(c.issued_at),
        "name": c.text(c.title),
        "description": c.text(c.description),
        "credentialSubject": subject,
        "awardedDate": iso_z(c.issued_at),
        "credentialStatus": status_entry(c.status.list_url, c.status.index),
        "credentialSchema": [{"id": OB3_SCHEMA_ID, "type": OB3_SCHEMA_TYPE}],
    }
    if c.valid_until:
        credential["validUntil"] = iso_z(c.valid_until)
    return credential
