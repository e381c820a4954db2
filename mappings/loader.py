"""Mapping files: YAML -> MappingSet, with every error placed at its file, line and column.

ruamel.yaml's round-trip loader keeps the position of every node; pydantic's error locations are
walked through the same document to find them. After the model validates, the cross-file checks
run: duplicate codes, dangling unit / parent references, stacking cycles, the completeness gate
and the national rules.
"""

from __future__ import annotations

import difflib
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from credbridge.mappings.completeness import completeness
from credbridge.mappings.errors import MappingError, Problem
from credbridge.mappings.model import MappingSet
from credbridge.mappings.national import national_check
from credbridge.mappings.vocab import VocabularyError
from credbridge.mappings.yaml_guard import unsafe_nodes

__all__ = ["diff", "dump_mapping", "json_schema", "load_mapping_file", "load_mapping_text"]

Path_ = tuple[Any, ...]
#: generous for a school's mappings (the worked example has ~400 values) and bounded for hostile files
MAX_NODES = 200_000
MAX_FILE_CHARS = 5_000_000
#: the YAML parser slows down sharply with nesting; real mapping files nest a handful of levels
MAX_FLOW_DEPTH = 64


def load_mapping_file(path: str | Path) -> MappingSet:
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([Problem(str(p), 1, 1, f"cannot read the file: {exc}", "unreadable")]) from exc
    return load_mapping_text(text, str(p))


def load_mapping_text(text: str, filename: str = "<text>", *, check_completeness: bool = True) -> MappingSet:
    """Parse and check a mapping file. Raises MappingError listing every problem found."""
    locations: dict[Path_, tuple[int, int]] = {}
    if len(text) > MAX_FILE_CHARS:
        raise MappingError([Problem(filename, 1, 1, f"the file has {len(text):,} characters; a mapping file "
                                    f"may have at most {MAX_FILE_CHARS:,}", "too_large")])
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise MappingError([Problem(filename, 1, 1, f"more than {MAX_FLOW_DEPTH} nested [ ] / {{ }}", "too_large")])
    try:
        doc = _parse(text, filename)
        data = _plain(doc, (), locations, [MAX_NODES])
    except RecursionError:
        raise MappingError([Problem(filename, 1, 1, "the YAML is nested too deeply", "too_large")]) from None
    except _TooManyNodes:
        raise MappingError([Problem(filename, 1, 1, f"more than {MAX_NODES:,} values once YAML aliases are "
                                    "expanded; is an anchor (&) reused recursively?", "too_large")]) from None
    if not isinstance(data, dict):
        raise MappingError([Problem(filename, 1, 1, "a mapping file is a YAML mapping with keys school, courses, "
                                    "units and templates", "invalid_value")])
    try:
        ms = MappingSet.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_translate(exc, data, locations, filename)) from None
    ms._locations = locations
    ms._filename = filename
    problems, warnings = _cross_checks(ms, check_completeness)
    if problems:
        raise MappingError(problems)
    ms._warnings = warnings  # type: ignore[attr-defined]
    return ms


def warnings_of(ms: MappingSet) -> list[Problem]:
    """National-rule warnings found while loading (they do not block)."""
    return list(getattr(ms, "_warnings", []))


# --- YAML ----------------------------------------------------------------------------------


