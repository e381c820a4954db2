from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from credbridge.connector.awards import actions
from credbridge.connector.awards.catalogue import current_mapping_set, import_mapping_file, preview_import
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import AuditEntry, Award, MappingFile, OutboxItem, School, TemplateDefinition
from credbridge.mappings import MappingError
from tests.awards.conftest import MAPPING, EvidenceBook
from tests.issuing.pipeline import factories
from tests.mappings.helpers import Facts, cnc_operator_learner

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _versions(s) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in s.scalars(select(TemplateDefinition).order_by(TemplateDefinition.version)):
        out.setdefault(row.code, []).append(row.version)
    return out


def test_reimport_keeps_versions_and_a_change_gets_the_next(database: Database) -> None:
    text = MAPPING.read_text("utf-8")
    with database.unit_of_work() as s:
        school = factories.school(s)
        import_mapping_file(s, school, text, "admin")
        again = import_mapping_file(s, school, text, "admin")
        assert again.new_versions == [] and again.changes == []
        changed = text.replace("Technical drawing basics", "Technical drawing fundamentals")
        preview = preview_import(s, school, changed)
        assert preview.new_versions == ["TD-BASICS v2"]
        assert any("TD-BASICS" in c and "fundamentals" in c for c in preview.changes)
        assert _versions(s)["TD-BASICS"] == [1], "a preview writes nothing"
        result = import_mapping_file(s, school, changed, "admin")
        assert result.template_versions["TD-BASICS"] == 2 and result.template_versions["CNC-OPERATOR"] == 1
        versions = _versions(s)
        assert versions["TD-BASICS"] == [1, 2] and versions["WELD-SAFETY"] == [2]
        current = current_mapping_set(s, school)
        assert current.template("TD-BASICS").version == 2
        assert s.scalar(select(func.count()).select_from(MappingFile).where(MappingFile.active.is_(True))) == 1


def test_a_bad_mapping_file_names_file_and_line_and_changes_nothing(database: Database) -> None:
    with database.unit_of_work() as s:
        school = factories.school(s)
        school_id = school.id
        with pytest.raises(MappingError) as error:
            import_mapping_file(s, school, MAPPING.read_text("utf-8").replace("eqf_level: 3", "eqf_level: 12", 1),
                                "admin")
        assert "<upload>:" in str(error.value) and "eqf" in str(error.value).lower()
    with database.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(MappingFile).where(MappingFile.school_id == school_id)) == 0


def _pending(db: Database, book: EvidenceBook) -> tuple[int, int, int]:
    with db.unit_of_work() as s:
        school = factories.school(s)
        import_mapping_file(s, school, MAPPING, "admin")
        learner = factories.learner(s, school)
        book.facts[learner.id] = cnc_operator_learner()
        evaluate_learner(s, school, learner.id, NOW, sources=book.sources())
        award = s.scalars(select(Award).where(Award.template_code == "CNC-OPERATOR")).one()
        other = factories.school(s, slug="other")
        return school.id, award.id, other.id


def test_teacher_actions_check_state_and_school_and_are_audited(database: Database, book: EvidenceBook) -> None:
    school_id, award_id, other_school = _pending(database, book)
    with database.unit_of_work() as s:
        with pytest.raises(actions.ActionRefused) as refused:
            actions.approve(s, other_school, award_id, actor="intruder@other")
        assert refused.value.code == "not_found"
        with pytest.raises(actions.ActionRefused, match="retry needs one of dead"):
            actions.retry_dead(s, school_id, award_id, actor="t")
        actions.hold(s, school_id, award_id, actor="teacher@school", reason="checking the practical")
        actions.approve(s, school_id, award_id, actor="teacher@school")
        with pytest.raises(actions.ActionRefused, match="approve needs"):
            actions.approve(s, school_id, award_id, actor="teacher@school")
        item = s.scalars(select(OutboxItem).where(OutboxItem.award_id == award_id)).one()
        item.next_attempt_at = datetime(2030, 1, 1, tzinfo=UTC)
        actions.issue_now(s, school_id, award_id, actor="teacher@school", now=NOW)
        assert item.next_attempt_at == NOW
        with pytest.raises(actions.ActionRefused, match="reason"):
            actions.revoke(s, school_id, award_id, reason="  ", actor="teacher@school")
        with pytest.raises(actions.ActionRefused) as unknown:  # public reasons come from the short list only
            actions.revoke(s, school_id, award_id, public_reason="he cheated", actor="teacher@school")
        assert unknown.value.code == "unknown_reason"
        actions.revoke(s, school_id, award_id, reason="wrong learner", actor="teacher@school")
        assert item.status == "dead" and "revoked before sending" in item.last_error
        entries = [(e.action, e.actor) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.subject_type == "award", AuditEntry.subject_id == str(award_id))
            .order_by(AuditEntry.id))]
    assert entries == [("award.decided", "system:evaluation"), ("award.held", "teacher@school"),
                       ("award.approved", "teacher@school"), ("award.issue_now", "teacher@school"),
                       ("award.revoked", "teacher@school")]


@pytest.mark.postgres
def test_concurrent_evaluators_make_one_award(postgres_database: Database, book: EvidenceBook) -> None:
    with postgres_database.unit_of_work() as s:
        school = factories.school(s)
        import_mapping_file(s, school, MAPPING, "admin")
        learner = factories.learner(s, school)
        school_id, learner_id = school.id, learner.id
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]
    barrier = threading.Barrier(4)
    outcomes = []

    def evaluator() -> None:
        with postgres_database.unit_of_work() as s:
            school = s.get(School, school_id)
            barrier.wait()
            outcomes.append(evaluate_learner(s, school, learner_id, NOW, sources=book.sources()))

    threads = [threading.Thread(target=evaluator) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(o.created) for o in outcomes) == 1
    # an evaluator that starts after the winner committed sees the award; the others lose the race
    assert len(outcomes) == 4 and sum(o.lost_races for o in outcomes) <= 3
    with postgres_database.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Award)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 1


def test_import_against_the_synced_site_refuses_dangling_references(database: Database) -> None:
    from credbridge.mappings import CourseStructure

    with database.unit_of_work() as s:
        school = factories.school(s)
        with pytest.raises(MappingError, match="TD110"):
            import_mapping_file(s, school, MAPPING, "admin", structure=CourseStructure())
        assert s.scalar(select(func.count()).select_from(MappingFile)) == 0
