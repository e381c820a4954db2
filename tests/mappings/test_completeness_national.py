"""The completeness gate (every mandatory Annex I element) and the national rules."""

from __future__ import annotations

import copy

import pytest

from credbridge.mappings import MappingSet, completeness, load_mapping_text, national_check
from credbridge.mappings.completeness import MANDATORY_ELEMENTS
from tests.mappings.helpers import EXAMPLES

QA = {"type": "Program Quality Assurance", "accrediting_body": {"en": "Agency"}}


def unit(code: str = "U1", **extra) -> dict:
    data = {"code": code, "title": {"en": code}, "learning_outcomes": [{"statement": {"en": "does"}}],
            "workload": {"credits": [{"system": "CSVET", "points": 3}], "hours": 75}, "eqf_level": 4,
            "assessment_types": ["practical assessment"], "mode": "Blended", "register_standard": "HKO 1",
            "evidence": {"course_completed": "CNC101"}}
    data.update(extra)
    return data


def mapping(units=None, templates=None, country: str = "HR", **school) -> MappingSet:
    return MappingSet.model_validate({
        "school": {"code": "s", "legal_name": {"en": "S"}, "country": country, "quality_assurance": QA, **school},
        "units": units if units is not None else [unit()],
        "templates": templates if templates is not None else [{"code": "T", "version": 1, "title": {"en": "T"},
                                                               "units": ["U1"]}],
    })


def missing(ms: MappingSet, code: str = "T") -> list[tuple[str, str | None]]:
    return [(m.element, m.unit) for m in completeness(ms.template(code), ms)]


def test_complete_template_has_nothing_missing():
    assert missing(mapping()) == []


@pytest.mark.parametrize(("change", "element"), [
    (lambda u: u.update(learning_outcomes=[]), "learning_outcomes"),
    (lambda u: u.pop("workload"), "workload"),
    (lambda u: u.pop("eqf_level"), "eqf_level"),
    (lambda u: u.pop("assessment_types"), "assessment_type"),
    (lambda u: u.pop("mode"), "form_of_participation"),
])
def test_each_unit_element(change, element):
    u = unit()
    change(u)
    assert missing(mapping([u])) == [(element, "U1")]


def test_quality_assurance_and_no_units():
    ms = MappingSet.model_validate({"school": {"code": "s", "legal_name": {"en": "S"}, "country": "AT"},
                                    "units": [unit()], "templates": [{"code": "T", "version": 1,
                                                                      "title": {"en": "T"}, "units": ["U1"]}]})
    assert missing(ms) == [("quality_assurance", None)]
    ms = mapping(templates=[{"code": "T", "version": 1, "title": {"en": "T"}}])
    assert ("learning_outcomes", None) in missing(ms)
    # every unit declaring QA is enough
    with_unit_qa = MappingSet.model_validate({**ms.model_dump(), "school": {"code": "s", "legal_name": {"en": "S"},
                                              "country": "AT"}, "units": [unit(quality_assurance=QA)],
                                              "templates": [{"code": "T", "version": 1, "title": {"en": "T"},
                                                             "units": ["U1"]}]})
    assert missing(with_unit_qa) == []


def test_derivable_values_count_as_present():
    # assessment type derivable when every leaf tells it; mode when every course is declared
    u = unit(evidence={"all": [{"quiz_passed": {"course": "CNC101", "quiz": "Q", "min_percent": 5}},
                               {"competency_proficient": "ME-C1"}]})
    del u["assessment_types"]
    assert missing(mapping([u])) == []
    u2 = unit(evidence={"course_completed": "CNC101"})
    del u2["mode"]
    ms = MappingSet.model_validate({**mapping([u2]).model_dump(), "courses": {"CNC101": {"mode": "Online"}}})
    assert missing(ms) == []
    u3 = copy.deepcopy(u2)
    u3["evidence"] = {"external_result": {"assessment": "X", "pass_values": ["pass"]}}
    assert missing(mapping([u3])) == [("form_of_participation", "U1")]


def test_template_eqf_overrides_units():
    u = unit()
    del u["eqf_level"]
    ms = mapping([u], [{"code": "T", "version": 1, "title": {"en": "T"}, "units": ["U1"], "eqf_level": 4}])
    assert missing(ms) == []


def test_mandatory_elements_listed():
    assert set(MANDATORY_ELEMENTS) >= {"title", "country", "awarding_body", "learning_outcomes", "workload",
                                       "eqf_level", "assessment_type", "form_of_participation",
                                       "quality_assurance"}


