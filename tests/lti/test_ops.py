"""/healthz, /readyz, /metrics and request ids on the web side."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from credbridge.connector.logs import ContextFilter, JsonFormatter
from credbridge.connector.runtime import Runtime
from credbridge.connector.settings import load_settings
from credbridge.connector.store import migrate
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Learner, LmsConnection, School, SyncRun
from credbridge.lti.app import create_app
from tests.conftest import TEST_SECRET_KEY

BASE = "https://credbridge.example"
TOKEN = "metrics-token-0123456789"


def app_for(database: Database, **settings: object) -> Flask:
    cfg = load_settings(secret_key=TEST_SECRET_KEY, database_url=database.url, base_url=BASE, **settings)
    return create_app(Runtime(settings=cfg, db=database), config={"LTI_COOKIE_SECURE": False})


def seed(database: Database) -> None:
    with database.unit_of_work() as session:
        school = School(slug="ops", legal_name="Ops School", country="HR")
        session.add(school)
        session.flush()
        conn = LmsConnection(school_id=school.id, name="moodle", base_url="http://127.0.0.1:9", ws_token="t" * 32)
        learner = Learner(school_id=school.id, full_name="Ana Horvat")
        session.add_all([conn, learner])
        session.flush()
        session.add(SyncRun(connection_id=conn.id, mode="incremental", status="ok", ws_calls=42))
        for i, status in enumerate(["issued", "issued", "pending_approval"]):
            session.add(Award(school_id=school.id, learner_id=learner.id, template_code=f"T{i}", template_version=1,
                              status=status))


def test_healthz_answers_without_the_database(tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")  # a folder that does not exist
    response = app_for(broken).test_client().get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_readyz_when_the_database_is_at_head(database: Database) -> None:
    response = app_for(database).test_client().get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["ready"] is True and body["checks"]["migrations"]["current"] == migrate.head_revision(database.url)


def test_readyz_refuses_a_database_behind_the_release(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0002")
    db = Database(url)
    try:
        response = app_for(db).test_client().get("/readyz")
    finally:
        db.dispose()
    assert response.status_code == 503
    assert response.json["checks"]["migrations"] == {"ok": False, "current": "0002",
                                                     "head": migrate.head_revision(url)}


def test_readyz_refuses_an_unreachable_database() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    try:
        response = app_for(db).test_client().get("/readyz")
    finally:
        db.dispose()
    assert response.status_code == 503
    assert response.json["checks"]["database"]["ok"] is False


def test_metrics_show_the_database_figures_to_an_allowed_address(database: Database) -> None:
    seed(database)
    client = app_for(database).test_client()
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    text = response.text
    assert 'credbridge_awards{state="issued"} 2.0' in text
    assert 'credbridge_awards{state="pending_approval"} 1.0' in text
    assert re.search(r'credbridge_connection_last_sync_ws_calls\{connection_id="\d+"\} 42\.0', text)
    assert 'credbridge_connection_info{connection_id=' in text and 'school="ops"' in text
    assert "credbridge_outbox_depth 0.0" in text
    assert "credbridge_database_up 1.0" in text
    assert "process_resident_memory_bytes" in text


@pytest.mark.parametrize("headers, remote, expected", [
    ({}, "10.1.2.3", 401),                                                # not an allowed address, no token
    ({"Authorization": "Bearer wrong-token-000000000"}, "10.1.2.3", 401),  # a wrong token
    ({"Authorization": f"Bearer {TOKEN}"}, "10.1.2.3", 200),               # the token from anywhere
    ({"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1", 401),               # through the proxy: not local
    ({"Forwarded": "for=203.0.113.9"}, "127.0.0.1", 401),
    ({}, "10.9.8.7", 200),                                                 # an allowed network
    ({"Authorization": f"Basic {TOKEN}"}, "10.1.2.3", 401),                # the token, but not as a bearer
])
def test_metrics_access(sqlite_database: Database, headers: dict[str, str], remote: str, expected: int) -> None:
    client = app_for(sqlite_database, metrics_token=TOKEN, metrics_allow=["127.0.0.1/32", "10.9.0.0/16"]).test_client()
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == expected
    if expected == 401:
        assert "credbridge_" not in response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_metrics_without_a_configured_token_refuse_every_bearer(sqlite_database: Database) -> None:
    client = app_for(sqlite_database).test_client()
    response = client.get("/metrics", headers={"Authorization": "Bearer "}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 401


def test_request_ids_are_sent_back_and_reach_the_log_lines(sqlite_database: Database,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    app = app_for(sqlite_database)

    @app.get("/_test/log")
    def write_a_line() -> str:
        logging.getLogger("credbridge.test").warning("inside the request")
        return "ok"

    client = app.test_client()
    handler_filter = ContextFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.WARNING, logger="credbridge.test"):
        offered = client.get("/_test/log", headers={"X-Request-ID": "proxy-abc.123"})
        fresh = client.get("/_test/log")
        hostile = client.get("/_test/log", headers={"X-Request-ID": "bad id [job=x]"})
    assert offered.headers["X-Request-ID"] == "proxy-abc.123"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])
    assert hostile.headers["X-Request-ID"] != "bad id [job=x]"
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])
    ids = [record.request_id for record in caplog.records if record.name == "credbridge.test"]
    assert ids == ["proxy-abc.123", fresh.headers["X-Request-ID"], hostile.headers["X-Request-ID"]]
    record = next(r for r in caplog.records if r.name == "credbridge.test")
    assert '"request_id": "proxy-abc.123"' in JsonFormatter().format(record)
    # outside a request no id is left behind
    logging.getLogger("credbridge.test").warning("after")
    assert caplog.records[-1].request_id is None


def test_learners_and_awards_are_scoped_in_the_school_figures(database: Database) -> None:
    from credbridge.connector.metrics import operations_figures

    seed(database)
    with database.unit_of_work() as session:
        other = School(slug="other", legal_name="Other", country="SI")
        session.add(other)
        session.flush()
        learner = Learner(school_id=other.id, full_name="Marko Novak")
        session.add(learner)
        session.flush()
        session.add(Award(school_id=other.id, learner_id=learner.id, template_code="X", template_version=1,
                          status="issued"))
    with database.unit_of_work() as session:
        ops = session.scalar(select(School.id).where(School.slug == "ops"))
        mine = operations_figures(session, ops)
        everyone = operations_figures(session)
    assert mine.awards == {"issued": 2, "pending_approval": 1}
    assert everyone.awards == {"issued": 3, "pending_approval": 1}
    assert [c.school for c in mine.connections] == ["ops"] and mine.connections[0].last_ws_calls == 42
