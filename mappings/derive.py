"""Learner-specific Annex I values derived from the evidence that proved a unit.

The unit's declared value is the default; evidence is the proof and refines it:
- type of assessment from the activity that proved the outcome (quiz, assignment, competency
  rating, external exam), as Europass assessment concepts;
- form of participation per course (the admin's course declaration, else inferred from the
  learner's activity in the course), combined over the courses that proved the unit;
- supervision & identity verification from what the mapping file declares for the activity, else
  from the quiz settings Moodle returns (browser security, Safe Exam Browser, IP restriction,
  password, proctoring rules) or the external result's columns, with ID verification only when the
  school declares that it checks identity documents at supervised exams (table in README.md).

Every value carries :class:`Provenance`: which evidence, which rule, and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from credbridge.mappings import vocab
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.model import BLENDED, ONLINE, PRESENTIAL, WORKBASED, GradingScheme, School, Unit

ASSESS_QUIZ = "http://data.europa.eu/snb/assessment/b1b68f6735"
ASSESS_WRITTEN_EXAM = "http://data.europa.eu/snb/assessment/6e6cb2cc78"
ASSESS_MARKED_ASSIGNMENT = "http://data.europa.eu/snb/assessment/2939dae15f"
ASSESS_CONTINUOUS = "http://data.europa.eu/snb/assessment/3484bd7e51"
ASSESS_ATTENDANCE = "http://data.europa.eu/snb/assessment/7331eb4762"
#: declared types that say more about an assignment than "marked assignment"
_ASSIGNMENT_REFINEMENTS = frozenset({
    "http://data.europa.eu/snb/assessment/6a4db9f11d",  # practical assessment
    "http://data.europa.eu/snb/assessment/795dac4096",  # project work
    "http://data.europa.eu/snb/assessment/de4d165a6c",  # artefact assessment
    "http://data.europa.eu/snb/assessment/4f03b91c0e",  # portfolio
    ASSESS_MARKED_ASSIGNMENT,
})

ONLINE_MODULES = frozenset({"quiz", "assign", "lti", "page", "scorm", "h5pactivity", "forum", "lesson", "book",
                            "url", "resource", "workshop", "choice", "feedback", "glossary", "wiki", "data"})
ONSITE_MODULES = frozenset({"attendance", "facetoface"})
#: quiz access-rule plugin names (quizaccess_*) meaning a proctor (or a recording a person reviews)
#: watches the attempt; Moodle's own rules only lock the browser or restrict where and when
_PROCTORING_RULES = ("proctor",)
#: ``browsersecurity`` values: a locked window, not a person (Moodle 4.x offers "-" and "securewindow";
#: "safebrowser" is how Moodle before 3.9 required Safe Exam Browser)
_LOCKED_BROWSER = {"securewindow": "a full-screen pop-up window", "safebrowser": "Safe Exam Browser"}


@dataclass(frozen=True, slots=True)
class Provenance:
    evidence_ids: tuple[str, ...]
    rule: str
    reason: str
    values: tuple[str, ...] = ()  # which of a multi-valued element's values this explains (assessment types)


class SupervisionLevel(Enum):
    """The Annex I supervision & identity-verification levels.

    ``uri`` is the Europass concept where the shipped (partial) list has one; levels without a
    verified concept URI carry only their label.
    """

    UNSUPERVISED_NO_ID = ("unsupervised_no_id", "Unsupervised without ID verification",
                          "http://data.europa.eu/snb/supervision-verification/c598449d64")
    UNSUPERVISED_ID = ("unsupervised_id", "Unsupervised with ID verification", None)
    SUPERVISED_NO_ID = ("supervised_no_id", "Supervised without ID verification", None)
    SUPERVISED_ONLINE_ID = ("supervised_online_id", "Supervised online with ID verification",
                            "http://data.europa.eu/snb/supervision-verification/70be69aaf9")
    SUPERVISED_ONSITE_ID = ("supervised_onsite_id", "Supervised onsite with ID verification",
                            "http://data.europa.eu/snb/supervision-verification/70be69aaf9")

    def __init__(self, key: str, label: str, uri: str | None):
        self.key = key
        self.label = label
        self.uri = uri

    @classmethod
    def from_uri(cls, uri: str) -> SupervisionLevel | None:
        return next((lvl for lvl in cls if lvl.uri == uri), None)

    @property
    def supervised(self) -> bool:
        return self.key.startswith("supervised")

    @property
    def id_verified(self) -> bool:
        return self.key.endswith("_id") and not self.key.endswith("no_id")

    @classmethod
    def meet(cls, levels: Sequence[SupervisionLevel]) -> SupervisionLevel:
        """What holds for every one of several assessments: supervised only if all were, ID checked
        only if all were, onsite only if all were. A credential claims no more than that."""
        supervised = all(lvl.supervised for lvl in levels)
        checked = all(lvl.id_verified for lvl in levels)
        if supervised and checked:
            onsite = all(lvl is cls.SUPERVISED_ONSITE_ID for lvl in levels)
            return cls.SUPERVISED_ONSITE_ID if onsite else cls.SUPERVISED_ONLINE_ID
        if supervised:
            return cls.SUPERVISED_NO_ID
        return cls.UNSUPERVISED_ID if checked else cls.UNSUPERVISED_NO_ID


@dataclass(frozen=True, slots=True)
class Derived:
    """A resolved Annex I value: ``value`` is a concept URI, a tuple of them, or a SupervisionLevel."""

    value: Any
    source: str  # "evidence" | "declared" | "course_declaration" | "none"
    provenance: tuple[Provenance, ...] = ()

    @property
    def present(self) -> bool:
        return self.value not in (None, ())


@dataclass(frozen=True, slots=True)
class Grade:
    percent: Decimal
    label: Mapping[str, str] | None
    scheme_title: Mapping[str, str]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class UnitDerivation:
    assessment_types: Derived
    mode: Derived
    supervision: Derived
    grade: Grade | None


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "y", "da", "ja", "x"}


_MODE_SYNONYMS = {
    "onsite": PRESENTIAL, "on-site": PRESENTIAL, "on site": PRESENTIAL, "in person": PRESENTIAL,
    "face to face": PRESENTIAL, "presential": PRESENTIAL, "online": ONLINE, "remote": ONLINE,
    "blended": BLENDED, "hybrid": BLENDED, "workbased": WORKBASED, "work-based": WORKBASED,
    "work based": WORKBASED, "workplace": WORKBASED,
}


def mode_from_text(text: Any) -> str | None:
    if text is None:
        return None
    t = str(text).strip().lower()
    if t in _MODE_SYNONYMS:
        return _MODE_SYNONYMS[t]
    try:
        return vocab.lookup("mode", t).uri
    except vocab.VocabularyError:
        return None


@dataclass(frozen=True, slots=True)
class DeclaredSupervision:
    """What a mapping file declares about one activity's supervision (``courses.<c>.activities.<a>``),
    for what Moodle cannot know: an exam sat in the room with an ID check."""

    level: SupervisionLevel
    note: str
    where: str  # "courses.CNC101.activities.Final exam"


def _safe_exam_browser(s: Mapping[str, Any], rules: list[str]) -> bool:
    if s.get("seb_required") or any(r in ("seb", "quizaccess_seb") for r in rules):
        return True
    # quizaccess_seb's own field where a site returns it: 0 = not required, 1-4 = how it is configured
    return any(str(s.get(key) or "0").strip() not in ("0", "", "False", "false")
               for key in ("seb_requiresafeexambrowser", "requiresafeexambrowser"))


def _quiz_supervision(fact: EvidenceFact, school: School) -> tuple[SupervisionLevel | None, str] | None:
    """What the quiz settings Moodle returned show (None: no settings). A level of None means they
    cannot tell: Moodle shows ``subnet`` and ``password`` only to users who may edit the quiz."""
    s = fact.quiz_settings
    if s is None:
        return None
    rules = [str(r).lower() for r in s.get("access_rules") or ()]
    browser = str(s.get("browsersecurity") or "").strip().lower()
    locks = list(dict.fromkeys(
        [*(["Safe Exam Browser"] if _safe_exam_browser(s, rules) else []),
         *([_LOCKED_BROWSER[browser]] if browser in _LOCKED_BROWSER else [])]))
    proctored = bool(s.get("proctored")) or any(any(k in r for k in _PROCTORING_RULES) for r in rules)
    subnet_known = "subnet" in s or "ipaddress" in rules
    subnet = bool(str(s.get("subnet") or "").strip()) or "ipaddress" in rules
    password = bool(s.get("has_password")) or "password" in rules
    if proctored or subnet:
        why = ", ".join([*locks, *(["proctoring"] if proctored else []),
                         *(["IP/subnet restriction"] if subnet else [])])
        if school.checks_id_at_supervised_exams or _truthy(s.get("id_verification", "")):
            level = SupervisionLevel.SUPERVISED_ONSITE_ID if subnet else SupervisionLevel.SUPERVISED_ONLINE_ID
            return level, f"quiz supervised ({why}); the school checks ID at supervised exams"
        return SupervisionLevel.SUPERVISED_NO_ID, f"quiz supervised ({why}); the school does not declare ID checks"
    # a locked browser or a password alone puts no person in the room (a learner can run Safe Exam
    # Browser at home and be told the password), so on their own they are no evidence of supervision
    alone = [*locks, *(["a password"] if password and subnet_known else [])]
    if not subnet_known:
        return None, ("Moodle did not show the quiz's IP restriction and password (only users who may edit the "
                      "quiz see them: moodle/course:manageactivities)"
                      + (f"; {' and '.join(alone)} alone would not be supervision" if alone else ""))
    if alone:
        return SupervisionLevel.UNSUPERVISED_NO_ID, f"{' and '.join(alone)} only, no proctoring or IP restriction"
    return SupervisionLevel.UNSUPERVISED_NO_ID, "quiz has no proctoring or IP restriction"


def _external_supervision(fact: EvidenceFact) -> tuple[SupervisionLevel, str] | None:
    ext = fact.external or {}
    if "supervised" not in ext and "id_checked" not in ext:
        return None
    supervised = _truthy(ext.get("supervised", "no"))  # not said is not supervised
    id_checked = _truthy(ext.get("id_checked", "no"))
    online = mode_from_text(ext.get("mode")) == ONLINE
    if supervised and id_checked:
        level = SupervisionLevel.SUPERVISED_ONLINE_ID if online else SupervisionLevel.SUPERVISED_ONSITE_ID
    elif supervised:
        level = SupervisionLevel.SUPERVISED_NO_ID
    else:
        level = SupervisionLevel.UNSUPERVISED_ID if id_checked else SupervisionLevel.UNSUPERVISED_NO_ID
    return level, (f"external result: supervised={ext.get('supervised', '(not given)')}, "
                   f"id_checked={ext.get('id_checked', '(not given)')}")


def _supervision_of(fact: EvidenceFact, school: School, declared: Mapping[int, DeclaredSupervision]
                    ) -> tuple[SupervisionLevel | None, str] | None:
    if fact.cmid is not None and fact.cmid in declared:
        said = declared[fact.cmid]
        return said.level, f"declared in the mapping file ({said.where}): {said.note}"
    if fact.kind is EvidenceKind.QUIZ_ATTEMPT:
        return _quiz_supervision(fact, school)
    if fact.kind is EvidenceKind.EXTERNAL:
        return _external_supervision(fact)
    return None


def derive_supervision(unit: Unit, proofs: Sequence[tuple[EvidenceFact, str]], school: School,
                       declared: Mapping[int, DeclaredSupervision] | None = None) -> Derived:
    """The supervision every assessment of the unit had (their meet), from what the mapping file declares
    for an activity, else from the evidence where it tells.

    A proof whose evidence says nothing of supervision (a graded assignment, a rated competency, a
    completion, a quiz whose restrictions Moodle hides) counts as what the unit declares, or else as
    unsupervised: one supervised quiz does not make a take-home assignment beside it supervised. When
    no proof tells, the unit's declaration stands alone (or the element is left out).
    """
    declared_level = SupervisionLevel.from_uri(unit.supervision) if unit.supervision else None
    told: list[tuple[SupervisionLevel, Provenance]] = []
    silent: list[Provenance] = []
    for fact, rule in proofs:
        got = _supervision_of(fact, school, declared or {})
        if got and got[0] is not None:
            told.append((got[0], Provenance((fact.id,), rule, got[1])))
        else:
            why = got[1] if got else f"{fact.kind.value}: no record of supervision"
            silent.append(Provenance((fact.id,), rule, why))
    if told:
        levels = [lvl for lvl, _ in told]
        if silent:
            levels.append(declared_level or SupervisionLevel.UNSUPERVISED_NO_ID)
        provenance = tuple(p for _, p in told) + tuple(silent)
        return Derived(SupervisionLevel.meet(levels), "evidence", provenance)
    if unit.supervision:
        return Derived(declared_level or unit.supervision, "declared",
                       (Provenance((), "unit.supervision", "declared on the unit; no evidence tells"),))
    return Derived(None, "none", tuple(p for p in silent if p.rule))  # why nothing is claimed


def _assessment_of(fact: EvidenceFact, unit: Unit, supervised: bool) -> tuple[tuple[str, ...], str] | None:
    kind = fact.kind
    declared = tuple(t for t in unit.assessment_types if t in _ASSIGNMENT_REFINEMENTS)
    if kind is EvidenceKind.QUIZ_ATTEMPT:
        if supervised:
            return (ASSESS_WRITTEN_EXAM,), "supervised quiz attempt = written examination"
        return (ASSESS_QUIZ,), "quiz attempt"
    if kind is EvidenceKind.ASSIGNMENT_GRADE or (kind is EvidenceKind.GRADE_ITEM and fact.modname == "assign"):
        if declared:
            return declared, "graded assignment; the unit declares what kind of work it is"
        return (ASSESS_MARKED_ASSIGNMENT,), "graded assignment"
    if kind is EvidenceKind.COMPETENCY:
        return (ASSESS_CONTINUOUS,), "competency rated by the teacher (observation / continuous evaluation)"
    if kind is EvidenceKind.ACTIVITY_COMPLETION and fact.modname in ONSITE_MODULES:
        return (ASSESS_ATTENDANCE,), f"{fact.modname} completion"
    if kind is EvidenceKind.EXTERNAL:
        value = (fact.external or {}).get("assessment_type")
        if value:
            try:
                return (vocab.lookup("assessment", value).uri,), "assessment_type column of the external result"
            except vocab.VocabularyError as exc:
                return None if not unit.assessment_types else (
                    tuple(unit.assessment_types), f"declared (external value ignored: {exc})")
    return None


def derive_assessment(unit: Unit, proofs: Sequence[tuple[EvidenceFact, str]], supervised_ids: set[str]) -> Derived:
    """The types the evidence shows and the types the unit declares, each with its provenance: a
    declared type is never dropped because the evidence shows another (a written examination whose
    Moodle trace is a quiz is both)."""
    types: dict[str, None] = {}
    provs: list[Provenance] = []
    for fact, rule in proofs:
        got = _assessment_of(fact, unit, fact.id in supervised_ids)
        if got:
            for t in got[0]:
                types.setdefault(t, None)
            provs.append(Provenance((fact.id,), rule, got[1], tuple(got[0])))
    if types:
        for t in unit.assessment_types:
            if t not in types:
                types[t] = None
                provs.append(Provenance((), "unit.assessment_types", f"declared on unit {unit.code}", (t,)))
        return Derived(tuple(sorted(types)), "evidence", tuple(provs))
    if unit.assessment_types:
        return Derived(tuple(unit.assessment_types), "declared",
                       (Provenance(tuple(sorted(f.id for f, _ in proofs)), "unit.assessment_types",
                                   "declared on the unit; the proving evidence does not tell the type"),))
    return Derived((), "none")


def infer_course_mode(facts: Iterable[EvidenceFact]) -> tuple[str | None, str, tuple[str, ...]]:
    """(mode URI, reason, evidence ids) from a learner's evidence in one course."""
    online: list[str] = []
    onsite: list[str] = []
    workbased: list[str] = []
    for f in facts:
        if f.kind is EvidenceKind.EXTERNAL:
            m = mode_from_text((f.external or {}).get("mode"))
            {ONLINE: online, PRESENTIAL: onsite, WORKBASED: workbased}.get(m, []).append(f.id)
        elif f.modname in ONSITE_MODULES or (f.quiz_settings and f.quiz_settings.get("subnet")):
            onsite.append(f.id)
        elif f.modname in ONLINE_MODULES or f.kind in (EvidenceKind.QUIZ_ATTEMPT, EvidenceKind.ASSIGNMENT_GRADE):
            online.append(f.id)
    if workbased:
        return WORKBASED, "work-based evidence", tuple(sorted(workbased))
    if online and onsite:
        return BLENDED, "online activities and onsite evidence", tuple(sorted(online + onsite))
    if onsite:
        return PRESENTIAL, "attendance / onsite evidence only", tuple(sorted(onsite))
    if online:
        return ONLINE, "online activities only", tuple(sorted(online))
    return None, "", ()


