"""National values in both documents: NQF level, national credit systems (CSVET), supervision levels.

The Croatian case runs the real chain: the worked example mapping's CNC-OPERATOR template (HKO
level 4.1, 5 CSVET + 1 ECVET) evaluated for a recorded learner, frozen by the award snapshot code,
turned into content and documents, validated (1EdTech JSON Schema, EDC-generic-full SHACL), signed
and verified.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import rdflib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credbridge.connector.awards.snapshot import build_snapshot
from credbridge.connector.issuing.adapters.content import build_content
from credbridge.connector.issuing.formats import (
    build_elm,
    build_ob3,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
)
from credbridge.connector.issuing.formats import content as fc
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.frameworks import (
    credit_points_from_snapshot,
    credit_system,
    local_concept_uri,
    nqf_level,
    nqf_level_from_snapshot,
    primary_credit,
)
from credbridge.connector.issuing.formats.ob3_schema import schema_errors
from credbridge.connector.issuing.formats.supervision import supervision_from_snapshot
from credbridge.mappings import evaluate, load_mapping_file, load_mapping_text, resolve, vocab
from credbridge.mappings.derive import SupervisionLevel
from credbridge.mappings.model import CreditSystem, NQFLevel
from tests.issuing.formats.conftest import DID, KID, LIST_URL, elm_report, make_content
from tests.mappings.helpers import EXAMPLES, recorded_evidence, recorded_site, vet_college_with_national_credits

NOW = datetime(2026, 7, 1, tzinfo=UTC)
CSVET_URI = "urn:credbridge:credit-system:CSVET"
ECVET_URI = "http://data.europa.eu/snb/education-credit/60b314e826"
EC_SAMPLE_QDR = "http://data.europa.eu/snb/qdr/c_c392e7a2"  # nqfLevel of the EC's Sample-MC-Annex1


def content_from_snapshot(snapshot: dict[str, Any]) -> fc.CredentialContent:
    """What the issuing adapter makes of a snapshot (it reads the national values with the formats helpers)."""
    return build_content(
        snapshot=snapshot, credential_id="6c1f0c3e-2b7a-4f0e-9a57-1d2e3f4a5b6c", issuer_did=DID,
        school_homepage="https://sss.example.hr",
        learner=fc.Learner(1, "Ivan Kovač", "Ivan", "Kovač", "ivan.kovac@example.hr", "S-1"),
        issued_at=datetime(2026, 6, 30, 10, tzinfo=UTC), status=fc.StatusEntry(LIST_URL, 3))


@pytest.fixture(scope="module")
def croatian_snapshot() -> dict[str, Any]:
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["CNC-OPERATOR"]
    # stored as JSON in the awards table: read it back the way the issuer does
    return json.loads(json.dumps(build_snapshot(earned, mapping_set)))


@pytest.fixture(scope="module")
def croatian(croatian_snapshot: dict[str, Any]) -> fc.CredentialContent:
    return content_from_snapshot(croatian_snapshot)


def test_the_snapshot_carries_what_the_helpers_read(croatian_snapshot: dict[str, Any]) -> None:
    assert croatian_snapshot["nqf"] == {"level": "4.1", "country": "HR"}
    assert croatian_snapshot["credits"] == {"CSVET": "5", "ECVET": "4"}
    assert croatian_snapshot["supervision"]["value"]["key"] == "unsupervised_no_id"


def test_croatian_ob3_names_hko_and_csvet(croatian: fc.CredentialContent, ob3_validator: Any) -> None:
    vc = build_ob3(croatian)
    assert list(ob3_validator.iter_errors(vc)) == []
    assert schema_errors(vc) == []
    achievement = vc["credentialSubject"]["achievement"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for alignment in achievement["alignment"]:
        by_type.setdefault(alignment["targetType"], []).append(alignment)
    assert by_type["ext:NQFLevel"] == [{
        "type": ["Alignment"], "targetType": "ext:NQFLevel", "targetName": "HKO level 4.1",
        "targetUrl": "urn:credbridge:nqf-level:HR-4.1", "targetCode": "4.1",
        "targetFramework": "Croatian Qualifications Framework (HKO)"}]
    assert by_type["ext:CreditPoints"] == [
        {"type": ["Alignment"], "targetType": "ext:CreditPoints",
         "targetName": "5 Croatian credit system for vocational education and training (CSVET)",
         "targetUrl": CSVET_URI, "targetCode": "5",
         "targetFramework": "Croatian credit system for vocational education and training (CSVET)"},
        {"type": ["Alignment"], "targetType": "ext:CreditPoints",
         "targetName": "4 European credit system for vocational education and training",
         "targetUrl": ECVET_URI, "targetCode": "4",
         "targetFramework": "European credit system for vocational education and training",
         "targetDescription": "creditsAvailable counts these credits"},
    ]
    # one number only: the European system wins over the national one
    assert achievement["creditsAvailable"] == 4.0
    assert vc["credentialSubject"]["creditsEarned"] == 4.0
    assert by_type["ext:SupervisionVerification"][0]["targetUrl"] == (
        "http://data.europa.eu/snb/supervision-verification/c598449d64")


def test_croatian_elm_names_hko_and_csvet(croatian: fc.CredentialContent, shapes: rdflib.Graph) -> None:
    elm = build_elm(croatian)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    qualification = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]
    assert "nqfLevel" not in qualification  # no Europass QDR concept is known for HKO 4.1
    [note] = qualification["additionalNote"]
    assert note["noteLiteral"] == {
        "en": "National qualifications framework: Croatian Qualifications Framework (HKO), level 4.1"}
    assert note["subject"] == {
        "id": "urn:credbridge:nqf-level:HR-4.1", "type": "Concept", "notation": "4.1",
        "inScheme": {"id": "urn:credbridge:concept-scheme:nqf-level", "type": "ConceptScheme"},
        "prefLabel": {"en": "HKO level 4.1"}}
    assert [(cp["framework"]["id"], cp["framework"]["inScheme"]["id"], cp["point"])
            for cp in qualification["creditPoint"]] == [
        (CSVET_URI, "urn:credbridge:concept-scheme:credit-system", "5"),
        (ECVET_URI, "http://data.europa.eu/snb/education-credit/25831c2", "4")]
    assert qualification["creditPoint"][0]["framework"]["prefLabel"] == {
        "en": "Croatian credit system for vocational education and training (CSVET)"}
    assert qualification["volumeOfLearning"] == "PT100H"
    assert qualification["eqfLevel"]["id"] == "http://data.europa.eu/snb/eqf/4"
    assessment = elm["credentialSubject"]["hasClaim"][0]["provenBy"][0]
    assert assessment["idVerification"]["id"] == "http://data.europa.eu/snb/supervision-verification/c598449d64"


def test_croatian_credential_signs_and_verifies(croatian: fc.CredentialContent, issuer_key: Ed25519PrivateKey,
                                                did_provider: Any) -> None:
    vc = build_ob3(croatian)
    token = sign_vc_jwt(vc, issuer_key, KID)
    result = verify_jwt(token, did_provider, now=NOW)
    assert result.ok, result.failures
    secured = sign_data_integrity(vc, issuer_key, KID)
    assert verify_data_integrity(secured, did_provider, now=NOW).ok
    # the new alignments are covered by the proof: changing the NQF level breaks it
    tampered = copy.deepcopy(secured)
    nqf = next(a for a in tampered["credentialSubject"]["achievement"]["alignment"]
               if a["targetType"] == "ext:NQFLevel")
    nqf["targetCode"] = "5"
    assert [c.code for c in verify_data_integrity(tampered, did_provider, now=NOW).failures] == ["signature"]


def test_a_known_qdr_concept_is_the_elm_nqf_level(shapes: rdflib.Graph, ob3_validator: Any) -> None:
    # the EC sample's QDR concept stands in for one a mapping would name
    content = make_content(nqf_level=nqf_level("4.1", "HR", EC_SAMPLE_QDR))
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    qualification = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]
    assert qualification["nqfLevel"] == [{
        "id": EC_SAMPLE_QDR, "type": "Concept", "notation": "4.1",
        "inScheme": {"id": "http://data.europa.eu/snb/qdr/25831c2", "type": "ConceptScheme"},
        "prefLabel": {"en": "HKO level 4.1"}}]
    assert "additionalNote" not in qualification
    vc = build_ob3(content)
    assert list(ob3_validator.iter_errors(vc)) == []
    nqf = [a for a in vc["credentialSubject"]["achievement"]["alignment"] if a["targetType"] == "ext:NQFLevel"]
    assert nqf[0]["targetUrl"] == EC_SAMPLE_QDR


def test_the_shapes_refuse_a_level_outside_the_qdr_scheme(shapes: rdflib.Graph) -> None:
    """Why a level without a QDR concept is a note: as nqfLevel in another scheme it fails the shapes."""
    elm = build_elm(make_content())
    qualification = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]
    qualification["nqfLevel"] = [qualification.pop("additionalNote")[0]["subject"]]
    conforms, text = elm_report(shapes, elm)
    assert not conforms and "NQF" in text


@pytest.mark.parametrize(("country", "framework", "label"), [
    ("HR", "Croatian Qualifications Framework (HKO)", "HKO level 4"),
    ("SI", "Slovenian Qualifications Framework (SOK)", "SOK level 4"),
    ("RS", "National Qualifications Framework of Serbia (NOKS)", "NOKS level 4"),
    ("AT", "National qualifications framework of Austria (NQF AT)", "NQF AT level 4"),
])
def test_each_country_names_its_framework(country: str, framework: str, label: str) -> None:
    level = nqf_level("4", country)
    assert (level.framework, level.label, level.uri) == (framework, label, f"urn:credbridge:nqf-level:{country}-4")


def test_nqf_snapshot_format_is_the_mapping_models() -> None:
    plain = NQFLevel(level=4, country="hr").model_dump(mode="json", exclude_none=True)
    assert nqf_level_from_snapshot(plain) == nqf_level("4", "HR")


@pytest.mark.parametrize(("value", "problem"), [
    ({"level": "4"}, "needs level and country"),
    ({"level": "", "country": "HR"}, "needs level and country"),
    ({"level": "4", "country": "ZZ"}, "'ZZ'"),
    ({"level": "4", "country": "HR", "uri": "http://data.europa.eu/snb/qdr/25831c2"}, "not a Europass QDR concept"),
    ({"level": "4", "country": "HR", "uri": "https://example.org/hko/4"}, "not a Europass QDR concept"),
    ("4", "needs level and country"),
])
def test_bad_nqf_values_are_named(value: Any, problem: str) -> None:
    with pytest.raises(ContentError, match=problem):
        nqf_level_from_snapshot(value)


def test_every_credit_system_of_the_model_has_a_framework(shapes: rdflib.Graph, ob3_validator: Any) -> None:
    credits = {s.value: "2" for s in CreditSystem}
    points = credit_points_from_snapshot(credits)
    assert [cp.framework.uri for cp in points] == [
        "http://data.europa.eu/snb/education-credit/6fcec5c5af", ECVET_URI, CSVET_URI,
        "urn:credbridge:credit-system:national-credit-system"]
    assert primary_credit(points) == points[0]
    content = make_content(credit_points=points)
    conforms, text = elm_report(shapes, build_elm(content))
    assert conforms, text
    assert list(ob3_validator.iter_errors(build_ob3(content))) == []


def test_a_named_other_system_keeps_its_name() -> None:
    [cp] = credit_points_from_snapshot({"other": "3"}, {"other": "Slovenian KT credits"})
    assert cp.framework == fc.Concept("urn:credbridge:credit-system:Slovenian-KT-credits", "Slovenian KT credits")
    assert cp.points == Decimal(3)


def test_national_systems_declared_as_other_reach_both_documents_by_name(shapes: rdflib.Graph,
                                                                        ob3_validator: Any) -> None:
    mapping_set = load_mapping_text(vet_college_with_national_credits(), "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["CNC-OPERATOR"]
    snapshot = json.loads(json.dumps(build_snapshot(earned, mapping_set)))
    assert snapshot["credits"] == {"CSVET": "5", "ECVET": "4", "Slovenian KT": "9", "srpski bodovi": "3"}
    content = content_from_snapshot(snapshot)
    assert {cp.framework.label: cp.points for cp in content.credit_points} == {
        "Croatian credit system for vocational education and training (CSVET)": Decimal(5),
        "European credit system for vocational education and training": Decimal(4),
        "Slovenian KT": Decimal(9), "srpski bodovi": Decimal(3)}
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    assert list(ob3_validator.iter_errors(build_ob3(content))) == []
    frameworks = json.dumps(elm["credentialSubject"]["hasClaim"][0])
    assert "urn:credbridge:credit-system:Slovenian-KT" in frameworks and "srpski" in frameworks


def test_national_systems_named_in_any_script_get_distinct_urns(shapes: rdflib.Graph, ob3_validator: Any) -> None:
    points = credit_points_from_snapshot({"Кредити": "2", "KT (SI)": "1", "KT SI": "1", "kreditne točke": "3"})
    uris = [cp.framework.uri for cp in points]
    assert len(set(uris)) == 4 and all(uri.isascii() and " " not in uri for uri in uris)
    assert uris[0] == "urn:credbridge:credit-system:%D0%9A%D1%80%D0%B5%D0%B4%D0%B8%D1%82%D0%B8"
    assert points[0].framework.label == "Кредити"  # the name itself is kept for people
    content = make_content(credit_points=points)
    conforms, text = elm_report(shapes, build_elm(content))
    assert conforms, text
    assert list(ob3_validator.iter_errors(build_ob3(content))) == []


@pytest.mark.parametrize(("credits", "problem"), [
    ({"CSVET": "five"}, "'five' is not a number"),
])
def test_bad_credits_are_named(credits: dict[str, str], problem: str) -> None:
    with pytest.raises(ContentError, match=problem):
        credit_points_from_snapshot(credits)


def test_an_unknown_system_without_a_name_is_refused() -> None:
    with pytest.raises(ContentError, match="'HROO'"):
        credit_system("HROO")
    with pytest.raises(ContentError, match="cannot name"):
        local_concept_uri("credit-system", " : ")


SUPERVISION_VALUES = [
    *[{"key": lvl.key, "label": lvl.label, "uri": lvl.uri} for lvl in SupervisionLevel],
    *vocab.get("supervision-verification").uris(),
]


@pytest.mark.parametrize("value", SUPERVISION_VALUES, ids=lambda v: v["key"] if isinstance(v, dict) else v[-10:])
def test_every_supervision_value_validates_in_both_documents(value: Any, shapes: rdflib.Graph,
                                                             ob3_validator: Any) -> None:
    concept = supervision_from_snapshot(value)
    assert concept is not None and concept.label and "(" not in concept.label
    content = make_content(supervision=concept)
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    verification = elm["credentialSubject"]["hasClaim"][0]["provenBy"][0]["idVerification"]
    europass = concept.uri.startswith("http://data.europa.eu/snb/supervision-verification/")
    # a credbridge concept never claims the Europass scheme (the EDC would look it up and reject it)
    assert verification["inScheme"]["id"] == ("http://data.europa.eu/snb/supervision-verification/25831c2"
                                              if europass else "urn:credbridge:concept-scheme:supervision-verification")
    vc = build_ob3(content)
    assert list(ob3_validator.iter_errors(vc)) == []
    [alignment] = [a for a in vc["credentialSubject"]["achievement"]["alignment"]
                   if a["targetType"] == "ext:SupervisionVerification"]
    assert (alignment["targetUrl"], alignment["targetName"]) == (concept.uri, concept.label)


def test_levels_without_a_europass_concept_get_credbridge_ones() -> None:
    assert supervision_from_snapshot({"key": "unsupervised_id", "label": "x", "uri": None}) == fc.Concept(
        "urn:credbridge:supervision-verification:unsupervised_id", "Unsupervised with ID verification")
    assert supervision_from_snapshot({"key": "supervised_no_id", "label": "x", "uri": None}) == fc.Concept(
        "urn:credbridge:supervision-verification:supervised_no_id", "Supervised without ID verification")
    assert supervision_from_snapshot(None) is None


@pytest.mark.parametrize(("value", "problem"), [
    ("http://data.europa.eu/snb/supervision-verification/0000000000", "not a Europass supervision-verification"),
    ({"key": "proctored_by_owl", "label": "?", "uri": None}, "'proctored_by_owl'"),
    (42, "neither a level nor a concept URI"),
])
def test_bad_supervision_values_are_named(value: Any, problem: str) -> None:
    with pytest.raises(ContentError, match=problem):
        supervision_from_snapshot(value)


def test_hours_come_from_one_credit_system_not_their_sum(croatian_snapshot: dict[str, Any]) -> None:
    """CSVET 5 and ECVET 4 describe the same work: without declared hours, ECVET's 100 h count, not 225 h."""
    snapshot = {**croatian_snapshot, "hours": None}
    assert content_from_snapshot(snapshot).hours == 100
    assert content_from_snapshot({**snapshot, "credits": {"CSVET": "5"}}).hours == 125
    assert content_from_snapshot({**snapshot, "hours": "40"}).hours == 40


