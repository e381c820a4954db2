"""Import of external results (onsite practical exams) from a CSV or XLSX sheet.

Every row is validated before anything is written; an error names ``file:row:column`` and what was
expected. With ``skip_bad_rows`` the good rows are imported and the bad ones reported; otherwise
one bad row means nothing is written. Rows become ``external`` evidence (source ``csv``) through the
same versioned upsert as Moodle evidence, so re-importing a sheet changes nothing and a corrected
grade becomes a new version.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import Learner, LearnerIdentity, LmsConnection
from credbridge.connector.sync.evidence import EvidenceWriter, Observation, WriteCounts, dec, percent
from credbridge.connector.sync.store import request_evaluation

SOURCE = "csv"
# accepted header names (lower case, spaces and dashes as underscores) -> field
ALIASES = {
    "idnumber": "idnumber", "learner_idnumber": "idnumber", "student_id": "idnumber",
    "email": "email", "learner_email": "email", "username": "username",
    "result": "result", "grade": "grade", "score": "grade", "max": "max", "grade_max": "max", "max_grade": "max",
    "date": "date", "assessed_on": "date",
    "assessment": "assessment", "assessment_code": "assessment", "code": "assessment",
    "assessment_name": "assessment_name", "name": "assessment_name",
    "id_checked": "id_checked", "supervised": "supervised", "mode": "mode",
}
MODES = {"onsite", "online", "blended", "hybrid"}
TRUE = {"yes", "y", "true", "1", "x", "ja", "kyllä", "da"}
FALSE = {"no", "n", "false", "0", "", "nein", "ei", "ne"}
PASS = {"pass", "passed", "ok", "hyväksytty", "approved", "competent"}
FAIL = {"fail", "failed", "hylätty", "not yet competent", "nyc"}


@dataclass(frozen=True)
class RowError:
    file: str
    row: int
    column: str
    message: str
    #: the file could not be read past this error: nothing of it is imported, whatever the options
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)
    written: bool = False


class ResultsFileError(ValueError):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class ResultRow:
    row: int
    learner_key: tuple[str, str]
    assessment: str
    assessment_name: str | None
    passed: bool | None
    result: str | None
    grade: Decimal | None
    max: Decimal | None
    assessed_on: date
    id_checked: bool | None
    supervised: bool | None
    mode: str | None


#: no cell of a result sheet is longer (a name, a code, a date); a 5 MB cell is a mistake or an attack
MAX_CELL = 1000
#: grades and maxima beyond 10**9, or with more decimals, are not marks
MAX_DIGITS = 9
MAX_DECIMALS = 6
DELIMITERS = (",", ";", "\t")


class _SheetDialect(csv.excel):
    """Excel's CSV: ``"`` quotes a value holding the delimiter, ``""`` is a quote inside one."""

    skipinitialspace = True
    strict = True


def _dialect(text: str) -> type[csv.Dialect]:
    """Excel's dialect with the delimiter that splits the header line into the most columns: the
    header names are ours and never contain one, whereas any data row may (quoted)."""
    first = text.split("\n", 1)[0]

    def columns(delimiter: str) -> int:
        try:
            return len(next(csv.reader([first], delimiter=delimiter), []))
        except csv.Error:
            return 0

    delimiter = max(DELIMITERS, key=columns)  # a tie keeps the earlier: a comma
    return type("SheetDialect", (_SheetDialect,), {"delimiter": delimiter})


