"""Evidence that changes while the award's credential is being signed or sent: the automatic policy
still revokes what lands, and an award whose flag is lifted after its sends landed ends issued."""

from __future__ import annotations

from sqlalchemy import select

from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.pipeline.outbox import NOTIFY_KIND
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.issuing.status import is_revoked_in_list
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, School, WorkItem
from tests.awards.conftest import EvidenceBook
from tests.awards.test_decide import BASE, NOW, _setup
from tests.mappings.helpers import Facts


def _run_with_evidence_changing_mid_send(database: Database, book: EvidenceBook, policy: str) -> tuple[int, int]:
    school_id, learner_id = _setup(database, revoke_on_regression=policy)
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1")]

    def evaluate():
        with database.unit_of_work() as s:
            return evaluate_learner(s, s.get(School, school_id), learner_id, NOW, sources=book.sources())

    evaluate()
    embedded = EmbeddedAdapter(database, BASE)
    seen = []

    class SlowSigner:
        name = "embedded"

        def issue(self, payload, key):
            result = embedded.issue(payload, key)
            # meanwhile the teacher reverses the rating in Moodle; sync and evaluation run
            book.facts[learner_id] = [Facts.comp("ME-C1", fid="c1", withdrawn=True)]
            seen.append(evaluate())
            return result

        def lookup(self, key, payload):
            return embedded.lookup(key, payload)

    OutboxWorker(database, lambda school, target: SlowSigner(), WorkerConfig(owner="t")).run_once()
    assert seen and seen[0].flagged, "the change was seen while the award was being issued"
    return school_id, learner_id


def test_the_automatic_policy_revokes_a_credential_that_was_in_flight(database: Database, book: EvidenceBook) -> None:
    _run_with_evidence_changing_mid_send(database, book, "auto")
    with database.unit_of_work() as s:
        award = s.scalars(select(Award)).one()
        credentials = s.scalars(select(Credential)).all()
        assert award.status == "revoked"
        assert credentials and all(c.revoked_at is not None and is_revoked_in_list(s, c) for c in credentials)


def test_an_award_whose_flag_is_lifted_after_its_sends_landed_is_issued(database: Database,
                                                                         book: EvidenceBook) -> None:
    school_id, learner_id = _run_with_evidence_changing_mid_send(database, book, "ask")
    with database.unit_of_work() as s:
        assert s.scalars(select(Award)).one().status == "flagged"
    book.facts[learner_id] = [Facts.comp("ME-C1", fid="c2")]  # the rating is given back
    with database.unit_of_work() as s:
        evaluate_learner(s, s.get(School, school_id), learner_id, NOW, sources=book.sources())
    with database.unit_of_work() as s:
        award = s.scalars(select(Award)).one()
        assert award.status == "issued"
        assert s.scalars(select(WorkItem.key).where(WorkItem.kind == NOTIFY_KIND)).all() == [f"award:{award.id}"]
        assert all(c.revoked_at is None for c in s.scalars(select(Credential)))