def test_a_partners_credential_is_issued_by_the_school_and_awarded_by_the_partner(shapes: rdflib.Graph,
                                                                                  ob3_validator: Any) -> None:
    # WELD-SAFETY is awarded by a Slovenian partner school; the Croatian school signs it under its DID
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["WELD-SAFETY"]
    content = content_from_snapshot(json.loads(json.dumps(build_snapshot(earned, mapping_set))))
    vc = build_ob3(content)
    assert list(ob3_validator.iter_errors(vc)) == [] and schema_errors(vc) == []
    assert (vc["issuer"]["id"], vc["issuer"]["address"]["addressCountryCode"]) == (DID, "HR")
    assert vc["issuer"]["name"] in ("Strukovna škola strojarstva", "VET College of Mechanical Engineering")
    creator = vc["credentialSubject"]["achievement"]["creator"]
    assert creator["name"] in ("Srednja strojna šola Ljubljana", "Secondary School of Mechanical Engineering Ljubljana")
    assert creator["id"].startswith("urn:credbridge:organisation:SI:") and creator["id"] != DID
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    assert elm["issuer"]["id"] == DID and elm["issuer"]["legalName"]["hr"] == "Strukovna škola strojarstva"
    body = elm["credentialSubject"]["hasClaim"][0]["awardedBy"]["awardingBody"]
    assert body["id"] == creator["id"] and body["legalName"]["sl"] == "Srednja strojna šola Ljubljana"
    # one DID, one legal entity: the partner's name and VAT never appear under the school's DID
    assert "SI12345678" not in json.dumps(elm["issuer"]) and "SI12345678" in json.dumps(body)


