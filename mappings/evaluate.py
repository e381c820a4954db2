"""Evaluation: one learner's evidence + resolved mappings -> achieved units, earned templates.

Pure and deterministic: the result depends only on the set of facts (not their order), the
mappings and the already-issued (template, version) pairs. Rules are compiled once by
:func:`resolve`; per learner we build a small index of the facts and run the compiled nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from credbridge.mappings.completeness import MissingElement, completeness
from credbridge.mappings.derive import (
    DeclaredSupervision,
    Derived,
    Grade,
    Provenance,
    SupervisionLevel,
    UnitDerivation,
    combine_modes,
    derive_unit,
    infer_course_mode,
    mode_from_text,
)
from credbridge.mappings.errors import MappingError, Problem
from credbridge.mappings.evidence import EvidenceFact
from credbridge.mappings.model import (
    AwardingBody,
    LearningOutcome,
    MappingSet,
    NQFLevel,
    QualityAssurance,
    Template,
    Unit,
    credit_totals,
    hours_total,
)
from credbridge.mappings.national import NationalFinding, national_check
from credbridge.mappings.rules import KEY_OF_KIND, Index, Node, compile_rule_collect
from credbridge.mappings.structure import CourseStructure
from credbridge.mappings.vocab import country as country_of

__all__ = [
    "AchievedUnit",
    "EarnedTemplate",
    "LearnerEvaluation",
    "Regression",
    "ResolvedMappings",
    "TemplateAnnex",
    "TemplateProgress",
    "UnitProgress",
    "evaluate",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class CompiledUnit:
    unit: Unit
    node: Node


@dataclass(frozen=True)
class ResolvedMappings:
    mapping_set: MappingSet
    structure: CourseStructure
    units: tuple[CompiledUnit, ...]
    #: template code -> unit codes (own + stacked)
    template_units: dict[str, tuple[str, ...]]
    #: course id -> declared mode URI (mapping file's course declarations, else the structure's)
    course_modes: dict[int, str]
    #: static gate results per template code
    missing: dict[str, tuple[MissingElement, ...]]
    national: dict[str, tuple[NationalFinding, ...]]
    #: course module id -> the supervision the mapping file declares for that activity
    activity_supervision: dict[int, DeclaredSupervision] = field(default_factory=dict)
    _unit_index: dict[str, CompiledUnit] = field(default_factory=dict, repr=False)
    _templates: list[tuple[Template, tuple[str, ...]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._unit_index.update({cu.unit.code: cu for cu in self.units})
        self._templates.extend((t, self.template_units[t.code]) for t in self.mapping_set.templates)

    def can_issue(self, template_code: str) -> bool:
        return not self.missing[template_code] and not any(
            f.severity == "error" for f in self.national[template_code])


def resolve(mapping_set: MappingSet, structure: CourseStructure) -> ResolvedMappings:
    """Compile every unit's rule against the site's courses; MappingError lists every dangling reference."""
    ms = mapping_set
    problems: list[Problem] = []
    compiled: list[CompiledUnit] = []
    for i, unit in enumerate(ms.units):
        node, errors = compile_rule_collect(unit.evidence, structure, ("units", i, "evidence"))
        compiled.append(CompiledUnit(unit, node))
        for exc in errors:
            file, line, col = ms.location(*exc.path)
            problems.append(Problem(file, line, col, f"unit {unit.code}: {exc.message}", "dangling_moodle_reference"))
    course_modes: dict[int, str] = {}
    for c in structure.courses:
        declared = ms.courses.get(c.shortname) or (ms.courses.get(c.idnumber) if c.idnumber else None)
        mode = declared.mode if declared and declared.mode else mode_from_text(c.declared_mode)
        if mode:
            course_modes[c.id] = mode
    activity_supervision: dict[int, DeclaredSupervision] = {}
    levels = {level.key: level for level in SupervisionLevel}
    for key, declaration in ms.courses.items():
        course = structure.course(key)
        if course is None:
            file, line, col = ms.location("courses", key)
            problems.append(Problem(file, line, col, f"course declaration {key!r} names no course on the site",
                                    "dangling_moodle_reference"))
            continue
        for ref, activity in declaration.activities.items():
            found = CourseStructure.activity(course, ref)
            if len(found) != 1:
                file, line, col = ms.location("courses", key, "activities", ref)
                names = ", ".join(repr(a.name) for a in course.activities) or "none"
                problems.append(Problem(file, line, col, (
                    f"no activity with idnumber or name {ref!r} in course {course.shortname} (there: {names})"
                    if not found else f"{len(found)} activities are named {ref!r} in {course.shortname}; give the "
                    "activity an idnumber in Moodle and use it"), "dangling_moodle_reference"))
                continue
            activity_supervision[found[0].cmid] = DeclaredSupervision(
                levels[activity.supervision], activity.note, f"courses.{key}.activities.{ref}")
    if problems:
        raise MappingError(problems)
    return ResolvedMappings(
        mapping_set=ms,
        structure=structure,
        units=tuple(compiled),
        template_units={t.code: tuple(ms.template_unit_codes(t.code)) for t in ms.templates},
        course_modes=course_modes,
        activity_supervision=activity_supervision,
        missing={t.code: tuple(completeness(t, ms)) for t in ms.templates},
        national={t.code: tuple(national_check(t, ms)) for t in ms.templates},
    )


# --- results -------------------------------------------------------------------------------


class AchievedUnit:
    """An achieved unit. ``derived`` (Annex I values with provenance) is computed on first use:
    most callers of a sync only need to know what is achieved, and derivation is the costly part."""

    __slots__ = ("_derive", "_derived", "achieved_at", "code", "evidence_ids")

    def __init__(self, code: str, achieved_at: datetime, evidence_ids: tuple[str, ...],
                 derive: Callable[[], UnitDerivation]):
        self.code = code
        self.achieved_at = achieved_at
        self.evidence_ids = evidence_ids
        self._derive = derive
        self._derived: UnitDerivation | None = None

    @property
    def derived(self) -> UnitDerivation:
        if self._derived is None:
            self._derived = self._derive()
        return self._derived

    @property
    def grade(self) -> Grade | None:
        return self.derived.grade

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AchievedUnit):
            return NotImplemented
        return (self.code, self.achieved_at, self.evidence_ids, self.derived) == (
            other.code, other.achieved_at, other.evidence_ids, other.derived)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AchievedUnit({self.code!r}, {self.achieved_at.isoformat()}, {self.evidence_ids!r})"


class UnitProgress:
    """A unit not (yet) achieved; ``missing`` (human-readable rule parts) is worked out on first use."""

    __slots__ = ("_index", "_missing", "_node", "code")

    def __init__(self, code: str, node: Node, index: Index):
        self.code = code
        self._node = node
        self._index = index
        self._missing: tuple[str, ...] | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        if self._missing is None:
            self._missing = self._node.explain(self._index)
        return self._missing

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnitProgress):
            return NotImplemented
        return (self.code, self.missing) == (other.code, other.missing)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UnitProgress({self.code!r}, missing={self.missing!r})"


@dataclass(frozen=True, slots=True)
class TemplateAnnex:
    """Everything an issuer needs for one earned template (learner id and issue date come at issue)."""

    code: str
    version: int
    title: dict[str, str]
    description: dict[str, str] | None
    awarding_body: AwardingBody
    country: str  # ISO 3166-1 alpha-2
    country_uri: str  # EU authority table
    learning_outcomes: tuple[LearningOutcome, ...]
    credits: dict[str, Decimal]
    hours: Decimal | None
    eqf_level: str | None
    nqf: NQFLevel | None
    isced_f: tuple[str, ...]
    assessment_types: Derived
    mode: Derived
    supervision: Derived
    quality_assurance: tuple[QualityAssurance, ...]
    prerequisites: tuple[dict[str, str], ...]
    grades: dict[str, Grade]
    part_of: tuple[str, ...]
    has_parts: tuple[str, ...]
    validity: str | None
    credential_type: str
    learning_opportunity_type: str
    languages: tuple[str, ...]
    outputs: tuple[str, ...]
    issue_policy: str
    further_information: dict[str, str] | None
    units: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EarnedTemplate:
    code: str
    version: int
    achieved_at: datetime
    evidence_ids: tuple[str, ...]
    annex: TemplateAnnex
    already_issued: bool
    #: mandatory elements missing (static gate + values the evidence could not supply)
    missing: tuple[MissingElement, ...]
    national: tuple[NationalFinding, ...]

    @property
    def can_issue(self) -> bool:
        return not self.missing and not any(f.severity == "error" for f in self.national)


class TemplateProgress(NamedTuple):
    code: str
    version: int
    units_achieved: tuple[str, ...]
    units_missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Regression:
    code: str
    version: int
    reasons: tuple[str, ...]
    withdrawn_evidence_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LearnerEvaluation:
    achieved_units: dict[str, AchievedUnit]
    progress: dict[str, UnitProgress]
    earned_templates: dict[str, EarnedTemplate]
    template_progress: dict[str, TemplateProgress]
    regressions: tuple[Regression, ...]

    def summary(self) -> dict[str, Any]:
        """Order-free comparable form (used by tests and dry runs)."""
        return {
            "units": {c: (u.achieved_at, u.evidence_ids) for c, u in self.achieved_units.items()},
            "progress": {c: p.missing for c, p in self.progress.items()},
            "templates": {c: (t.achieved_at, t.evidence_ids, t.can_issue) for c, t in self.earned_templates.items()},
            "regressions": self.regressions,
        }


# --- evaluation ----------------------------------------------------------------------------


def _order(f: EvidenceFact) -> tuple[datetime, str]:
    return (f.occurred_at, f.id)


def _index(evidence: Iterable[EvidenceFact]) -> tuple[Index, Index]:
    """(live, withdrawn) facts by index key; live lists ordered by (occurred_at, id)."""
    if not isinstance(evidence, list | tuple):
        evidence = list(evidence)  # read twice when ids repeat
    live: Index = {}
    gone: Index = {}
    seen: set[str] = set()
    duplicates = False
    for f in evidence:
        if f.id in seen:
            duplicates = True
            break
        seen.add(f.id)
        prefix, attr = KEY_OF_KIND[f.kind]  # index_key, inlined: this loop runs per fact per learner
        key = (prefix, getattr(f, attr))
        target = gone if f.withdrawn else live
        bucket = target.get(key)
        if bucket is None:
            target[key] = [f]
        else:
            bucket.append(f)
    if duplicates:
        return _index(_dedupe(evidence))
    for facts in live.values():
        if len(facts) > 1:
            facts.sort(key=_order)
    return live, gone


def _dedupe(evidence: Iterable[EvidenceFact]) -> list[EvidenceFact]:
    by_id: dict[str, EvidenceFact] = {}
    for f in evidence:
        prev = by_id.get(f.id)
        # the same version sent twice: a withdrawal wins, so a duplicate can never resurrect evidence
        if prev is None or (f.withdrawn and not prev.withdrawn):
            by_id[f.id] = f
    return list(by_id.values())


def _course_modes(resolved: ResolvedMappings, index: Index, course_ids: set[int]) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    for cid in course_ids:
        declared = resolved.course_modes.get(cid)
        if declared:
            course = resolved.structure.course_by_id(cid)
            name = course.shortname if course else str(cid)
            out[cid] = (declared, "course_declaration",
                        Provenance((), f"courses.{name}.mode", f"declared for course {name}"))
            continue
        facts = [f for facts in index.values() for f in facts if f.course_id == cid]
        mode, reason, ids = infer_course_mode(facts)
        if mode:
            out[cid] = (mode, "evidence", Provenance(ids, f"course {cid} activity", reason))
    return out


def _template_annex(resolved: ResolvedMappings, tpl: Template, achieved: dict[str, AchievedUnit]) -> TemplateAnnex:
    ms = resolved.mapping_set
    codes = resolved.template_units[tpl.code]
    units = [resolved._unit_index[c].unit for c in codes]
    derived = [achieved[c].derived for c in codes]
    credits = credit_totals(u.workload for u in units)
    hours = hours_total(u.workload for u in units)
    levels = [u.eqf_level for u in units if u.eqf_level]
    eqf = tpl.eqf_level or (max(levels, key=lambda uri: int(uri.rsplit("/", 1)[-1])) if levels else None)
    assessment = tuple(sorted({t for d in derived for t in d.assessment_types.value}))
    modes = [d.mode.value for d in derived if d.mode.value]
    sup = [d.supervision for d in derived if isinstance(d.supervision.value, SupervisionLevel)]
    if sup:
        # a unit that says nothing of supervision counts as unsupervised beside one that does
        levels = [d.value for d in sup] + ([SupervisionLevel.UNSUPERVISED_NO_ID] if len(sup) < len(derived) else [])
        met = SupervisionLevel.meet(levels)
        supervision = Derived(met, "evidence" if any(d.source == "evidence" for d in sup) else sup[0].source,
                              tuple(p for d in sup for p in d.provenance))
    else:
        supervision = next((d.supervision for d in derived if d.supervision.present), Derived(None, "none"))
    body = ms.awarding_body(tpl)
    qa_list: list[QualityAssurance] = []
    for q in [tpl.quality_assurance, body.quality_assurance, *(u.quality_assurance for u in units)]:
        if q and q not in qa_list:  # models hold dicts, so not hashable: dedupe by equality
            qa_list.append(q)
    qa = tuple(qa_list)
    country_code = ms.template_country(tpl)
    return TemplateAnnex(
        code=tpl.code, version=tpl.version, title=tpl.title, description=tpl.description,
        awarding_body=body, country=country_code, country_uri=country_of(country_code).authority_uri,
        learning_outcomes=tuple(lo for u in units for lo in u.learning_outcomes),
        credits=credits, hours=hours, eqf_level=eqf, nqf=tpl.nqf or next((u.nqf for u in units if u.nqf), None),
        isced_f=tuple(dict.fromkeys(x for x in [tpl.isced_f, *(u.isced_f for u in units)] if x)),
        assessment_types=Derived(assessment, _source(d.assessment_types for d in derived),
                                 _provs(d.assessment_types for d in derived)),
        mode=Derived(combine_modes(modes), _source(d.mode for d in derived), _provs(d.mode for d in derived)),
        supervision=supervision,
        quality_assurance=qa,
        prerequisites=tuple(u.prerequisites for u in units if u.prerequisites),
        grades={c: achieved[c].grade for c in codes if achieved[c].grade is not None},
        part_of=tuple(tpl.part_of), has_parts=tuple(t.code for t in ms.children(tpl.code)),
        validity=tpl.validity, credential_type=tpl.credential_type,
        learning_opportunity_type=tpl.learning_opportunity_type, languages=tuple(tpl.languages),
        outputs=tuple(tpl.outputs), issue_policy=tpl.issue_policy.value,
        further_information=tpl.further_information, units=codes,
    )


def _source(values: Iterable[Derived]) -> str:
    sources = {v.source for v in values if v.present}
    return sources.pop() if len(sources) == 1 else ("evidence" if "evidence" in sources else "declared")


def _provs(values: Iterable[Derived]) -> tuple[Provenance, ...]:
    return tuple(dict.fromkeys(p for v in values for p in v.provenance))


def _runtime_missing(tpl: Template, annex: TemplateAnnex) -> list[MissingElement]:
    out = []
    if not annex.assessment_types.value:
        out.append(MissingElement(tpl.code, "assessment_type", "neither declared nor shown by the evidence"))
    if not annex.mode.value:
        out.append(MissingElement(tpl.code, "form_of_participation", "neither declared nor shown by the evidence"))
    return out


def _derive(unit: Unit, proofs: tuple, school: Any, modes: Callable[[], dict[int, tuple]],
            declared: dict[int, DeclaredSupervision]) -> UnitDerivation:
    ordered = tuple(sorted(set(proofs), key=lambda p: (p[0].id, p[1])))
    return derive_unit(unit, ordered, school, modes(), declared)


def evaluate(resolved: ResolvedMappings, evidence: Sequence[EvidenceFact],
             issued: Iterable[tuple[str, int]] = frozenset()) -> LearnerEvaluation:
    """Evaluate one learner. ``issued``: (template code, version) already issued to this learner."""
    index, withdrawn = _index(evidence)
    ms = resolved.mapping_set
    issued_set = set(issued)
    achieved: dict[str, AchievedUnit] = {}
    progress: dict[str, UnitProgress] = {}
    pending: list[tuple[CompiledUnit, Any]] = []
    for cu in resolved.units:
        outcome = cu.node.check(index)
        if outcome.ok:
            pending.append((cu, outcome))
        else:
            progress[cu.unit.code] = UnitProgress(cu.unit.code, cu.node, index)
    if pending:
        modes_cache: list[dict[int, tuple]] = []

        def modes() -> dict[int, tuple]:
            if not modes_cache:  # course modes for every achieved unit, computed once, on demand
                course_ids = {f.course_id for _, o in pending for f, _ in o.proofs if f.course_id is not None}
                modes_cache.append(_course_modes(resolved, index, course_ids))
            return modes_cache[0]

        for cu, outcome in pending:
            proofs = outcome.proofs
            ids = (proofs[0][0].id,) if len(proofs) == 1 else tuple(sorted({f.id for f, _ in proofs}))
            achieved[cu.unit.code] = AchievedUnit(cu.unit.code, outcome.at, ids,
                                                  partial(_derive, cu.unit, proofs, ms.school, modes,
                                                          resolved.activity_supervision))
    earned: dict[str, EarnedTemplate] = {}
    tprogress: dict[str, TemplateProgress] = {}
    for tpl, codes in resolved._templates:
        if not codes or codes[0] not in achieved:  # the usual case, decided in one look-up
            tprogress[tpl.code] = TemplateProgress(tpl.code, tpl.version, tuple(c for c in codes if c in achieved),
                                                   tuple(c for c in codes if c not in achieved))
            continue
        have = tuple(c for c in codes if c in achieved)
        if len(have) == len(codes):
            annex = _template_annex(resolved, tpl, achieved)
            earned[tpl.code] = EarnedTemplate(
                code=tpl.code, version=tpl.version,
                achieved_at=max(achieved[c].achieved_at for c in codes),
                evidence_ids=tuple(sorted({i for c in codes for i in achieved[c].evidence_ids})),
                annex=annex, already_issued=(tpl.code, tpl.version) in issued_set,
                missing=resolved.missing[tpl.code] + tuple(_runtime_missing(tpl, annex)),
                national=resolved.national[tpl.code],
            )
        else:
            tprogress[tpl.code] = TemplateProgress(tpl.code, tpl.version, have,
                                                   tuple(c for c in codes if c not in achieved))
    regressions = []
    for tpl, _ in resolved._templates if issued_set else ():
        if (tpl.code, tpl.version) in issued_set and tpl.code not in earned:
            codes = resolved.template_units[tpl.code]
            reasons = tuple(f"unit {c}: {m}" for c in codes if c in progress for m in progress[c].missing)
            keys = {k for c in codes for k in resolved._unit_index[c].node.keys}
            gone = tuple(sorted({f.id for k in keys for f in withdrawn.get(k, ())}))
            regressions.append(Regression(tpl.code, tpl.version, reasons, gone))
    return LearnerEvaluation(achieved, progress, earned, tprogress, tuple(regressions))
