from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from credbridge.connector.awards import actions
from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.issuing.status import is_revoked_in_list
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, Award, Credential, OutboxItem
from tests.awards.conftest import MAPPING, EvidenceBook
from tests.issuing.pipeline import factories
from tests.mappings.helpers import CNC, Facts, cnc_operator_learner

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
BASE = "https://cb.example.org"


def _setup(db: Database, **policy) -> tuple[int, int]:
    with db.unit_of_work() as s:
        school = factories.school(s, **policy)
        import_mapping_file(s, school, MAPPING, "admin@school")
        learner = factories.learner(s, school)
        return school.id, learner.id


def _evaluate(db: Database, book: EvidenceBook, school_id: int, learner_id: int):
    from credbridge.connector.store.models import School

    with db.unit_of_work() as s:
        return evaluate_learner(s, s.get(School, school_id), learner_id, NOW, sources=book.sources())


def _worker(db: Database) -> OutboxWorker:
    return OutboxWorker(db, lambda school, target: EmbeddedAdapter(db, BASE), WorkerConfig(owner="t"))


def test_earned_templates_become_awards_with_outbox_rows(database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(database)
    book.facts[learner_id] = cnc_operator_learner()
    outcome = _evaluate(database, book, school_id, learner_id)
    with database.unit_of_work() as s:
        awards = {a.template_code: a for a in s.scalars(select(Award))}
        assert set(awards) == {"TD-BASICS", "CNC-OPERATOR"}
        assert awards["TD-BASICS"].status == "approved"
        assert awards["CNC-OPERATOR"].status == "pending_approval"  # issue_policy: teacher_approval
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 2
        snapshot = awards["CNC-OPERATOR"].snapshot
        assert snapshot["eqf_level"] == "http://data.europa.eu/snb/eqf/4"
        assert snapshot["mode"]["provenance"], "derived values keep their provenance"
        assert set(snapshot["evidence_ids"]) >= {"q-cnc-1", "a-cnc-1"}
    assert sorted(outcome.created) == sorted(a.id for a in awards.values())
    # evaluating again changes nothing
    again = _evaluate(database, book, school_id, learner_id)
    assert again.created == [] and again.flagged == []


def test_evaluation_then_embedded_issuance_and_regression_revokes(database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(database, revoke_on_regression="auto")
    book.facts[learner_id] = cnc_operator_learner()
    _evaluate(database, book, school_id, learner_id)
    assert _worker(database).run_once().sent == 1  # TD-BASICS; CNC-OPERATOR awaits approval
    with database.unit_of_work() as s:
        cnc = s.scalars(select(Award).where(Award.template_code == "CNC-OPERATOR")).one()
        actions.approve(s, school_id, cnc.id, actor="teacher@school")
    assert _worker(database).run_once().sent == 1
    with database.unit_of_work() as s:
        formats = sorted(c.format for c in s.scalars(select(Credential).where(Credential.award_id == cnc.id)))
        assert formats == ["elm", "ob3-di", "ob3-jwt"]
        assert s.get(Award, cnc.id).status == "issued"
    # the teacher reverses the assignment grade in Moodle: the old version is withdrawn
    book.facts[learner_id] = [f for f in cnc_operator_learner() if f.id != "a-cnc-1"] + [
        Facts.assign(2, CNC, 69, t=20, fid="a-cnc-1", withdrawn=True), Facts.assign(2, CNC, 10, t=60, fid="a-cnc-2")]
    outcome = _evaluate(database, book, school_id, learner_id)
    assert outcome.flagged == [cnc.id] and outcome.revoked == [cnc.id]
    with database.unit_of_work() as s:
        award = s.get(Award, cnc.id)
        assert award.status == "revoked" and award.regression["withdrawn_evidence_ids"] == ["a-cnc-1"]
        for credential in s.scalars(select(Credential).where(Credential.award_id == cnc.id)):
            assert credential.revoked_at is not None and "no longer holds" in credential.revocation_reason
            assert credential.revocation_code == "assessment_changed"  # what the public page says
            assert is_revoked_in_list(s, credential)
        actions_log = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "award",
                                                                            AuditEntry.subject_id == str(cnc.id)))]
        assert actions_log[-2:] == ["award.flagged", "award.revoked"]


