"""The evidence interface: what the connector hands to the mapping layer.

One :class:`EvidenceFact` is one version of one piece of evidence about one learner, normalised
from a Moodle WS row (or a CSV line for results Moodle does not hold). The connector owns the
conversion; this module owns the shape, so keep it stable: add optional fields only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["EvidenceFact", "EvidenceKind", "freeze"]


class EvidenceKind(StrEnum):
    COURSE_COMPLETION = "course_completion"
    ACTIVITY_COMPLETION = "activity_completion"
    GRADE_ITEM = "grade_item"
    QUIZ_ATTEMPT = "quiz_attempt"
    ASSIGNMENT_GRADE = "assignment_grade"
    COMPETENCY = "competency"
    EXTERNAL = "external"


def freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Read-only copy of a mapping (lists become tuples) so facts stay hashable-safe and immutable."""
    if value is None:
        return None
    return MappingProxyType({k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


@dataclass(frozen=True, slots=True)
class EvidenceFact:
    """One version of one piece of evidence.

    ``id`` identifies this version (e.g. ``"moodle:quiz_attempt:42:v3"``): a changed grade is a new
    fact with a new id, and the old version is either dropped or sent with ``withdrawn=True``.
    ``occurred_at`` is when it happened in Moodle (timecompleted, timefinish, timemodified), UTC.

    Which fields matter per kind:
    - course_completion: course_id, completed
    - activity_completion: course_id, cmid, modname, state (0 incomplete, 1 complete, 2 complete
      pass, 3 complete fail) and/or completed
    - grade_item: course_id, grade_item_id (+ idnumber), raw/max/percent
    - quiz_attempt: course_id, cmid, attempt, attempt_state ("finished"...), raw/max/percent,
      quiz_settings (timelimit, seb_required, access_rules, has_password, subnet...)
    - assignment_grade: course_id, cmid, raw/max/percent
    - competency: competency_idnumber, proficient (course_id when rated in a course)
    - external: activity_idnumber names the assessment; ``external`` holds the CSV columns
      (result, score, id_checked, supervised, mode, assessment_type...)
    """

    id: str
    kind: EvidenceKind
    occurred_at: datetime
    course_id: int | None = None
    course_shortname: str | None = None
    course_idnumber: str | None = None
    cmid: int | None = None
    modname: str | None = None
    activity_idnumber: str | None = None
    activity_name: str | None = None
    grade_item_idnumber: str | None = None
    grade_item_id: int | None = None
    completed: bool | None = None
    state: int | None = None
    raw: Decimal | None = None
    max: Decimal | None = None
    percent: Decimal | None = None
    attempt: int | None = None
    attempt_state: str | None = None
    proficient: bool | None = None
    competency_idnumber: str | None = None
    quiz_settings: Mapping[str, Any] | None = field(default=None, hash=False)
    external: Mapping[str, Any] | None = field(default=None, hash=False)
    withdrawn: bool = False

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"evidence {self.id}: occurred_at must be timezone-aware (UTC)")
        if not isinstance(self.kind, EvidenceKind):
            object.__setattr__(self, "kind", EvidenceKind(self.kind))
        for name in ("quiz_settings", "external"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, freeze(value))

    @property
    def effective_percent(self) -> Decimal | None:
        """percent as given, else raw/max*100."""
        if self.percent is not None:
            return self.percent
        if self.raw is not None and self.max:
            return self.raw * 100 / self.max
        return None

    @property
    def shows_work(self) -> bool:
        """Whether the learner did something. A sync stores a row for every enrolled learner, work or not
        (an incomplete course completion, activity state 0, an empty grade), and such rows must not turn
        "not started" into "in progress"."""
        if self.withdrawn:
            return False
        match self.kind:
            case EvidenceKind.COURSE_COMPLETION:
                return bool(self.completed)
            case EvidenceKind.ACTIVITY_COMPLETION:
                return bool(self.state) or bool(self.completed)
            case EvidenceKind.GRADE_ITEM | EvidenceKind.ASSIGNMENT_GRADE:
                return self.raw is not None or self.percent is not None
            case EvidenceKind.COMPETENCY:
                return self.proficient is not None
            case _:  # a quiz attempt (even one in progress) or an external result is work
                return True

    @property
    def is_complete(self) -> bool:
        """Moodle completion: state 1 (complete) or 2 (complete pass); 3 is complete-but-failed."""
        if self.state is not None:
            return self.state in (1, 2)
        return bool(self.completed)
