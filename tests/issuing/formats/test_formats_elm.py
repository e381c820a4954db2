"""ELM v3 EuropeanDigitalCredential: conformance to the EC's EDC-generic-full SHACL shapes."""

from __future__ import annotations

import copy
import struct
import time
import zlib
from decimal import Decimal

import pytest
import rdflib

from credbridge.connector.issuing.formats import build_elm
from credbridge.connector.issuing.formats.content import CredentialContent, Issuer, OrgIdentifier, Stackability
from credbridge.connector.issuing.formats.elm import duration, placeholder_png
from credbridge.connector.issuing.formats.errors import ContentError
from tests.issuing.formats.conftest import elm_report as _report
from tests.issuing.formats.conftest import make_content

VARIANTS = {
    "full": {},
    "minimal": {"stackability": Stackability(), "grade": None, "valid_until": None, "nqf_level": None,
                "supervision": None, "prerequisites": None, "units": (), "further_info_url": None,
                "credit_points": (), "learning_setting": None},
    "one language": {"languages": ("en",)},
}


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_conforms_to_edc_generic_full(shapes: rdflib.Graph, overrides: dict) -> None:
    started = time.perf_counter()
    conforms, text = _report(shapes, build_elm(make_content(**overrides)))
    assert conforms, text
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(("path", "shape"), [
    (("credentialProfiles",), "credential profile"),
    (("issuer", "location"), "location"),
    (("credentialSubject", "hasClaim", 0, "awardedBy"), "awardedBy"),
    (("credentialSubject", "hasClaim", 0, "specifiedBy", "eqfLevel", "inScheme"), "EQF"),
])
def test_the_shapes_catch_missing_required_parts(shapes: rdflib.Graph, content: CredentialContent,
                                                 path: tuple, shape: str) -> None:
    document = copy.deepcopy(build_elm(content))
    node = document
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    conforms, _ = _report(shapes, document)
    assert not conforms, f"removing {'.'.join(map(str, path))} should break the {shape} shape"


def test_the_annex_elements_are_where_the_doc_says(content: CredentialContent) -> None:
    elm = build_elm(content)
    assert elm["@context"] == ["https://www.w3.org/2018/credentials/v1", "http://data.europa.eu/snb/model/context/edc-ap"]
    assert elm["type"] == ["VerifiableCredential", "EuropeanDigitalCredential"]
    assert elm["credentialProfiles"][0]["id"] == "http://data.europa.eu/snb/credential/e34929035b"
    assert elm["credentialSchema"] == [{"id": "http://data.europa.eu/snb/model/ap/edc-generic-full",
                                        "type": "ShaclValidator2017"}]
    issuer = elm["issuer"]
    assert issuer["location"]["address"]["countryCode"]["id"] == (
        "http://publications.europa.eu/resource/authority/country/HRV")
    assert issuer["eIDASIdentifier"]["notation"] == "12345678903"
    assert issuer["vatIdentifier"][0]["notation"] == "HR12345678903"
    person = elm["credentialSubject"]
    assert person["fullName"] == {"hr": "Ana Horvat"}
    claim = person["hasClaim"][0]
    qualification = claim["specifiedBy"]
    assert qualification["type"] == "Qualification"
    assert qualification["eqfLevel"]["id"] == "http://data.europa.eu/snb/eqf/4"
    assert qualification["creditPoint"][0]["point"] == "5.5"
    assert qualification["volumeOfLearning"] == "PT137H30M"
    assert qualification["thematicArea"][0]["inScheme"]["id"] == "http://data.europa.eu/snb/isced-f/25831c2"
    assert qualification["accreditation"][0]["dcType"]["id"].endswith("/accreditation/820101cba6")
    assert qualification["entryRequirement"]["noteLiteral"]["en"] == "Basic computer skills."
    assert qualification["isPartialQualification"] is True
    assert qualification["learningSetting"]["id"].endswith("/learning-setting/6fd4685715")
    assessment = claim["provenBy"][0]
    assert assessment["grade"]["noteLiteral"] == {"en": "5 (excellent)"}
    assert assessment["idVerification"]["id"].endswith("/supervision-verification/70be69aaf9")
    assert assessment["specifiedBy"]["dcType"]["id"].endswith("/assessment/2939dae15f")
    assert claim["awardedBy"]["awardingBody"]["legalName"]["en"] == "Ruđer Bošković Technical School"
    assert claim["hasPart"][0]["specifiedBy"]["identifier"][0]["notation"] == "U1"


def test_node_ids_are_unique_per_credential(content: CredentialContent) -> None:
    other = build_elm(make_content(credential_id="urn:uuid:11111111-2222-4333-8444-555555555555"))
    mine = build_elm(content)
    assert mine["credentialSubject"]["hasClaim"][0]["id"] != other["credentialSubject"]["hasClaim"][0]["id"]


@pytest.mark.parametrize(("hours", "expected"), [
    (Decimal(60), "PT60H"), (Decimal("0.5"), "PT30M"), (Decimal("1.25"), "PT1H15M"), (Decimal("0.0001"), "PT0S"),
])
def test_durations_are_xsd_durations(hours: Decimal, expected: str) -> None:
    assert duration(hours) == expected


def test_an_unknown_country_is_named(content: CredentialContent) -> None:
    issuer = Issuer(legal_name={"en": "X"}, country="ZZ", homepage="https://x.test", did="did:web:x.test",
                    identifiers=(OrgIdentifier("OIB", "1"),))
    with pytest.raises(ContentError, match="'ZZ'"):
        build_elm(make_content(issuer=issuer))


def test_an_issuer_without_registry_identifier_is_refused_for_elm() -> None:
    issuer = Issuer(legal_name={"en": "X"}, country="HR", homepage="https://x.test", did="did:web:x.test")
    with pytest.raises(ContentError, match="eIDAS"):
        build_elm(make_content(issuer=issuer))


def test_the_display_image_is_a_well_formed_png() -> None:
    png = placeholder_png(4, 3)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind, data = png[offset + 4:offset + 8], png[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        offset += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[0][1][:8]) == (4, 3)
    assert len(zlib.decompress(chunks[1][1])) == 3 * (4 + 1)