def read_rows(path: Path, errors: list[RowError] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as the user sees it, {header: text}) for every data row; a row that cannot be read
    (a broken quote, more values than columns, an oversized cell) is reported in ``errors`` instead."""
    errors = errors if errors is not None else []
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path, errors)
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(RowError(path.name, 1, "-", f"the file is not UTF-8 text (byte {exc.start}); save it as "
                               "CSV UTF-8"))
        return
    reader = csv.reader(io.StringIO(text), dialect=_dialect(text))
    header: list[str] | None = None
    number = 0  # rows as a spreadsheet counts them: the header is row 1
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # the reader cannot resynchronise after a broken quote or an oversized field: nothing after
            # this row was read, so nothing of the file may be imported (not even with skip_bad_rows)
            errors.append(RowError(path.name, number, "-", f"cannot read the row ({exc}); nothing after it was "
                                   "read", fatal=True))
            return
        if header is None:
            header = [h.strip() for h in values]
            continue
        if len(values) > len(header):
            errors.append(RowError(path.name, number, "-", f"the row has {len(values)} values but the header has "
                                   f"{len(header)} columns; quote a value that contains the delimiter"))
            continue
        record = _record(path.name, number, header, values, errors)
        if record is not None:
            yield number, record


def _record(name: str, number: int, header: list[str], values: list[Any],
            errors: list[RowError]) -> dict[str, str] | None:
    cells = {h: _cell_text(v) for h, v in zip(header, values, strict=False)}
    if not any(cells.values()):
        return None
    long = [h for h, v in cells.items() if len(v) > MAX_CELL]
    for column in long:
        errors.append(RowError(name, number, column, f"the cell has {len(cells[column]):,} characters; at most "
                               f"{MAX_CELL:,}"))
    return None if long else cells


def _xlsx_rows(path: Path, errors: list[RowError]) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).active
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "").strip() for h in next(rows, ())]
        for number, values in enumerate(rows, start=2):
            record = _record(path.name, number, header, list(values), errors)
            if record is not None:
                yield number, record
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        errors.append(RowError(path.name, 1, "-", f"cannot read the workbook: {type(exc).__name__}: "
                               f"{str(exc)[:200]}"))


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _norm(header: str) -> str:
    return header.strip().lower().replace(" ", "_").replace("-", "_")


def parse(path: Path) -> tuple[list[ResultRow], list[RowError]]:
    name = path.name
    good: list[ResultRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[tuple[str, str], str], int] = {}
    unknown: set[str] = set()
    for number, raw in read_rows(path, errors):
        record: dict[str, str] = {}
        for header, value in raw.items():
            field_name = ALIASES.get(_norm(header))
            if field_name is None:
                if header not in unknown:
                    unknown.add(header)
                    errors.append(RowError(name, 1, header[:80],
                                           f"unknown column; expected one of {sorted(set(ALIASES.values()))}"))
                continue
            record[field_name] = value
        row_errors: list[RowError] = []

        def bad(column: str, message: str, number: int = number, row_errors: list[RowError] = row_errors) -> None:
            row_errors.append(RowError(name, number, column, message))

        learner_key = next(((k, record[k]) for k in ("idnumber", "email", "username") if record.get(k)), None)
        if learner_key is None:
            bad("idnumber", "a learner idnumber, email or username is required")
        assessment = record.get("assessment") or ""
        if not assessment:
            bad("assessment", "the assessment code is required (e.g. WELD-PRACT-1)")
        grade = _number(record.get("grade"), "grade", bad)
        maxv = _number(record.get("max"), "max", bad)
        if maxv is not None and maxv <= 0:
            bad("max", "expected a positive number")
        if grade is not None and maxv is not None and maxv > 0 and not 0 <= grade <= maxv:
            bad("grade", f"expected a grade between 0 and {maxv}, got {grade}")
        result = (record.get("result") or "").strip()
        passed = True if result.lower() in PASS else False if result.lower() in FAIL else None
        if result and passed is None:
            bad("result", f"expected pass or fail, got {result!r}")
        if not result and not record.get("grade"):
            bad("result", "a result (pass/fail) or a grade is required")
        assessed_on = _date(record.get("date", ""))
        if assessed_on is None:
            bad("date", f"expected a date as YYYY-MM-DD or DD.MM.YYYY, got {record.get('date', '')!r}")
        flags = {}
        for flag in ("id_checked", "supervised"):
            value = (record.get(flag) or "").lower()
            flags[flag] = True if value in TRUE else False if value in FALSE and value else None
            if value and value not in TRUE | FALSE:
                bad(flag, f"expected yes or no, got {record.get(flag)!r}")
        mode = (record.get("mode") or "").lower() or None
        if mode is not None and mode not in MODES:
            bad("mode", f"expected one of {sorted(MODES)}, got {record.get('mode')!r}")
        if learner_key and assessment:
            first = seen.setdefault((learner_key, assessment), number)
            if first != number:
                bad(learner_key[0], f"the same learner and assessment already appear on row {first}")
        if row_errors:
            errors.extend(row_errors)
            continue
        assert learner_key is not None and assessed_on is not None
        good.append(ResultRow(number, learner_key, assessment, record.get("assessment_name") or None, passed,
                              result or None, grade, maxv, assessed_on, flags["id_checked"], flags["supervised"],
                              mode))
    return good, errors


def _number(text: str | None, column: str, bad: Any) -> Decimal | None:
    """A grade or maximum: a finite number (``NaN`` and ``Infinity`` are no marks), comma or point."""
    if not text:
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        bad(column, f"expected a number, got {text[:50]!r}")
        return None
    # compared by exponent: arithmetic on 1e999999999 would overflow the decimal context
    if not number.is_finite() or (number and number.adjusted() >= MAX_DIGITS) \
            or number.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        bad(column, f"expected a finite number below {10 ** MAX_DIGITS:,} with at most {MAX_DECIMALS} decimals, "
            f"got {text[:50]!r}")
        return None
    return number


def _date(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def import_results(session: Session, connection: LmsConnection, path: Path, *,
                   skip_bad_rows: bool = False) -> ImportReport:
    """Validate the sheet, resolve learners, write evidence in the caller's transaction."""
    rows, errors = parse(path)
    report = ImportReport(rows=len(rows) + len({(e.row) for e in errors if e.row > 1}))
    resolved: list[tuple[ResultRow, int]] = []
    for row in rows:
        learner_id = _learner(session, connection, row.learner_key)
        if learner_id is None:
            errors.append(RowError(path.name, row.row, row.learner_key[0],
                                   f"no learner with {row.learner_key[0]} {row.learner_key[1]!r} in this school"))
            continue
        resolved.append((row, learner_id))
    report.errors = sorted(errors, key=lambda e: (e.row, e.column))
    if report.errors and (not skip_bad_rows or any(e.fatal for e in report.errors)):
        return report
    writer = EvidenceWriter(session, connection.id, source=SOURCE)
    writer.load(learner_ids={learner_id for _, learner_id in resolved})
    for row, learner_id in resolved:
        payload = {"assessment": row.assessment, "assessment_name": row.assessment_name, "result": row.result,
                   "passed": row.passed if row.passed is not None else None, "raw": dec(row.grade),
                   "max": dec(row.max), "percent": dec(percent(row.grade, Decimal(0), row.max)),
                   "date": row.assessed_on.isoformat(), "id_checked": row.id_checked,
                   "supervised": row.supervised, "mode": row.mode}
        occurred = datetime(row.assessed_on.year, row.assessed_on.month, row.assessed_on.day, tzinfo=UTC)
        writer.upsert(Observation("external", f"assessment:{row.assessment}", learner_id, None, payload, occurred))
    for learner_id in sorted(writer.counts.learners):
        request_evaluation(session, connection.school_id, learner_id, reason="external_results")
    report.imported = len(resolved)
    report.counts = writer.counts
    report.written = True
    return report


def _learner(session: Session, connection: LmsConnection, key: tuple[str, str]) -> int | None:
    field_name, value = key
    if field_name == "username":
        return session.scalar(select(LearnerIdentity.learner_id).where(
            LearnerIdentity.connection_id == connection.id, LearnerIdentity.username == value))
    column = Learner.idnumber if field_name == "idnumber" else Learner.email
    matches = session.scalars(select(Learner.id).where(Learner.school_id == connection.school_id,
                                                       column == value).limit(2)).all()
    return matches[0] if len(matches) == 1 else None