def test_the_schools_own_credential_names_no_separate_awarding_body(croatian: fc.CredentialContent) -> None:
    assert croatian.awarding_body is None
    assert "creator" not in build_ob3(croatian)["credentialSubject"]["achievement"]


def test_one_units_grade_is_not_the_grade_of_a_credential_of_three_units(croatian_snapshot: dict[str, Any]) -> None:
    assert len(croatian_snapshot["units"]) == 3 and len(croatian_snapshot["grades"]) == 1  # CNC-PROG is graded
    content = content_from_snapshot(croatian_snapshot)
    assert content.grade is None
    assert "result" not in build_ob3(content)["credentialSubject"]


@pytest.mark.parametrize(("label", "result_type", "value", "elm_grade"), [
    ({"hr": "odličan", "en": "excellent"}, "LetterGrade", "odličan", {"hr": "odličan"}),
    (None, "Percent", "84.5", {"en": "84.5 %"}),
])
def test_a_single_units_grade_keeps_its_type_and_language(croatian_snapshot: dict[str, Any], shapes: rdflib.Graph,
                                                          label: dict[str, str] | None, result_type: str, value: str,
                                                          elm_grade: dict[str, str]) -> None:
    graded = {"percent": "84.50", "label": label, "scheme_title": {"en": "School grades"}, "evidence_ids": ["q"]}
    snapshot = {**croatian_snapshot, "units": croatian_snapshot["units"][:1], "languages": ["hr", "en"],
                "grades": {"CNC-PROG": graded}}
    content = content_from_snapshot(snapshot)
    vc = build_ob3(content)
    [description] = vc["credentialSubject"]["achievement"]["resultDescription"]
    assert description["resultType"] == result_type
    assert vc["credentialSubject"]["result"][0]["value"] == value
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    grades = [a["grade"]["noteLiteral"] for a in elm["credentialSubject"]["hasClaim"][0]["provenBy"]]
    assert grades and all(g == elm_grade for g in grades)


