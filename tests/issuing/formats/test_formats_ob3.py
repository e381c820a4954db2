"""OB 3.0 AchievementCredential: 1EdTech JSON Schema validity and the Annex I mapping."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from credbridge.connector.issuing.formats import build_ob3
from credbridge.connector.issuing.formats.canonical_nquads import canonize
from credbridge.connector.issuing.formats.content import CredentialContent, Stackability
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.jsonld_offline import DATA
from credbridge.connector.issuing.formats.ob3_schema import schema_errors
from tests.issuing.formats.conftest import DID, LIST_URL, STANDARDS, make_content

VARIANTS = {
    "full": {},
    "stand-alone, no grade, no expiry, no NQF": {
        "stackability": Stackability(), "grade": None, "valid_until": None, "nqf_level": None,
        "supervision": None, "prerequisites": None, "units": (), "further_info_url": None,
    },
    "no credit points": {"credit_points": ()},
}


def _errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_variant_validates_against_the_1edtech_schema(ob3_validator: Any, overrides: dict) -> None:
    credential = build_ob3(make_content(**overrides))
    assert _errors(ob3_validator, credential) == []
    canonize(credential)  # every property is defined by the OB 3.0 / VC 2.0 contexts


def test_schema_catches_a_broken_credential(ob3_validator: Any, content: CredentialContent) -> None:
    credential = build_ob3(content)
    del credential["credentialSubject"]["achievement"]["criteria"]
    credential["@context"] = list(reversed(credential["@context"]))
    assert len(_errors(ob3_validator, credential)) >= 2


def test_structure_follows_credential_formats_doc(content: CredentialContent) -> None:
    vc = build_ob3(content)
    assert vc["@context"] == ["https://www.w3.org/ns/credentials/v2",
                              "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                              "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"]
    assert vc["type"] == ["VerifiableCredential", "AchievementCredential"]
    assert vc["id"] == content.credential_id
    assert vc["issuer"]["id"] == DID
    assert vc["issuer"]["name"] == "Tehnička škola Ruđera Boškovića"  # primary language first
    assert vc["issuer"]["address"]["addressCountryCode"] == "HR"
    assert {"type": "IdentifierEntry", "identifier": "12345678903", "identifierType": "ext:OIB"} in (
        vc["issuer"]["otherIdentifier"])
    assert vc["validFrom"] == "2026-06-30T10:00:00Z"
    assert vc["validUntil"] == "2031-06-30T10:00:00Z"
    achievement = vc["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "MicroCredential"
    assert achievement["creditsAvailable"] == 5.5
    assert vc["credentialSubject"]["creditsEarned"] == 5.5
    assert achievement["inLanguage"] == "hr"
    narrative = achievement["criteria"]["narrative"]
    assert "- Izraditi pristupačnu web stranicu" in narrative
    assert "Prerequisites: Osnove rada na računalu." in narrative
    assert achievement["related"] == [{"id": "https://credbridge.test/templates/WEB-DEV", "type": ["Related"],
                                       "inLanguage": "hr"}]
    assert vc["credentialStatus"] == {
        "id": f"{LIST_URL}#7", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
        "statusListIndex": "7", "statusListCredential": LIST_URL,
    }
    assert vc["credentialSchema"][0]["type"] == "1EdTechJsonSchemaValidator2019"


def test_alignments_carry_every_annex_element(content: CredentialContent) -> None:
    alignments = build_ob3(content)["credentialSubject"]["achievement"]["alignment"]
    by_type = {}
    for a in alignments:
        by_type.setdefault(a["targetType"], []).append(a)
    assert by_type["ext:EQFLevel"][0]["targetUrl"] == "http://data.europa.eu/snb/eqf/4"
    assert by_type["ext:EQFLevel"][0]["targetCode"] == "4"
    assert by_type["ext:CreditPoints"][0]["targetUrl"] == "http://data.europa.eu/snb/education-credit/6fcec5c5af"
    assert by_type["ext:ISCEDF"][0]["targetCode"] == "0613"
    assert by_type["ext:AssessmentType"][0]["targetDescription"].startswith("Moodle assignment")
    assert by_type["ext:ModeOfLearning"][0]["targetUrl"].endswith("/learning-assessment/e92d221e4d")
    assert by_type["ext:QualityAssurance"][0]["targetUrl"] == "https://asoo.example.hr/decisions/2026-17"
    assert by_type["ext:SupervisionVerification"][0]["targetUrl"].endswith("/70be69aaf9")
    assert by_type["ext:NQFLevel"] == [{
        "type": ["Alignment"], "targetType": "ext:NQFLevel", "targetName": "HKO level 4.1",
        "targetUrl": "urn:credbridge:nqf-level:HR-4.1", "targetCode": "4.1",
        "targetFramework": "Croatian Qualifications Framework (HKO)"}]
    assert [a["targetUrl"] for a in by_type["ceasn:Competency"]] == [
        "http://data.europa.eu/esco/skill/ccdf3597-5c80-410f-896d-e1bdfa223de9"]
    assert by_type["ceterms:Credential"][0]["targetCode"] == "WEB-DEV"


def test_learner_is_a_salted_email_hash_and_a_pseudonymous_id(content: CredentialContent) -> None:
    subject = build_ob3(content)["credentialSubject"]
    identity = subject["identifier"][0]
    expected = hashlib.sha256(b"ana.horvat@example.hr" + b"c0ffee-salt").hexdigest()
    assert identity == {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
                        "identityHash": f"sha256${expected}", "salt": "c0ffee-salt"}
    assert subject["id"].startswith("urn:uuid:")
    assert "Ana" not in str(subject)
    same_learner_later = build_ob3(replace(content, credential_id="urn:uuid:11111111-2222-4333-8444-555555555555"))
    assert same_learner_later["credentialSubject"]["id"] == subject["id"]


def test_grade_becomes_result_and_result_description(content: CredentialContent) -> None:
    vc = build_ob3(content)
    description = vc["credentialSubject"]["achievement"]["resultDescription"][0]
    assert description["name"] == "Croatian 1-5 scale"
    assert vc["credentialSubject"]["result"] == [
        {"type": ["Result"], "resultDescription": description["id"], "value": "5 (excellent)"}]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"credential_id": "urn:uuid:NOT-A-UUID"}, "credential_id"),
    ({"eqf_level": 9}, "eqf_level"),
    ({"issued_at": datetime(2026, 1, 1)}, "time zone"),
    ({"valid_until": datetime(2020, 1, 1, tzinfo=UTC)}, "valid_until is not after issued_at"),
    ({"learning_outcomes": ()}, "learning_outcomes"),
    ({"identity_salt": ""}, "identity_salt"),
    ({"languages": ("HR", "english")}, "ISO 639-1"),
])
def test_bad_content_is_refused_with_the_field_named(overrides: dict, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        make_content(**overrides)


def test_bundled_schema_and_contexts_are_the_upstream_files() -> None:
    pairs = [
        ("schema/ob_v3p0_achievementcredential_schema.json", "ob3/schema/ob_v3p0_achievementcredential_schema.json"),
        ("contexts/context-3.0.3.json", "ob3/contexts/context-3.0.3.json"),
        ("contexts/credentials-v2.jsonld", "ob3/contexts/credentials-v2.jsonld"),
        ("contexts/ob-v3p0-extensions.json", "ob3/contexts/extensions.json"),
        ("contexts/edc-ap-context.jsonld", "elm/context/edc-ap-context.jsonld"),
        ("contexts/credentials-v1.jsonld", "ob3/contexts/credentials-v1.jsonld"),
        ("contexts/context-3.0.2.json", "ob3/contexts/context-3.0.2.json"),
        ("contexts/context-3.0.1.json", "ob3/contexts/context-3.0.1.json"),
        ("contexts/data-integrity-v1.jsonld", "ob3/contexts/data-integrity-v1.jsonld"),
        ("contexts/did-v1.jsonld", "did/did-v1.jsonld"),
        ("contexts/multikey-v1.jsonld", "did/multikey-v1.jsonld"),
        ("contexts/jws-2020-v1.jsonld", "did/jws-2020-v1.jsonld"),
    ]
    assert len(pairs) == len(list((DATA / "contexts").iterdir())) + 1  # every bundled context, and the schema
    for bundled, upstream in pairs:
        assert (DATA / bundled).read_bytes() == (STANDARDS / upstream).read_bytes(), bundled


def test_the_bundled_schema_helper_reports_errors(content: CredentialContent) -> None:
    credential = build_ob3(content)
    assert schema_errors(credential) == []
    del credential["issuer"]
    assert any("issuer" in error for error in schema_errors(credential))
