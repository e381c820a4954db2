"""ELM v3 ``EuropeanDigitalCredential`` (EDC application profile) — docs/credential-formats.md §B.

Modelled on the EC's own micro-credential sample (``Sample-MC-Annex1-unsigned.jsonld``): profile
Generic, ``specifiedBy`` a ``Qualification`` typed "Short learning programme". Every object carries
a ``type``, every vocabulary value is a ``Concept`` with ``inScheme`` (the SHACL CV shapes check it).
The document stays unsigned: Europass expects a qualified eSeal (JAdES), which the school adds with
the EDC tools if it wants Europass wallet import.
"""

from __future__ import annotations

import base64
import struct
import zlib
from decimal import Decimal
from functools import cache
from typing import Any

from credbridge.connector.issuing.formats import eu_authority
from credbridge.connector.issuing.formats.content import (
    Concept,
    CredentialContent,
    Issuer,
    LangMap,
    LearningOutcome,
    QualityAssurance,
    iso_z,
)
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.frameworks import local_scheme
from credbridge.connector.issuing.formats.jsonld_offline import EDC_AP, VC_V1
from credbridge.connector.issuing.formats.ob3 import subject_id

EDC_SCHEMA = "http://data.europa.eu/snb/model/ap/edc-generic-full"
SNB = "http://data.europa.eu/snb"
GENERIC_PROFILE = Concept(f"{SNB}/credential/e34929035b", "Generic")
SHORT_LEARNING_PROGRAMME = Concept(f"{SNB}/learning-opportunity/74a4a268e8", "Short learning programme")
BASE64_ENCODING = Concept(f"{SNB}/encoding/6146cde7dd", "base64")
PNG = Concept("http://publications.europa.eu/resource/authority/file-type/PNG", "PNG")
# the EU File type authority list, for the display image
FILE_TYPES = {
    "image/png": PNG,
    "image/jpeg": Concept("http://publications.europa.eu/resource/authority/file-type/JPEG", "JPEG"),
    "image/svg+xml": Concept("http://publications.europa.eu/resource/authority/file-type/SVG", "SVG"),
}
ESCO_SKILLS = "http://data.europa.eu/esco/concept-scheme/skills"

# The concept scheme of each Europass vocabulary, keyed by the URI path segment of its concepts.
SCHEMES = {
    "credential": f"{SNB}/credential/25831c2",
    "learning-opportunity": f"{SNB}/learning-opportunity/25831c2",
    "encoding": f"{SNB}/encoding/25831c2",
    "education-credit": f"{SNB}/education-credit/25831c2",
    "eqf": f"{SNB}/eqf/25831c2",
    "qdr": f"{SNB}/qdr/25831c2",
    "isced-f": f"{SNB}/isced-f/25831c2",
    "assessment": f"{SNB}/assessment/25831c2",
    "learning-assessment": f"{SNB}/learning-assessment/25831c2",
    "accreditation": f"{SNB}/accreditation/25831c2",
    "supervision-verification": f"{SNB}/supervision-verification/25831c2",
    "learning-setting": f"{SNB}/learning-setting/25831c2",
}


def scheme_of(uri: str) -> str:
    local = local_scheme(uri)
    if local:
        return local
    if uri.startswith("http://data.europa.eu/esco/skill/"):
        return ESCO_SKILLS
    if uri.startswith("http://publications.europa.eu/resource/authority/"):
        return uri.rsplit("/", 1)[0]
    prefix = f"{SNB}/"
    if uri.startswith(prefix):
        segment = uri[len(prefix):].split("/", 1)[0]
        if segment in SCHEMES:
            return SCHEMES[segment]
    raise ContentError(f"concept {uri!r} is not from a vocabulary credbridge knows the scheme of")


def concept(uri: str, label: str, lang: str = "en", notation: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": uri,
        "type": "Concept",
        "inScheme": {"id": scheme_of(uri), "type": "ConceptScheme"},
        "prefLabel": {lang: label},
    }
    if notation:
        out["notation"] = notation
    return out


def _c(value: Concept) -> dict[str, Any]:
    return concept(value.uri, value.label)


def _country(alpha2: str) -> dict[str, Any]:
    uri, name = eu_authority.country(alpha2)
    return concept(uri, name, notation="country")


