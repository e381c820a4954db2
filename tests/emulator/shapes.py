"""Compare an emulator response with a recorded Moodle response: keys, key order, JSON types, list shapes,
and (optionally) the values that come from the recorded site's ground truth."""

from __future__ import annotations

from typing import Any

# Keys whose values come from testdata.json ground truth (ids, names, grades, states) and must be equal.
TRUTH_KEYS = frozenset({
    "id", "userid", "courseid", "cmid", "instance", "coursemodule", "course", "assignmentid", "competencyid",
    "competencyframeworkid", "categoryid", "shortname", "idnumber", "username", "email", "fullname", "firstname",
    "lastname", "courseidnumber", "useridnumber", "userfullname", "modname", "itemmodule", "itemtype",
    "iteminstance", "grademax", "grademin", "graderaw", "rawgrade", "grade", "sumgrades", "state", "completed",
    "complete", "proficiency", "hasgrade", "gradetopass", "name", "itemname", "status", "gradingstatus",
    "weightraw", "weightformatted", "percentageformatted", "progress", "enrolledusercount", "aggregation",
    "roles", "enrolledcourses", "attempt", "errorcode", "exception", "message", "warningcode", "itemid",
    "coursecount", "sortorder", "parent", "depth", "path", "section", "sectionnum", "completion", "gradename",
    "proficiencyname", "competenciescount", "enablecompletion", "startdate", "enddate", "contextid",
    "usermodified", "grader", "attemptnumber", "leastproficientcount", "competencycount", "scaleconfiguration",
})
ID_KEYS = ("id", "cmid", "userid", "assignmentid", "courseid", "name", "filter", "rulename")


def jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


def _pair_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ID_KEYS:
        values = [i.get(key) for i in items]
        if all(v is not None for v in values) and len(set(map(str, values))) == len(values):
            return key
    return None


def compare(recorded: Any, actual: Any, path: str = "$", *, values: bool = True,
            skip_values: frozenset[str] = frozenset()) -> list[str]:
    """Differences between a recorded response and the emulator's (empty list = same shape)."""
    problems: list[str] = []
    rt, at = jtype(recorded), jtype(actual)
    if rt != at:
        return [f"{path}: type {at} ({actual!r:.60}) where Moodle sends {rt} ({recorded!r:.60})"]
    if rt == "number" and isinstance(actual, float) and actual.is_integer():
        # PHP's json_encode writes 100.0 as 100; an emulator emitting 100.0 would differ on the wire.
        return [f"{path}: {actual!r} is written as a float where PHP writes an int"]
    if rt == "dict":
        if list(recorded) != list(actual):
            problems.append(f"{path}: keys {list(actual)} != recorded {list(recorded)}")
            return problems
        for key in recorded:
            sub = f"{path}.{key}"
            problems += compare(recorded[key], actual[key], sub, values=values and key not in skip_values,
                                skip_values=skip_values)
            scalar = jtype(recorded[key]) not in ("list", "dict")
            if values and key in TRUTH_KEYS and key not in skip_values and scalar and recorded[key] != actual[key]:
                problems.append(f"{sub}: value {actual[key]!r} != recorded {recorded[key]!r}")
        return problems
    if rt == "list":
        if len(recorded) != len(actual):
            problems.append(f"{path}: {len(actual)} elements where Moodle sent {len(recorded)}")
            n = min(len(recorded), len(actual))
            recorded, actual = recorded[:n], actual[:n]
        key = _pair_key(recorded)
        if key is not None and (_pair_key(actual) != key
                                or {str(i[key]) for i in recorded} != {str(i[key]) for i in actual}):
            key = None  # ids that are not ground truth (e.g. evidence rows): compare in order
        if key is not None:
            by_key = {str(i[key]): i for i in actual}
            for item in recorded:
                other = by_key.get(str(item[key]))
                if other is None:
                    problems.append(f"{path}: no element with {key}={item[key]!r}")
                    continue
                problems += compare(item, other, f"{path}[{key}={item[key]}]", values=values,
                                    skip_values=skip_values)
        else:
            for i, (r, a) in enumerate(zip(recorded, actual, strict=True)):
                problems += compare(r, a, f"{path}[{i}]", values=values, skip_values=skip_values)
    return problems


def compare_shape(recorded: Any, actual: Any, path: str = "$") -> list[str]:
    """Structure-only check for sites other than the recorded one: every actual element must have the
    keys (in order) and JSON types of some element Moodle sent; null may stand for any type."""
    rt, at = jtype(recorded), jtype(actual)
    if "null" in (rt, at) and rt != at:
        return []
    if rt != at:
        return [f"{path}: type {at} where Moodle sends {rt}"]
    if rt == "dict":
        if list(recorded) != list(actual):
            return [f"{path}: keys {list(actual)} != recorded {list(recorded)}"]
        problems: list[str] = []
        for key in recorded:
            problems += compare_shape(recorded[key], actual[key], f"{path}.{key}")
        return problems
    if rt == "list":
        if not recorded:
            return [] if not actual else [f"{path}: Moodle sent an empty list, cannot check elements"]
        problems = []
        for i, item in enumerate(actual):
            candidates = [r for r in recorded if jtype(r) == jtype(item)
                          and (not isinstance(r, dict) or list(r) == list(item))]
            if not candidates:
                problems.append(f"{path}[{i}]: element with keys {list(item) if isinstance(item, dict) else item!r}"
                                " matches no recorded element")
                continue
            best = min((compare_shape(c, item, f"{path}[{i}]") for c in candidates), key=len)
            problems += best
        return problems
    return []