def test_a_credential_stacking_into_two_names_both_by_their_own_achievement_ids(shapes: rdflib.Graph,
                                                                                ob3_validator: Any) -> None:
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates
    basics = content_from_snapshot(json.loads(json.dumps(build_snapshot(earned["TD-BASICS"], mapping_set))))
    parent = content_from_snapshot(json.loads(json.dumps(build_snapshot(earned["CNC-OPERATOR"], mapping_set))))
    vc = build_ob3(basics)
    assert list(ob3_validator.iter_errors(vc)) == []
    achievement = vc["credentialSubject"]["achievement"]
    related = [r["id"] for r in achievement["related"]]
    assert related == [f"urn:credbridge:achievement:{code}:{mapping_set.template(code).version}"
                       for code in ("CNC-OPERATOR", "WELD-SAFETY")]
    # the link resolves: it is the id the parent's own credentials carry
    assert related[0] == build_ob3(parent)["credentialSubject"]["achievement"]["id"]
    stacked = [a["targetCode"] for a in achievement["alignment"] if a["targetType"] == "ceterms:Credential"]
    assert stacked == ["CNC-OPERATOR", "WELD-SAFETY"]
    elm = build_elm(basics)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    assert [p["id"] for p in elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]["isPartOf"]] == related


def test_quality_assurance_names_its_decision_and_never_a_stand_in_address(croatian: fc.CredentialContent,
                                                                             shapes: rdflib.Graph) -> None:
    qa = croatian.quality_assurance
    assert (qa.decision_url, qa.decision_reference) == ("https://www.asoo.hr/", "KLASA: 602-03/24-01/0042")
    [alignment] = [a for a in build_ob3(croatian)["credentialSubject"]["achievement"]["alignment"]
                   if a["targetType"] == "ext:QualityAssurance"]
    assert alignment["targetUrl"] == "https://www.asoo.hr/"
    assert alignment["targetDescription"] == "Decision KLASA: 602-03/24-01/0042"
    accreditation = build_elm(croatian)["credentialSubject"]["hasClaim"][0]["specifiedBy"]["accreditation"][0]
    assert accreditation["landingPage"]["contentURL"] == "https://www.asoo.hr/"
    assert accreditation["additionalNote"][0]["noteLiteral"] == {"en": "Decision KLASA: 602-03/24-01/0042"}
    # the Slovenian partner's QA names no decision page: none is made up from a homepage
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["WELD-SAFETY"]
    partner = content_from_snapshot(json.loads(json.dumps(build_snapshot(earned, mapping_set))))
    assert partner.quality_assurance.decision_url is None
    elm = build_elm(partner)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    accreditation = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]["accreditation"][0]
    assert "landingPage" not in accreditation
    [alignment] = [a for a in build_ob3(partner)["credentialSubject"]["achievement"]["alignment"]
                   if a["targetType"] == "ext:QualityAssurance"]
    assert alignment["targetUrl"] == partner.quality_assurance.type.uri


