"""The teacher's course view: matrix states, filters, sync with progress, decisions, preview."""

from __future__ import annotations

from sqlalchemy import select

from credbridge.connector.store.models import AuditEntry, Award, Credential, WorkItem
from tests.pages.conftest import Env, csrf_token


def test_matrix_shows_each_learner_state_and_annex_values_with_provenance(env: Env) -> None:
    client = env.teacher()
    data = client.get("/teacher/course/2/matrix.json").get_json()
    learners = {row["id"]: row["cells"] for row in data["learners"]}
    w = env.world
    assert set(learners) == {w.learner_hostile, w.learner_plain, w.learner_full}  # not the WELD201 learner
    hostile = learners[env.world.learner_hostile]
    assert hostile["CNC-OPERATOR"]["state"] == "pending_approval"
    assert hostile["TD-BASICS"]["state"] == "issued"
    plain = learners[env.world.learner_plain]
    assert plain["CNC-PROG"]["state"] == "in_progress"  # the quiz is passed, the assignment is missing
    # the quiz is passed, so only the assignment is named, as a sentence (no rule syntax, no code)
    assert plain["CNC-PROG"]["missing"] == ["Get at least 50% for Program a facing operation"]
    assert plain["CNC-OPERATOR"]["state"] == "in_progress"
    assert "Achieve Programming a CNC facing operation" in plain["CNC-OPERATOR"]["missing"]
    assert not any("CNC-PROG" in m for m in plain["CNC-OPERATOR"]["missing"])
    assert plain["CNC-OPS"]["state"] == "in_progress"
    assert hostile["CNC-PROG"]["state"] == "achieved"  # a unit achieved, on its way into the credential
    codes = {c["code"] for c in data["columns"]}
    assert {"CNC-OPERATOR", "CNC-PROG", "CNC-OPS"} <= codes
    page = client.get("/teacher/course/2").get_data(as_text=True)
    assert "Values to be written" in page and "Form of participation" in page
    assert "From the learner&#39;s results in Moodle" in page  # provenance of the derived values, in words


def test_filters_by_state_unit_and_name(env: Env) -> None:
    client = env.teacher()
    page = client.get("/teacher/course/2?state=pending_approval").get_data(as_text=True)
    assert "Marko Horvat" not in page and "O&#39;Brien" in page
    page = client.get("/teacher/course/2?q=marko").get_data(as_text=True)
    assert "Marko Horvat" in page and "O&#39;Brien" not in page
    page = client.get("/teacher/course/2?unit=CNC-OPS").get_data(as_text=True)
    assert 'data-code="CNC-OPS"' in page and 'data-code="TD-BASICS"' not in page


def test_approve_then_issue_through_the_outbox(env: Env) -> None:
    client = env.teacher()
    token = csrf_token(client, "/teacher/course/2")
    response = client.post("/teacher/course/2/awards",
                           data={"csrf_token": token, "action": "approve", "award_id": str(env.world.award_pending)})
    assert response.status_code == 302
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_pending).status == "approved"
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "award.approved")).first() is not None


def test_revoke_asks_for_confirmation_and_a_public_reason_and_changes_nothing_without_one(env: Env) -> None:
    client = env.teacher()
    token = csrf_token(client, "/teacher/course/2")
    revoke = {"csrf_token": token, "action": "revoke", "award_id": str(env.world.award_issued)}
    # first the confirmation, naming whose credential and which
    page = client.post("/teacher/course/2/awards", data=revoke)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Revoke 1 credential?" in html
    assert "O&#39;Brien (Technical drawing basics)" in html and 'name="public_reason"' in html
    # a confirmation without a public reason is refused with a message, a private note alone is not enough
    refused = client.post("/teacher/course/2/awards", data={**revoke, "confirmed": "yes", "reason": "copied work"})
    assert refused.status_code == 400
    assert "Choose the reason that will be shown publicly; nothing was revoked." in refused.get_data(as_text=True)
    assert "copied work" in refused.get_data(as_text=True)  # the note typed so far is kept
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_issued).status == "issued"
    done = client.post("/teacher/course/2/awards", follow_redirects=True, data={
        **revoke, "confirmed": "yes", "public_reason": "issued_in_error", "reason": "copied work"})
    assert "Revoked for" in done.get_data(as_text=True) and "(Technical drawing basics)" in done.get_data(as_text=True)
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_issued).status == "revoked"
        credential = s.scalars(select(Credential).where(Credential.award_id == env.world.award_issued)).first()
        assert credential.revocation_code == "issued_in_error" and credential.revocation_reason == "copied work"


def test_bulk_action_reports_refusals_per_award(env: Env) -> None:
    client = env.teacher()
    token = csrf_token(client, "/teacher/course/2")
    response = client.post("/teacher/course/2/awards", follow_redirects=True, data={
        "csrf_token": token, "action": "approve",
        "award_id": [str(env.world.award_pending), str(env.world.award_issued)]})
    page = response.get_data(as_text=True)
    assert "Approved for " in page and "(CNC machine operator (micro-qualification))." in page
    assert "not possible while the credential is “Issued”; nothing was changed." in page
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_pending).status == "approved"


def test_post_without_csrf_token_is_refused(env: Env) -> None:
    client = env.teacher()
    response = client.post("/teacher/course/2/awards", data={"action": "approve",
                                                             "award_id": str(env.world.award_pending)})
    assert response.status_code == 400
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_pending).status == "pending_approval"


def test_sync_request_and_progress_endpoint(env: Env) -> None:
    client = env.teacher()
    token = csrf_token(client, "/teacher/course/2")
    response = client.post("/teacher/course/2/sync", data={"csrf_token": token},
                           headers={"Accept": "application/json"})
    assert response.status_code == 202
    work_id = response.get_json()["work_id"]
    with env.db.unit_of_work() as s:
        item = s.get(WorkItem, work_id)
        assert item.payload["course_moodle_id"] == 2
        item.progress = {"done": 3, "total": 7, "stage": "grades"}
    progress = client.get(f"/teacher/course/2/sync/{work_id}.json").get_json()
    assert progress == {"status": "pending", "done": 3, "total": 7, "stage": "grades", "error": None}
    page = client.get(f"/teacher/course/2?work={work_id}").get_data(as_text=True)
    assert 'aria-live="polite"' in page and f"/sync/{work_id}.json" in page


def test_preview_is_the_ob3_document_built_from_the_snapshot(env: Env) -> None:
    client = env.teacher()
    document = client.get(f"/teacher/course/2/awards/{env.world.award_pending}/preview?format=json").get_json()
    assert "AchievementCredential" in document["type"]
    assert document["credentialSubject"]["achievement"]["name"]
    page = client.get(f"/teacher/course/2/awards/{env.world.award_pending}/preview").get_data(as_text=True)
    assert "AchievementCredential" in page and "Learning outcomes" in page


def test_course_chart_has_a_text_alternative(env: Env) -> None:
    page = env.teacher().get("/teacher/course/2").get_data(as_text=True)
    assert '<svg class="chart" role="img"' in page and "<desc" in page
    assert "Learners per state" in page  # the table behind the chart
