"""What a mapping file's YAML may contain, checked on the parsed nodes before any value is built.

A mapping file is plain data: mappings, lists, strings, numbers, booleans, dates and YAML merges. A
tag that names a Python object (``!!python/object/apply``, ``!!python/object/new``), an ordered map or
a tag of its own has no place in it, and neither has a number no one writes by hand (a 100,000-digit
integer, which Python refuses to convert, or ``1e400`` and ``.nan``, which are not amounts). Each is
refused with its line and column instead of failing deep inside the YAML library.
"""

from __future__ import annotations

import math
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from credbridge.mappings.errors import Problem

_STANDARD = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_STANDARD + name for name in
                         ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge"))
#: more digits than any count, grade, hour or credit value (and far below Python's 4,300-digit limit)
MAX_NUMBER_CHARS = 40


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


def _shown(tag: str) -> str:
    return "!!" + tag[len(_STANDARD):] if tag.startswith(_STANDARD) else tag


def unsafe_nodes(root: Node | None, filename: str) -> list[Problem]:
    """Problems with the document's tags and numbers, each at its node's line and column."""
    problems: list[Problem] = []
    stack: list[Any] = [root] if root is not None else []
    seen: set[int] = set()  # an alias is the same node again; a recursive anchor would loop

    def add(node: Node, message: str, code: str) -> None:
        mark = node.start_mark
        problems.append(Problem(filename, mark.line + 1, mark.column + 1, message, code))

    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        tag = _tag(node)
        if tag not in ALLOWED_TAGS:
            add(node, f"the YAML tag {_shown(tag)[:80]} is not allowed in a mapping file (plain values only)",
                "yaml_syntax")
            continue
        if isinstance(node, ScalarNode) and tag in (_STANDARD + "int", _STANDARD + "float"):
            value = str(node.value)
            if len(value) > MAX_NUMBER_CHARS:
                add(node, f"a number of {len(value):,} characters; numbers in a mapping file have at most "
                    f"{MAX_NUMBER_CHARS}", "invalid_value")
            elif tag.endswith("float") and not _finite(value):
                add(node, f"{value!r} is not a finite number", "invalid_value")
        elif isinstance(node, MappingNode):
            stack.extend(item for pair in node.value for item in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return problems


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text.replace("_", "")))
    except ValueError:
        return False  # .inf / .nan spellings float() does not read are not finite either
