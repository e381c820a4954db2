"""Formatting helpers shared by the WS functions (Moodle's PHP-to-JSON conventions)."""

from __future__ import annotations

from typing import Any

from credbridge.emulator.dataset import Competency, Course, Framework, Site, User


def num(value: float | None) -> float | int | None:
    """PHP json_encode of a float: 100.0 is written as 100, 6.666667 stays a float."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def moodle_float(value: float | None, decimals: int = 5) -> float | int | None:
    return None if value is None else num(round(float(value), decimals))


def fmt2(value: float) -> str:
    return f"{value:.2f}"


def pix(site: Site, size: str) -> str:
    return f"{site.config.wwwroot}/theme/image.php/boost/core/{site.config.theme_rev}/u/{size}"


def course_image(site: Site, course: Course) -> str:
    return f"{site.config.wwwroot}/pluginfile.php/{course.contextid}/course/generated/course.svg"


def user_summary(site: Site, user: User, *, show_identity: bool = True) -> dict[str, Any]:
    """core_user\\external\\user_summary_exporter."""
    email = user.email if show_identity else ""
    idnumber = user.idnumber if show_identity else ""
    identity = ", ".join(v for v in (email, idnumber) if v)
    return {"id": user.id, "email": email, "idnumber": idnumber, "phone1": "", "phone2": "",
            "department": user.department, "institution": user.institution, "fullname": user.fullname,
            "identity": identity, "profileurl": f"{site.config.wwwroot}/user/profile.php?id={user.id}",
            "profileimageurl": pix(site, "f1"), "profileimageurlsmall": pix(site, "f2")}


def scale_configuration(fw: Framework) -> str:
    entries = [f'{{"scaleid":{fw.scaleid}}}']
    default = min(fw.scale)
    for sid in sorted(fw.scale):
        entries.append(f'{{"id":{sid},"scaledefault":{1 if sid == default else 0},'
                       f'"proficient":{1 if sid in fw.proficient else 0}}}')
    return "[" + ",".join(entries) + "]"


def framework_record(site: Site, fw: Framework) -> dict[str, Any]:
    return {"shortname": fw.shortname, "idnumber": fw.idnumber, "description": fw.description,
            "descriptionformat": 1, "visible": True, "scaleid": fw.scaleid,
            "scaleconfiguration": scale_configuration(fw), "contextid": 1, "taxonomies": "", "id": fw.id,
            "timecreated": fw.timecreated, "timemodified": fw.timemodified, "usermodified": site.config.admin_userid,
            "canmanage": False,
            "competenciescount": sum(1 for c in site.competencies.values() if c.frameworkid == fw.id),
            "contextname": "System", "contextnamenoprefix": "System"}


def competency_record(site: Site, comp: Competency) -> dict[str, Any]:
    return {"shortname": comp.shortname, "idnumber": comp.idnumber, "description": comp.description,
            "descriptionformat": 1, "sortorder": comp.sortorder, "parentid": 0, "path": "/0/", "ruleoutcome": 0,
            "ruletype": None, "ruleconfig": None, "scaleid": None, "scaleconfiguration": None,
            "competencyframeworkid": comp.frameworkid, "id": comp.id, "timecreated": comp.timecreated,
            "timemodified": comp.timemodified, "usermodified": site.config.admin_userid}


def comppath(site: Site, fw: Framework) -> dict[str, Any]:
    return {"ancestors": [], "framework": {"id": fw.id, "name": fw.shortname, "first": False, "last": False,
                                           "position": -1},
            "pluginbaseurl": f"{site.config.wwwroot}/admin/tool/lp", "pagecontextid": 1, "showlinks": True}


def warnings_for(items: list[tuple[str, int, str, str]]) -> list[dict[str, Any]]:
    return [{"item": item, "itemid": itemid, "warningcode": code, "message": message}
            for item, itemid, code, message in items]
