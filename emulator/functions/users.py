"""core_user_get_users_by_field, core_user_get_users."""

from __future__ import annotations

from typing import Any

from credbridge.emulator.dataset import User
from credbridge.emulator.errors import invalid_parameter
from credbridge.emulator.functions.enrol import identity_visible
from credbridge.emulator.functions.render import pix
from credbridge.emulator.params import Multiple, Single, Value
from credbridge.emulator.ws import Call, ws_function

SEARCH_FIELDS = ("id", "idnumber", "username", "email")


def user_record(call: Call, user: User) -> dict[str, Any] | None:
    """user_get_user_details() in system context; None when the caller may not see the profile."""
    principal = call.principal
    if not principal.can("moodle/user:viewdetails") and user.id != principal.userid:
        return None
    show_username, show_email, show_idnumber = identity_visible(principal)
    full = principal.can("moodle/user:viewalldetails")
    out: dict[str, Any] = {"id": user.id}
    if show_username:
        out["username"] = user.username
    if principal.can("moodle/site:viewfullnames") or user.id == principal.userid:
        out.update(firstname=user.firstname, lastname=user.lastname)
    out["fullname"] = user.fullname
    if show_email:
        out["email"] = user.email
    for name in ("department", "institution"):
        if getattr(user, name):
            out[name] = getattr(user, name)
    if show_idnumber and user.idnumber:
        out["idnumber"] = user.idnumber
    out.update(firstaccess=user.firstaccess, lastaccess=user.lastaccess)
    if full:
        out.update(auth=user.auth, suspended=user.suspended, confirmed=True, lang=user.lang, theme="",
                   timezone=user.timezone, mailformat=1, trackforums=0)
    for name in ("city", "country"):
        if getattr(user, name):
            out[name] = getattr(user, name)
    out.update(profileimageurlsmall=pix(call.site, "f2"), profileimageurl=pix(call.site, "f1"))
    return out


def _match(call: Call, field: str, values: list[str]) -> list[User]:
    users = call.site.users
    if field == "id":
        ids = []
        for v in values:
            if not v.strip().lstrip("-").isdigit():
                raise invalid_parameter(f"values => Invalid parameter value detected: '{v}' is not an id")
            ids.append(int(v))
        return [users[i] for i in sorted(set(ids)) if i in users]
    wanted = set(values)
    if field == "email":
        wanted = {v.lower() for v in values}
        return sorted((u for u in users.values() if u.email.lower() in wanted), key=lambda u: u.id)
    return sorted((u for u in users.values() if getattr(u, field) in wanted), key=lambda u: u.id)


@ws_function("core_user_get_users_by_field", {"field": Value("alpha"), "values": Multiple(Value("raw"))})
def get_users_by_field(call: Call) -> list[dict[str, Any]]:
    field = call.params["field"]
    if field not in SEARCH_FIELDS:
        raise invalid_parameter("The search field '" + field + "' is not supported, look at the web service "
                                "documentation")
    rows = [user_record(call, u) for u in _match(call, field, call.params["values"])]
    return [r for r in rows if r is not None]


@ws_function("core_user_get_users", {"criteria": Multiple(Single({"key": Value("alphanum"),
                                                                  "value": Value("raw")}))})
def get_users(call: Call) -> dict[str, Any]:
    warnings = []
    users = list(call.site.users.values())
    for crit in call.params["criteria"]:
        key, value = crit["key"], crit["value"]
        if key not in ("id", "lastname", "firstname", "idnumber", "username", "email", "auth"):
            warnings.append({"item": key, "warningcode": "invalidfieldparameter",
                             "message": "The search key '" + key + "' is not supported, look at the web service "
                                        "documentation"})
            continue
        if key == "email":
            pattern = value.lower().replace("%", "")
            users = [u for u in users if pattern in u.email.lower()] if "%" in value else \
                [u for u in users if u.email.lower() == value.lower()]
        elif key == "id":
            users = [u for u in users if str(u.id) == value.strip()]
        else:
            users = [u for u in users if str(getattr(u, key)) == value]
    users.sort(key=lambda u: u.id)
    rows = [user_record(call, u) for u in users if u.id != 1]
    return {"users": [r for r in rows if r is not None], "warnings": warnings}
