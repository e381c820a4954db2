"""core_reportbuilder_retrieve_report: one custom report of course completions ("Course participants" source).

Shape from Moodle's reportbuilder/classes/external/reports/retrieve.php + custom_report_details_exporter /
custom_report_data_exporter: {details, data: {headers, rows[{columns}], totalrowcount}, warnings}.
Cells are formatted strings, as a report shows them (dates: userdate in UTC, minute precision).
"""

from __future__ import annotations

import time
from typing import Any

from credbridge.emulator.errors import invalid_parameter, invalid_record
from credbridge.emulator.functions.render import user_summary
from credbridge.emulator.params import Value
from credbridge.emulator.ws import Call, ws_function

REPORT_ID = 1
HEADERS = ["Course ID number", "Username", "ID number", "Completed", "Time completed"]


def report_date(ts: int) -> str:
    t = time.gmtime(ts)
    hour = t.tm_hour % 12 or 12
    return f"{t.tm_mday} {time.strftime('%B %Y', t)}, {hour}:{t.tm_min:02d} {'AM' if t.tm_hour < 12 else 'PM'}"


def report_rows(call: Call) -> list[list[str | None]]:
    """Completed course completions, newest window only if the site sets report_window_days."""
    site = call.site
    window = site.report_window_days
    since = site.clock.now() - window * 86400 if window else None
    rows = []
    for (courseid, userid), cc in site.course_completions.items():
        if cc.timecompleted is None or (since is not None and cc.timecompleted < since):
            continue
        user, course = site.users[userid], site.courses[courseid]
        rows.append((cc.timecompleted, courseid, userid,
                     [course.idnumber, user.username, user.idnumber, "Yes", report_date(cc.timecompleted)]))
    rows.sort(key=lambda r: r[:3])
    return [r[3] for r in rows]


def report_details(call: Call) -> dict[str, Any]:
    """custom_report_details_exporter of the emulator's one report."""
    site = call.site
    admin = site.users.get(site.config.admin_userid) or site.users[call.principal.userid]
    created = min((c.timecreated for c in site.courses.values()), default=0)
    return {"name": "Course completions for credbridge",
            "source": "core_course\\reportbuilder\\datasource\\participants",
            "type": 0, "uniquerows": False, "conditiondata": '{"completion:timecompleted_operator":"0"}',
            "settingsdata": None, "contextid": 1, "component": "", "area": "", "itemid": 0, "id": REPORT_ID,
            "timecreated": created, "timemodified": created, "usermodified": admin.id,
            "sourcename": "Course participants", "modifiedby": user_summary(site, admin)}


@ws_function("core_reportbuilder_list_reports", {"page": Value("int", default=0),
                                                 "perpage": Value("int", default=5)})
def list_reports(call: Call) -> dict[str, Any]:
    call.require("moodle/reportbuilder:view")
    p = call.params
    if p["page"] < 0 or p["perpage"] < 1:
        raise invalid_parameter("page must be >= 0 and perpage >= 1")
    reports = [report_details(call)][p["page"] * p["perpage"]:(p["page"] + 1) * p["perpage"]]
    return {"reports": reports, "warnings": []}


@ws_function("core_reportbuilder_retrieve_report", {"reportid": Value("int"), "page": Value("int", default=0),
                                                    "perpage": Value("int", default=10)})
def retrieve_report(call: Call) -> dict[str, Any]:
    p = call.params
    if p["reportid"] != REPORT_ID:
        raise invalid_record("reportbuilder_report")
    call.require("moodle/reportbuilder:view")
    if p["page"] < 0 or p["perpage"] < 1:
        raise invalid_parameter("page must be >= 0 and perpage >= 1")
    rows = report_rows(call)
    start = p["page"] * p["perpage"]
    return {
        "details": report_details(call),
        "data": {"headers": list(HEADERS), "rows": [{"columns": r} for r in rows[start:start + p["perpage"]]],
                 "totalrowcount": len(rows)},
        "warnings": [],
    }