def test_further_information_reaches_both_documents(shapes: rdflib.Graph) -> None:
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["WELD-SAFETY"]
    content = content_from_snapshot(json.loads(json.dumps(build_snapshot(earned, mapping_set))))
    text = "Records the learning outcomes of a short programme; it does not replace a qualification."
    assert content.further_information == {"en": text}
    assert f"Further information: {text}" in build_ob3(content)["credentialSubject"]["achievement"]["criteria"][
        "narrative"]
    elm = build_elm(content)
    conforms, report = elm_report(shapes, elm)
    assert conforms, report
    notes = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]["additionalNote"]
    assert {"en": text} in [n["noteLiteral"] for n in notes]


def test_each_assessment_type_is_explained_by_its_own_evidence(croatian: fc.CredentialContent) -> None:
    explained = {a.label: a.provenance for a in croatian.assessment_types}
    # a type a unit declares but its evidence does not show is still stated, with the unit that declares it
    assert explained == {
        "continuous evaluation": "competency rated by the teacher (observation / continuous evaluation)",
        "practical assessment": "graded assignment; the unit declares what kind of work it is; declared on unit "
                                "CNC-OPS",
        "quiz": "quiz attempt; declared on unit TD-READ"}
    alignments = {a["targetName"]: a["targetDescription"]
                  for a in build_ob3(croatian)["credentialSubject"]["achievement"]["alignment"]
                  if a["targetType"] == "ext:AssessmentType"}
    assert alignments == explained


