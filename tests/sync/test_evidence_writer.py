"""The versioned evidence writer on its own: bulk writes in the caller's transaction, read-your-own
writes, and the comparison-only load that sync's plan uses."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from credbridge.connector.store.models import Evidence, LearnerIdentity
from credbridge.connector.sync.evidence import EvidenceWriter, Observation
from tests.sync.conftest import Harness


def observation(learner_id: int, course_id: int, state: int) -> Observation:
    return Observation("activity_completion", "cm:1", learner_id, course_id,
                       {"cmid": 1, "modname": "page", "state": state, "timecompleted": None, "overridden": False},
                       None)


def first_learner_and_course(h: Harness) -> tuple[int, int]:
    h.sync()
    with h.db.unit_of_work() as session:
        learner_id = session.scalar(select(LearnerIdentity.learner_id).order_by(LearnerIdentity.id).limit(1))
        course_id = session.scalar(select(Evidence.course_id).where(Evidence.learner_id == learner_id).limit(1))
    return learner_id, course_id


def test_a_changed_value_is_a_new_version_and_queries_see_pending_writes(harness_any: Harness):
    learner_id, course_id = first_learner_and_course(harness_any)
    with harness_any.db.unit_of_work() as session:
        writer = EvidenceWriter(session, harness_any.connection_id)
        writer.load(course_id=course_id)
        before = writer.current[(learner_id, "activity_completion", "cm:1")]
        new_state = 0 if before.payload["state"] else 1
        assert writer.upsert(observation(learner_id, course_id, new_state)) == "changed"
        assert writer.upsert(observation(learner_id, course_id, new_state)) is None  # idempotent
        # not flushed explicitly: the query itself sees the new version, as with the ORM's autoflush
        rows = session.scalars(select(Evidence).where(Evidence.learner_id == learner_id, Evidence.kind ==
                                                      "activity_completion", Evidence.source_key == "cm:1")
                               .order_by(Evidence.version)).all()
        assert [(r.version, r.is_current, r.payload["state"]) for r in rows] == [
            (before.version, False, before.payload["state"]), (before.version + 1, True, new_state)]


def test_nothing_is_written_when_the_transaction_fails(harness: Harness):
    learner_id, course_id = first_learner_and_course(harness)
    with harness.db.unit_of_work() as session:
        count = session.scalar(select(func.count(Evidence.id)))
    with pytest.raises(RuntimeError, match="boom"), harness.db.unit_of_work() as session:
        writer = EvidenceWriter(session, harness.connection_id)
        writer.load(course_id=course_id)
        writer.upsert(observation(learner_id, course_id, 3))
        writer.flush()
        raise RuntimeError("boom")
    with harness.db.unit_of_work() as session:
        assert session.scalar(select(func.count(Evidence.id))) == count


def test_a_comparison_only_load_reads_some_payloads_and_refuses_to_write(harness: Harness):
    learner_id, course_id = first_learner_and_course(harness)
    with harness.db.unit_of_work() as session:
        full = EvidenceWriter(session, harness.connection_id)
        full.load(course_id=course_id)
        partial = EvidenceWriter(session, harness.connection_id)
        partial.load(course_id=course_id, payload_kinds=("course_completion",))
        assert partial.current.keys() == full.current.keys()
        for key, version in partial.current.items():
            assert version.content_hash == full.current[key].content_hash
            assert version.payload == (full.current[key].payload if key[1] == "course_completion" else {})
        stored = full.current[(learner_id, "activity_completion", "cm:1")]
        same = Observation("activity_completion", "cm:1", learner_id, course_id, dict(stored.payload), None)
        assert not partial.would_change(same)  # compares by hash: the payload it did not read is not needed
        assert partial.would_change(observation(learner_id, course_id, 3))
        with pytest.raises(RuntimeError, match="cannot write"):
            partial.upsert(observation(learner_id, course_id, 3))
        with pytest.raises(RuntimeError, match="cannot write"):
            partial.withdraw((learner_id, "activity_completion", "cm:1"))
