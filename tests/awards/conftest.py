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
