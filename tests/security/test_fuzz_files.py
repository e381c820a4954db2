"""Properties of the two files people upload: a mapping file and an exam result sheet.

Whatever the text, loading a mapping file gives a checked MappingSet or a MappingError whose every
problem names the file, a line and a column within it; parsing a result sheet gives rows and
``file:row:column`` errors, never an exception. A sheet written with proper CSV quoting is read back
column for column, whatever its values contain.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from credbridge.connector.sources.results_file import RowError, parse
from credbridge.mappings.errors import MappingError
from credbridge.mappings.loader import load_mapping_text
from tests.awards.conftest import MAPPING
from tests.security.strategies import FUZZ, HOSTILE_STRINGS, HUGE_NUMBERS

LINES = MAPPING.read_text("utf-8").splitlines()
YAML_FRAGMENTS = [
    "!!python/object/apply:os.system ['true']", "!!python/object/new:list [[1]]", "!!python/name:os.system",
    "!!binary aGVsbG8=", "!!omap [a: 1]", "!!set {a, b}", "!local x", "&a [*a]", "*undefined", "<<: *a",
    "9" * 5000, "0x" + "f" * 300, "1e400", ".nan", "-.inf", "{", "[", "'unterminated", '"\\u0000"', "---", "...",
    "- - - -", ": :", "? complex key", "|", ">-", "%YAML 1.1", "\t", "2026-13-45", "~", "null", "yes", "0o777",
    "[" * 70, "{a: " * 30,
]
scalar_text = st.one_of(st.sampled_from(YAML_FRAGMENTS), st.sampled_from(HOSTILE_STRINGS),
                        st.sampled_from([str(n) for n in HUGE_NUMBERS]), st.text(max_size=30))


@st.composite
def mutated_mapping(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        kind = draw(st.sampled_from(["value", "line", "delete", "duplicate", "indent"]))
        line = lines[at]
        if kind == "value" and ":" in line:
            lines[at] = line.split(":", 1)[0] + ": " + draw(scalar_text)
        elif kind == "line":
            lines[at] = draw(scalar_text)
        elif kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, line)
        else:
            lines[at] = " " * draw(st.integers(min_value=0, max_value=12)) + line.lstrip()
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(FUZZ, max_examples=150)
@given(text=mutated_mapping())
def test_a_mutated_mapping_file_loads_or_names_each_place(text: str) -> None:
    try:
        load_mapping_text(text, "upload.yaml")
    except MappingError as error:
        assert error.problems, text
        last = len(text.splitlines()) + 1
        for problem in error.problems:
            assert problem.file == "upload.yaml" and problem.message and problem.code, problem
            assert 1 <= problem.line <= last and problem.column >= 1, (problem, text[:2000])


REQUIRED = ["idnumber", "assessment", "result", "date"]
OPTIONAL = ["assessment_name", "grade", "max", "id_checked", "supervised", "mode"]
cell = st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE_STRINGS),
                 st.sampled_from(["NaN", "Infinity", "-inf", "1e999999999", "15,5", "20", "pass", "fail",
                                  "2026-06-01", "01.06.2026", "yes", "onsite", '"', '""', ",", ";", "\t", "\n",
                                  "a,b", 'x"y', "x" * 2000]))
#: what a person types into the free-text column: delimiters, quotes, line breaks and all
free_text = st.text(alphabet=st.sampled_from(list('ab ,;\t"\'\nčé')), min_size=1, max_size=30).filter(
    lambda t: t.strip())


@st.composite
def sheets(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """A sheet as a spreadsheet program writes it: valid rows whose assessment names hold anything."""
    header = draw(st.permutations([*REQUIRED, "assessment_name", *draw(st.lists(
        st.sampled_from([c for c in OPTIONAL if c != "assessment_name"]), unique=True, max_size=3))]))
    names = draw(st.lists(free_text, min_size=1, max_size=5))
    values = {"result": "pass", "date": "2026-06-01", "grade": "15", "max": "20", "id_checked": "yes",
              "supervised": "no", "mode": "onsite"}
    rows = [[{"idnumber": f"S{i}", "assessment": "P1", "assessment_name": name}.get(column, values.get(column, ""))
             for column in header] for i, name in enumerate(names)]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter,
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue(), delimiter, names


def _sane(errors: list[RowError], name: str) -> None:
    for error in errors:
        text = str(error)
        assert text.startswith(f"{name}:{error.row}:") and error.row >= 1 and error.message, text


@settings(FUZZ, max_examples=150)
@given(sheet=sheets())
def test_a_properly_quoted_sheet_is_read_column_for_column(tmp_path_factory, sheet: tuple[str, str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    text, _delimiter, names = sheet
    path = tmp_path_factory.mktemp("sheet") / "exam.csv"
    path.write_text(text, encoding="utf-8")
    rows, errors = parse(path)
    assert errors == [], (text, errors)
    assert [row.assessment_name for row in rows] == [name.strip() for name in names], text
    assert all(row.passed and row.assessed_on.isoformat() == "2026-06-01" for row in rows), text


@settings(FUZZ, max_examples=100)
@given(header=st.lists(st.sampled_from([*REQUIRED, *OPTIONAL, "comment"]), min_size=2, max_size=8, unique=True),
       data=st.data())
def test_any_quoted_cells_give_rows_or_named_errors(tmp_path_factory, header: list[str], data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    rows = data.draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=5))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=data.draw(st.sampled_from([",", ";", "\t"]))).writerows([header, *rows])
    path = tmp_path_factory.mktemp("sheet") / "exam.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    _rows, errors = parse(path)
    _sane(errors, "exam.csv")
    assert not [e for e in errors if "values but the header has" in e.message], errors


@settings(FUZZ, max_examples=150)
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda t: t.encode("utf-8"))),
       prefix=st.sampled_from([b"", b"idnumber,assessment,grade,max,date\n", b"\xef\xbb\xbfidnumber;assessment\n"]))
def test_any_bytes_as_a_sheet_give_rows_or_named_errors(tmp_path_factory, raw: bytes, prefix: bytes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("sheet") / "exam.csv"
    path.write_bytes(prefix + raw)
    _rows, errors = parse(path)
    _sane(errors, "exam.csv")


def test_the_examples_cover_the_mapping_file() -> None:
    assert len(LINES) > 100 and Path(MAPPING).exists()