def combine_modes(modes: Iterable[str]) -> str | None:
    distinct = set(modes)
    if not distinct:
        return None
    if len(distinct) == 1:
        return distinct.pop()
    if WORKBASED in distinct:
        return WORKBASED
    return BLENDED


def derive_mode(unit: Unit, proofs: Sequence[tuple[EvidenceFact, str]],
                course_mode: Mapping[int, tuple[str | None, str, Provenance]]) -> Derived:
    """``course_mode``: course id -> (mode, source, provenance) for the courses of the proofs."""
    if unit.mode == WORKBASED:
        return Derived(WORKBASED, "declared", (Provenance((), "unit.mode", "work-based learning is declared"),))
    modes: list[str] = []
    provs: list[Provenance] = []
    sources: set[str] = set()
    for cid in sorted({f.course_id for f, _ in proofs if f.course_id is not None}):
        mode, source, prov = course_mode.get(cid, (None, "", None))
        if mode:
            modes.append(mode)
            provs.append(prov)  # type: ignore[arg-type]
            sources.add(source)
    combined = combine_modes(modes)
    if combined and sources == {"course_declaration"}:
        return Derived(combined, "course_declaration", tuple(provs))
    # what the school declares for the unit outranks a guess from activity types (a Moodle quiz taken
    # in the classroom looks like online learning)
    if unit.mode:
        return Derived(unit.mode, "declared", (Provenance((), "unit.mode", "declared on the unit"),))
    if combined:
        return Derived(combined, "evidence", tuple(provs))
    return Derived(None, "none")


