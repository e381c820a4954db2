"""Which evidence facts count as work by the learner (the pages' "not started" versus "in progress")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from tests.mappings.helpers import T0

K = EvidenceKind


def fact(kind: EvidenceKind, **fields) -> EvidenceFact:
    return EvidenceFact(id=f"t:{kind}", kind=kind, occurred_at=T0, course_id=2, **fields)


@pytest.mark.parametrize(("built", "work"), [
    # what a sync stores for every enrolled learner, whether or not they did anything
    (fact(K.COURSE_COMPLETION, completed=False), False),
    (fact(K.ACTIVITY_COMPLETION, cmid=7, state=0), False),
    (fact(K.GRADE_ITEM, grade_item_id=9), False),
    (fact(K.ASSIGNMENT_GRADE, cmid=8), False),
    (fact(K.COMPETENCY, competency_idnumber="ME-C2"), False),
    # work
    (fact(K.COURSE_COMPLETION, completed=True), True),
    (fact(K.ACTIVITY_COMPLETION, cmid=7, state=1), True),
    (fact(K.ACTIVITY_COMPLETION, cmid=7, state=3), True),  # complete but failed is still work
    (fact(K.GRADE_ITEM, grade_item_id=9, raw=Decimal("0")), True),  # a zero is a grade
    (fact(K.ASSIGNMENT_GRADE, cmid=8, percent=Decimal("40")), True),
    (fact(K.COMPETENCY, competency_idnumber="ME-C2", proficient=False), True),  # rated, not yet proficient
    (fact(K.QUIZ_ATTEMPT, cmid=5, attempt=1, attempt_state="inprogress"), True),
    (fact(K.EXTERNAL, activity_idnumber="PRACTICAL", external={"result": "pass"}), True),
    # a withdrawn version is no longer there
    (fact(K.COURSE_COMPLETION, completed=True, withdrawn=True), False),
    (fact(K.QUIZ_ATTEMPT, cmid=5, attempt=1, attempt_state="finished", withdrawn=True), False),
])
def test_shows_work(built: EvidenceFact, work: bool) -> None:
    assert built.shows_work is work
