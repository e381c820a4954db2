"""The presentation step between the domain's codes and what teachers and learners read.

The mappings layer speaks in rules, unit codes and evidence ids (``quiz_passed: {…, min_percent:
60}``, ``CNC-PROG``, ``moodle_ws:1:quiz_attempt:…``). Here a unit's rule and the learner's evidence
become :class:`Need` values (what is still to do, with the Moodle activity it is done in and the
learner's score so far), and :func:`sentence` says one in the reader's language with a link to the
activity: "Pass *CNC fundamentals quiz* with 60 % — best so far 33 %". Annex I provenance becomes
one plain phrase (:func:`source_phrase`) with the technical trail kept for a "details" toggle.

Only this module and the templates turn codes into words; the domain stays language-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal as babel_decimal
from babel.numbers import format_percent as babel_percent
from flask_babel import get_locale, gettext, ngettext
from markupsafe import Markup, escape

from credbridge.mappings.evaluate import ResolvedMappings
from credbridge.mappings.evidence import EvidenceFact
from credbridge.mappings.rules import KIND_OF_CLASS, AllNode, AtLeastNode, Index, Node, index_key
from credbridge.mappings.structure import Course as StructureCourse
from credbridge.mappings.structure import CourseStructure

#: Moodle course id -> the site's wwwroot (the Moodle the course lives on)
Wwwroots = dict[int, str]


@dataclass(frozen=True)
class Need:
    """One thing a learner still has to do (or, for ``choice``, one of several to pick from)."""

    #: quiz | assignment | grade_item | activity | course | competency | external | choice | unit | units_elsewhere
    kind: str
    name: str = ""
    url: str | None = None
    min_percent: Decimal | None = None
    min_points: Decimal | None = None
    #: the learner's result so far (percent), with what it is: best | last | first | grade
    score: Decimal | None = None
    score_kind: str = ""
    attempted: bool = False
    with_pass: bool = False
    where: str = ""  # competency rated in this course (its name)
    count: int = 0  # choice: how many of the options; units_elsewhere: how many units
    options: tuple[Need, ...] = field(default_factory=tuple)


# --- numbers and percentages in the reader's language ------------------------------------------

def _locale() -> str:
    return str(get_locale() or "en")


def percent(value: Decimal | float | int | str | None) -> str:
    """``79.33`` → "79,33 %" in Croatian, "79.33%" in English (Babel's pattern of the locale)."""
    if value is None:
        return ""
    number = Decimal(str(value)) / 100
    return babel_percent(number, locale=_locale(), decimal_quantization=False)


def number(value: Decimal | float | int | str | None) -> str:
    if value is None:
        return ""
    try:
        return babel_decimal(Decimal(str(value)).normalize(), locale=_locale(), decimal_quantization=False)
    except ArithmeticError:
        return str(value)


# --- rule + evidence -> needs ----------------------------------------------------------------

def evidence_index(facts: Iterable[EvidenceFact]) -> Index:
    """The learner's live evidence by the key the compiled rules look up (as evaluation files it)."""
    index: Index = {}
    for fact in facts:
        if not fact.withdrawn:
            index.setdefault(index_key(fact), []).append(fact)
    for found in index.values():
        found.sort(key=lambda f: (f.occurred_at, f.id))
    return index


def activity_url(wwwroot: str | None, modname: str, cmid: int) -> str | None:
    return f"{wwwroot.rstrip('/')}/mod/{modname}/view.php?id={cmid}" if wwwroot else None


def course_url(wwwroot: str | None, course_id: int) -> str | None:
    return f"{wwwroot.rstrip('/')}/course/view.php?id={course_id}" if wwwroot else None


class _Explainer:
    def __init__(self, structure: CourseStructure, index: Index, wwwroots: Wwwroots) -> None:
        self.structure, self.index, self.wwwroots = structure, index, wwwroots

    def _facts(self, node: Node) -> list[EvidenceFact]:
        found = [f for key in node.keys for f in self.index.get(key, ())]
        return sorted(found, key=lambda f: (f.occurred_at, f.id))

    def _activity(self, course: StructureCourse | None, ref: str, modname: str | None) -> tuple[str, str | None]:
        if course is None:
            return ref, None
        found = CourseStructure.activity(course, ref, modname)
        if len(found) != 1:
            return ref, None
        act = found[0]
        return act.name, activity_url(self.wwwroots.get(course.id), act.modname, act.cmid)

    def needs(self, rule: Any, node: Node) -> list[Need]:
        """What of ``rule`` is not met yet (``node`` is its compiled form, walked alongside)."""
        if node.check(self.index).ok:
            return []
        kind = KIND_OF_CLASS[type(rule)]
        spec = getattr(rule, kind)
        if kind == "all":
            children = node.children if isinstance(node, AllNode) else ()
            return [n for r, c in zip(spec, children, strict=False) for n in self.needs(r, c)]
        if kind in ("any", "at_least"):
            rules = spec if kind == "any" else spec.of
            children = node.children if isinstance(node, AtLeastNode) else ()
            met = sum(1 for c in children if c.check(self.index).ok)
            wanted = (1 if kind == "any" else spec.n) - met
            options = tuple(n for r, c in zip(rules, children, strict=False) for n in self.needs(r, c))
            if len(options) == 1 or (wanted >= len(options)):
                return list(options)
            return [Need("choice", count=wanted, options=options)]
        return [self._leaf(kind, spec, node)]

    def _leaf(self, kind: str, spec: Any, node: Node) -> Need:
        course = self.structure.course(spec.course) if getattr(spec, "course", None) else None
        facts = self._facts(node)
        if kind == "quiz_passed":
            name, url = self._activity(course, spec.quiz, "quiz")
            finished: dict[int, EvidenceFact] = {}
            for f in facts:  # latest version of each finished attempt
                if f.attempt_state in (None, "finished"):
                    finished[f.attempt if f.attempt is not None else -1] = f
            score = None
            if finished:
                if spec.attempt == "best":
                    score = max((f.effective_percent for f in finished.values() if f.effective_percent is not None),
                                default=None)
                else:
                    chosen = finished[max(finished) if spec.attempt == "last" else min(finished)]
                    score = chosen.effective_percent
            return Need("quiz", name, url, spec.min_percent, spec.min_points, score, spec.attempt,
                        attempted=bool(facts))
        if kind in ("assignment_graded", "grade_item"):
            ref = spec.assignment if kind == "assignment_graded" else spec.item
            if kind == "assignment_graded":
                name, url = self._activity(course, ref, "assign")
            else:
                items = CourseStructure.grade_item(course, ref) if course else []
                item = items[0] if len(items) == 1 else None
                name = (item.itemname or ref) if item else ref
                act = next((a for a in course.activities if item and a.cmid == item.cmid), None) if course else None
                url = activity_url(self.wwwroots.get(course.id), act.modname, act.cmid) if act and course else None
            latest = facts[-1] if facts else None
            return Need("assignment" if kind == "assignment_graded" else "grade_item", name, url, spec.min_percent,
                        spec.min_points, latest.effective_percent if latest else None, "grade",
                        attempted=latest is not None)
        if kind == "activity_completed":
            name, url = self._activity(course, spec.activity, None)
            return Need("activity", name, url, with_pass=spec.passed, attempted=bool(facts))
        if kind == "course_completed":
            return Need("course", course.fullname if course else spec.course,
                        course_url(self.wwwroots.get(course.id), course.id) if course else None)
        if kind == "competency_proficient":
            comp = self.structure.competency(spec.competency)
            where = course.fullname if course else ""
            url = (f"{self.wwwroots[course.id].rstrip('/')}/admin/tool/lp/coursecompetencies.php?courseid={course.id}"
                   if course and course.id in self.wwwroots else None)
            return Need("competency", comp.shortname if comp else spec.competency, url, where=where,
                        attempted=bool(facts))
        if kind == "external_result":
            latest = facts[-1] if facts else None
            return Need("external", spec.assessment, attempted=latest is not None)
        return Need(kind)  # pragma: no cover - every rule kind is handled above


def unit_needs(resolved: ResolvedMappings, unit_code: str, index: Index, wwwroots: Wwwroots) -> list[Need]:
    """What the learner still has to do for one unit, in rule order, without repeats."""
    compiled = next((cu for cu in resolved.units if cu.unit.code == unit_code), None)
    if compiled is None:
        return []
    found = _Explainer(resolved.structure, index, wwwroots).needs(compiled.unit.evidence, compiled.node)
    return list(dict.fromkeys(found))


def template_needs(missing_units: Sequence[str], unit_titles: dict[str, str], columns: dict[str, str],
                   template_of_unit: dict[str, str]) -> list[Need]:
    """The units a template still lacks, by their names: a unit that is a column of the page by its
    own title, one of another column's template by that template's title, the rest counted."""
    named: list[Need] = []
    elsewhere = 0
    for code in missing_units:
        if code in columns:
            named.append(Need("unit", columns[code]))
        elif template_of_unit.get(code) in columns:
            named.append(Need("unit", columns[template_of_unit[code]]))
        else:
            elsewhere += 1
    named = list(dict.fromkeys(named))
    if elsewhere:
        named.append(Need("units_elsewhere", count=elsewhere))
    return named


# --- needs -> sentences -------------------------------------------------------------------------

def _link(need: Need) -> Markup:
    name = Markup("<em>%s</em>") % need.name
    if need.url:
        return Markup('<a href="%s" target="_top">%s</a>') % (need.url, name)
    return name


def _threshold(need: Need) -> str:
    if need.min_points is not None:
        return ngettext("%(num)s point", "%(num)s points", int(need.min_points), num=number(need.min_points))
    return percent(need.min_percent)


def _so_far(need: Need) -> str:
    if need.kind == "quiz":
        if not need.attempted:
            return ""
        if need.score is None:
            return gettext("no finished attempt yet")
        return {"best": gettext("best so far %(score)s", score=percent(need.score)),
                "last": gettext("last attempt %(score)s", score=percent(need.score)),
                "first": gettext("first attempt %(score)s", score=percent(need.score))}[need.score_kind or "best"]
    if need.kind in ("assignment", "grade_item"):
        if need.score is None:
            return gettext("not graded yet") if need.attempted else ""
        return gettext("graded %(score)s", score=percent(need.score))
    if need.kind == "competency" and need.attempted:
        return gettext("rated, not yet proficient")
    if need.kind == "activity" and need.attempted and need.with_pass:
        return gettext("completed without a pass")
    return ""


#: sentences already said, by (language, the need's repr): a course page says the same few needs for
#: many learners, and each sentence costs several catalogue look-ups and a Babel number format. The
#: key is the repr, not the need itself, because equal decimals may be written differently (60 vs 60.0)
_SAID: dict[tuple[str, str], Markup] = {}
_SAID_MAX = 4096


def sentence(need: Need) -> Markup:
    """One need as a sentence in the reader's language (HTML: the activity is a link to Moodle)."""
    key = (_locale(), repr(need))
    said = _SAID.get(key)
    if said is None:
        said = _say(need)
        if len(_SAID) >= _SAID_MAX:  # bounded: start over rather than keep every score ever seen
            _SAID.clear()
        _SAID[key] = said
    return said


def _say(need: Need) -> Markup:
    what = _link(need)
    if need.kind == "quiz":
        text = escape(gettext("Pass %(activity)s with %(threshold)s")) % {
            "activity": what, "threshold": _threshold(need)}
    elif need.kind == "assignment":
        text = escape(gettext("Get at least %(threshold)s for %(activity)s")) % {
            "activity": what, "threshold": _threshold(need)}
    elif need.kind == "grade_item":
        text = escape(gettext("Reach %(threshold)s in the grade %(activity)s")) % {
            "activity": what, "threshold": _threshold(need)}
    elif need.kind == "activity":
        message = (gettext("Complete %(activity)s with a pass") if need.with_pass
                   else gettext("Complete %(activity)s"))
        text = escape(message) % {"activity": what}
    elif need.kind == "course":
        text = escape(gettext("Complete the course %(course)s")) % {"course": what}
    elif need.kind == "competency":
        message = (gettext("Be rated proficient in %(competency)s in %(course)s") if need.where
                   else gettext("Be rated proficient in %(competency)s"))
        text = escape(message) % {"competency": what, "course": need.where}
    elif need.kind == "external":
        text = escape(gettext("Pass the assessment %(activity)s")) % {"activity": what}
    elif need.kind == "unit":
        text = escape(gettext("Achieve %(unit)s")) % {"unit": what}
    elif need.kind == "units_elsewhere":
        text = escape(ngettext("Achieve %(num)d unit taught in another course",
                                      "Achieve %(num)d units taught in other courses", need.count))
    elif need.kind == "choice":
        head = (gettext("One of these:") if need.count == 1
                else ngettext("%(num)d of these:", "%(num)d of these:", need.count))
        items = Markup("").join(Markup("<li>%s</li>") % sentence(o) for o in need.options)
        return Markup("%s<ul>%s</ul>") % (head, items)
    else:  # pragma: no cover - every kind above
        text = escape(need.name)
    so_far = _so_far(need)
    return Markup("%s — %s") % (text, so_far) if so_far else text


def plain(need: Need) -> str:
    """The sentence without markup (for JSON and screen-reader-only text)."""
    return sentence(need).striptags()


# --- provenance of Annex I values ---------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where an Annex I value came from: one plain phrase, and the technical trail for "details"."""

    phrase: str
    technical: tuple[str, ...] = ()


def is_derived(raw: Any) -> bool:
    """Whether a snapshot element was derived from evidence (``{"value", "source", "provenance"}``)
    rather than written in the mapping file."""
    return isinstance(raw, dict) and "value" in raw and ("source" in raw or "provenance" in raw)


def source_phrase(raw: Any, facts_by_id: dict[str, EvidenceFact] | None = None,
                  course_name: Callable[[str], str] | None = None) -> Source:
    """``raw`` is a snapshot element; derived ones look like ``{"value", "source", "provenance"}``."""
    if not is_derived(raw):
        return Source(gettext("Written in the school's mapping file"))
    provenance = [p for p in raw.get("provenance") or [] if isinstance(p, dict)]
    technical = tuple(dict.fromkeys(
        " · ".join(x for x in (str(p.get("rule") or ""), str(p.get("reason") or ""),
                               ", ".join(map(str, p.get("evidence_ids") or []))) if x)
        for p in provenance))
    source = str(raw.get("source") or "")
    if source == "course_declaration":
        courses = [str(p.get("rule") or "").split(".")[1] for p in provenance
                   if str(p.get("rule") or "").startswith("courses.") and str(p.get("rule")).count(".") >= 2]
        names = ", ".join(dict.fromkeys(course_name(c) if course_name else c for c in courses))
        phrase = (gettext("Declared for the course %(course)s", course=names) if names
                  else gettext("Declared for the course in the mapping file"))
        return Source(phrase, technical)
    if source == "evidence":
        facts_by_id = facts_by_id or {}
        names = [facts_by_id[e].activity_name or "" for p in provenance for e in p.get("evidence_ids") or []
                 if e in facts_by_id]
        names = [n for n in dict.fromkeys(names) if n]
        phrase = (gettext("From the learner's results in Moodle: %(activities)s", activities=", ".join(names))
                  if names else gettext("From the learner's results in Moodle"))
        return Source(phrase, technical)
    if source == "none":
        return Source(gettext("Not shown by the evidence"), technical)
    return Source(gettext("Written in the school's mapping file"), technical)