def derive_grade(scheme: GradingScheme | None, proofs: Sequence[tuple[EvidenceFact, str]]) -> Grade | None:
    if scheme is None:
        return None
    graded = [(f, f.effective_percent) for f, _ in proofs]
    graded = [(f, p) for f, p in graded if p is not None]
    if not graded:
        return None
    values = [p for _, p in graded]
    pct = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}[scheme.basis]
    pct = pct.quantize(Decimal("0.01"))
    label = next((b.label for b in scheme.bands if pct >= b.min_percent), None)
    prov = Provenance(tuple(sorted(f.id for f, _ in graded)), "unit.grading",
                      f"{scheme.basis} of {len(values)} graded result(s) = {pct}%")
    return Grade(pct, label, scheme.title, prov)


def derive_unit(unit: Unit, proofs: Sequence[tuple[EvidenceFact, str]], school: School,
                course_mode: Mapping[int, tuple[str | None, str, Provenance]],
                declared: Mapping[int, DeclaredSupervision] | None = None) -> UnitDerivation:
    """``declared``: course module id -> the supervision the mapping file declares for that activity."""
    declared = declared or {}
    supervision = derive_supervision(unit, proofs, school, declared)
    supervised_ids = {
        f.id for f, _ in proofs
        if f.kind is EvidenceKind.QUIZ_ATTEMPT
        and (got := _supervision_of(f, school, declared)) and got[0] is not None and got[0].supervised
    }
    return UnitDerivation(
        assessment_types=derive_assessment(unit, proofs, supervised_ids),
        mode=derive_mode(unit, proofs, course_mode),
        supervision=supervision,
        grade=derive_grade(unit.grading, proofs),
    )
