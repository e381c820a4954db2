"""A course page reads many learners' facts at once: the same facts as reading them one by one."""

from __future__ import annotations

from sqlalchemy import select

from credbridge.connector.store.models import Learner
from credbridge.connector.sync.facts import current_facts, current_facts_many
from tests.sync.conftest import Harness


def test_many_learners_at_once_equal_one_by_one(harness_any: Harness) -> None:
    harness_any.sync()
    with harness_any.db.unit_of_work() as session:
        ids = list(session.scalars(select(Learner.id).order_by(Learner.id)))
        batch = current_facts_many(session, [*ids, 999_999])
        assert batch[999_999] == []  # a learner without evidence has an empty list, not a missing key
        assert sum(len(v) for v in batch.values()) > 100
        for learner_id in ids:
            assert batch[learner_id] == current_facts(session, learner_id)
        only_live = current_facts_many(session, ids, include_withdrawn=False)
        for learner_id in ids[:5]:
            assert only_live[learner_id] == current_facts(session, learner_id, include_withdrawn=False)
    with harness_any.db.unit_of_work() as session:
        assert current_facts_many(session, []) == {}
