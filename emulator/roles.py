"""Roles of Web Services users, and what a role lets them see, as Moodle 4.5 decides it.

A token's user holds the capabilities of its system role plus those every logged-in user has through
Moodle's *Authenticated user* role (archetype ``user``). Capabilities are checked in the system context
only: the emulated service users are never enrolled in a course, as a sync user normally is not.

Module visibility follows ``cm_info::update_user_visible`` (lib/modinfolib.php): an activity is visible
to a user who may see hidden activities or whose activity is visible, *and* who holds the module's own
``mod/<modname>:view`` (``is_user_access_restricted_by_capability``). That second rule is why a sync
user with the README's first role (issue 11) saw the page — ``mod/page:view`` belongs to the
authenticated user — and not the quiz or the assignment (recorded: tests/data/moodle-4.5/capabilities/).
"""

from __future__ import annotations

#: what the Authenticated user role grants by default that matters here (mod/*/db/access.php, archetype
#: "user"): the resource-like modules. mod/quiz:view, mod/assign:view and mod/lti:view are given to
#: guest/student/teacher/manager archetypes only.
AUTHENTICATED_USER = frozenset({
    "mod/page:view", "mod/url:view", "mod/resource:view", "mod/book:view", "mod/folder:view",
    "mod/imscp:view",
})

#: the 19 capabilities credbridge's README listed until issue 11 (recorded as capabilities/readme-role/)
RECORDED_README_ROLE = frozenset({
    "webservice/rest:use", "moodle/course:view", "moodle/course:viewhiddencourses",
    "moodle/course:viewparticipants", "moodle/course:enrolreview", "moodle/user:viewdetails",
    "moodle/user:viewalldetails", "moodle/site:viewuseridentity", "moodle/course:useremail",
    "moodle/grade:viewall", "moodle/grade:viewhidden", "gradereport/user:view", "report/completion:view",
    "report/progress:view", "moodle/site:accessallgroups", "mod/assign:grade", "mod/quiz:viewreports",
    "moodle/competency:coursecompetencyview", "moodle/competency:usercompetencyview",
})
#: the same role plus the module view capabilities (recorded as capabilities/with-module-view/)
RECORDED_WITH_MODULE_VIEW = RECORDED_README_ROLE | {"mod/quiz:view", "mod/assign:view",
                                                    "moodle/course:viewsuspendedusers"}

#: The role credbridge's README tells a school to create (deploy/moodle/credbridge-sync-role.xml): the
#: default role of the emulator's sync token, so a capability the README forgets fails the tests.
#: tests/emulator/test_roles.py checks that the README, the role XML and this list agree.
SYNC_ROLE = RECORDED_WITH_MODULE_VIEW | {
    "mod/lti:view",                         # external tool activities whose grade or completion counts
    "moodle/site:viewfullnames",            # given and family name apart: both go into the credential
    "moodle/course:viewhiddenactivities",   # an activity a teacher hid from learners after grading it
    "moodle/reportbuilder:view",            # the optional custom completion report
}

#: the role the vet_sync user had on the recorded acceptance site (moodle-ws/): broader than the README's
#: (competency frameworks, overview report, every custom report) and it saw every activity of the site
RECORDED_SITE_ROLE = SYNC_ROLE | {
    "gradereport/overview:view", "moodle/competency:competencyview", "moodle/reportbuilder:viewall",
}

REST_ONLY = frozenset({"webservice/rest:use"})

ROLES = {"sync": SYNC_ROLE, "readme-role": RECORDED_README_ROLE, "with-module-view": RECORDED_WITH_MODULE_VIEW,
         "recorded-site": RECORDED_SITE_ROLE, "rest-only": REST_ONLY}


def module_view_capability(modname: str) -> str:
    return f"mod/{modname}:view"
