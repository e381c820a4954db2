"""Many sites on one port: each answers under its own wwwroot with its own data and call counter."""

from __future__ import annotations

import requests

from credbridge.connector.moodle.client import MoodleClient
from credbridge.emulator.multisite import generate_sites, serve_sites_in_thread
from credbridge.emulator.server import DEFAULT_TOKEN


def test_each_site_answers_under_its_own_path_and_counts_its_own_calls() -> None:
    sites = generate_sites(3, courses=2, learners=4, seed=7)
    with serve_sites_in_thread(sites) as running:
        for index in (1, 3):
            client = MoodleClient(running.site_url(index), DEFAULT_TOKEN, rate_per_second=None)
            try:
                info = client.call("core_webservice_get_site_info")
                courses = client.call("core_course_get_courses_by_field")
            finally:
                client.close()
            assert info["siteurl"] == running.site_url(index)
            names = {c["fullname"] for c in courses["courses"] if c["id"] != 1}
            assert names == {c.fullname for c in sites[index - 1].courses.values() if c.id != 1}
        summary = requests.get(running.url + "/_emulator/sites", timeout=10).json()
        assert summary["calls"] == {"1": 2, "2": 0, "3": 2} and summary["total"] == 4
        assert requests.get(running.url + "/site/4/webservice/rest/server.php", timeout=10).status_code == 404
        assert requests.get(running.url + "/", timeout=10).status_code == 404


def test_generated_sites_differ() -> None:
    a, b = generate_sites(2, courses=2, learners=3, seed=1)
    assert [u.username for u in a.users.values()] != [u.username for u in b.users.values()]
