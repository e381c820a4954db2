"""The console's operations page: the school's figures, and a learner's data (export, erasure),
always scoped to the administrator's own school."""

from __future__ import annotations

import json

from sqlalchemy import select

from credbridge.connector.store.models import AuditEntry, Learner, SyncRun
from tests.pages.conftest import Env, csrf_token

PAGE = "/admin/operations/"


def test_the_page_shows_the_schools_own_figures(env: Env) -> None:
    with env.db.unit_of_work() as session:
        session.add(SyncRun(connection_id=env.world.connection_a, mode="incremental", status="ok", ws_calls=37))
    page = env.admin().get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<td>37</td>" in html  # the last sync's WS calls
    assert "No daemon keeps the schedule" in html
    assert 'id="awards"' in html and "Issued: " in html
    other = env.admin(school_id=env.world.school_b).get(PAGE).get_data(as_text=True)
    assert "<td>37</td>" not in other


def test_only_administrators_reach_it(env: Env) -> None:
    assert env.teacher().get(PAGE).status_code == 403
    assert env.learner(env.world.learner_full).get(PAGE).status_code == 403
    assert env.client().get(PAGE).status_code in (401, 403)
    export = f"/admin/operations/learners/{env.world.learner_full}/export.json"
    assert env.teacher().get(export).status_code == 403
    assert env.learner(env.world.learner_full).get(export).status_code == 403


def test_find_and_export_a_learner_of_the_school(env: Env) -> None:
    client = env.admin()
    found = client.get(PAGE, query_string={"q": "petra@alpha.example"}).get_data(as_text=True)
    assert "Petra Novak" in found
    assert "Petra Novak" not in env.admin(school_id=env.world.school_b).get(
        PAGE, query_string={"q": "petra@alpha.example"}).get_data(as_text=True)
    response = client.get(f"/admin/operations/learners/{env.world.learner_full}/export.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data(as_text=True))
    assert document["learner"]["email"] == "petra@alpha.example" and document["credentials"]
    with env.db.unit_of_work() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "learner.exported")) is not None
    # another school's learner: not found, whatever the id
    assert env.admin(school_id=env.world.school_b).get(
        f"/admin/operations/learners/{env.world.learner_full}/export.json").status_code == 404


def test_erasure_needs_the_token_the_confirmation_and_the_right_school(env: Env) -> None:
    client = env.admin()
    target = f"/admin/operations/learners/{env.world.learner_full}/erase"
    assert client.post(target, data={"reason": "r", "confirm": "yes"}).status_code == 400  # no CSRF token
    token = csrf_token(client, PAGE + "?q=petra")
    client.post(target, data={"csrf_token": token, "reason": "request 4"})  # not confirmed
    other = env.admin(school_id=env.world.school_b)
    other_token = csrf_token(other, PAGE + "?q=Beta")
    assert other.post(target, data={"csrf_token": other_token, "reason": "r", "confirm": "yes"}).status_code == 404
    with env.db.unit_of_work() as session:
        assert session.get(Learner, env.world.learner_full).erased_at is None
    done = client.post(target, data={"csrf_token": token, "reason": "request 4", "confirm": "yes"},
                       follow_redirects=True)
    assert done.status_code == 200 and "erased" in done.get_data(as_text=True)
    with env.db.unit_of_work() as session:
        learner = session.get(Learner, env.world.learner_full)
        assert learner.erased_at is not None and learner.email is None
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "learner.erased"))
        assert entry.details["reason"] == "request 4"
