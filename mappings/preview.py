"""Dry run: what would happen for many learners, as rows the connector prints as a table."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from credbridge.mappings.evaluate import LearnerEvaluation

__all__ = ["PreviewRow", "State", "preview"]


class State(StrEnum):
    WOULD_ISSUE = "would issue"
    AWAITS_APPROVAL = "awaits teacher approval"
    ALREADY_ISSUED = "already issued"
    BLOCKED = "blocked"
    IN_PROGRESS = "in progress"
    REGRESSION = "regression"
    ACHIEVED = "achieved"
    MISSING = "missing"


class PreviewRow(NamedTuple):
    learner: str
    kind: str  # "template" | "unit"
    code: str
    version: int | None
    state: State
    why: str


def _template_rows(learner: str, ev: LearnerEvaluation) -> list[PreviewRow]:
    rows = []
    for code, t in ev.earned_templates.items():
        if t.already_issued:
            state, why = State.ALREADY_ISSUED, f"earned {t.achieved_at:%Y-%m-%d %H:%M} UTC"
        elif not t.can_issue:
            problems = [str(m) for m in t.missing] + [str(f) for f in t.national if f.severity == "error"]
            state, why = State.BLOCKED, "; ".join(problems)
        elif t.annex.issue_policy == "teacher_approval":
            state, why = State.AWAITS_APPROVAL, f"all {len(t.annex.units)} units achieved; policy: teacher approval"
        else:
            state, why = State.WOULD_ISSUE, f"all {len(t.annex.units)} units achieved ({', '.join(t.annex.units)})"
        rows.append(PreviewRow(learner, "template", code, t.version, state, why))
    for code, p in ev.template_progress.items():
        why = f"{len(p.units_achieved)}/{len(p.units_achieved) + len(p.units_missing)} units; missing " \
              + ", ".join(p.units_missing)
        rows.append(PreviewRow(learner, "template", code, p.version, State.IN_PROGRESS, why))
    for r in ev.regressions:
        why = "; ".join(r.reasons) or "no longer earned"
        if r.withdrawn_evidence_ids:
            why += f" (withdrawn evidence: {', '.join(r.withdrawn_evidence_ids)})"
        rows.append(PreviewRow(learner, "template", r.code, r.version, State.REGRESSION, why))
    return rows


def _unit_rows(learner: str, ev: LearnerEvaluation) -> list[PreviewRow]:
    rows = [PreviewRow(learner, "unit", code, None, State.ACHIEVED,
                       f"{u.achieved_at:%Y-%m-%d %H:%M} UTC by {', '.join(u.evidence_ids)}")
            for code, u in ev.achieved_units.items()]
    rows += [PreviewRow(learner, "unit", code, None, State.MISSING, "; ".join(p.missing))
             for code, p in ev.progress.items()]
    return rows


def preview(results: Mapping[str, LearnerEvaluation], *, units: bool = True) -> list[PreviewRow]:
    """Rows (learner, template/unit, state, why), sorted by learner, then templates before units, then code."""
    rows: list[PreviewRow] = []
    for learner, ev in results.items():
        rows += _template_rows(learner, ev)
        if units:
            rows += _unit_rows(learner, ev)
    order = {"template": 0, "unit": 1}
    return sorted(rows, key=lambda r: (r.learner, order[r.kind], r.code, r.state == State.REGRESSION))
