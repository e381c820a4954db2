"""The completeness gate: a template that lacks a mandatory Annex I element cannot issue.

Learner identification and the date of issue are supplied at issue time; every other mandatory
element must be declared (or be derivable from the evidence the unit's rule can accept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from credbridge.mappings.model import MappingSet, Template, Unit
from credbridge.mappings.rules import KIND_OF_CLASS

__all__ = ["MANDATORY_ELEMENTS", "MissingElement", "completeness"]

MANDATORY_ELEMENTS = (
    "title", "country", "awarding_body", "learning_outcomes", "workload", "eqf_level",
    "assessment_type", "form_of_participation", "quality_assurance",
)

#: leaf kinds whose evidence always tells the type of assessment (derive._assessment_of)
_TELLS_ASSESSMENT = frozenset({"quiz_passed", "assignment_graded", "competency_proficient"})


@dataclass(frozen=True, slots=True)
class MissingElement:
    template: str
    element: str
    message: str
    unit: str | None = None
    #: path into the mapping set where the value belongs (for file/line reporting)
    path: tuple[Any, ...] = ()

    def __str__(self) -> str:
        where = f" (unit {self.unit})" if self.unit else ""
        return f"template {self.template}: missing {self.element}{where}: {self.message}"


def _leaf_kinds(rule: Any) -> list[str]:
    kind = KIND_OF_CLASS[type(rule)]
    spec = getattr(rule, kind)
    if kind in ("all", "any"):
        return [k for r in spec for k in _leaf_kinds(r)]
    if kind == "at_least":
        return [k for r in spec.of for k in _leaf_kinds(r)]
    return [kind]


def _leaf_courses(rule: Any) -> list[str | None]:
    kind = KIND_OF_CLASS[type(rule)]
    spec = getattr(rule, kind)
    if kind in ("all", "any"):
        return [c for r in spec for c in _leaf_courses(r)]
    if kind == "at_least":
        return [c for r in spec.of for c in _leaf_courses(r)]
    return [getattr(spec, "course", None)]


def completeness(template: Template, mapping_set: MappingSet) -> list[MissingElement]:
    """Exactly what is missing for ``template`` to issue (empty = complete)."""
    ms = mapping_set
    t_idx = next(i for i, t in enumerate(ms.templates) if t is template or t.code == template.code)
    tpath = ("templates", t_idx)
    by_code = {u.code: (i, u) for i, u in enumerate(ms.units)}
    units: list[tuple[int, Unit]] = [by_code[c] for c in ms.template_unit_codes(template.code) if c in by_code]
    out: list[MissingElement] = []

    def miss(element: str, message: str, unit: Unit | None = None, path: tuple[Any, ...] = tpath) -> None:
        out.append(MissingElement(template.code, element, message, unit.code if unit else None, path))

    if not template.title:
        miss("title", "the template needs a title")
    body = ms.awarding_body(template)
    if not body.legal_name:
        miss("awarding_body", "the awarding body needs a legal name")
    if not ms.template_country(template):
        miss("country", "set the template's or the awarding body's country")
    if not units:
        miss("learning_outcomes", "the template has no units (own or stacked), so no learning outcomes")
    for i, unit in units:
        upath = ("units", i)
        if not unit.learning_outcomes:
            miss("learning_outcomes", "list at least one learning outcome", unit, upath)
        if unit.workload is None:
            miss("workload", "give credit points (ECTS/ECVET/CSVET…) and/or hours", unit, upath)
        if template.eqf_level is None and unit.eqf_level is None:
            miss("eqf_level", "set eqf_level on the unit or on the template", unit, upath)
        kinds = _leaf_kinds(unit.evidence)
        if not unit.assessment_types and not all(k in _TELLS_ASSESSMENT for k in kinds):
            miss("assessment_type", "declare assessment_types: the rule accepts evidence "
                 "(course/activity completion, grade item, external result) that does not tell the type",
                 unit, upath)
        if unit.mode is None:
            courses = _leaf_courses(unit.evidence)
            undeclared = sorted({c or "(external)" for c in courses if c is None or ms.courses.get(c) is None
                                 or ms.courses[c].mode is None})
            if undeclared:
                miss("form_of_participation", "declare mode on the unit or on the course(s) "
                     + ", ".join(undeclared), unit, upath)
    qa_declared = template.quality_assurance or ms.school.quality_assurance or body.quality_assurance
    if not qa_declared and (not units or any(u.quality_assurance is None for _, u in units)):
        miss("quality_assurance", "declare quality_assurance on the template, the awarding body, "
             "the school or every unit")
    return out
