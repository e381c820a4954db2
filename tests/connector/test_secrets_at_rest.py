"""Secrets are encrypted at rest and never appear in logs."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from credbridge.connector.logs import RedactingFilter, redact, register_secret
from credbridge.connector.store import secrets
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, School

TOKEN = "e6a751e9bafd40a949e603240876f70b"


def _school(session) -> School:
    school = School(slug="s1", legal_name="Tehnička škola", country="HR")
    session.add(school)
    session.flush()
    return school


def test_ws_token_is_ciphertext_in_the_database(database: Database) -> None:
    with database.unit_of_work() as s:
        s.add(LmsConnection(school_id=_school(s).id, name="moodle", base_url="http://127.0.0.1", ws_token=TOKEN))
    with database.unit_of_work() as s:
        raw = s.execute(text("SELECT ws_token FROM lms_connection")).scalar_one()
        assert TOKEN.encode() not in bytes(raw)
        conn = s.query(LmsConnection).one()
        assert conn.ws_token.reveal_text() == TOKEN
        assert TOKEN not in repr(conn) and TOKEN not in repr(conn.ws_token) and TOKEN not in str(conn.ws_token)


def test_a_changed_secret_key_fails_loudly_and_old_keys_still_decrypt(database: Database) -> None:
    with database.unit_of_work() as s:
        s.add(LmsConnection(school_id=_school(s).id, name="m", base_url="http://127.0.0.1", ws_token=TOKEN))
    from tests.conftest import TEST_SECRET_KEY

    try:
        secrets.configure("another-secret-key-that-is-long-enough-000")
        with pytest.raises(secrets.SecretDecryptionError, match="CREDBRIDGE_OLD_SECRET_KEYS"), \
                database.unit_of_work() as s:
            s.query(LmsConnection).one()
        secrets.configure("another-secret-key-that-is-long-enough-000", [TEST_SECRET_KEY])
        with database.unit_of_work() as s:
            assert s.query(LmsConnection).one().ws_token.reveal_text() == TOKEN
    finally:
        secrets.configure(TEST_SECRET_KEY)


@pytest.mark.parametrize(
    "line",
    [
        f"POST /webservice/rest/server.php wstoken={TOKEN}&wsfunction=core_webservice_get_site_info",
        f"headers={{'Authorization': 'Bearer {TOKEN}'}}",
        f"client_assertion={TOKEN}.{TOKEN}",
        '{"password": "hunter2hunter2"}',
        "-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----",
    ],
)
def test_redaction_patterns(line: str) -> None:
    out = redact(line)
    assert TOKEN not in out and "hunter2" not in out and "MIIEv" not in out
    assert "********" in out


def test_registered_secret_never_reaches_captured_logs(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("s3cr3t-value-for-this-test")
    logger = logging.getLogger("credbridge.test")
    caplog.handler.addFilter(RedactingFilter())
    try:
        try:
            raise RuntimeError("could not connect with s3cr3t-value-for-this-test")
        except RuntimeError:
            logger.exception("sync failed for token %s", "s3cr3t-value-for-this-test")
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])
    assert "s3cr3t-value-for-this-test" not in caplog.text
    assert "sync failed for token ********" in caplog.text
