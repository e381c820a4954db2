"""Re-review: after a learner is erased on request, no table but the append-only audit log holds what
people wrote about them. A teacher's private revocation note ("Petra Novak asked…") stayed on each
revoked credential (``credential.revocation_reason``) and in the failed delivery's error after the
erasure; the learner's name and e-mail were gone everywhere else. The audit log keeps such notes by
design (SECURITY.md, connector/privacy)."""

from __future__ import annotations

import json

from sqlalchemy import inspect, select, text

from credbridge.connector.store.models import Credential, OutboxItem
from tests.pages.conftest import Env, csrf_token

NOTE = "Petra Novak asked for it, petra@alpha.example"
PERSONAL = ("Petra", "Novak", "petra@alpha.example")


def _rows_naming_her(env: Env) -> list[tuple[str, str]]:
    """Every (table, row) outside the audit log whose text names the learner."""
    found = []
    with env.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table in ("audit_log", "alembic_version"):
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608 - table names from the schema
                line = json.dumps([str(v) for v in row], ensure_ascii=False)
                if any(word in line for word in PERSONAL):
                    found.append((table, line[:200]))
    return found


def test_erasure_leaves_no_note_about_the_learner(env: Env) -> None:
    world = env.world
    learner = env.session_for(env.client(), roles=["learner"], context_id="2", learner_id=world.learner_full,
                              name="Petra Novak")
    assert learner
    teacher = env.teacher("2")
    revoked = teacher.post("/teacher/course/2/awards", data={
        "csrf_token": csrf_token(teacher, "/teacher/course/2"), "action": "revoke", "award_id": world.award_full,
        "confirmed": "yes", "public_reason": "wrong_learner", "reason": NOTE})
    assert revoked.status_code == 302
    with env.db.unit_of_work() as s:
        credentials = list(s.scalars(select(Credential).where(Credential.award_id == world.award_full)))
        assert credentials and {c.revocation_reason for c in credentials} == {NOTE}
        for item in s.scalars(select(OutboxItem).where(OutboxItem.award_id == world.award_full)):
            item.status, item.last_error = "dead", f"award revoked before sending: {NOTE}"
    assert _rows_naming_her(env)  # before: her name, e-mail, the note

    admin = env.admin()
    erased = admin.post(f"/admin/operations/learners/{world.learner_full}/erase", data={
        "csrf_token": csrf_token(admin, "/admin/operations/"), "confirm": "yes", "reason": "request 2026/18"})
    assert erased.status_code == 302

    assert _rows_naming_her(env) == []
    with env.db.unit_of_work() as s:
        credentials = list(s.scalars(select(Credential).where(Credential.award_id == world.award_full)))
        # still revoked, for the reason the public was told
        assert all(c.revoked_at is not None and c.revocation_code == "wrong_learner" for c in credentials)
    page = env.client().get(f"/credentials/{credentials[0].uuid}")
    assert page.status_code == 410
