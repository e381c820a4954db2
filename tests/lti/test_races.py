"""Replays racing each other: one launch wins, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from credbridge.connector.store.db import Database
from tests.lti.support import COURSE_ID, LEARNER_ID, forms, lti_environment, submit_autopost


def test_the_same_launch_posted_in_parallel_is_accepted_once(database: Database) -> None:
    with lti_environment(database) as env:
        http = env.browser()
        auth = submit_autopost(http, http.get(env.platform.launch_url(LEARNER_ID, COURSE_ID), timeout=10))
        form = forms(auth.text)[0]
        cookies = http.cookies.get_dict()

        def post(_: int) -> int:
            return requests.post(form["action"], data=form["fields"], cookies=cookies, timeout=30,
                                 allow_redirects=False).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = sorted(pool.map(post, range(6)))
    assert statuses == [303, 401, 401, 401, 401, 401]