def test_regression_with_ask_policy_flags_and_leaves_it_to_a_teacher(database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(database, revoke_on_regression="ask")
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(database, book, school_id, learner_id)
    _worker(database).run_once()
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1", withdrawn=True)]
    outcome = _evaluate(database, book, school_id, learner_id)
    assert len(outcome.flagged) == 1 and outcome.revoked == []
    with database.unit_of_work() as s:
        credential = s.scalars(select(Credential)).first()
        assert credential.revoked_at is None and not is_revoked_in_list(s, credential)
        award = s.scalars(select(Award)).one()
        assert award.status == "flagged"
        actions.revoke(s, school_id, award.id, reason="grade reversed", actor="teacher@school")
    with database.unit_of_work() as s:
        assert all(is_revoked_in_list(s, c) for c in s.scalars(select(Credential)))


def test_incomplete_template_does_not_issue(database: Database, book: EvidenceBook) -> None:
    text = MAPPING.read_text("utf-8").replace("    mode: Online\n", "")
    with database.unit_of_work() as s:
        school = factories.school(s)
        result = import_mapping_file(s, school, text, "admin")
        learner = factories.learner(s, school)
        school_id, learner_id = school.id, learner.id
    assert result.template_versions == {"TD-BASICS": 1, "CNC-OPERATOR": 1, "WELD-SAFETY": 2}
    # TD110's quiz is online: the unit has no declared mode, the competency rating alone shows none
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    outcome = _evaluate(database, book, school_id, learner_id)
    assert "TD-BASICS" in outcome.blocked and outcome.created == []


def test_issuance_that_lands_after_revocation_is_revoked(database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(database)
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(database, book, school_id, learner_id)
    embedded = EmbeddedAdapter(database, BASE)

    class RevokedMeanwhile:
        name = "embedded"

        def issue(self, payload, key):  # type: ignore[no-untyped-def]
            result = embedded.issue(payload, key)
            with database.unit_of_work() as s:  # a teacher revokes while the signer is busy
                actions.revoke(s, school_id, payload.award_id, reason="wrong learner", actor="teacher@school")
            return result

        def lookup(self, key, payload):  # type: ignore[no-untyped-def]
            return embedded.lookup(key, payload)

    OutboxWorker(database, lambda school, target: RevokedMeanwhile(), WorkerConfig(owner="t")).run_once()
    with database.unit_of_work() as s:
        credentials = s.scalars(select(Credential)).all()
        assert credentials and all(c.revocation_reason == "wrong learner" for c in credentials)
        assert all(is_revoked_in_list(s, c) for c in credentials)
        assert s.scalars(select(Award)).one().status == "revoked"


def test_a_teacher_can_keep_a_flagged_award(database: Database, book: EvidenceBook) -> None:
    school_id, learner_id = _setup(database, revoke_on_regression="ask")
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    _evaluate(database, book, school_id, learner_id)
    _worker(database).run_once()
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1", withdrawn=True)]
    _evaluate(database, book, school_id, learner_id)
    with database.unit_of_work() as s:
        award = s.scalars(select(Award)).one()
        with pytest.raises(actions.ActionRefused, match="say why"):
            actions.keep_flagged(s, school_id, award.id, actor="teacher@school", note="")
        actions.keep_flagged(s, school_id, award.id, actor="teacher@school", note="rating re-entered in Moodle")
        assert award.status == "issued"
    # the same evidence change does not flag it again; a new one does
    assert _evaluate(database, book, school_id, learner_id).flagged == []
    book.facts[learner_id].append(Facts.comp("ME-C1", fid="c2", withdrawn=True))
    assert len(_evaluate(database, book, school_id, learner_id).flagged) == 1
