"""Export, erasure and retention on SQLite and PostgreSQL, on learners who earned real credentials
(the page tests' seeded world: real mapping import, evaluation and embedded signing)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from credbridge.cli import main
from credbridge.connector.issuing.formats.verify import verify_jwt
from credbridge.connector.privacy.erase import ErasureRefused, erase_learner, pseudonym
from credbridge.connector.privacy.export import export_learner, find_learners
from credbridge.connector.privacy.retention import apply_retention
from credbridge.connector.settings import MAX_RETENTION_DAYS, SettingsError, load_settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    AuditEntry,
    Award,
    Credential,
    Enrolment,
    Evidence,
    LaunchSession,
    Learner,
    LearnerIdentity,
    LmsConnection,
    OutboxItem,
    SyncRun,
    WorkItem,
)
from tests.conftest import TEST_SECRET_KEY
from tests.lti.support import tool_runtime
from tests.pages.conftest import World, build_app, seed

BASE = "https://credbridge.test"


@pytest.fixture
def world(database: Database) -> World:
    world = seed(database, BASE)
    with database.unit_of_work() as session:
        for learner_id, moodle_id in ((world.learner_hostile, 41), (world.learner_plain, 42)):
            session.add(LearnerIdentity(learner_id=learner_id, connection_id=world.connection_a,
                                        external_id=str(moodle_id), username=f"user{moodle_id}"))
            for version, current in ((1, False), (2, True)):
                session.add(Evidence(connection_id=world.connection_a, learner_id=learner_id,
                                     course_id=world.course_cnc, kind="grade_item", source_key="gi:7",
                                     version=version, is_current=current,
                                     payload={"raw": 40 + version * 20}, content_hash=f"h{learner_id}{version}",
                                     observed_at=utcnow() - timedelta(days=400 if not current else 1)))
        session.add(LaunchSession(id="s" * 40, school_id=world.school_a, subject="41", roles=["learner"],
                                  learner_id=world.learner_hostile, name="Ana", email="ana@alpha.example",
                                  expires_at=utcnow() + timedelta(hours=1)))
        session.add(WorkItem(school_id=world.school_a, kind="evaluate", key=f"learner:{world.learner_hostile}",
                             payload={"learner_id": world.learner_hostile}, status="pending"))
    return world


def test_export_holds_everything_about_the_learner_and_nothing_of_others(database: Database, world: World) -> None:
    with database.unit_of_work() as session:
        document = export_learner(session, world.learner_hostile)
    text = json.dumps(document, default=str)
    assert document["learner"]["email"] == "ana@alpha.example"
    assert document["identities"] == [{"connection": "moodle", "moodle": "http://127.0.0.1:9",
                                       "moodle_user_id": "41", "username": "user41"}]
    assert [e["version"] for e in document["evidence"]] == [1, 2]
    assert {a["template"]: a["status"] for a in document["awards"]} == {"CNC-OPERATOR": "pending_approval",
                                                                        "TD-BASICS": "issued"}
    assert document["credentials"] and all(c["document"] for c in document["credentials"])
    assert document["enrolments"][0]["course"]["shortname"] == "CNC101"
    assert document["launches"][0]["email"] == "ana@alpha.example"
    assert any(a["action"] == "award.decided" for a in document["audit"])
    assert "petra@alpha.example" not in text and "marko@alpha.example" not in text
    with database.unit_of_work() as session, pytest.raises(LookupError):
        export_learner(session, world.learner_hostile, school_id=world.school_b)  # another school's console


def test_erasure_removes_personal_data_and_keeps_issued_credentials_valid(database: Database, world: World) -> None:
    with database.unit_of_work() as session:
        issued = session.scalars(select(Credential).join(Award).where(Award.learner_id == world.learner_hostile,
                                                                      Credential.format == "ob3-jwt")).one()
        holders_copy, uuid = issued.document, issued.uuid
        formats = session.scalar(select(func.count()).select_from(Credential)
                                 .where(Credential.award_id == issued.award_id))
        other_before = export_learner(session, world.learner_full)
    with database.unit_of_work() as session:
        report = erase_learner(session, world.learner_hostile, actor="dpo@alpha.example", reason="request 2026/17")
    assert report.evidence == 2 and report.enrolments == 1 and report.identities == 1 and report.sessions == 1
    assert report.awards_withdrawn == ["CNC-OPERATOR v1 (pending_approval)"] and report.credentials_kept == formats
    with database.unit_of_work() as session:
        learner = session.get(Learner, world.learner_hostile)
        assert learner.full_name == pseudonym(learner.id) and learner.erased_at is not None
        assert (learner.email, learner.idnumber, learner.given_name, learner.family_name) == (None,) * 4
        for model in (Evidence, Enrolment, LearnerIdentity, LaunchSession):
            assert session.scalar(select(func.count()).select_from(model)
                                  .where(model.learner_id == world.learner_hostile)) == 0
        assert session.scalar(select(func.count()).select_from(WorkItem)
                              .where(WorkItem.key == f"learner:{world.learner_hostile}")) == 0
        awards = session.scalars(select(Award).where(Award.learner_id == world.learner_hostile)).all()
        assert [(a.template_code, a.status) for a in awards] == [("TD-BASICS", "issued")]
        assert "identity_salt" not in awards[0].snapshot
        assert session.get(Award, world.award_pending) is None
        assert session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.award_id == world.award_pending)) == 0
        kept = session.scalars(select(Credential).where(Credential.uuid == uuid)).one()
        assert kept.document == "" and kept.revoked_at is None and kept.status_index is not None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "learner.erased")).one()
        assert entry.actor == "dpo@alpha.example" and entry.details["reason"] == "request 2026/17"
        assert entry.details["credentials_kept_valid"] == formats
        assert "ana" not in json.dumps(entry.details).lower()
        # everyone else is untouched
        assert export_learner(session, world.learner_full)["credentials"] == other_before["credentials"]
        assert export_learner(session, world.learner_full)["learner"] == other_before["learner"]

    # the holder's copy still verifies: the school's DID document and status list are still served
    app = build_app(tool_runtime(database, BASE))
    client = app.test_client()

    def did_provider(did: str) -> dict:
        slug = did.rsplit(":", 1)[-1]
        return client.get(f"/schools/{slug}/did.json").json

    def status_provider(url: str) -> str:
        return client.get(urlsplit(url).path).text

    result = verify_jwt(holders_copy, did_provider, status_provider)
    assert result.ok, result.failures
    assert client.get(f"/credentials/{uuid}").status_code == 410  # credbridge's own copy is gone
    assert client.get(f"/credentials/{uuid}.jwt").status_code == 410


def test_erasure_refuses_bad_requests_and_changes_nothing(database: Database, world: World) -> None:
    with database.unit_of_work() as session:
        before = export_learner(session, world.learner_hostile)
    with database.unit_of_work() as session, pytest.raises(ErasureRefused, match="reason"):
        erase_learner(session, world.learner_hostile, actor="x", reason="  ")
    with database.unit_of_work() as session, pytest.raises(ErasureRefused, match="no learner"):
        erase_learner(session, world.learner_hostile, actor="x", reason="r", school_id=world.school_b)
    with database.unit_of_work() as session:
        award = session.get(Award, world.award_pending)
        award.status = "issuing"
    with database.unit_of_work() as session, pytest.raises(ErasureRefused, match="being issued"):
        erase_learner(session, world.learner_hostile, actor="x", reason="r")
    with database.unit_of_work() as session:
        after = export_learner(session, world.learner_hostile)
    assert after["evidence"] == before["evidence"] and after["learner"] == before["learner"]
    assert after["credentials"] == before["credentials"]


def test_an_erased_learner_is_never_evaluated_again(database: Database, world: World) -> None:
    from credbridge.connector.awards.decide import evaluate_learner
    from credbridge.connector.store.models import School
    from tests.awards.conftest import EvidenceBook
    from tests.mappings.helpers import cnc_operator_learner

    with database.unit_of_work() as session:
        erase_learner(session, world.learner_hostile, actor="x", reason="r")
    book = EvidenceBook()
    book.facts[world.learner_hostile] = cnc_operator_learner()
    with database.unit_of_work() as session:
        outcome = evaluate_learner(session, session.get(School, world.school_a), world.learner_hostile, utcnow(),
                                   sources=book.sources())
        assert outcome.created == [] and outcome.flagged == [] and outcome.revoked == []
        assert session.scalar(select(func.count()).select_from(Award)
                              .where(Award.learner_id == world.learner_hostile)) == 1


def test_retention_deletes_old_history_and_never_current_evidence(database: Database, world: World) -> None:
    now = utcnow()
    with database.unit_of_work() as session:
        session.add_all([
            SyncRun(connection_id=world.connection_a, mode="incremental", status="ok",
                    started_at=now - timedelta(days=200)),
            SyncRun(connection_id=world.connection_a, mode="incremental", status="ok",
                    started_at=now - timedelta(days=2)),
            WorkItem(kind="evaluate", key="learner:old", payload={}, status="done",
                     updated_at=now - timedelta(days=40)),
            WorkItem(kind="sync_connection", key="connection:old", payload={}, status="done",
                     updated_at=now - timedelta(days=40)),
        ])
        session.add(LaunchSession(id="e" * 40, school_id=world.school_a, subject="1", roles=[],
                                  expires_at=now - timedelta(minutes=1)))
    settings = load_settings(secret_key=TEST_SECRET_KEY, retention_evidence_days=365)
    with database.unit_of_work() as session:
        report = apply_retention(session, settings, now)
    assert report.deleted["sync runs"] == 1 and report.deleted["work items"] == 1
    assert report.deleted["superseded evidence versions"] == 2  # the two learners' 400-day-old version 1
    assert report.deleted["expired sessions"] == 1
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Evidence).where(Evidence.is_current.is_(False))) == 0
        assert session.scalar(select(func.count()).select_from(Evidence).where(Evidence.is_current.is_(True))) == 2
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1
        # the schedule's own items stay: their request time is when the next sync is due
        assert session.scalar(select(WorkItem.id).where(WorkItem.key == "connection:old")) is not None
    unset = load_settings(secret_key=TEST_SECRET_KEY)  # evidence retention off by default
    with database.unit_of_work() as session:
        assert "superseded evidence versions" not in apply_retention(session, unset, now).deleted


RETENTION_SETTINGS = ("retention_sync_runs_days", "retention_work_items_days", "retention_evidence_days")


@pytest.mark.parametrize("name", RETENTION_SETTINGS)
def test_a_retention_beyond_any_date_is_refused_at_start(name: str) -> None:
    """A million days ("keep for ever") was accepted, then every daily pass failed on the date it
    subtracts (OverflowError: date value out of range): nothing expired was deleted any more."""
    with pytest.raises(SettingsError, match=f"CREDBRIDGE_{name.upper()} is wrong"):
        load_settings(secret_key=TEST_SECRET_KEY, **{name: 1_000_000})


def test_the_longest_retention_applies(database: Database, world: World) -> None:
    longest = dict.fromkeys(RETENTION_SETTINGS, MAX_RETENTION_DAYS)
    with database.unit_of_work() as session:
        report = apply_retention(session, load_settings(secret_key=TEST_SECRET_KEY, **longest))
    assert report.deleted["sync runs"] == 0 and report.deleted["superseded evidence versions"] == 0


def test_find_learners_is_scoped_to_the_school(database: Database, world: World) -> None:
    with database.unit_of_work() as session:
        assert [lr.id for lr in find_learners(session, world.school_a, "petra@alpha.example")] == [world.learner_full]
        assert find_learners(session, world.school_b, "petra@alpha.example") == []
        assert [lr.id for lr in find_learners(session, world.school_a, "user41")] == [world.learner_hostile]


def test_cli_export_and_erase(sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = seed(sqlite_database, BASE)
    monkeypatch.setenv("CREDBRIDGE_DATABASE_URL", sqlite_database.url)
    monkeypatch.setenv("CREDBRIDGE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("CREDBRIDGE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    runner = CliRunner()
    out = tmp_path / "petra.json"
    result = runner.invoke(main, ["learners", "export", "--school", "alpha", "--out", str(out),
                                  "petra@alpha.example"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["learner"]["full_name"] == "Petra Novak"
    assert out.stat().st_mode & 0o777 == 0o600
    result = runner.invoke(main, ["learners", "export", "--school", "beta", "petra@alpha.example"])
    assert result.exit_code != 0 and "no learner of beta" in result.output
    result = runner.invoke(main, ["learners", "erase", "--school", "alpha", "--reason", "req-9",
                                  str(world.learner_full)], input="n\n")
    assert result.exit_code != 0  # declined: nothing erased
    with sqlite_database.unit_of_work() as session:
        assert session.get(Learner, world.learner_full).erased_at is None
    result = runner.invoke(main, ["learners", "erase", "--school", "alpha", "--reason", "req-9", "--yes",
                                  str(world.learner_full)])
    assert result.exit_code == 0, result.output
    assert "credentials kept valid" in result.output
    result = runner.invoke(main, ["learners", "erase", "--school", "alpha", "--reason", "req-9", "--yes",
                                  str(world.learner_full)])
    assert result.exit_code != 0 and "already erased" in result.output
    with sqlite_database.unit_of_work() as session:
        assert session.get(Learner, world.learner_full).erased_at is not None
        assert session.get(LmsConnection, world.connection_a) is not None
    result = runner.invoke(main, ["retention", "--dry-run"])
    assert result.exit_code == 0 and "would delete" in result.output
