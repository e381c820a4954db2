"""Evidence rules: which Moodle evidence achieves a unit.

A rule in a mapping file is a one-key mapping, the key naming the kind::

    evidence:
      all:
        - quiz_passed: {course: CNC101, quiz: CNC fundamentals quiz, attempt: best, min_percent: 60}
        - assignment_graded: {course: CNC101, assignment: Program a facing operation, min_percent: 50}
        - at_least: {n: 1, of: [{course_completed: TD110}, {competency_proficient: ME-C1}]}

The pydantic models below are the file format; :func:`compile_rule` resolves their Moodle
references against a :class:`CourseStructure` and turns them into small node objects whose
``check(index)`` runs in a few dictionary look-ups per leaf (the evaluator calls it for every
learner x unit, so nothing here may allocate on the common "no evidence" path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.structure import Course, CourseStructure

# --- file format ---------------------------------------------------------------------------


class _R(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Ref = Annotated[str, Field(min_length=1, max_length=255)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]


class _Threshold(_R):
    min_percent: Percent | None = None
    min_points: Annotated[Decimal, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.min_percent is None) == (self.min_points is None):
            raise ValueError("give exactly one of min_percent or min_points")
        return self

    def passes(self, fact: EvidenceFact) -> bool:
        if self.min_points is not None:
            return fact.raw is not None and fact.raw >= self.min_points
        pct = fact.effective_percent
        return pct is not None and pct >= self.min_percent  # type: ignore[operator]

    def threshold_text(self) -> str:
        return f">= {self.min_percent}%" if self.min_percent is not None else f">= {self.min_points} points"


class CourseCompletedSpec(_R):
    course: Ref


class ActivityCompletedSpec(_R):
    course: Ref
    activity: Ref
    #: require Moodle's "complete with pass" state (2), not just complete
    passed: bool = False


class GradeItemSpec(_Threshold):
    course: Ref
    item: Ref


class QuizPassedSpec(_Threshold):
    course: Ref
    quiz: Ref
    attempt: Literal["best", "last", "first"] = "best"


class AssignmentGradedSpec(_Threshold):
    course: Ref
    assignment: Ref


class CompetencySpec(_R):
    competency: Ref
    #: only ratings given in this course count (any course, or plan-level, when omitted)
    course: Ref | None = None


class ExternalSpec(_R):
    #: the assessment's id in the CSV (EvidenceFact.activity_idnumber)
    assessment: Ref
    column: Ref = "result"
    pass_values: list[str] | None = None
    min: Decimal | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.pass_values is None) == (self.min is None):
            raise ValueError("give exactly one of pass_values or min")
        return self


def _shorthand(field_name: str, spec: type) -> BeforeValidator:
    """``course_completed: CNC101`` means ``course_completed: {course: CNC101}``."""
    return BeforeValidator(lambda v: {field_name: v} if isinstance(v, str) else v,
                           json_schema_input_type=Union[spec, Ref])  # noqa: UP007


class CourseCompleted(_R):
    course_completed: Annotated[CourseCompletedSpec, _shorthand("course", CourseCompletedSpec)]


class ActivityCompleted(_R):
    activity_completed: ActivityCompletedSpec


class GradeAtLeast(_R):
    grade_item: GradeItemSpec


class QuizPassed(_R):
    quiz_passed: QuizPassedSpec


class AssignmentGraded(_R):
    assignment_graded: AssignmentGradedSpec


class CompetencyProficient(_R):
    competency_proficient: Annotated[CompetencySpec, _shorthand("competency", CompetencySpec)]


class ExternalResult(_R):
    external_result: ExternalSpec


class AllOf(_R):
    all: Annotated[list[Rule], Field(min_length=1)]


class AnyOf(_R):
    any: Annotated[list[Rule], Field(min_length=1)]


class AtLeastSpec(_R):
    n: Annotated[int, Field(ge=1)]
    of: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _n_fits(self):
        if self.n > len(self.of):
            raise ValueError(f"n = {self.n} but only {len(self.of)} rules are listed")
        return self


class AtLeast(_R):
    at_least: AtLeastSpec


RULE_KINDS: dict[str, type[_R]] = {
    "course_completed": CourseCompleted,
    "activity_completed": ActivityCompleted,
    "grade_item": GradeAtLeast,
    "quiz_passed": QuizPassed,
    "assignment_graded": AssignmentGraded,
    "competency_proficient": CompetencyProficient,
    "external_result": ExternalResult,
    "all": AllOf,
    "any": AnyOf,
    "at_least": AtLeast,
}
KIND_OF_CLASS = {cls: kind for kind, cls in RULE_KINDS.items()}


def _rule_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    return KIND_OF_CLASS.get(type(value))


Rule = Annotated[
    Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in RULE_KINDS.items())],  # noqa: UP007
    Discriminator(
        _rule_tag,
        custom_error_type="rule_kind",
        custom_error_message="a rule is a mapping with exactly one key, one of: " + ", ".join(RULE_KINDS),
    ),
]

for _cls in (AllOf, AnyOf, AtLeastSpec, AtLeast):
    _cls.model_rebuild()


class _Validated(_R):
    rule: Rule


def parse_rule(data: Any) -> Any:
    """Validate a rule given as plain data (used by tests and the connector's previews)."""
    return _Validated(rule=data).rule


# --- compiled form -------------------------------------------------------------------------

#: evidence index key -> facts (not withdrawn) ordered by (occurred_at, id)
Index = dict[tuple[Any, ...], list[EvidenceFact]]


class Outcome(NamedTuple):
    """Result of checking a rule (a NamedTuple: the evaluator makes millions of them)."""

    ok: bool
    #: when the rule first became (and stayed) satisfied
    at: datetime | None
    #: (fact, description of the leaf rule it satisfied)
    proofs: tuple[tuple[EvidenceFact, str], ...] = ()


#: the shared "not satisfied" outcome; why is told by Node.explain (slow path, on demand)
FAIL = Outcome(False, None, ())


class ResolutionError(Exception):
    def __init__(self, path: tuple[Any, ...], message: str):
        super().__init__(message)
        self.path = path
        self.message = message


KEY_OF_KIND: dict[EvidenceKind, tuple[str, str]] = {
    EvidenceKind.COURSE_COMPLETION: ("course", "course_id"),
    EvidenceKind.ACTIVITY_COMPLETION: ("cm", "cmid"),
    EvidenceKind.QUIZ_ATTEMPT: ("quiz", "cmid"),
    EvidenceKind.ASSIGNMENT_GRADE: ("assign", "cmid"),
    EvidenceKind.GRADE_ITEM: ("gi", "grade_item_id"),
    EvidenceKind.COMPETENCY: ("comp", "competency_idnumber"),
    EvidenceKind.EXTERNAL: ("ext", "activity_idnumber"),
}


def index_key(fact: EvidenceFact) -> tuple[Any, ...]:
    """Where a fact is filed in the per-learner index (see the leaves' ``keys``)."""
    prefix, attr = KEY_OF_KIND[fact.kind]
    return (prefix, getattr(fact, attr))


class Node:
    """A compiled rule. ``check`` is the hot path (no strings built); ``explain`` says what is missing."""

    __slots__ = ("description", "keys")

    def __init__(self, description: str, keys: tuple[tuple[Any, ...], ...]):
        self.description = description
        self.keys = keys

    def check(self, index: Index) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain(self, index: Index) -> tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def leaves(self) -> list[Node]:
        return [self]

    def _facts(self, index: Index) -> list[EvidenceFact] | None:
        if len(self.keys) == 1:
            return index.get(self.keys[0])
        found = [f for key in self.keys for f in index.get(key, ())]
        return sorted(found, key=_order) if found else None


def _final_run(facts: Sequence[EvidenceFact], ok: Callable[[EvidenceFact], bool]) -> list[EvidenceFact]:
    """The trailing facts that all satisfy ``ok`` (empty if the latest does not)."""
    run: list[EvidenceFact] = []
    for f in reversed(facts):
        if not ok(f):
            break
        run.append(f)
    run.reverse()
    return run


def _order(f: EvidenceFact) -> tuple[datetime, str]:
    return (f.occurred_at, f.id)


class LatestStateLeaf(Node):
    """Satisfied when the latest version of the evidence satisfies ``ok`` (grades, completions)."""

    __slots__ = ("fail_text", "ok")

    def __init__(self, description: str, keys: tuple[tuple[Any, ...], ...],
                 ok: Callable[[EvidenceFact], bool], fail_text: Callable[[EvidenceFact], str]):
        super().__init__(description, keys)
        self.ok = ok
        self.fail_text = fail_text

    def check(self, index: Index) -> Outcome:
        facts = index.get(self.keys[0]) if len(self.keys) == 1 else self._facts(index)
        if not facts:
            return FAIL
        last = facts[-1]
        if not self.ok(last):
            return FAIL
        if len(facts) == 1:  # the usual case: one version of the evidence
            return Outcome(True, last.occurred_at, ((last, self.description),))
        run = _final_run(facts, self.ok)
        d = self.description
        return Outcome(True, run[0].occurred_at, tuple([(f, d) for f in run]))

    def explain(self, index: Index) -> tuple[str, ...]:
        facts = self._facts(index)
        if not facts:
            return (self.description,)
        if self.ok(facts[-1]):
            return ()
        return (f"{self.description} — {self.fail_text(facts[-1])}",)


class QuizLeaf(Node):
    __slots__ = ("spec",)

    def __init__(self, description: str, cmid: int, spec: QuizPassedSpec):
        super().__init__(description, (("quiz", cmid),))
        self.spec = spec

    def _attempts(self, index: Index) -> dict[int, EvidenceFact] | None:
        facts = index.get(self.keys[0])
        if not facts:
            return None
        attempts: dict[int, EvidenceFact] = {}
        for f in facts:  # latest version of each finished attempt (facts are time-ordered)
            if f.attempt_state in (None, "finished"):
                attempts[f.attempt if f.attempt is not None else -1] = f
        return attempts

    def check(self, index: Index) -> Outcome:
        spec = self.spec
        facts = index.get(self.keys[0])
        if not facts:
            return FAIL
        if len(facts) == 1:  # the usual case: one attempt
            f = facts[0]
            if f.attempt_state in (None, "finished") and spec.passes(f):
                return Outcome(True, f.occurred_at, ((f, self.description),))
            return FAIL
        attempts = self._attempts(index)
        if not attempts:
            return FAIL
        if spec.attempt == "best":
            passing = [f for f in attempts.values() if spec.passes(f)]
            if not passing:
                return FAIL
            chosen = min(passing, key=_order)
        else:
            chosen = attempts[max(attempts) if spec.attempt == "last" else min(attempts)]
            if not spec.passes(chosen):
                return FAIL
        return Outcome(True, chosen.occurred_at, ((chosen, self.description),))

    def explain(self, index: Index) -> tuple[str, ...]:
        attempts = self._attempts(index)
        if attempts is None:
            return (self.description,)
        if not attempts:
            return (f"{self.description} — no finished attempt",)
        if self.check(index).ok:
            return ()
        spec = self.spec
        if spec.attempt == "best":
            shown = max(attempts.values(), key=lambda f: (f.effective_percent or 0, f.id))
        else:
            shown = attempts[max(attempts) if spec.attempt == "last" else min(attempts)]
        return (f"{self.description} — {spec.attempt} attempt {_score(shown)}",)


def _score(f: EvidenceFact) -> str:
    pct = f.effective_percent
    if pct is not None:
        return f"{pct.quantize(Decimal('0.01')).normalize():f}%"
    return "ungraded" if f.raw is None else f"{f.raw} points"


class ExternalLeaf(Node):
    __slots__ = ("_values", "spec")

    def __init__(self, description: str, spec: ExternalSpec):
        super().__init__(description, (("ext", spec.assessment),))
        self.spec = spec
        self._values = {v.strip().lower() for v in spec.pass_values or ()}

    def passes(self, f: EvidenceFact) -> bool:
        value = (f.external or {}).get(self.spec.column)
        if value is None:
            return False
        if self.spec.min is not None:
            try:
                return Decimal(str(value).strip().replace(",", ".")) >= self.spec.min
            except ArithmeticError:
                return False
        return str(value).strip().lower() in self._values

    def check(self, index: Index) -> Outcome:
        facts = index.get(self.keys[0])
        if not facts or not self.passes(facts[-1]):
            return FAIL
        run = _final_run(facts, self.passes)
        return Outcome(True, run[0].occurred_at, tuple([(f, self.description) for f in run]))

    def explain(self, index: Index) -> tuple[str, ...]:
        facts = index.get(self.keys[0])
        if not facts:
            return (self.description,)
        if self.passes(facts[-1]):
            return ()
        got = (facts[-1].external or {}).get(self.spec.column)
        return (f"{self.description} — {self.spec.column} is {got!r}",)


class CompetencyLeaf(Node):
    """Proficient in a competency: each course's rating (and the plan-level one, course None) is its
    own record whose latest version counts; satisfied when one of them (or the named course's) is."""

    __slots__ = ("course_id",)

    def __init__(self, description: str, idnumber: str, course_id: int | None):
        super().__init__(description, (("comp", idnumber),))
        self.course_id = course_id

    def _latest_runs(self, index: Index) -> list[list[EvidenceFact]] | None:
        facts = index.get(self.keys[0])
        if not facts:
            return None
        by_course: dict[int | None, list[EvidenceFact]] = {}
        for f in facts:
            if self.course_id is None or f.course_id == self.course_id:
                by_course.setdefault(f.course_id, []).append(f)
        return [_final_run(group, _proficient) for group in by_course.values()]

    def check(self, index: Index) -> Outcome:
        runs = self._latest_runs(index)
        if not runs:
            return FAIL
        runs = [r for r in runs if r]
        if not runs:
            return FAIL
        run = min(runs, key=lambda r: _order(r[0]))
        return Outcome(True, run[0].occurred_at, tuple([(f, self.description) for f in run]))

    def explain(self, index: Index) -> tuple[str, ...]:
        runs = self._latest_runs(index)
        if not runs:
            return (self.description,)
        if any(runs):
            return ()
        return (f"{self.description} — not yet proficient",)


def _proficient(f: EvidenceFact) -> bool:
    return bool(f.proficient)


class AllNode(Node):
    __slots__ = ("children",)

    def __init__(self, description: str, children: list[Node]):
        super().__init__(description, tuple(k for c in children for k in c.keys))
        self.children = tuple(children)

    def leaves(self) -> list[Node]:
        return [leaf for c in self.children for leaf in c.leaves()]

    def check(self, index: Index) -> Outcome:
        results = []
        for c in self.children:
            r = c.check(index)
            if not r.ok:
                return FAIL
            results.append(r)
        return Outcome(True, max(r.at for r in results), tuple(p for r in results for p in r.proofs))  # type: ignore[type-var]

    def explain(self, index: Index) -> tuple[str, ...]:
        return tuple(m for c in self.children for m in c.explain(index))


class AtLeastNode(Node):
    """n of the children; ``any`` is n = 1."""

    __slots__ = ("children", "n")

    def __init__(self, description: str, n: int, children: list[Node]):
        super().__init__(description, tuple(k for c in children for k in c.keys))
        self.children = tuple(children)
        self.n = n

    def leaves(self) -> list[Node]:
        return [leaf for c in self.children for leaf in c.leaves()]

    def check(self, index: Index) -> Outcome:
        ok = []
        for c in self.children:
            r = c.check(index)
            if r.ok:
                ok.append(r)
        if len(ok) < self.n:
            return FAIL
        if len(ok) > 1:
            # satisfied from the moment the n-th child was; prove with the n earliest children
            ok.sort(key=lambda r: (r.at, tuple(p[0].id for p in r.proofs)))
        chosen = ok[: self.n]
        return Outcome(True, chosen[-1].at, tuple(p for r in chosen for p in r.proofs))

    def explain(self, index: Index) -> tuple[str, ...]:
        results = [(c.check(index).ok, c) for c in self.children]
        lacking = self.n - sum(ok for ok, _ in results)
        if lacking <= 0:
            return ()
        options = "; ".join(m for ok, c in results if not ok for m in c.explain(index))
        head = "one of" if self.n == 1 else f"{lacking} more of"
        return (f"{head}: {options}",)


# --- compilation (reference resolution) ------------------------------------------------------


class _Compiler:
    def __init__(self, structure: CourseStructure):
        self.structure = structure
        self.errors: list[ResolutionError] = []

    def course(self, ref: str, path: tuple[Any, ...]) -> Course:
        course = self.structure.course(ref)
        if course is None:
            known = ", ".join(sorted(c.shortname for c in self.structure.courses)) or "none"
            raise ResolutionError((*path, "course"), f"course {ref!r} is not a shortname or idnumber "
                                  f"of a course on the site (known: {known})")
        return course

    def activity(self, course: Course, ref: str, modname: str | None, path: tuple[Any, ...], field: str):
        found = CourseStructure.activity(course, ref, modname)
        kind = modname or "activity"
        if not found:
            names = ", ".join(repr(a.name) for a in course.activities if modname is None or a.modname == modname)
            raise ResolutionError((*path, field), f"no {kind} with idnumber or name {ref!r} in course "
                                  f"{course.shortname} (there: {names or 'none'})")
        if len(found) > 1:
            raise ResolutionError((*path, field), f"{len(found)} {kind} activities are named {ref!r} in "
                                  f"{course.shortname}; give the activity an idnumber in Moodle and use it")
        return found[0]

    def compile(self, rule: Any, path: tuple[Any, ...]) -> Node:
        """Compile, collecting every unresolved reference (a failed leaf compiles to a never-true node)."""
        try:
            return self._compile(rule, path)
        except ResolutionError as exc:
            self.errors.append(exc)
            return AllNode("unresolved", [])

    def _compile(self, rule: Any, path: tuple[Any, ...]) -> Node:
        kind = KIND_OF_CLASS[type(rule)]
        spec = getattr(rule, kind)
        p = (*path, kind)
        if kind == "all":
            return AllNode("all of", [self.compile(r, (*p, i)) for i, r in enumerate(spec)])
        if kind == "any":
            return AtLeastNode("any of", 1, [self.compile(r, (*p, i)) for i, r in enumerate(spec)])
        if kind == "at_least":
            return AtLeastNode(f"at least {spec.n} of", spec.n,
                               [self.compile(r, (*p, "of", i)) for i, r in enumerate(spec.of)])
        if kind == "external_result":
            cond = (f"{spec.column} in {spec.pass_values}" if spec.pass_values is not None
                    else f"{spec.column} >= {spec.min}")
            return ExternalLeaf(f"external assessment {spec.assessment!r}: {cond}", spec)
        if kind == "competency_proficient":
            comp = self.structure.competency(spec.competency)
            if comp is None:
                known = ", ".join(c.idnumber for c in self.structure.competencies) or "none"
                raise ResolutionError((*p, "competency"), f"competency {spec.competency!r} is not on the site "
                                      f"(known idnumbers: {known})")
            course_id = self.course(spec.course, p).id if spec.course else None
            where = f" in {spec.course}" if spec.course else ""
            return CompetencyLeaf(f"competency {comp.idnumber} ({comp.shortname}) rated proficient{where}",
                                  comp.idnumber, course_id)
        course = self.course(spec.course, p)
        if kind == "course_completed":
            return LatestStateLeaf(f"course {course.shortname} completed", (("course", course.id),),
                                   lambda f: bool(f.completed), lambda f: "not completed")
        if kind == "activity_completed":
            act = self.activity(course, spec.activity, None, p, "activity")
            need = "completed with a pass" if spec.passed else "completed"

            def done(f: EvidenceFact, passed=spec.passed) -> bool:
                return f.state == 2 if passed and f.state is not None else f.is_complete

            return LatestStateLeaf(f"{act.modname} {act.name!r} ({course.shortname}) {need}",
                                   (("cm", act.cmid),), done, lambda f: f"state {f.state}")
        if kind == "grade_item":
            items = CourseStructure.grade_item(course, spec.item)
            if len(items) != 1:
                names = ", ".join(repr(g.idnumber or g.itemname) for g in course.grade_items)
                msg = (f"no grade item with idnumber or name {spec.item!r} in course {course.shortname} "
                       f"(there: {names or 'none'})") if not items else (
                       f"{len(items)} grade items match {spec.item!r} in {course.shortname}; use an idnumber")
                raise ResolutionError((*p, "item"), msg)
            gi = items[0]
            return LatestStateLeaf(f"grade item {spec.item!r} ({course.shortname}) {spec.threshold_text()}",
                                   (("gi", gi.id),), spec.passes, lambda f: f"grade {_score(f)}")
        if kind == "quiz_passed":
            act = self.activity(course, spec.quiz, "quiz", p, "quiz")
            return QuizLeaf(f"quiz {act.name!r} ({course.shortname}) {spec.attempt} attempt "
                            f"{spec.threshold_text()}", act.cmid, spec)
        if kind == "assignment_graded":
            act = self.activity(course, spec.assignment, "assign", p, "assignment")
            keys: list[tuple[Any, ...]] = [("assign", act.cmid)]
            # the assignment's grade may also arrive as its grade-item row
            keys += [("gi", g.id) for g in course.grade_items if g.cmid == act.cmid]
            return LatestStateLeaf(f"assignment {act.name!r} ({course.shortname}) graded "
                                   f"{spec.threshold_text()}", tuple(keys), spec.passes,
                                   lambda f: f"grade {_score(f)}")
        raise AssertionError(kind)  # pragma: no cover - RULE_KINDS and this function agree


def compile_rule_collect(rule: Any, structure: CourseStructure,
                         path: tuple[Any, ...] = ()) -> tuple[Node, list[ResolutionError]]:
    """Compiled rule and every reference that did not resolve (the node is unusable if any)."""
    compiler = _Compiler(structure)
    node = compiler.compile(rule, path)
    return node, compiler.errors


def compile_rule(rule: Any, structure: CourseStructure, path: tuple[Any, ...] = ()) -> Node:
    """Resolve a rule's references and return its checkable form (raises the first ResolutionError)."""
    node, errors = compile_rule_collect(rule, structure, path)
    if errors:
        raise errors[0]
    return node


def rule_courses(rule: Any) -> set[str]:
    """Course references (shortname/idnumber) a rule mentions."""
    kind = KIND_OF_CLASS[type(rule)]
    spec = getattr(rule, kind)
    if kind in ("all", "any"):
        return set().union(*(rule_courses(r) for r in spec))
    if kind == "at_least":
        return set().union(*(rule_courses(r) for r in spec.of))
    course = getattr(spec, "course", None)
    return {course} if course else set()


def rule_to_data(rule: Any) -> Any:
    return rule.model_dump(mode="json", exclude_defaults=True)

