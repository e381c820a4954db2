"""Hypothesis strategies shared by the fuzz suites: hostile JSON values and mutations of a document."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: bounded and deterministic: the same examples on every run and machine, within the CI budget
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

HOSTILE_STRINGS = [
    "", " ", "javascript:alert(document.domain)", "data:text/html,<script>alert(1)</script>", "9" * 40, "²", "١٢",
    "x" * 300, "<script>alert(1)</script>", "\x00", "../../../etc/passwd", "http://127.0.0.1:1/x",
    "https://attacker.example/", "1e300", "NaN", "-1", "0", "é" * 200, "\ud7ff\ue000", "' OR 1=1 --", "%00", "\r\n",
    "{{7*7}}", "${jndi:ldap://x}", "LtiDeepLinkingRequest", "1.3.0", "ltiResourceLink",
]
HUGE_NUMBERS = [10**19, -(10**19), 2**63, 2**64 + 1, 10**300, 1e300, -1e300, float("inf"), float("-inf"),
                float("nan"), 1e-300, 0, -1, 253_402_300_800]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.sampled_from(HOSTILE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

DELETE = object()


def paths(document: Any, depth: int = 3, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON document down to ``depth`` (list items by index)."""
    found: list[tuple[Any, ...]] = []
    if depth == 0:
        return found
    items = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, depth - 1, (*prefix, key)))
    return found


def mutations(document: Any, extra_keys: list[str] | None = None, depth: int = 3) -> st.SearchStrategy:
    """Lists of (path, new value or DELETE) on ``document``'s own paths and a few new keys."""
    known = paths(document, depth) + [(key,) for key in (extra_keys or [])]
    return st.lists(st.tuples(st.sampled_from(known), st.one_of(json_values, st.just(DELETE))),
                    min_size=1, max_size=4)


def apply(document: Any, changes: list[tuple[tuple[Any, ...], Any]]) -> Any:
    """A copy of ``document`` with the changes; a path whose parent a previous change replaced is skipped."""
    result = copy.deepcopy(document)
    for path, value in changes:
        parent = result
        for key in path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        last = path[-1]
        if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(last, int) and last < len(parent)):
            if value is DELETE:
                if isinstance(parent, dict):
                    parent.pop(last, None)
                else:
                    parent.pop(last)
            else:
                parent[last] = value
    return result
