"""The LTI platform mounted on the Web Services emulator: one emulated Moodle answers both."""

from __future__ import annotations

import requests

from credbridge.connector.store.db import Database
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID, launch, lti_on_ws_emulator


def test_launches_and_web_services_from_the_same_emulated_moodle(sqlite_database: Database) -> None:
    with lti_on_ws_emulator(sqlite_database) as env:
        teacher = launch(env.browser(), env.platform, TEACHER_ID, COURSE_ID)
        assert teacher.status_code == 200 and teacher.url.endswith(f"/courses/{COURSE_ID}")
        learner = launch(env.browser(), env.platform, LEARNER_ID, COURSE_ID)
        assert learner.status_code == 200
        assert env.platform.issuer == env.platform_url
        info = requests.post(env.platform_url + "/webservice/rest/server.php", timeout=10,
                             data={"wstoken": "x", "wsfunction": "core_webservice_get_site_info",
                                   "moodlewsrestformat": "json"}).json()
        assert "exception" in info  # the WS side answers like Moodle (an invalid token here)
