"""The ``evaluate`` work item end to end through the sync layer's store: Evidence rows written the way
sync writes them, the request queued by sync, the registered handler deciding the award."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.issuing.pipeline import handlers
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Course, CourseCompetency, Evidence, LmsConnection, WorkItem
from credbridge.connector.sync.store import request_evaluation
from credbridge.connector.sync.worker import Worker, registered_kinds
from tests.awards.conftest import MINIMAL_MAPPING
from tests.issuing.pipeline import factories


def test_evaluate_work_item_decides_the_award(database: Database) -> None:
    assert {"evaluate", "notify", "revoke_external"} <= set(registered_kinds())
    with database.unit_of_work() as s:
        school = factories.school(s)
        import_mapping_file(s, school, MINIMAL_MAPPING, "admin")
        learner = factories.learner(s, school)
        connection = LmsConnection(school_id=school.id, name="moodle", base_url="https://moodle.example",
                                   ws_token="token")
        s.add(connection)
        s.flush()
        course = Course(connection_id=connection.id, moodle_id=2, shortname="CNC101", fullname="CNC basics")
        s.add(course)
        s.flush()
        s.add(CourseCompetency(course_id=course.id, competency_id=1, idnumber="ME-C1", shortname="Reads drawings"))
        s.add(Evidence(connection_id=connection.id, learner_id=learner.id, course_id=course.id, kind="competency",
                       source_key="competency:1", payload={"competencyid": 1, "idnumber": "ME-C1", "proficiency": True},
                       content_hash="h1", occurred_at=datetime(2026, 9, 1, tzinfo=UTC)))
        request_evaluation(s, school.id, learner.id, reason="evidence changed")
    ran = Worker(database, "test", kinds=[handlers.EVALUATE]).run_until_idle()
    assert ran == 1
    with database.unit_of_work() as s:
        award = s.scalars(select(Award)).one()
        assert (award.template_code, award.status) == ("TD-BASICS", "approved")
        assert award.snapshot["evidence_ids"] and s.scalars(select(WorkItem)).one().status == "done"
