"""The evaluation's inputs as the sync layer stores them: a learner's current evidence facts and
the course structure of every Moodle connection of the school (merged)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.decide import EvaluationSources
from credbridge.connector.store.models import LmsConnection, School
from credbridge.connector.sync.facts import course_structure, current_facts, current_facts_many
from credbridge.mappings import CourseStructure, EvidenceFact


def school_structure(session: Session, school: School) -> CourseStructure:
    connections = session.scalars(select(LmsConnection.id).where(LmsConnection.school_id == school.id)
                                  .order_by(LmsConnection.id)).all()
    courses, competencies = [], {}
    for connection_id in connections:
        structure = course_structure(session, connection_id)
        courses.extend(structure.courses)
        for competency in structure.competencies:
            competencies.setdefault(competency.id, competency)
    return CourseStructure(tuple(courses), tuple(competencies.values()))


def learner_facts(session: Session, learner_id: int) -> Sequence[EvidenceFact]:
    # withdrawn versions are included: they are how evaluation tells a regression from missing evidence
    return current_facts(session, learner_id, include_withdrawn=True)


def learners_facts(session: Session, learner_ids: list[int]) -> Mapping[int, Sequence[EvidenceFact]]:
    return current_facts_many(session, learner_ids, include_withdrawn=True)


def store_sources() -> EvaluationSources:
    return EvaluationSources(evidence_facts=learner_facts, course_structure=school_structure,
                             evidence_facts_many=learners_facts)
