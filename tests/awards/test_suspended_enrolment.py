"""A learner who earned a credential but is no longer actively enrolled in the courses its evidence comes
from: the school's ``suspended_enrolment`` policy decides (issue 11), by default the teacher approves."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, Award, Course, Enrolment, LmsConnection
from tests.awards.conftest import EvidenceBook
from tests.awards.test_decide import _evaluate, _setup
from tests.mappings.helpers import CNC, TD, cnc_operator_learner


def _enrolled(db: Database, school_id: int, learner_id: int, states: dict[int, str]) -> int:
    """The learner's enrolments on one Moodle connection; returns the connection id."""
    with db.unit_of_work() as s:
        connection = LmsConnection(school_id=school_id, name="moodle", base_url="https://moodle.example",
                                   ws_token="t" * 32)
        s.add(connection)
        s.flush()
        for moodle_id, state in states.items():
            course = Course(connection_id=connection.id, moodle_id=moodle_id, shortname=f"C{moodle_id}",
                            fullname=f"Course {moodle_id}")
            s.add(course)
            s.flush()
            s.add(Enrolment(course_id=course.id, learner_id=learner_id, roles=["student"], active=state == "active",
                            state=state))
        return connection.id


def _moodle_facts(connection_id: int, learner_id: int) -> list:
    """The helper's evidence with the ids sync gives it (connector/sync/facts.py fact_id)."""
    return [dataclasses.replace(f, id=f"moodle_ws:{connection_id}:{f.kind}:{learner_id}:{f.id}:v1")
            for f in cnc_operator_learner()]


@pytest.mark.parametrize(("policy", "expected"), [
    ({}, "pending_approval"), ({"suspended_enrolment": "teacher_approval"}, "pending_approval"),
    ({"suspended_enrolment": "issue"}, "approved"), ({"suspended_enrolment": "hold"}, "held")])
def test_a_suspended_learner_is_decided_by_the_school_policy(sqlite_database: Database, book: EvidenceBook,
                                                             policy: dict, expected: str) -> None:
    school_id, learner_id = _setup(sqlite_database, **policy)
    connection_id = _enrolled(sqlite_database, school_id, learner_id, {CNC: "suspended", TD: "suspended"})
    book.facts[learner_id] = _moodle_facts(connection_id, learner_id)
    _evaluate(sqlite_database, book, school_id, learner_id)
    with sqlite_database.unit_of_work() as s:
        awards = {a.template_code: a.status for a in s.scalars(select(Award))}
        decided = s.scalars(select(AuditEntry).where(AuditEntry.action == "award.decided")).all()
    # TD-BASICS issues automatically, CNC-OPERATOR needs the teacher anyway
    assert awards == {"TD-BASICS": expected,
                      "CNC-OPERATOR": "held" if expected == "held" else "pending_approval"}
    assert {d.details["enrolment"] for d in decided} == {"suspended"}


@pytest.mark.parametrize(("states", "expected"), [
    ({CNC: "active", TD: "suspended"}, "approved"),           # the evidence comes from CNC101: still enrolled
    ({CNC: "suspended", TD: "active"}, "pending_approval")])  # enrolled elsewhere does not count
def test_what_counts_is_the_enrolment_in_the_courses_the_evidence_comes_from(
        sqlite_database: Database, book: EvidenceBook, states: dict, expected: str) -> None:
    school_id, learner_id = _setup(sqlite_database)
    connection_id = _enrolled(sqlite_database, school_id, learner_id, states)
    book.facts[learner_id] = _moodle_facts(connection_id, learner_id)
    _evaluate(sqlite_database, book, school_id, learner_id)
    with sqlite_database.unit_of_work() as s:
        awards = {a.template_code: a.status for a in s.scalars(select(Award))}
    assert awards["TD-BASICS"] == expected


def test_a_learner_who_left_is_decided_like_a_suspended_one(sqlite_database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(sqlite_database)
    connection_id = _enrolled(sqlite_database, school_id, learner_id, {CNC: "left", TD: "left"})
    book.facts[learner_id] = _moodle_facts(connection_id, learner_id)
    _evaluate(sqlite_database, book, school_id, learner_id)
    with sqlite_database.unit_of_work() as s:
        assert s.scalar(select(Award.status).where(Award.template_code == "TD-BASICS")) == "pending_approval"
