"""PHP-style form parameters (`a[0][b]=c`) and Moodle's external_function_parameters validation.

Hand-written on purpose: no Python library reproduces PHP's parse_str() nesting rules together
with Moodle's validate_parameters() semantics (clean_param type checks, defaults, unexpected keys),
and the emulator has to fail exactly where Moodle fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from credbridge.emulator.errors import invalid_parameter

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
REQUIRED = object()


def parse_php_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn form pairs into nested dicts the way PHP's $_POST does.

    `a[]` appends the next integer key; a later scalar at a path replaces an earlier array and vice versa
    (PHP keeps the last write); an unmatched `[` makes the name literal with `[` turned into `_`.
    """
    out: dict[str, Any] = {}
    for raw_name, value in pairs:
        head, _, rest = raw_name.partition("[")
        if not rest:
            out[raw_name.replace(".", "_").replace(" ", "_")] = value
            continue
        rest = "[" + rest
        segments: list[str] = []
        pos = 0
        for m in _SEGMENT.finditer(rest):
            if m.start() != pos:
                break
            segments.append(m.group(1))
            pos = m.end()
        if not segments:
            out[raw_name.replace("[", "_", 1)] = value
            continue
        node = out
        keys = [head, *segments]
        for i, key in enumerate(keys):
            if key == "" and i > 0:
                ints = [int(k) for k in node if k.lstrip("-").isdigit()]
                key = str(max(ints) + 1 if ints else 0)
            if i == len(keys) - 1:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = {}
                    node[key] = child
                node = child
    return out


@dataclass(frozen=True)
class Value:
    """external_value: a scalar of a PARAM_* type."""

    type: str  # int / float / bool / text / alphanum / raw / alpha / notags
    default: Any = REQUIRED
    allow_null: bool = False

    def clean(self, raw: Any, path: str) -> Any:
        if isinstance(raw, dict):
            raise invalid_parameter(f"{path} => Invalid parameter value detected: Scalar type expected, "
                                    "array or object received.")
        if raw is None:
            if self.allow_null:
                return None
            raise invalid_parameter(f"{path} => Invalid parameter value detected: Null value not allowed")
        text = str(raw)
        if self.type == "int":
            if not re.fullmatch(r"-?\d+", text.strip()):
                raise invalid_parameter(f"{path} => Invalid parameter value detected: Invalid external api "
                                        f"parameter: the value is \"{text}\", the server was expecting \"int\" type")
            return int(text)
        if self.type == "float":
            try:
                return float(text)
            except ValueError:
                raise invalid_parameter(f"{path} => Invalid parameter value detected: the server was expecting "
                                        "\"float\" type") from None
        if self.type == "bool":
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise invalid_parameter(f"{path} => Invalid parameter value detected: the server was expecting "
                                    "\"bool\" type")
        if self.type == "alphanum" and not re.fullmatch(r"[A-Za-z0-9]*", text):
            raise invalid_parameter(f"{path} => Invalid parameter value detected: the server was expecting "
                                    "\"alphanum\" type")
        if self.type == "alpha" and not re.fullmatch(r"[A-Za-z]*", text):
            raise invalid_parameter(f"{path} => Invalid parameter value detected: the server was expecting "
                                    "\"alpha\" type")
        return text


@dataclass(frozen=True)
class Single:
    """external_single_structure."""

    fields: dict[str, Any]
    default: Any = REQUIRED

    def clean(self, raw: Any, path: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise invalid_parameter(f"{path} => Invalid parameter value detected: Only arrays accepted. "
                                    "The bad value is: '" + str(raw) + "'")
        unexpected = [k for k in raw if k not in self.fields]
        if unexpected:
            raise invalid_parameter(f"{path} => Invalid parameter value detected: Unexpected keys "
                                    f"({', '.join(unexpected)}) detected in parameter array.")
        out = {}
        for name, spec in self.fields.items():
            sub = f"{path}[{name}]" if path else name
            if name in raw:
                out[name] = spec.clean(raw[name], sub)
            elif spec.default is REQUIRED:
                raise invalid_parameter(f"{path or 'params'} => Invalid parameter value detected: Missing "
                                        f"required key in single structure: {name}")
            else:
                out[name] = spec.default
        return out


@dataclass(frozen=True)
class Multiple:
    """external_multiple_structure: PHP arrays with any keys, values in insertion order."""

    item: Any
    default: Any = REQUIRED

    def clean(self, raw: Any, path: str) -> list[Any]:
        if not isinstance(raw, dict):
            raise invalid_parameter(f"{path} => Invalid parameter value detected: Only arrays accepted. "
                                    "The bad value is: '" + str(raw) + "'")
        return [self.item.clean(v, f"{path}[{k}]") for k, v in raw.items()]


def validate(spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """validate_parameters() for a function's top-level parameter description."""
    return Single(spec).clean(params, "")
