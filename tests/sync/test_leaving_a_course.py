"""A learner who leaves a course after earning a credential keeps it: a suspended or ended enrolment,
or an unenrolment at the end of the year, is not a regression of the evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.awards.sources import school_structure
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.pipeline import handlers
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.store.models import Award, Credential, Enrolment, Evidence, LearnerIdentity, School
from credbridge.connector.sync.worker import Worker
from tests.awards.conftest import MAPPING


@pytest.mark.parametrize("mode", ["suspend", "unenrol"])
def test_leaving_the_course_keeps_the_evidence_and_the_credential(harness, mode: str) -> None:
    db, site = harness.db, harness.emulator.site
    harness.sync()
    with db.unit_of_work() as s:
        school = s.scalar(select(School))
        school.policy = {"revoke_on_regression": "auto"}  # the policy under which a regression revokes
        import_mapping_file(s, school, MAPPING, "admin", structure=school_structure(s, school))
    Worker(db, "w", kinds=[handlers.EVALUATE]).run_until_idle()
    with db.unit_of_work() as s:
        for award in s.scalars(select(Award).where(Award.status == "pending_approval")):
            award.status = "approved"
    OutboxWorker(db, lambda school, target: EmbeddedAdapter(db, "https://cb.example"),
                 WorkerConfig(owner="o")).run_once()
    with db.unit_of_work() as s:
        users = {i.learner_id: int(i.external_id) for i in s.scalars(select(LearnerIdentity))}
        award = s.scalars(select(Award).where(Award.template_code == "TD-BASICS", Award.status == "issued")
                          .order_by(Award.id)).first()
        assert award is not None, "the dataset has an issued TD-BASICS to test with"
        award_id, learner_id = award.id, award.learner_id
        evidence_before = {(e.kind, e.source_key, e.version) for e in s.scalars(
            select(Evidence).where(Evidence.learner_id == learner_id, Evidence.is_current.is_(True)))}
    left = [course for course in (2, 3, 4) if site.is_enrolled(course, users[learner_id])]
    for course in left:
        site.withdraw(users[learner_id], course, mode=mode)
    harness.sync()
    harness.sync(full=True)  # the nightly reconciliation does not withdraw it either
    Worker(db, "w", kinds=[handlers.EVALUATE]).run_until_idle()
    with db.unit_of_work() as s:
        award = s.get(Award, award_id)
        assert award.status == "issued" and not award.regression
        assert all(c.revoked_at is None for c in s.scalars(select(Credential).where(Credential.award_id == award_id)))
        evidence_after = {(e.kind, e.source_key, e.version) for e in s.scalars(
            select(Evidence).where(Evidence.learner_id == learner_id, Evidence.is_current.is_(True)))}
        assert evidence_after == evidence_before
        enrolments = s.scalars(select(Enrolment).where(Enrolment.learner_id == learner_id)).all()
        assert left and all(not e.active for e in enrolments)
        # a suspended learner is still enrolled in Moodle (teachers see them with that state); an unenrolled one left
        assert {e.state for e in enrolments} == {"suspended" if mode == "suspend" else "left"}


@pytest.mark.parametrize(("policy", "expected"), [(None, "pending_approval"), ("issue", "approved")])
def test_a_learner_suspended_after_completing_is_decided_by_school_policy(harness, policy, expected) -> None:
    """Completed while enrolled, suspended before the credential was decided: the teacher still sees the
    learner (with the suspended state) and the school's policy decides whether the credential is issued
    (every policy: tests/awards/test_suspended_enrolment.py)."""
    db, site = harness.db, harness.emulator.site
    harness.sync()
    with db.unit_of_work() as s:
        users = {int(i.external_id): i.learner_id for i in s.scalars(select(LearnerIdentity))}
    suspended_user = 19  # completed TD110 (course 4) in the recording
    site.withdraw(suspended_user, 4, mode="suspend")
    harness.sync()
    with db.unit_of_work() as s:
        states = {e.learner_id: e.state for e in s.scalars(select(Enrolment))}
        school = s.scalar(select(School))
        school.policy = {"revoke_on_regression": "ask", **({"suspended_enrolment": policy} if policy else {})}
        import_mapping_file(s, school, MAPPING, "admin", structure=school_structure(s, school))
    assert "suspended" in states.values() and "left" not in states.values()
    Worker(db, "w", kinds=[handlers.EVALUATE]).run_until_idle()
    with db.unit_of_work() as s:
        awards = {(a.learner_id, a.template_code): a.status for a in s.scalars(select(Award))}
    suspended = awards[(users[suspended_user], "TD-BASICS")]
    others = {status for (learner, code), status in awards.items()
              if code == "TD-BASICS" and learner != users[suspended_user]}
    assert others == {"approved"}  # the template issues automatically for learners still enrolled
    assert suspended == expected