def test_every_units_prerequisites_reach_the_documents(croatian_snapshot: dict[str, Any]) -> None:
    snapshot = {**croatian_snapshot, "prerequisites": [
        {"en": "Basic workshop safety", "hr": "Osnove sigurnosti u radionici"}, {"en": "Technical drawing"}]}
    content = content_from_snapshot(snapshot)
    assert content.prerequisites == {"en": "Basic workshop safety; Technical drawing",
                                     "hr": "Osnove sigurnosti u radionici; Technical drawing"}
    narrative = build_ob3(content)["credentialSubject"]["achievement"]["criteria"]["narrative"]
    assert "Prerequisites: Osnove sigurnosti u radionici; Technical drawing" in narrative  # in the first language
    assert content_from_snapshot({**croatian_snapshot, "prerequisites": []}).prerequisites is None


def test_every_quality_assurance_entry_reaches_both_documents(croatian_snapshot: dict[str, Any],
                                                              shapes: rdflib.Graph) -> None:
    programme = {"type": "http://data.europa.eu/snb/accreditation/820101cba6",
                 "accrediting_body": {"en": "Ministry of Science and Education"},
                 "decision_reference": "KLASA: 602-03/25-01/0007"}
    snapshot = {**croatian_snapshot, "quality_assurance": [*croatian_snapshot["quality_assurance"], programme]}
    content = content_from_snapshot(snapshot)
    qa = [a for a in build_ob3(content)["credentialSubject"]["achievement"]["alignment"]
          if a["targetType"] == "ext:QualityAssurance"]
    assert [a.get("targetDescription") for a in qa] == ["Decision KLASA: 602-03/24-01/0042",
                                                        "Decision KLASA: 602-03/25-01/0007"]
    elm = build_elm(content)
    conforms, text = elm_report(shapes, elm)
    assert conforms, text
    accreditations = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]["accreditation"]
    assert [a["dcType"]["id"] for a in accreditations] == [snapshot["quality_assurance"][0]["type"],
                                                          programme["type"]]


def test_a_partners_accrediting_agency_is_placed_in_the_partners_country() -> None:
    mapping_set = load_mapping_file(EXAMPLES / "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["WELD-SAFETY"]
    elm = build_elm(content_from_snapshot(json.loads(json.dumps(build_snapshot(earned, mapping_set)))))
    [accreditation] = elm["credentialSubject"]["hasClaim"][0]["specifiedBy"]["accreditation"]
    country = accreditation["accreditingAgent"]["location"]["address"]["countryCode"]["id"]
    assert country.endswith("/country/SVN")