def _parse(text: str, filename: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        # composed first, so that tags and numbers are checked before any value is built
        root = yaml.compose(text)
        unsafe = unsafe_nodes(root, filename)
        if unsafe:
            raise MappingError(unsafe)
        return yaml.constructor.construct_document(root) if root is not None else None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        raise MappingError([Problem(filename, line, col, f"YAML syntax error: {what}", "yaml_syntax")]) from None
    except (YAMLError, ValueError, TypeError, OverflowError) as exc:  # unmarked: rare, still named
        raise MappingError([Problem(filename, 1, 1, f"YAML error: {str(exc)[:300]}", "yaml_syntax")]) from None


def _flow_depth(text: str) -> int:
    """Deepest [ ] / { } nesting, counted before parsing (brackets inside scalars may over-count,
    which only matters for absurd files)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


class _TooManyNodes(Exception):
    pass


def _plain(node: Any, path: Path_, loc: dict[Path_, tuple[int, int]], budget: list[int]) -> Any:
    """Plain Python data from ruamel nodes, recording (line, column) of every node by path.

    ``budget`` counts nodes down: aliases are expanded here, and a file of nested aliases (the
    "billion laughs") must fail fast rather than exhaust memory.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyNodes
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            k = str(key)
            loc[(*path, k)] = _position(node.lc.key, key, loc.get(path, (1, 1)))
            out[k] = _plain(value, (*path, k), loc, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            loc[(*path, i)] = _position(node.lc.item, i, loc.get(path, (1, 1)))
            items.append(_plain(value, (*path, i), loc, budget))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return Decimal(repr(float(node)))
    if isinstance(node, datetime | date):
        return node.isoformat()
    return str(node)


def _position(lookup: Any, key: Any, parent: tuple[int, int]) -> tuple[int, int]:
    """1-based (line, column) of a key or item; a key merged in from an anchor (``<<: *x``) has no
    position of its own here, so it is placed at its mapping."""
    try:
        line, col = lookup(key)
    except (KeyError, TypeError):
        return parent
    return line + 1, col + 1


def _walk(data: Any, loc: tuple[Any, ...]) -> Path_:
    """The path of the deepest node of ``data`` named by a pydantic error location.

    pydantic adds union tags and branch names to locations; they are not in the document and
    are skipped, as is the name of a missing field (the error then sits on its parent).
    """
    node, path = data, ()
    for seg in loc:
        in_map = isinstance(node, dict) and isinstance(seg, str) and seg in node
        in_list = isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)
        if in_map or in_list:
            node, path = node[seg], (*path, seg)
    return path


def _human(path: Path_) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or "(top level)"


def _describe(err: dict[str, Any], path: Path_) -> tuple[str, str]:
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    last = err["loc"][-1] if err["loc"] else None
    exc = (err.get("ctx") or {}).get("error")
    if isinstance(exc, VocabularyError):
        return str(exc), "vocabulary"
    if kind == "rule_kind":
        given = err.get("input")
        if isinstance(given, dict) and len(given) == 1:
            from credbridge.mappings.rules import RULE_KINDS

            key = str(next(iter(given)))
            hint = difflib.get_close_matches(key, list(RULE_KINDS), n=1)
            return f"unknown rule kind {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "") + \
                f" ({msg})", "rule_kind"
        return msg, "rule_kind"
    if kind == "missing":
        return f"missing required field {last!r}", "missing_field"
    if kind == "extra_forbidden":
        return f"unknown field {last!r}", "unknown_field"
    return msg, "invalid_value"


def _translate(exc: ValidationError, data: Any, locations: dict, filename: str) -> list[Problem]:
    errors = exc.errors()
    # a union's branches each report; keep the model branch's errors over "expected 'school'"
    branchy = [e for e in errors if any(isinstance(s, str) and s.startswith("literal[") for s in e["loc"])]
    others = [e for e in errors if e not in branchy]
    kept = others + [e for e in branchy if not any(
        _walk(data, o["loc"])[: len(_walk(data, e["loc"]))] == _walk(data, e["loc"]) for o in others)]
    problems: dict[tuple, Problem] = {}
    for err in kept:
        path = _walk(data, err["loc"])  # an unknown key exists in the document, so the walk reaches it
        line, col = locations.get(path, (1, 1))
        message, code = _describe(err, path)
        p = Problem(filename, line, col, f"{_human(path)}: {message}", code)
        problems.setdefault((line, col, p.message), p)
    return list(problems.values())


# --- cross-checks --------------------------------------------------------------------------


def _cross_checks(ms: MappingSet, check_completeness: bool) -> tuple[list[Problem], list[Problem]]:
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def add(path: Path_, message: str, code: str, into: list[Problem] = problems) -> None:
        file, line, col = ms.location(*path)
        into.append(Problem(file, line, col, message, code))

    unit_codes: dict[str, int] = {}
    for i, u in enumerate(ms.units):
        if u.code in unit_codes:
            add(("units", i, "code"), f"duplicate unit code {u.code!r} (first defined as units[{unit_codes[u.code]}])",
                "duplicate_code")
        unit_codes.setdefault(u.code, i)
    tpl_codes: dict[str, int] = {}
    for i, t in enumerate(ms.templates):
        if t.code in tpl_codes:
            add(("templates", i, "code"), f"duplicate template code {t.code!r} (first defined as "
                f"templates[{tpl_codes[t.code]}]); a new version replaces the old one in place", "duplicate_code")
        tpl_codes.setdefault(t.code, i)
    dangling = False
    for i, t in enumerate(ms.templates):
        for j, code in enumerate(t.units):
            if code not in unit_codes:
                hint = difflib.get_close_matches(code, list(unit_codes), n=1)
                add(("templates", i, "units", j), f"template {t.code}: unit {code!r} is not defined"
                    + (f"; did you mean {hint[0]!r}?" if hint else ""), "dangling_reference")
                dangling = True
        for j, parent in enumerate(t.part_of):
            if parent not in tpl_codes:
                hint = difflib.get_close_matches(parent, list(tpl_codes), n=1)
                add(("templates", i, "part_of", j), f"template {t.code}: parent template {parent!r} is not defined"
                    + (f"; did you mean {hint[0]!r}?" if hint else ""), "dangling_reference")
                dangling = True
    cycle = _find_cycle(ms)
    if cycle:
        first = tpl_codes[cycle[0]]
        add(("templates", first, "part_of"), "stacking cycle: " + " -> ".join([*cycle, cycle[0]])
            + " (a template cannot be part of itself)", "stacking_cycle")
    if problems or dangling or not check_completeness:
        return problems, warnings
    for t in ms.templates:
        for m in completeness(t, ms):
            add(m.path, str(m), "missing_element")
        for f in national_check(t, ms):
            add(f.path, str(f), "national_rule", problems if f.severity == "error" else warnings)
    return problems, warnings


def _find_cycle(ms: MappingSet) -> list[str] | None:
    parents = {t.code: list(t.part_of) for t in ms.templates}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(code: str, stack: list[str]) -> list[str] | None:
        state[code] = 1
        for p in parents.get(code, []):
            if state.get(p) == 1:
                return stack[stack.index(p):] if p in stack else [p]
            if p in parents and state.get(p) is None:
                found = visit(p, [*stack, p])
                if found:
                    return found
        state[code] = 2
        return None

    for code in sorted(parents):
        if state.get(code) is None:
            found = visit(code, [code])
            if found:
                return found
    return None


# --- export, diff, schema ------------------------------------------------------------------


def _yamlable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _yamlable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yamlable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "value") and type(value).__module__.startswith("credbridge"):
        return value.value
    return value