def rules(ms: MappingSet, code: str = "T") -> list[tuple[str, str]]:
    return [(f.severity, f.rule) for f in national_check(ms.template(code), ms)]


@pytest.mark.parametrize(("points", "ok"), [(1, False), (2, True), (9, True), (9.5, False)])
def test_hr_credit_range(points, ok):
    ms = mapping([unit(workload={"credits": [{"system": "CSVET", "points": points}]})])
    assert rules(ms) == ([] if ok else [("error", "HR-MQ-2-9")])


def test_hr_needs_csvet_and_register_standard():
    ms = mapping([unit(workload={"credits": [{"system": "ECVET", "points": 3}]})])
    assert rules(ms) == [("error", "HR-MQ-CSVET")]
    u = unit()
    del u["register_standard"]
    assert rules(mapping([u])) == [("error", "HR-MQ-CROQF-STANDARD")]
    ms = mapping([u], [{"code": "T", "version": 1, "title": {"en": "T"}, "units": ["U1"], "register_standard": "X"}])
    assert rules(ms) == []


def test_hr_counts_stacked_units():
    ms = mapping([unit("A"), unit("B"), unit("C", workload={"credits": [{"system": "CSVET", "points": 4}]})],
                 [{"code": "T", "version": 1, "title": {"en": "T"}, "units": ["A", "B"]},
                  {"code": "P", "version": 1, "title": {"en": "P"}, "units": ["C"], "part_of": "T"}])
    finding = national_check(ms.template("T"), ms)
    assert [f.rule for f in finding] == ["HR-MQ-2-9"] and "add up to 10" in finding[0].message


def test_montenegro():
    me = {"workload": {"credits": [{"system": "ECVET", "points": 3}]}}
    ms = mapping([unit(**me)], country="ME")
    assert rules(ms) == [("error", "ME-MQ-SECTOR"), ("warning", "ME-MQ-NQF")]
    tpl = {"code": "T", "version": 1, "title": {"en": "T"}, "units": ["U1"], "sector": "Mechanical engineering",
           "nqf": {"level": "IV", "country": "ME"}}
    assert rules(mapping([unit(**me)], [tpl], country="ME")) == []
    big = unit(workload={"credits": [{"system": "ECVET", "points": 6}]})
    assert rules(mapping([big], [tpl], country="ME")) == [("error", "ME-MQ-1-5")]
    assert rules(mapping([unit(**me)], [tpl], country="ME", provider_type="other")) == [
        ("error", "ME-MQ-AWARDING-BODY")]
    assert rules(mapping([unit(**me)], [tpl], country="ME", provider_type="adult_education_provider")) == []


@pytest.mark.parametrize("country", ["SI", "RS", "BA"])
def test_short_programme_countries_warn(country):
    assert rules(mapping(country=country)) == [("warning", f"{country}-MC-SHORT-PROGRAMME")]
    tpl = {"code": "T", "version": 1, "title": {"en": "T"}, "units": ["U1"], "credential_type": "Qualification Award"}
    assert rules(mapping(templates=[tpl], country=country)) == [
        ("warning", f"{country}-MC-SHORT-PROGRAMME"), ("warning", f"{country}-MC-NOT-QUALIFICATION")]


def test_other_countries_have_no_national_rules():
    assert rules(mapping(country="AT")) == []


def test_template_country_follows_explicit_awarding_body():
    tpl = {"code": "T", "version": 1, "title": {"en": "T"}, "units": ["U1"],
           "awarding_body": {"legal_name": {"sl": "Šola"}, "country": "SI"}}
    ms = mapping(templates=[tpl])
    assert ms.template_country(ms.template("T")) == "SI"
    assert rules(ms) == [("warning", "SI-MC-SHORT-PROGRAMME")]


def test_a_template_country_other_than_its_awarding_bodys_is_warned() -> None:
    text = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    anchor = "    units: [TD-READ]\n"
    assert text.count(anchor) == 1
    mapping_set = load_mapping_text(text.replace(anchor, anchor + "    country: SI\n"), "vet-college.yaml")
    findings = national_check(mapping_set.template("TD-BASICS"), mapping_set)
    [mismatch] = [f for f in findings if f.rule == "COUNTRY-AWARDING-BODY"]
    assert mismatch.severity == "warning" and "SI differs from its awarding body's (HR)" in mismatch.message
    plain = load_mapping_text(text, "vet-college.yaml")
    assert not [f for f in national_check(plain.template("WELD-SAFETY"), plain) if f.rule == "COUNTRY-AWARDING-BODY"]
