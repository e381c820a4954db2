"""The pages' queries on PostgreSQL: the teacher matrix, a decision, the learner's records and the
verification page, on a fresh migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential
from tests.lti.support import tool_runtime
from tests.pages.conftest import BASE_URL, Env, build_app, csrf_token, evidence_book, seed

pytestmark = pytest.mark.postgres


def test_pages_on_postgres(postgres_database: Database) -> None:
    world = seed(postgres_database, BASE_URL)
    runtime = tool_runtime(postgres_database, BASE_URL)
    env = Env(build_app(runtime, book=evidence_book(world)), runtime, postgres_database, world)
    teacher = env.teacher()
    data = teacher.get("/teacher/course/2/matrix.json").get_json()
    states = {row["id"]: row["cells"]["CNC-OPERATOR"]["state"] for row in data["learners"]}
    assert states[world.learner_hostile] == "pending_approval" and states[world.learner_full] == "issued"
    token = csrf_token(teacher, "/teacher/course/2")
    teacher.post("/teacher/course/2/awards", data={"csrf_token": token, "action": "hold",
                                                   "award_id": str(world.award_pending)})
    with postgres_database.unit_of_work() as s:
        assert s.get(Award, world.award_pending).status == "held"
        uuid = s.scalars(select(Credential.uuid).where(Credential.award_id == world.award_full,
                                                       Credential.format == "ob3-jwt")).one()
    assert env.teacher("3").get("/teacher/course/2/matrix.json").status_code == 403
    learner = env.learner(world.learner_full).get("/learner/records.json").get_json()
    assert {a["template"] for a in learner["awards"]} == {"CNC-OPERATOR", "TD-BASICS"}
    page = env.client().get(f"/credentials/{uuid}").get_data(as_text=True)
    assert 'data-verdict="valid"' in page
    assert "Page 1 of" in env.admin().get("/admin/audit").get_data(as_text=True)
