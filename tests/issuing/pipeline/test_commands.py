from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.commands.issue import credentials, issue, outbox
from credbridge.connector.issuing.formats import verify_jwt
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, OutboxItem
from tests.awards.conftest import MAPPING, EvidenceBook
from tests.awards.test_decide import _evaluate
from tests.conftest import TEST_SECRET_KEY
from tests.issuing.pipeline import factories
from tests.mappings.helpers import Facts

BASE = "https://cb.example.org"


@pytest.fixture
def env(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", sqlite_database.url)
    monkeypatch.setenv("CREDBRIDGE_BASE_URL", BASE)
    book = EvidenceBook()
    with sqlite_database.unit_of_work() as s:
        school = factories.school(s)
        import_mapping_file(s, school, MAPPING, "admin")
        learner = factories.learner(s, school)
        school_id, learner_id = school.id, learner.id
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(sqlite_database, book, school_id, learner_id)
    return sqlite_database


def test_issue_export_revoke(env: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(issue, ["--once", "--school", "tsrb"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    with env.unit_of_work() as s:
        rows = {c.format: c.uuid for c in s.scalars(select(Credential))}
    assert set(rows) == {"ob3-jwt", "ob3-di", "elm"}  # TD-BASICS's outputs in the worked example

    out = tmp_path / "export"
    result = runner.invoke(credentials, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = out / "tsrb"
    names = {p.name for p in folder.iterdir()}
    assert {f"{rows['ob3-jwt']}.vc.jwt", f"{rows['ob3-di']}.vc.json", f"{rows['elm']}.elm.json", "did.json",
            "jwks.json", "status-list.jwt"} <= names
    did_document = json.loads((folder / "did.json").read_text())
    token = (folder / f"{rows['ob3-jwt']}.vc.jwt").read_text().strip()
    verdict = verify_jwt(token, lambda did: did_document)
    assert verdict.ok, verdict

    bad = runner.invoke(credentials, ["revoke", rows["ob3-jwt"], "--public-reason", "because"])
    assert bad.exit_code == 2 and "'because' is not one of" in bad.output
    nothing = runner.invoke(credentials, ["revoke", rows["ob3-jwt"]])
    assert nothing.exit_code == 1 and "needs a reason" in nothing.output
    with env.unit_of_work() as s:
        assert s.scalars(select(Award)).one().status == "issued"  # refused revocations changed nothing
    result = runner.invoke(credentials, ["revoke", rows["ob3-jwt"], "--public-reason", "wrong_learner",
                                         "--note", "ticket 4411: mixed up two Ivans"])
    assert result.exit_code == 0, result.output
    assert "verifiers see: Issued to the wrong person" in result.output
    assert "4411" not in result.output
    with env.unit_of_work() as s:
        assert s.scalars(select(Award)).one().status == "revoked"
        credentials_now = list(s.scalars(select(Credential)))
        assert all(c.revocation_code == "wrong_learner" for c in credentials_now)
        assert all(c.revocation_reason == "ticket 4411: mixed up two Ivans" for c in credentials_now)
    again = runner.invoke(credentials, ["revoke", rows["ob3-jwt"], "--reason", "twice"])
    assert again.exit_code != 0 and "already revoked" in again.output


def test_unknown_school_and_credential_are_clear_errors(env: Database) -> None:
    runner = CliRunner()
    result = runner.invoke(issue, ["--once", "--school", "nope"])
    assert result.exit_code == 2 and "no school with slug 'nope'" in result.output
    result = runner.invoke(credentials, ["revoke", "00000000-0000-0000-0000-000000000000", "--reason", "x"])
    assert result.exit_code == 1 and "no credential" in result.output


def test_outbox_list_and_retry_dead(env: Database) -> None:
    with env.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        item.status, item.attempts, item.last_error = "dead", 8, "[rejected] embedded: boom"
        s.get(Award, item.award_id).status = "dead"
    runner = CliRunner()
    listed = runner.invoke(outbox, ["list", "--status", "dead"])
    assert listed.exit_code == 0 and "boom" in listed.output and "embedded" in listed.output
    assert runner.invoke(outbox, ["retry"]).exit_code == 2
    retried = runner.invoke(outbox, ["retry", "--all-dead"])
    assert retried.exit_code == 0 and "retrying 1 outbox items of 1 awards" in retried.output
    with env.unit_of_work() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert (item.status, item.attempts) == ("failed", 0)
        assert s.get(Award, item.award_id).status == "approved"
    assert "sent 1" in runner.invoke(issue, ["--once"]).output
