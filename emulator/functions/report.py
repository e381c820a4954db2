"""core_reportbuilder_retrieve_report: one custom report of course completions ("Course participants" source).

Shape from Moodle's reportbuilder/classes/external/reports/retrieve.php + custom_report_details_exporter /
custom_report_data_exporter: {details, data: {headers, rows[{columns}], totalrowcount}, warnings}.
Cells are formatted strings, as a report shows them (dates: userdate in UTC, minute precision).
"""

from __future__ import annotations

import bisect
import time
import weakref
from typing import Any

from credbridge.emulator.dataset import Site
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


_cache: weakref.WeakKeyDictionary[Site, tuple[tuple[int, ...], list[tuple[int, list[str | None]]]]] = \
    weakref.WeakKeyDictionary()


def _completed_rows(site: Site) -> list[tuple[int, list[str | None]]]:
    """All completed course completions as (timecompleted, columns), oldest first; cached because the
    report is paged through (one call per page) and a large site has tens of thousands of rows."""
    stamp = (len(site.course_completions), site._deletions, site.completion_version)
    cached = _cache.get(site)
    if cached is None or cached[0] != stamp:
        rows = []
        for (courseid, userid), cc in site.course_completions.items():
            if cc.timecompleted is None:
                continue
            user, course = site.users[userid], site.courses[courseid]
            rows.append((cc.timecompleted, courseid, userid,
                         [course.idnumber, user.username, user.idnumber, "Yes", report_date(cc.timecompleted)]))
        rows.sort(key=lambda r: r[:3])
        cached = (stamp, [(r[0], r[3]) for r in rows])
        _cache[site] = cached
    return cached[1]


def report_rows(call: Call) -> list[list[str | None]]:
    """Completed course completions, only those of the last N days if the site sets report_window_days."""
    site = call.site
    rows = _completed_rows(site)
    if site.report_window_days:
        since = site.clock.now() - site.report_window_days * 86400
        rows = rows[bisect.bisect_left(rows, since, key=lambda r: r[0]):]
    return [columns for _t, columns in rows]


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
