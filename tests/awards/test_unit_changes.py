"""A unit edited for next year gives its templates a new version: credentials already earned keep the
version they were earned under (not re-judged by the new rule, not revoked), and one version always
carries one set of Annex I values."""

from __future__ import annotations

from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, School
from tests.awards.conftest import MAPPING, MINIMAL_MAPPING, EvidenceBook
from tests.awards.test_decide import NOW, _worker
from tests.issuing.pipeline import factories
from tests.mappings.helpers import Facts

NEXT_YEAR = (MINIMAL_MAPPING
             .replace("competency_proficient: {competency: ME-C1}", "competency_proficient: {competency: ME-C2}")
             .replace("{system: CSVET, points: 2}", "{system: CSVET, points: 3}"))


def test_a_changed_unit_makes_a_new_template_version_and_old_awards_stand(database: Database,
                                                                           book: EvidenceBook) -> None:
    assert NEXT_YEAR != MINIMAL_MAPPING
    with database.unit_of_work() as s:
        school = factories.school(s, revoke_on_regression="auto")
        first = import_mapping_file(s, school, MINIMAL_MAPPING, "admin")
        last_year, this_year = factories.learner(s, school, 1), factories.learner(s, school, 2)
        school_id, a, b = school.id, last_year.id, this_year.id

    def evaluate(learner_id: int):
        with database.unit_of_work() as s:
            return evaluate_learner(s, s.get(School, school_id), learner_id, NOW, sources=book.sources())

    book.facts[a] = [Facts.comp("ME-C1", fid="c1")]
    evaluate(a)
    _worker(database).run_once()
    with database.unit_of_work() as s:
        second = import_mapping_file(s, s.get(School, school_id), NEXT_YEAR, "admin")
        again = import_mapping_file(s, s.get(School, school_id), NEXT_YEAR, "admin")
    assert first.template_versions == {"TD-BASICS": 1} and second.template_versions == {"TD-BASICS": 2}
    assert second.new_versions == ["TD-BASICS v2"] and again.new_versions == []  # the same file again: nothing
    outcome = evaluate(a)  # last year's learner: evidence unchanged, judged under v1
    book.facts[b] = [Facts.comp("ME-C2", fid="c2")]
    evaluate(b)
    with database.unit_of_work() as s:
        awards = {aw.learner_id: aw for aw in s.scalars(select(Award))}
        assert not outcome.revoked and awards[a].status == "issued" and not awards[a].regression
        assert all(c.revoked_at is None for c in s.scalars(select(Credential).where(
            Credential.award_id == awards[a].id)))
        assert (awards[a].template_version, awards[b].template_version) == (1, 2)
        assert awards[a].snapshot["credits"] != awards[b].snapshot["credits"]


def test_a_changed_stacked_unit_versions_every_template_it_reaches(sqlite_database: Database) -> None:
    # TD-READ is CNC-OPERATOR's through the stacked TD-BASICS, not one of its own units: its credits
    # are part of CNC-OPERATOR's workload, so changing them must version CNC-OPERATOR too
    text = MAPPING.read_text("utf-8")
    old = "credits: [{system: CSVET, points: 2}, {system: ECVET, points: 1}]"
    assert text.count(old) == 1
    with sqlite_database.unit_of_work() as s:
        school = factories.school(s)
        first = import_mapping_file(s, school, text, "admin")
        second = import_mapping_file(s, school, text.replace(old, old.replace("points: 1}", "points: 2}")), "admin")
    assert {c: v + 1 for c, v in first.template_versions.items()} == second.template_versions
