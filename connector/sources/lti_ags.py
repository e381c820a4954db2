"""Evidence from LTI Assignment and Grade Services results of line items the tool owns.

``results`` are the dicts the AGS results endpoint returns (``userId``, ``resultScore``,
``resultMaximum``, optional ``timestamp``/``comment``), as :mod:`credbridge.connector.lti_services`
hands them over. A results read is complete for its line item, so a result that disappeared is
withdrawn.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.moodle.functions import to_decimal
from credbridge.connector.store.models import Course, LearnerIdentity, LmsConnection
from credbridge.connector.sync.evidence import EvidenceWriter, Observation, WriteCounts, dec, percent
from credbridge.connector.sync.store import request_evaluation

SOURCE = "lti_ags"


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def import_ags_results(session: Session, connection: LmsConnection, lineitem: dict[str, Any],
                       results: list[dict[str, Any]], *, course_moodle_id: int | None = None) -> WriteCounts:
    lineitem_id = str(lineitem.get("id") or "")
    if not lineitem_id:
        raise ValueError("AGS line item without an id")
    course_id = None
    if course_moodle_id is not None:
        course_id = session.scalar(select(Course.id).where(Course.connection_id == connection.id,
                                                           Course.moodle_id == course_moodle_id))
    identities = {i.external_id: i.learner_id for i in session.scalars(
        select(LearnerIdentity).where(LearnerIdentity.connection_id == connection.id))}
    key = f"lineitem:{lineitem_id}"
    writer = EvidenceWriter(session, connection.id, source=SOURCE)
    writer.load(learner_ids=set(identities.values()))
    writer.current = {k: v for k, v in writer.current.items() if k[1] == "external" and k[2] == key}
    for result in results:
        learner_id = identities.get(str(result.get("userId")))
        score = to_decimal(result.get("resultScore"))
        if learner_id is None or score is None:
            continue
        maximum = to_decimal(result.get("resultMaximum")) or to_decimal(lineitem.get("scoreMaximum")) or Decimal(1)
        payload = {"assessment": lineitem.get("tag") or lineitem.get("resourceId") or lineitem_id,
                   "assessment_name": lineitem.get("label"), "lineitem": lineitem_id, "raw": dec(score),
                   "max": dec(maximum), "percent": dec(percent(score, Decimal(0), maximum)),
                   "mode": "online", "comment": result.get("comment")}
        writer.upsert(Observation("external", key, learner_id, course_id, payload, _timestamp(result.get("timestamp"))))
    writer.withdraw_unseen()
    for learner_id in sorted(writer.counts.learners):
        request_evaluation(session, connection.school_id, learner_id, reason="ags_results")
    return writer.counts