def _language(iso639_1: str) -> dict[str, Any]:
    uri, name = eu_authority.language(iso639_1)
    return concept(uri, name, notation="language")


def duration(hours: Decimal) -> str:
    """xsd:duration of a number of hours; fractions go to minutes/seconds (only seconds may be decimal)."""
    seconds = int((hours * 3600).to_integral_value())
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s or not (h or m) else "")


@cache
def placeholder_png(width: int = 210, height: int = 297) -> bytes:
    """A blank white page image for ``displayParameter`` (Europass renders its own layout from the data).

    Written by hand (PNG is a few chunks) so the runtime needs no imaging library.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * width  # filter byte + one grey byte per pixel
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


class _Ids:
    """Local node ids, unique per credential so graphs of different credentials never merge."""

    def __init__(self, credential_id: str) -> None:
        self._base = credential_id.rsplit(":", 1)[-1]
        self._counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"urn:epass:{kind}:{self._base}:{self._counts[kind]}"


def _note(ids: _Ids, text: LangMap) -> dict[str, Any]:
    return {"id": ids("note"), "type": "Note", "noteLiteral": dict(text)}


def _organisation(c: CredentialContent, ids: _Ids, issuer: Issuer | None = None) -> dict[str, Any]:
    issuer = issuer or c.issuer
    country = _country(issuer.country)
    address: dict[str, Any] = {"id": ids("address"), "type": "Address", "countryCode": country}
    if issuer.address:
        address["fullAddress"] = _note(ids, {c.languages[0]: issuer.address})
    org: dict[str, Any] = {
        "id": issuer.did,
        "type": "Organisation",
        "legalName": dict(issuer.legal_name),
        "location": {"id": ids("location"), "type": "Location", "address": address},
        "homepage": {"id": ids("webResource"), "type": "WebResource", "contentURL": issuer.homepage},
    }
    legal_ids = [
        {"id": ids("legalIdentifier"), "type": "LegalIdentifier", "notation": ident.value,
         "spatial": country, "schemeName": ident.scheme}
        for ident in issuer.identifiers
    ]
    if legal_ids:
        # EDC takes the eIDAS identifier from the eSeal; our first registry identifier plays that role.
        org["eIDASIdentifier"] = legal_ids[0]
        org["registration"] = legal_ids[0]
        vat = [li for li, ident in zip(legal_ids, issuer.identifiers, strict=True) if ident.scheme.upper() == "VAT"]
        if vat:
            org["vatIdentifier"] = vat
    if issuer.email:
        org["contactPoint"] = {"id": ids("contactPoint"), "type": "ContactPoint",
                               "emailAddress": {"id": f"mailto:{issuer.email}", "type": "Mailbox"}}
    return org


def _awarding(c: CredentialContent, org: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    return {"id": ids("awardingProcess"), "type": "AwardingProcess", "awardingBody": org,
            "awardingDate": iso_z(c.issued_at)}


def _outcome(c: CredentialContent, outcome: LearningOutcome, ids: _Ids) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ids("learningOutcome"), "type": "LearningOutcome", "title": dict(outcome.text)}
    if outcome.esco_uri:
        out["relatedESCOSkill"] = [concept(outcome.esco_uri, outcome.esco_label or c.text(outcome.text),
                                           notation="Skill")]
    return out


def _accreditation(c: CredentialContent, qa: QualityAssurance, org: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    # the agency is taken to be of the awarding body's country (it accredits that body or programme)
    country = (c.awarding_body or c.issuer).country
    accreditation = {
        "id": ids("accreditation"),
        "type": "Accreditation",
        "dcType": _c(qa.type),
        "title": {"en": qa.type.label},
        "accreditingAgent": {
            "id": ids("org"), "type": "Organisation", "legalName": {c.languages[0]: qa.accrediting_body},
            "location": {"id": ids("location"), "type": "Location",
                         "address": {"id": ids("address"), "type": "Address", "countryCode": _country(country)}},
        },
        "organisation": org,
    }
    if qa.decision_url:
        accreditation["landingPage"] = {"id": ids("webResource"), "type": "WebResource", "contentURL": qa.decision_url}
    if qa.decision_reference:
        accreditation["additionalNote"] = [_note(ids, {"en": f"Decision {qa.decision_reference}"})]
    return accreditation


def _qualification(c: CredentialContent, org: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": ids("qualification"),
        "type": "Qualification",
        "title": dict(c.title),
        "description": dict(c.description),
        "dcType": _c(SHORT_LEARNING_PROGRAMME),
        "learningOutcome": [_outcome(c, o, ids) for o in c.learning_outcomes],
        "volumeOfLearning": duration(c.hours),
        "eqfLevel": concept(f"{SNB}/eqf/{c.eqf_level}", f"Level {c.eqf_level}"),
        "thematicArea": [_c(c.isced_f)],
        "mode": [_c(c.mode)],
        "accreditation": [_accreditation(c, qa, org, ids) for qa in c.all_quality_assurance],
        "language": [_language(lang) for lang in c.languages],
        "isPartialQualification": not c.stackability.stand_alone,
        "identifier": [{"id": ids("identifier"), "type": "Identifier",
                               "notation": f"{c.template_code}@{c.template_version}",
                               "schemeName": "credbridge template"}],
    }
    if c.credit_points:
        # A national system (CSVET) has a credbridge framework concept: CreditPoint.framework only has
        # to be a skos:Concept, no shape ties it to the Europass education-credit list (frameworks.py).
        spec["creditPoint"] = [
            {"id": ids("creditPoint"), "type": "CreditPoint", "framework": _c(cp.framework),
             "point": format(cp.points.normalize(), "f")}
            for cp in c.credit_points
        ]
    if c.learning_setting:
        spec["learningSetting"] = _c(c.learning_setting)
    if c.nqf_level:
        nqf = c.nqf_level
        if nqf.qdr_uri:
            spec["nqfLevel"] = [concept(nqf.qdr_uri, nqf.label, notation=nqf.level)]
        else:
            # EDC-generic-full requires every nqfLevel to be in the Europass QDR scheme, and the EDC
            # rejects a credential whose QDR concept does not exist, so a level without a known QDR
            # concept cannot be an nqfLevel. It goes into a note about the qualification, with the
            # level as the note's subject (a credbridge concept carrying the level as notation).
            spec.setdefault("additionalNote", []).append({
                "id": ids("note"), "type": "Note",
                "noteLiteral": {"en": f"National qualifications framework: {nqf.framework}, level {nqf.level}"},
                "subject": concept(nqf.local_uri, nqf.label, notation=nqf.level),
            })
    if c.prerequisites:
        spec["entryRequirement"] = _note(ids, c.prerequisites)
    if c.further_information:
        spec.setdefault("additionalNote", []).append(_note(ids, c.further_information))
    if c.further_info_url:
        spec["homepage"] = [{"id": ids("webResource"), "type": "WebResource", "contentURL": c.further_info_url}]
    if not c.stackability.stand_alone:
        spec["isPartOf"] = [{
            "id": parent.parent_id,
            "type": "Qualification",
            "title": dict(parent.parent_title or {"en": parent.parent_code or ""}),
        } for parent in c.stackability.parents]
    return spec


def _assessments(c: CredentialContent, org: dict[str, Any], ids: _Ids) -> list[dict[str, Any]]:
    if c.grade is None:
        grade_text = {"en": "Passed"}
    elif c.grade.result_type == "Percent":
        grade_text = {"en": f"{c.grade.value} %"}
    else:
        grade_text = {c.grade.lang: c.grade.value}
    out = []
    for assessment in c.assessment_types:
        spec: dict[str, Any] = {
            "id": ids("learningAssessmentSpec"),
            "type": "LearningAssessmentSpecification",
            "title": {"en": assessment.label},
            "dcType": concept(assessment.uri, assessment.label),
            "description": {"en": assessment.provenance},
        }
        if c.grade:
            spec["gradingScheme"] = {"id": ids("gradingScheme"), "type": "GradingScheme",
                                     "title": {"en": c.grade.scheme_label}}
        item: dict[str, Any] = {
            "id": ids("learningAssessment"),
            "type": "LearningAssessment",
            "title": {"en": assessment.label},
            "grade": _note(ids, grade_text),
            "awardedBy": _awarding(c, org, ids),
            "specifiedBy": spec,
        }
        if c.supervision:
            item["idVerification"] = _c(c.supervision)
        out.append(item)
    return out


def _units(c: CredentialContent, org: dict[str, Any], ids: _Ids) -> list[dict[str, Any]]:
    return [{
        "id": ids("learningAchievement"),
        "type": "LearningAchievement",
        "title": dict(unit.title),
        "awardedBy": _awarding(c, org, ids),
        "specifiedBy": {
            "id": ids("learningAchievementSpec"),
            "type": "LearningAchievementSpecification",
            "title": dict(unit.title),
            "learningOutcome": [_outcome(c, o, ids) for o in unit.outcomes],
            "identifier": [{"id": ids("identifier"), "type": "Identifier", "notation": unit.code,
                            "schemeName": "unit code"}],
        },
    } for unit in c.units]


def _display(c: CredentialContent, ids: _Ids) -> dict[str, Any]:
    file_type = FILE_TYPES[c.image.media_type] if c.image else PNG
    image = {
        "id": ids("mediaObject"), "type": "MediaObject",
        "content": c.image.base64 if c.image else base64.b64encode(placeholder_png()).decode("ascii"),
        "contentEncoding": _c(BASE64_ENCODING),
        "contentType": concept(file_type.uri, file_type.label, notation="file-type"),
    }
    if c.image:
        image["title"] = {c.languages[0]: c.image.caption or c.text(c.title)}
    return {
        "id": ids("displayParameter"),
        "type": "DisplayParameter",
        "title": dict(c.title),
        "description": dict(c.description),
        "language": [_language(lang) for lang in c.languages],
        "primaryLanguage": _language(c.languages[0]),
        "individualDisplay": [{
            "id": ids("individualDisplay"), "type": "IndividualDisplay", "language": _language(lang),
            "displayDetail": [{"id": ids("displayDetail"), "type": "DisplayDetail", "page": 1, "image": image}],
        } for lang in c.languages],
    }


def build_elm(content: CredentialContent) -> dict[str, Any]:
    """The unsigned ELM v3 EuropeanDigitalCredential (JSON-LD dict)."""
    c = content
    if not c.issuer.identifiers:
        raise ContentError("issuer.identifiers is empty: ELM needs a registry identifier (e.g. OIB) as the "
                           "issuer's eIDAS legal identifier")
    ids = _Ids(c.credential_id)
    # the school signs and issues; a partner it issues for awards (its own Organisation, own id)
    issuer_org = _organisation(c, ids)
    org = _organisation(c, ids, c.awarding_body) if c.awarding_body else issuer_org
    learner = c.learner
    lang = c.languages[0]
    person: dict[str, Any] = {
        "id": subject_id(c),
        "type": "Person",
        "fullName": {lang: learner.full_name},
        "givenName": {lang: learner.given_name},
        "familyName": {lang: learner.family_name},
        "contactPoint": [{"id": ids("contactPoint"), "type": "ContactPoint",
                          "emailAddress": [{"id": f"mailto:{learner.email}", "type": "Mailbox"}]}],
    }
    if learner.idnumber:
        person["identifier"] = [{"id": ids("identifier"), "type": "Identifier", "notation": learner.idnumber,
                                 "schemeName": f"{c.text(c.issuer.legal_name)} learner number"}]
    claim: dict[str, Any] = {
        "id": ids("learningAchievement"),
        "type": "LearningAchievement",
        "title": dict(c.title),
        "description": dict(c.description),
        "awardedBy": _awarding(c, org, ids),
        "specifiedBy": _qualification(c, org, ids),
        "provenBy": _assessments(c, org, ids),
    }
    if c.units:
        claim["hasPart"] = _units(c, org, ids)
    person["hasClaim"] = [claim]
    credential: dict[str, Any] = {
        "@context": [VC_V1, EDC_AP],
        "id": c.credential_id,
        "type": ["VerifiableCredential", "EuropeanDigitalCredential"],
        "credentialProfiles": [_c(GENERIC_PROFILE)],
        "credentialSchema": [{"id": EDC_SCHEMA, "type": "ShaclValidator2017"}],
        "displayParameter": _display(c, ids),
        "issuer": issuer_org,
        "issuanceDate": iso_z(c.issued_at),
        "issued": iso_z(c.issued_at),
        "validFrom": iso_z(c.issued_at),
        "credentialSubject": person,
    }
    if c.valid_until:
        credential["expirationDate"] = iso_z(c.valid_until)
    return credential
