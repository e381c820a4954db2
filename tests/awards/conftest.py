"""Fixtures for the award tests: the worked example mapping and in-memory evidence per learner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from credbridge.connector.awards.decide import EvaluationSources
from credbridge.connector.store.models import School
from credbridge.mappings import CourseStructure, EvidenceFact
from tests.mappings.helpers import EXAMPLES, recorded_site

MAPPING = EXAMPLES / "vet-college.yaml"
#: one unit proved by one competency rating: a site that only knows competency ME-C1 resolves it
MINIMAL_MAPPING = """
school:
  code: bench-school
  legal_name: {en: Bench Vocational School, hr: Strukovna škola Bench}
  country: HR
  identifiers: [{scheme: OIB, value: "12345678903"}]
  homepage: https://bench-school.example
  quality_assurance:
    type: Institutional Quality Assurance
    accrediting_body: {en: Agency for Vocational Education and Training and Adult Education}
    decision_url: https://www.asoo.hr/
units:
  - code: TD-READ
    title: {en: Reading technical drawings, hr: Čitanje tehničkih crteža}
    learning_outcomes:
      - statement: {en: "Interpret line types, views and dimensions on a technical drawing"}
    workload: {credits: [{system: CSVET, points: 2}, {system: ECVET, points: 1}], hours: 25}
    register_standard: "HKO SK: Operater/operaterka CNC strojeva (ID 1234)"
    eqf_level: 3
    isced_f: "0715"
    assessment_types: [practical assessment]
    mode: Presential
    evidence:
      competency_proficient: {competency: ME-C1}
templates:
  - code: TD-BASICS
    version: 1
    title: {en: Technical drawing basics, hr: Osnove tehničkog crtanja}
    units: [TD-READ]
    eqf_level: 3
    outputs: [ob3-jwt, elm]
    languages: [hr, en]
    register_standard: "HKO SK: Operater/operaterka CNC strojeva (ID 1234)"
"""


@dataclass
class EvidenceBook:
    """The test's stand-in for the sync layer: evidence facts per learner, the recorded structure."""

    facts: dict[int, list[EvidenceFact]] = field(default_factory=dict)
    structure: CourseStructure = field(default_factory=recorded_site)

    def sources(self) -> EvaluationSources:
        def evidence_facts(session: Session, learner_id: int) -> Sequence[EvidenceFact]:
            return list(self.facts.get(learner_id, []))

        def course_structure(session: Session, school: School) -> CourseStructure:
            return self.structure

        return EvaluationSources(evidence_facts, course_structure)


@pytest.fixture
def book() -> EvidenceBook:
    return EvidenceBook()