def to_data(ms: MappingSet) -> dict[str, Any]:
    return _yamlable(ms.model_dump(mode="python", exclude_defaults=True))


def dump_mapping(ms: MappingSet) -> str:
    """The mapping set as YAML that :func:`load_mapping_text` reads back to an equal MappingSet."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    buf = io.StringIO()
    yaml.dump(json.loads(json.dumps(to_data(ms), default=str)), buf)
    return buf.getvalue()


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in new:
                out.append(f"{sub}: removed (was {old[k]!r})")
            elif k not in old:
                out.append(f"{sub}: added {new[k]!r}")
            else:
                _diff(old[k], new[k], sub, out)
        return
    out.append(f"{path}: {old!r} -> {new!r}")


def diff(old: MappingSet, new: MappingSet) -> list[str]:
    """Readable list of changes between two mapping sets (units and templates matched by code)."""
    out: list[str] = []
    a, b = to_data(old), to_data(new)
    _diff(a.get("school"), b.get("school"), "school", out)
    _diff(a.get("courses", {}), b.get("courses", {}), "courses", out)
    for kind in ("units", "templates"):
        olds = {x["code"]: x for x in a.get(kind, [])}
        news = {x["code"]: x for x in b.get(kind, [])}
        label = kind[:-1]
        for code in olds:
            if code not in news:
                out.append(f"{label} {code}: removed")
        for code, item in news.items():
            if code not in olds:
                out.append(f"{label} {code}: added")
            else:
                _diff(olds[code], item, f"{label} {code}", out)
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema of a mapping file, for editors (published as schema/mapping.schema.json)."""
    schema = MappingSet.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://credbridge.example/schema/mapping.schema.json"
    schema["title"] = "credbridge mapping file"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
