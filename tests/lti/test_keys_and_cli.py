"""Tool keys (rotation, JWKS) and the `lti` / `keys` commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from credbridge.connector.commands.lti import keys as keys_group
from credbridge.connector.commands.lti import lti as lti_group
from credbridge.connector.keys import (
    RegistrationLinkError,
    current_tool_key,
    published_jwks,
    rotate_tool_key,
    school_from_registration_token,
    school_registration_token,
)
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, LtiRegistration, LtiUsedNonce, School, SigningKey
from tests.lti.support import TEST_SECRET_KEY


def test_tool_key_is_created_once_encrypted_and_signs(database: Database) -> None:
    with database.unit_of_work() as db:
        key = current_tool_key(db)
        again = current_tool_key(db)
        assert key.kid == again.kid
        jwks = published_jwks(db)
    assert [k["kid"] for k in jwks["keys"]] == [key.kid]
    assert "d" not in jwks["keys"][0]  # never the private part
    token = key.sign({"hello": "world"})
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    assert jwt.decode(token, jwt.PyJWK(jwks["keys"][0]).key, algorithms=["RS256"]) == {"hello": "world"}
    with database.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT private_key FROM signing_key").scalar_one()
    assert b"PRIVATE KEY" not in bytes(stored)  # encrypted at rest
    assert jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0]).key_size >= 2048


def test_rotation_keeps_the_old_key_published_for_the_grace_period(database: Database) -> None:
    with database.unit_of_work() as db:
        old = current_tool_key(db)
        new = rotate_tool_key(db, grace=timedelta(hours=1))
        assert current_tool_key(db).kid == new.kid != old.kid
        kids = [k["kid"] for k in published_jwks(db)["keys"]]
        assert kids == [new.kid, old.kid]
        later = datetime.now(UTC) + timedelta(hours=2)
        assert [k["kid"] for k in published_jwks(db, now=later)["keys"]] == [new.kid]
        assert db.scalars(select(AuditEntry.action).where(AuditEntry.action == "lti_key.rotated")).all()


def test_nonce_store_refuses_a_replay_at_the_database(database: Database) -> None:
    with database.unit_of_work() as db:
        school = School(slug="s", legal_name="S", country="FI")
        db.add(school)
        db.flush()
        registration = LtiRegistration(school_id=school.id, issuer="http://127.0.0.1:1", client_id="c",
                                       auth_login_url="http://127.0.0.1:1/a", auth_token_url="http://127.0.0.1:1/t",
                                       key_set_url="http://127.0.0.1:1/k")
        db.add(registration)
        db.flush()
        registration_id = registration.id
    expires = datetime.now(UTC) + timedelta(minutes=5)
    with database.unit_of_work() as db:
        db.add(LtiUsedNonce(registration_id=registration_id, nonce="n-1", expires_at=expires))
    with pytest.raises(IntegrityError), database.unit_of_work() as db:
        db.add(LtiUsedNonce(registration_id=registration_id, nonce="n-1", expires_at=expires))


def test_school_registration_token_is_signed() -> None:
    token = school_registration_token(TEST_SECRET_KEY, 7)
    assert school_from_registration_token(TEST_SECRET_KEY, token) == 7
    for secret, tampered in [("another-secret-key-0123456789abcdefgh", token), (TEST_SECRET_KEY, token[:-2] + "xx")]:
        with pytest.raises(RegistrationLinkError, match="not one this credbridge signed"):
            school_from_registration_token(secret, tampered)
    with pytest.raises(RegistrationLinkError, match="does not name a school"):
        school_from_registration_token(TEST_SECRET_KEY, "")


@pytest.fixture
def cli_env(sqlite_database: Database) -> dict[str, str]:
    with sqlite_database.unit_of_work() as db:
        db.add(School(slug="vet", legal_name="VET College", country="FI"))
    return {"CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY, "CREDBRIDGE_DATABASE_URL": sqlite_database.url,
            "CREDBRIDGE_BASE_URL": "http://127.0.0.1:5055", "CREDBRIDGE_CONFIG": "",
            "CREDBRIDGE_LOG_LEVEL": "WARNING"}


def _run(group, args: list[str], env: dict[str, str], tmp_path) -> object:  # type: ignore[no-untyped-def]
    config = tmp_path / "credbridge.toml"
    config.write_text("[credbridge]\n")
    return CliRunner().invoke(group, args, env={**env, "CREDBRIDGE_CONFIG": str(config)}, catch_exceptions=False)


def test_cli_register_list_disable(cli_env: dict[str, str], sqlite_database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = "http://127.0.0.1:8080"
    args = ["register", "--school", "vet", "--issuer", base, "--client-id", "63f37xS9yJfBaXO",
            "--deployment-id", "1", "--auth-url", base + "/mod/lti/auth.php", "--token-url",
            base + "/mod/lti/token.php", "--jwks-url", base + "/mod/lti/certs.php"]
    result = _run(lti_group, args, cli_env, tmp_path)
    assert result.exit_code == 0, result.output
    again = _run(lti_group, args, cli_env, tmp_path)
    assert again.exit_code != 0 and "already registered" in again.output
    listing = _run(lti_group, ["list"], cli_env, tmp_path)
    assert "63f37xS9yJfBaXO" in listing.output and "active" in listing.output
    with sqlite_database.unit_of_work() as db:
        registration = db.scalars(select(LtiRegistration)).one()
        assert [d.deployment_id for d in registration.deployments] == ["1"]
        registration_id = registration.id
    assert _run(lti_group, ["disable", str(registration_id)], cli_env, tmp_path).exit_code == 0
    with sqlite_database.unit_of_work() as db:
        assert db.get(LtiRegistration, registration_id).status == "disabled"
    bad = _run(lti_group, [*args[:-1], "not-a-url"], cli_env, tmp_path)
    assert bad.exit_code == 2 and "--jwks-url" in bad.output
    unknown = _run(lti_group, ["register", "--school", "nope", *args[3:]], cli_env, tmp_path)
    assert unknown.exit_code == 1 and "no school 'nope'" in unknown.output


def test_cli_registration_url_and_key_rotation(cli_env: dict[str, str], sqlite_database: Database,
                                               tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _run(lti_group, ["registration-url", "--school", "vet"], cli_env, tmp_path)
    assert result.exit_code == 0 and result.output.startswith("http://127.0.0.1:5055/lti/register?school=")
    assert _run(keys_group, ["list"], cli_env, tmp_path).exit_code == 0
    rotated = _run(keys_group, ["rotate", "--grace-hours", "2"], cli_env, tmp_path)
    assert rotated.exit_code == 0, rotated.output
    with sqlite_database.unit_of_work() as db:
        rows = db.scalars(select(SigningKey).order_by(SigningKey.id)).all()
        assert len(rows) == 2 and rows[0].retired_at is not None and rows[1].retired_at is None


@pytest.mark.postgres
def test_two_first_launches_at_once_keep_one_tool_key(postgres_database: Database) -> None:
    # another worker commits the first tool key after this one found none and before it inserts
    def competitor_commits_first(session, flush_context, instances) -> None:
        with postgres_database.unit_of_work() as other:
            current_tool_key(other)

    with postgres_database.unit_of_work() as db:
        event.listen(db, "before_flush", competitor_commits_first, once=True)
        key = current_tool_key(db)
    with postgres_database.unit_of_work() as db:
        rows = db.scalars(select(SigningKey).where(SigningKey.purpose == "lti")).all()
        created = db.scalars(select(AuditEntry).where(AuditEntry.action == "lti_key.created")).all()
    assert [r.kid for r in rows] == [key.kid]
    assert len(created) == 1
