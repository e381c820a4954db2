"""Fixtures for the formats tests: a realistic credential content, keys, DID documents, status lists."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rdflib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyshacl import validate

from credbridge.connector.issuing.formats.content import (
    ECTS,
    AssessmentType,
    Concept,
    CredentialContent,
    CreditPoints,
    Grade,
    Issuer,
    Learner,
    LearningOutcome,
    OrgIdentifier,
    QualityAssurance,
    Stackability,
    StatusEntry,
    Unit,
)
from credbridge.connector.issuing.formats.did import NamedKey, did_web_document, did_web_school
from credbridge.connector.issuing.formats.errors import KeyResolutionError
from credbridge.connector.issuing.formats.frameworks import nqf_level
from credbridge.connector.issuing.formats.jsonld_offline import to_nquads
from credbridge.connector.issuing.formats.keys import generate_ed25519

STANDARDS = Path(__file__).resolve().parents[2] / "data" / "standards"
SHAPES = STANDARDS / "elm" / "shapes"
DID = did_web_school("credbridge.test", "tsrb", port=8443)
LIST_URL = "https://credbridge.test:8443/schools/tsrb/status/1"
KID = f"{DID}#key-2026-11"
ROTATED_KID = f"{DID}#key-2025-01"


def make_content(**overrides: Any) -> CredentialContent:
    values: dict[str, Any] = {
        "credential_id": "urn:uuid:0b7e6a4c-3f8e-4f3a-9c1e-2d5b8a7f6e10",
        "template_code": "WEB-DEV-1",
        "template_version": "2026.1",
        "title": {"hr": "Izrada web stranica", "en": "Building websites"},
        "description": {"hr": "Mikrokvalifikacija iz izrade web stranica.",
                        "en": "Micro-credential in building accessible websites."},
        "learner": Learner(moodle_id=42, full_name="Ana Horvat", given_name="Ana", family_name="Horvat",
                           email="Ana.Horvat@example.hr", idnumber="S-2026-042"),
        "issuer": Issuer(legal_name={"hr": "Tehnička škola Ruđera Boškovića", "en": "Ruđer Bošković Technical School"},
                         country="HR", homepage="https://tsrb.example.hr", did=DID,
                         identifiers=(OrgIdentifier("OIB", "12345678903"), OrgIdentifier("VAT", "HR12345678903")),
                         email="info@tsrb.example.hr", address="Getaldićeva 4, 10000 Zagreb"),
        "issued_at": datetime(2026, 6, 30, 10, 0, tzinfo=UTC),
        "valid_until": datetime(2031, 6, 30, 10, 0, tzinfo=UTC),
        "learning_outcomes": (
            LearningOutcome({"hr": "Izraditi pristupačnu web stranicu", "en": "Build an accessible web page"},
                            "http://data.europa.eu/esco/skill/ccdf3597-5c80-410f-896d-e1bdfa223de9",
                            "develop website"),
            LearningOutcome({"hr": "Objaviti stranicu na poslužitelju", "en": "Publish a site on a server"}),
        ),
        "credit_points": (CreditPoints(Concept(ECTS, "European Credit Transfer System"), Decimal("5.5")),),
        "hours": Decimal("137.5"),
        "eqf_level": 4,
        "nqf_level": nqf_level("4.1", "HR"),
        "isced_f": Concept("http://data.europa.eu/snb/isced-f/0613",
                           "Software and applications development and analysis"),
        "assessment_types": (AssessmentType("http://data.europa.eu/snb/assessment/2939dae15f", "marked assignment",
                                            "Moodle assignment 'Portfolio' graded 92/100"),),
        "mode": Concept("http://data.europa.eu/snb/learning-assessment/e92d221e4d", "Blended"),
        "supervision": Concept("http://data.europa.eu/snb/supervision-verification/70be69aaf9",
                               "Supervised with ID Verification"),
        "quality_assurance": QualityAssurance(
            Concept("http://data.europa.eu/snb/accreditation/820101cba6", "Program Quality Assurance"),
            "Agencija za strukovno obrazovanje i obrazovanje odraslih",
            "https://asoo.example.hr/decisions/2026-17"),
        "prerequisites": {"hr": "Osnove rada na računalu.", "en": "Basic computer skills."},
        "grade": Grade("5 (excellent)", "Croatian 1-5 scale"),
        "stackability": Stackability("WEB-DEV", {"en": "Web developer"}, "https://credbridge.test/templates/WEB-DEV"),
        "units": (Unit("U1", {"hr": "HTML i CSS", "en": "HTML and CSS"},
                       (LearningOutcome({"en": "Write semantic HTML"}),)),),
        "further_info_url": "https://tsrb.example.hr/mikrokvalifikacije/web",
        "languages": ("hr", "en"),
        "status": StatusEntry(LIST_URL, 7),
        "identity_salt": "c0ffee-salt",
        "learning_setting": Concept("http://data.europa.eu/snb/learning-setting/6fd4685715", "formal learning"),
    }
    values.update(overrides)
    return CredentialContent(**values)


@pytest.fixture
def content() -> CredentialContent:
    return make_content()


@pytest.fixture(scope="session")
def issuer_key() -> Ed25519PrivateKey:
    return generate_ed25519()


@pytest.fixture(scope="session")
def rotated_key() -> Ed25519PrivateKey:
    return generate_ed25519()


@pytest.fixture(scope="session")
def did_document(issuer_key: Ed25519PrivateKey, rotated_key: Ed25519PrivateKey) -> dict[str, Any]:
    return did_web_document(DID, [NamedKey("key-2026-11", issuer_key.public_key()),
                                  NamedKey("key-2025-01", rotated_key.public_key())])


def provider_for(*documents: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    by_id = {d["id"]: d for d in documents}

    def provide(did: str) -> dict[str, Any]:
        if did not in by_id:
            raise KeyResolutionError(f"unknown DID {did}")
        return json.loads(json.dumps(by_id[did]))

    return provide


@pytest.fixture(scope="session")
def did_provider(did_document: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return provider_for(did_document)


@pytest.fixture(scope="session")
def shapes() -> rdflib.Graph:
    """EDC-generic-full plus the no-cv shapes it owl:imports (loaded from disk, never fetched).

    Parsing takes about 0.2 s, validating one credential about 0.3 s, so one graph serves the session.
    """
    graph = rdflib.Graph()
    graph.parse(SHAPES / "EDC-generic-full.ttl")
    graph.parse(SHAPES / "EDC-generic-no-cv.ttl")
    return graph


def elm_report(shapes: rdflib.Graph, document: dict[str, Any]) -> tuple[bool, str]:
    """pySHACL's verdict and report text for an ELM document."""
    data = rdflib.Graph()
    # One default graph only, so the N-Quads are N-Triples (the nquads parser warns on rdflib 7.6).
    data.parse(data=to_nquads(document), format="nt")
    conforms, _, text = validate(data, shacl_graph=shapes, inference="none", advanced=True)
    return conforms, text


@pytest.fixture(scope="session")
def ob3_validator() -> Any:
    import jsonschema

    schema = json.loads((STANDARDS / "ob3" / "schema" / "ob_v3p0_achievementcredential_schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
