"""Review findings 4 and 5: the console login slows a guessing client whatever e-mails it tries,
slows everyone a little (never refuses) when failures pile up globally, never locks an e-mail, and
does the same scrypt work for unknown and known e-mails."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from credbridge.connector.store.models import AuditEntry
from credbridge.lti.pages import login_throttle
from tests.pages.conftest import ADMIN_PASSWORD, Env, csrf_token

ATTACKER, ADMIN_DESK = "203.0.113.7", "198.51.100.20"


def _login(env: Env, email: str, password: str, client_address: str) -> tuple[FlaskClient, object]:
    client = env.client()
    client.environ_base["REMOTE_ADDR"] = client_address
    token = csrf_token(client, "/admin/login")
    return client, client.post("/admin/login", data={"csrf_token": token, "email": email, "password": password})


def _failures(env: Env) -> int:
    with env.db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "admin.login_failed")) or 0


def test_spraying_many_emails_from_one_client_is_slowed(env: Env) -> None:
    statuses = [_login(env, f"guess{i}@alpha.example", "Spring2026!", ATTACKER)[1].status_code for i in range(8)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429] * 5  # each later e-mail must wait: it gets no fresh try
    assert _failures(env) == 3  # an early attempt checked no password
    _client, early = _login(env, "guess9@alpha.example", "x", ATTACKER)
    assert early.status_code == 429 and int(early.headers["Retry-After"]) >= 1


def test_the_wait_doubles_and_ends(env: Env) -> None:
    now = datetime.now(UTC)
    with env.db.unit_of_work() as s:
        for minutes in (14, 13, 12, 11):  # four failures, the last 11 minutes ago: its 2 s are long over
            s.add(AuditEntry(at=now - timedelta(minutes=minutes), actor=login_throttle.actor(ATTACKER),
                             action="admin.login_failed", subject_type="admin_user", subject_id="x@y"))
    assert _login(env, "a@alpha.example", "wrong", ATTACKER)[1].status_code == 401
    with env.db.unit_of_work() as s:
        verdict = login_throttle.assess(s, ATTACKER)
    assert 3 < verdict.retry_after <= 4  # the fifth failure: 2 ** (5 - 3) seconds
    _client, early = _login(env, "b@alpha.example", "wrong", ATTACKER)
    assert early.status_code == 429 and early.headers["Retry-After"] in ("3", "4")
    assert login_throttle.client_wait(100) == login_throttle.CLIENT_MAX_WAIT


def test_nobody_can_lock_the_real_admin_out(env: Env) -> None:
    for _ in range(20):
        _login(env, env.world.admin_email, "wrong password!!", ATTACKER)
    client, response = _login(env, env.world.admin_email, ADMIN_PASSWORD, ADMIN_DESK)
    assert response.status_code == 302
    assert "Tehnička škola Alpha" in client.get("/admin/").get_data(as_text=True)


def test_a_global_storm_slows_every_answer_but_refuses_none(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    with env.db.unit_of_work() as s:
        for i in range(login_throttle.GLOBAL_FREE_FAILURES + 20):  # one failure each from many clients
            s.add(AuditEntry(at=now - timedelta(seconds=30), actor=login_throttle.actor(f"192.0.2.{i}"),
                             action="admin.login_failed", subject_type="admin_user", subject_id="x@y"))
    paused: list[float] = []
    monkeypatch.setattr(login_throttle, "pause", paused.append)
    _client, response = _login(env, env.world.admin_email, ADMIN_PASSWORD, ADMIN_DESK)
    assert response.status_code == 302
    assert paused and 0 < paused[0] <= login_throttle.GLOBAL_MAX_DELAY
    assert login_throttle.global_delay(10_000) == login_throttle.GLOBAL_MAX_DELAY


def test_unknown_and_known_emails_cost_the_same_scrypt_work(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counting(password: bytes, *, salt: bytes, n: int, r: int, p: int, **kw: object) -> bytes:
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, **kw)

    _login(env, env.world.admin_email, "warm up the dummy hash", "192.0.2.200")
    monkeypatch.setattr(hashlib, "scrypt", counting)
    _login(env, env.world.admin_email, "wrong password!!", "192.0.2.201")
    known = list(calls)
    calls.clear()
    _login(env, "nobody@alpha.example", "wrong password!!", "192.0.2.202")
    assert known and calls == known  # one scrypt, same cost parameters
    _client, unknown = _login(env, "nobody2@alpha.example", "x", "192.0.2.203")
    _client, wrong = _login(env, env.world.admin_email, "x", "192.0.2.204")
    assert unknown.status_code == wrong.status_code == 401

    def shown(response: object, email: str) -> str:
        text = response.get_data(as_text=True).replace(email, "E")  # type: ignore[attr-defined]
        return re.sub(r'name="csrf_token" value="[^"]+"', "", text)

    assert shown(unknown, "nobody2@alpha.example") == shown(wrong, env.world.admin_email)
