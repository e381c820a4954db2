"""National rules for micro-credentials, per issuing country.

Sources (as summarised in docs/design.md §1): Croatia — micro-qualification = a set of learning
outcomes of 2–9 CSVET credits drawn from full or partial qualifications in the Croatian
Qualifications Framework register (CROQF Act as amended 2021; Adult Education Act NN 144/21).
Montenegro — micro-qualification of 1–5 credits in a defined sector, with an NQF level where
possible, awarded by education institutions or adult-education providers. Slovenia, Serbia,
Bosnia and Herzegovina — a micro-credential records the learning outcomes of a short programme
and cannot replace a (state-recognised) qualification.
Errors block issuing; warnings are shown to the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from credbridge.mappings.model import (
    GENERIC_CREDENTIAL,
    CreditSystem,
    MappingSet,
    Template,
    Workload,
    credit_totals,
    partial_credit_systems,
)

__all__ = ["NationalFinding", "national_check", "template_credits"]


@dataclass(frozen=True, slots=True)
class NationalFinding:
    severity: Literal["error", "warning"]
    country: str
    rule: str
    message: str
    template: str
    path: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"{self.severity} [{self.rule}] template {self.template}: {self.message}"


def _workloads(template: Template, ms: MappingSet) -> list[Workload | None]:
    """The workloads of the template's units (own and stacked)."""
    by_code = {u.code: u for u in ms.units}
    return [by_code[c].workload for c in ms.template_unit_codes(template.code) if c in by_code]


def template_credits(template: Template, ms: MappingSet) -> dict[str, Decimal]:
    """Credit points per system summed over the template's units (own and stacked)."""
    return credit_totals(_workloads(template, ms))


def national_check(template: Template, mapping_set: MappingSet) -> list[NationalFinding]:
    ms = mapping_set
    country = ms.template_country(template)
    path = ("templates", next(i for i, t in enumerate(ms.templates) if t.code == template.code))
    out: list[NationalFinding] = []

    def add(severity: Literal["error", "warning"], rule: str, message: str, sub: tuple[Any, ...] = ()) -> None:
        out.append(NationalFinding(severity, country, rule, message, template.code, path + sub))

    credits = template_credits(template, ms)
    body_country = ms.awarding_body(template).country
    if template.country and template.country != body_country:
        add("warning", "COUNTRY-AWARDING-BODY", f"the template's country {template.country} differs from its "
            f"awarding body's ({body_country}): national rules follow {template.country}, but the documents name "
            f"the awarding body's country; give the awarding body of that country instead")
    for system in partial_credit_systems(_workloads(template, ms)):
        add("warning", "CREDITS-PARTIAL", f"{system} credits are given for some of this template's units but not "
            f"all, so they are left out of its workload; give them for every unit to state them")
    if country == "HR":
        csvet = credits.get(CreditSystem.CSVET.value)
        if csvet is None:
            add("error", "HR-MQ-CSVET", "a Croatian micro-qualification's workload is expressed in CSVET "
                "credits; no unit of this template gives CSVET credits")
        elif not Decimal(2) <= csvet <= Decimal(9):
            add("error", "HR-MQ-2-9", f"a Croatian micro-qualification has 2 to 9 CSVET credits; "
                f"this template's units add up to {csvet.normalize():f}")
        units = {u.code: u for u in ms.units}
        if not template.register_standard and not all(
                units[c].register_standard for c in ms.template_unit_codes(template.code) if c in units):
            add("error", "HR-MQ-CROQF-STANDARD", "learning outcomes of a micro-qualification are drawn from a "
                "qualification or occupational standard in the CROQF register; set register_standard")
    elif country == "ME":
        total = sum(credits.values(), Decimal(0)) if len(credits) == 1 else credits.get(
            CreditSystem.ECVET.value, credits.get(CreditSystem.ECTS.value))
        if total is None:
            add("error", "ME-MQ-CREDITS", "a Montenegrin micro-qualification has 1 to 5 credits; "
                "no credits are given (or several systems without ECVET/ECTS)")
        elif not Decimal(1) <= total <= Decimal(5):
            add("error", "ME-MQ-1-5", f"a Montenegrin micro-qualification has 1 to 5 credits; "
                f"this template's units add up to {total.normalize():f}")
        if not template.sector:
            add("error", "ME-MQ-SECTOR", "a Montenegrin micro-qualification belongs to a defined sector; set sector")
        if template.nqf is None and not all(
                u.nqf for u in ms.units if u.code in ms.template_unit_codes(template.code)):
            add("warning", "ME-MQ-NQF", "give the NQF level (Montenegrin qualifications framework) where possible")
        if ms.awarding_body(template).provider_type == "other":
            add("error", "ME-MQ-AWARDING-BODY", "only education institutions and adult-education providers "
                "award micro-qualifications in Montenegro")
    elif country in ("SI", "RS", "BA"):
        add("warning", f"{country}-MC-SHORT-PROGRAMME", "a micro-credential here records the learning outcomes "
            "of a short programme and cannot replace a qualification; say so in further_information")
        if template.credential_type != GENERIC_CREDENTIAL:
            add("warning", f"{country}-MC-NOT-QUALIFICATION", "use the Generic credential type, not a "
                "qualification award", ("credential_type",))
    return out
