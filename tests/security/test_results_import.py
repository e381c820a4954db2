"""Review finding 10: a result sheet with NaN, Infinity, a 5 MB cell or quoted delimiters is read
right or refused with file:row:column, never a traceback; a broken file imports nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credbridge.connector.sources.results_file import import_results, parse
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Evidence, Learner, LmsConnection, School

HEADER = "idnumber,assessment,assessment_name,grade,max,date\n"


def _sheet(tmp_path: Path, text: str, name: str = "exam.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("grade", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e999999999",
                                   "1e-999999999", "1000000000"])
def test_a_grade_that_is_not_a_finite_number_is_refused(tmp_path: Path, grade: str) -> None:
    rows, errors = parse(_sheet(tmp_path, HEADER + f"S1,P1,Practical,{grade},20,2026-06-01\n"))
    assert rows == []
    assert [str(e) for e in errors] == [f"exam.csv:2:grade: expected a finite number below 1,000,000,000 with "
                                        f"at most 6 decimals, got {grade!r}"]


def test_a_nan_maximum_is_refused_too(tmp_path: Path) -> None:
    _rows, errors = parse(_sheet(tmp_path, HEADER + "S1,P1,Practical,10,NaN,2026-06-01\n"))
    assert [(e.row, e.column) for e in errors] == [(2, "max")]


def test_a_5_mb_cell_is_refused_with_its_row(tmp_path: Path) -> None:
    rows, errors = parse(_sheet(tmp_path, HEADER + "S1,P1," + "x" * 5_000_000 + ",10,20,2026-06-01\n"
                                + "S2,P1,Practical,10,20,2026-06-01\n"))
    assert rows == [] and len(errors) == 1
    assert str(errors[0]).startswith("exam.csv:2:-: cannot read the row") and errors[0].fatal


def test_a_long_cell_is_refused_with_its_column(tmp_path: Path) -> None:
    rows, errors = parse(_sheet(tmp_path, HEADER + "S1,P1," + "x" * 5000 + ",10,20,2026-06-01\n"))
    assert rows == [] and [str(e) for e in errors] == ["exam.csv:2:assessment_name: the cell has 5,000 "
                                                      "characters; at most 1,000"]


@pytest.mark.parametrize("name", ['"Welding, practical"', '"Welding ""A"", practical"', '"Welding, ""A"""'])
def test_a_quoted_value_with_commas_keeps_its_column(tmp_path: Path, name: str) -> None:
    rows, errors = parse(_sheet(tmp_path, HEADER + f"S1,P1,{name},15,20,2026-06-01\n"))
    assert errors == []
    (row,) = rows
    assert row.assessment_name == name[1:-1].replace('""', '"')
    assert str(row.grade) == "15" and row.assessed_on.isoformat() == "2026-06-01"


def test_semicolon_sheets_with_commas_in_values(tmp_path: Path) -> None:
    text = HEADER.replace(",", ";") + 'S1;P1;"Welding; practical, part 1";15,5;20;01.06.2026\n'
    rows, errors = parse(_sheet(tmp_path, text))
    assert errors == [] and rows[0].assessment_name == "Welding; practical, part 1" and str(rows[0].grade) == "15.5"


def test_an_unquoted_comma_is_a_row_error_not_a_shift(tmp_path: Path) -> None:
    rows, errors = parse(_sheet(tmp_path, HEADER + "S1,P1,Welding, practical,15,20,2026-06-01\n"))
    assert rows == []
    assert [str(e) for e in errors] == ["exam.csv:2:-: the row has 7 values but the header has 6 columns; quote a "
                                        "value that contains the delimiter"]


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "exam.csv"
    path.write_bytes(HEADER.encode() + "S1,P1,Varjenje č,15,20,2026-06-01\n".encode("cp1250"))
    rows, errors = parse(path)
    assert rows == [] and str(errors[0]).startswith("exam.csv:1:-: the file is not UTF-8 text")


def test_a_broken_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "exam.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    rows, errors = parse(path)
    assert rows == [] and str(errors[0]).startswith("exam.xlsx:1:-: cannot read the workbook")


def test_a_workbook_with_a_huge_cell_is_refused(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["idnumber", "assessment", "assessment_name", "grade", "max", "date"])
    book.active.append(["S1", "P1", "x" * 30_000, 15, 20, "2026-06-01"])
    path = tmp_path / "exam.xlsx"
    book.save(path)
    rows, errors = parse(path)
    assert rows == [] and [(e.row, e.column) for e in errors] == [(2, "assessment_name")]


@pytest.fixture
def connection(sqlite_database: Database) -> Iterator[tuple[Session, LmsConnection]]:
    with sqlite_database.unit_of_work() as session:
        school = School(slug="vet", legal_name="VET", country="FI")
        session.add(school)
        session.flush()
        conn = LmsConnection(school_id=school.id, name="moodle", base_url="http://127.0.0.1:9", ws_token="t" * 32)
        session.add_all([conn, Learner(school_id=school.id, full_name="One", idnumber="S1"),
                         Learner(school_id=school.id, full_name="Two", idnumber="S2")])
        session.flush()
        yield session, conn


def test_a_file_unreadable_past_a_row_imports_nothing_even_when_skipping_bad_rows(
        tmp_path: Path, connection: tuple[Session, LmsConnection]) -> None:
    session, conn = connection
    text = HEADER + "S1,P1,Practical,15,20,2026-06-01\n" + 'S2,P1,"broken"quote,15,20,2026-06-01\n'
    report = import_results(session, conn, _sheet(tmp_path, text), skip_bad_rows=True)
    assert not report.written and report.errors[0].fatal
    assert session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_skipping_bad_rows_still_imports_the_good_ones(tmp_path: Path,
                                                       connection: tuple[Session, LmsConnection]) -> None:
    session, conn = connection
    text = HEADER + "S1,P1,Practical,15,20,2026-06-01\n" + "S2,P1,Practical,NaN,20,2026-06-01\n"
    report = import_results(session, conn, _sheet(tmp_path, text), skip_bad_rows=True)
    assert report.written and report.imported == 1 and [(e.row, e.column) for e in report.errors] == [(3, "grade")]
