"""Telling an activity Moodle *hides* from the sync user from one that is *gone*.

A sync user is normally not enrolled in the courses it reads, so Moodle shows it an activity only if its
role holds the module's own view capability (``mod/quiz:view``, ``mod/assign:view``…; cm_info::uservisible
in lib/modinfolib.php), and one a teacher hid only with ``moodle/course:viewhiddenactivities``. Without
them the activity is simply left out of the course contents, the quiz list, the activity completion
statuses and the user grade report, with no warning: to those answers a hidden activity looks deleted.

Three answers still show it: the course completion criteria (they name every activity, with a link that
carries its type and cmid), the gradebook's list of grade items (``core_grades_get_gradeitems``, 4.2+),
and ``core_course_get_course_module``, which refuses a hidden activity ("Activity is hidden") and does not
find a deleted one. This module reads those answers; the check and the sync act on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from credbridge.connector.moodle.errors import MissingCapability, MoodleError, RecordNotFound
from credbridge.connector.moodle.functions import MoodleApi, WsFunction, WsWarning

HIDDEN_BY_TEACHER = "moodle/course:viewhiddenactivities"


def view_capability(modname: str | None) -> str:
    """The capability that shows an activity of this type to a user who is not enrolled."""
    return f"mod/{modname}:view" if modname else "mod/<activity type>:view"


@dataclass(frozen=True)
class HiddenActivity:
    """An activity Moodle shows in one answer (``seen_in``) and hides from the sync user in others."""

    course: str
    name: str
    cmid: int | None = None
    modname: str | None = None
    seen_in: tuple[str, ...] = ()

    @property
    def capability(self) -> str:
        return view_capability(self.modname)

    def describe(self) -> str:
        what = f"{self.modname} " if self.modname else ""
        where = f" (cm {self.cmid})" if self.cmid else ""
        return f"{self.course}: {what}“{self.name}”{where}"


@dataclass
class MissingActivities:
    """What :func:`probe_missing` found out about activities the course contents no longer list."""

    hidden: set[int] = field(default_factory=set)
    gone: set[int] = field(default_factory=set)
    #: core_course_get_course_module is not in the service: hidden or gone cannot be told apart
    unknown: set[int] = field(default_factory=set)
    #: Moodle answers for it: the activity exists and the sync user may see it
    visible: set[int] = field(default_factory=set)


def probe_missing(api: MoodleApi, cmids: Iterable[int], functions: Iterable[str]) -> MissingActivities:
    """Ask Moodle about each activity by its cmid: refused means hidden, not found means deleted."""
    found = MissingActivities()
    can_ask = WsFunction.COURSE_MODULE in set(functions)
    for cmid in sorted(set(cmids)):
        if not can_ask:
            found.unknown.add(cmid)
            continue
        try:
            api.course_module(cmid)
        except RecordNotFound:
            found.gone.add(cmid)
        except MissingCapability:
            found.hidden.add(cmid)
        except MoodleError:
            found.unknown.add(cmid)
        else:
            found.visible.add(cmid)
    return found


def permission_problem(hidden: Iterable[HiddenActivity], warnings: Iterable[WsWarning],
                       refused: Iterable[str] = ()) -> str | None:
    """One line for the connection's error: what Moodle keeps from the sync user, and what would show it."""
    hidden = list(hidden)
    parts: list[str] = []
    if hidden:
        capabilities = sorted({h.capability for h in hidden})
        names = "; ".join(h.describe() for h in hidden[:6]) + (f"; and {len(hidden) - 6} more" if len(hidden) > 6
                                                                else "")
        parts.append(f"Moodle hides {len(hidden)} activit{'y' if len(hidden) == 1 else 'ies'} from the sync user "
                     f"({names}): grant {', '.join(capabilities)} to the sync user's role (and "
                     f"{HIDDEN_BY_TEACHER} for activities a teacher hid)")
    notes = sorted({str(w) for w in warnings if w.about_permissions})
    if notes:
        parts.append("Moodle warned: " + "; ".join(notes[:4]) + (f"; and {len(notes) - 4} more" if len(notes) > 4
                                                                  else ""))
    parts.extend(sorted(set(refused)))
    return " — ".join(parts) if parts else None
