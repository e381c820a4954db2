"""Credit points per system: national systems declared as ``other`` add up under their own names,
never with each other; a mistaken ``other`` that names a known system is refused at its line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from credbridge.mappings import MappingError, evaluate, load_mapping_text, resolve
from credbridge.mappings.model import CreditPoints, CreditSystem, Workload, credit_totals, partial_credit_systems
from tests.mappings.helpers import recorded_evidence, recorded_site, vet_college_with_national_credits


def other(name: dict[str, str], points: str = "1") -> CreditPoints:
    return CreditPoints(system=CreditSystem.OTHER, points=Decimal(points), label=name)


def test_key_is_the_code_or_the_national_systems_name() -> None:
    assert CreditPoints(system=CreditSystem.CSVET, points=Decimal(2)).key == "CSVET"
    assert other({"sl": "kreditne točke", "en": "Slovenian KT"}).key == "Slovenian KT"
    assert other({"sr": "srpski bodovi"}).key == "srpski bodovi"  # no English name: the first one


def test_totals_keep_national_systems_apart() -> None:
    workloads = [
        Workload(credits=[CreditPoints(system=CreditSystem.ECTS, points=Decimal(1)), other({"en": "A"}, "2"),
                          other({"en": "B"}, "1")]),
        Workload(credits=[other({"en": "B"}, "4"), other({"en": "A"}, "1.5"),
                          CreditPoints(system=CreditSystem.ECTS, points=Decimal(2))]),
    ]
    assert credit_totals(workloads) == {"ECTS": Decimal(3), "A": Decimal("3.5"), "B": Decimal(5)}


def test_a_system_only_some_units_give_is_not_stated_as_the_whole_workload() -> None:
    # 1 ECVET on one unit of three would read as the credential's whole workload
    workloads = [Workload(credits=[CreditPoints(system=CreditSystem.CSVET, points=Decimal(2)),
                                   CreditPoints(system=CreditSystem.ECVET, points=Decimal(1))]),
                 Workload(credits=[CreditPoints(system=CreditSystem.CSVET, points=Decimal(2))]),
                 Workload(hours=Decimal(25), credits=[CreditPoints(system=CreditSystem.CSVET, points=Decimal(1))])]
    assert credit_totals(workloads) == {"CSVET": Decimal(5)}
    assert partial_credit_systems(workloads) == ["ECVET"]
    assert credit_totals([*workloads, None]) == {}  # a unit with no workload: no system covers it all
    assert partial_credit_systems([*workloads, None]) == ["CSVET", "ECVET"]


@pytest.mark.parametrize(("credits", "problem"), [
    ([{"system": "other", "points": 1, "label": {"en": "Slovenian KT"}},
      {"system": "other", "points": 2, "label": {"en": "Slovenian KT"}}], "each credit system may appear once"),
    ([{"system": "other", "points": 1, "label": {"en": "ects"}}], "write system: ECTS instead"),
    ([{"system": "other", "points": 1}], "needs a label naming the national system"),
])
def test_bad_credit_systems_are_refused(credits: list[dict], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Workload.model_validate({"credits": credits})


def test_evaluation_sums_each_national_system_on_its_own() -> None:
    mapping_set = load_mapping_text(vet_college_with_national_credits(), "vet-college.yaml")
    earned = evaluate(resolve(mapping_set, recorded_site()), recorded_evidence()[1]).earned_templates["CNC-OPERATOR"]
    assert earned.annex.credits == {"CSVET": Decimal(5), "ECVET": Decimal(4), "Slovenian KT": Decimal(9),
                                    "srpski bodovi": Decimal(3)}


def test_an_other_system_naming_a_known_one_fails_at_its_line() -> None:
    text = vet_college_with_national_credits().replace("label: {sr: srpski bodovi}", "label: {en: ECVET}", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "label: {en: ECVET}" in row)
    with pytest.raises(MappingError) as caught:
        load_mapping_text(text, "vet-college.yaml")
    [problem] = caught.value.problems
    assert "write system: ECVET instead" in problem.message
    assert (problem.file, problem.line) == ("vet-college.yaml", line)

