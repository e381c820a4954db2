"""Errors of the mapping layer: every problem names a file, a line and a column."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MappingError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    #: stable machine code: yaml_syntax, invalid_value, vocabulary, dangling_reference,
    #: dangling_moodle_reference, missing_element, duplicate_code, stacking_cycle, national_rule
    code: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message} [{self.code}]"


class MappingError(Exception):
    """A mapping file (or its resolution against a Moodle site) is wrong; nothing was changed."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.code, p.message))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid mapping")
