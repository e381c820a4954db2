"""Dry-run rows for many learners."""

from __future__ import annotations

from credbridge.mappings import evaluate, load_mapping_text, resolve
from credbridge.mappings.preview import State, preview
from tests.mappings.helpers import CNC, EXAMPLES, Facts, cnc_operator_learner, recorded_evidence


def test_preview_states(resolved):
    results = {
        "aino": evaluate(resolved, recorded_evidence()[1]),
        "chloe": evaluate(resolved, recorded_evidence()[11], issued={("TD-BASICS", 1)}),
        "eva": evaluate(resolved, recorded_evidence()[30]),
        "reversed": evaluate(resolved, [*cnc_operator_learner(), Facts.assign(2, CNC, 10, t=99, fid="regrade")],
                             issued={("CNC-OPERATOR", 1)}),
    }
    rows = preview(results)
    by = {(r.learner, r.code, r.state) for r in rows}
    assert ("aino", "CNC-OPERATOR", State.AWAITS_APPROVAL) in by  # teacher_approval policy
    assert ("aino", "TD-BASICS", State.WOULD_ISSUE) in by
    assert ("chloe", "TD-BASICS", State.ALREADY_ISSUED) in by
    assert ("chloe", "CNC-OPERATOR", State.IN_PROGRESS) in by
    assert ("eva", "CNC-PROG", State.MISSING) in by
    reg = next(r for r in rows if r.learner == "reversed" and r.state is State.REGRESSION)
    assert reg.code == "CNC-OPERATOR" and "grade 10%" in reg.why
    assert [r.learner for r in rows] == sorted(r.learner for r in rows)
    first_aino = [r for r in rows if r.learner == "aino"]
    assert first_aino[0].kind == "template" and first_aino[-1].kind == "unit"
    chloe_progress = next(r for r in rows if r.learner == "chloe" and r.code == "CNC-OPERATOR")
    assert chloe_progress.why == "1/3 units; missing CNC-PROG, CNC-OPS"
    assert all(r.kind == "template" for r in preview(results, units=False))


def test_preview_blocked(site):
    original = (EXAMPLES / "vet-college.yaml").read_text("utf-8")
    text = original.replace("{system: CSVET, points: 2}, {system: ECVET, points: 2}], hours: 50",
                            "{system: CSVET, points: 8}, {system: ECVET, points: 2}], hours: 50")
    ms = load_mapping_text(text, "x.yaml", check_completeness=False)
    rows = preview({"aino": evaluate(resolve(ms, site), recorded_evidence()[1])})
    blocked = next(r for r in rows if r.code == "CNC-OPERATOR")
    assert blocked.state is State.BLOCKED and "HR-MQ-2-9" in blocked.why and "add up to 11" in blocked.why
