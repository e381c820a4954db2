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


def test_stuck_and_failed_work_is_listed_and_started_again_only_by_its_school(env: Env) -> None:
    from datetime import timedelta

    from credbridge.connector.store.base import utcnow
    from credbridge.connector.store.models import WorkItem
    from credbridge.connector.sync.worker import MAX_CRASHES

    now = utcnow()
    with env.db.unit_of_work() as session:
        stuck = WorkItem(kind="sync_connection", key=f"connection:{env.world.connection_a}:incremental",
                         payload={"connection_id": env.world.connection_a}, school_id=env.world.school_a,
                         status="stuck", crashes=MAX_CRASHES, last_error="set aside after its worker died")
        abandoned = WorkItem(kind="evaluate", key="learner:1", payload={}, school_id=env.world.school_a,
                             status="running", lease_owner="gone/w0", lease_expires_at=now - timedelta(seconds=5))
        other = WorkItem(kind="evaluate", key="learner:2", payload={}, school_id=env.world.school_b,
                         status="failed", attempts=5, last_error="ValueError: beta's own trouble")
        session.add_all([stuck, abandoned, other])
        session.flush()
        ids = stuck.id, abandoned.id, other.id
    client = env.admin()
    html = client.get(PAGE).get_data(as_text=True)
    assert f'id="attention-work-{ids[0]}"' in html and "Set aside" in html and "Start again" in html
    assert f'id="attention-work-{ids[1]}"' in html and "takes it over when its lease runs out" in html
    assert '<td id="work-set-aside">1</td>' in html
    assert f'id="attention-work-{ids[2]}"' not in html and "beta&#39;s own trouble" not in html  # another school's
    assert "beta&#39;s own trouble" in env.admin(school_id=env.world.school_b).get(PAGE).get_data(as_text=True)

    retry = f"/admin/operations/work/{ids[0]}/retry"
    assert client.post(retry).status_code == 400  # no CSRF token
    teacher = env.teacher()
    assert teacher.post(retry, data={"csrf_token": csrf_token(teacher, "/teacher/course/2")}).status_code == 403
    other_admin = env.admin(school_id=env.world.school_b)
    other_token = csrf_token(other_admin, PAGE)
    assert other_admin.post(retry, data={"csrf_token": other_token}).status_code == 404
    token = csrf_token(client, PAGE)
    # work that is running is not "started again" (its daemon, or the next one, has it)
    refused = client.post(f"/admin/operations/work/{ids[1]}/retry", data={"csrf_token": token},
                          follow_redirects=True)
    assert "neither failed nor stuck" in refused.get_data(as_text=True)
    with env.db.unit_of_work() as session:
        assert session.get(WorkItem, ids[0]).status == "stuck"
        assert session.get(WorkItem, ids[1]).status == "running"
    done = client.post(retry, data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200 and "will be started again" in done.get_data(as_text=True)
    with env.db.unit_of_work() as session:
        row = session.get(WorkItem, ids[0])
        assert (row.status, row.crashes, row.attempts, row.last_error) == ("pending", 0, 0, None)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "work.retried"))
        assert entry is not None and entry.subject_id == str(ids[0]) and entry.school_id == env.world.school_a
    assert f'id="attention-work-{ids[0]}"' not in client.get(PAGE).get_data(as_text=True)
