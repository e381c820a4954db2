"""The README's first command: the unattended demo syncs the emulated Moodle and issues."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "credbridge", "demo", "--no-browser", "--exit-after-issue",
         "--data-dir", str(data_dir), "--port", str(_free_port()), "--emulator-port", str(_free_port())],
        cwd=data_dir.parent, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_demo_issues_and_prints_where_to_click(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    result = _run_demo(data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # the recorded site: TD-BASICS and WELD-SAFETY issue automatically; CNC-OPERATOR waits for a teacher
    assert summary["issued"] == 19
    assert summary["pending_approval"] == 5
    assert summary["issued_credentials"] > 0
    for key in ("teacher_launch", "learner_launch", "admin", "verification"):
        assert summary["urls"][key].startswith("http://127.0.0.1:")
    assert "/credentials/" in summary["urls"]["verification"]
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    # a Croatian school: the demo's teacher and learner have names from the region
    assert "Tomislav Barišić" in result.stdout and "Lucija Horvat" in result.stdout
    # the secret key never reaches the output
    key = (data_dir / "secret.key").read_text().strip()
    assert key not in result.stdout and key not in result.stderr

    # a second run reuses the data and issues nothing twice
    again = _run_demo(data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["issued"] == 19


def test_the_demo_school_has_names_from_the_region_and_the_recordings_stay_as_recorded() -> None:
    import hashlib

    from credbridge.demo import DEMO_PEOPLE, SCHOOL_NAME, recorded_site_path, regional_names
    from credbridge.emulator.dataset import Site
    from tests.conftest import FIXTURES

    recordings = [recorded_site_path(), FIXTURES / "testdata.json"]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in recordings]
    site = Site.from_recording(recorded_site_path())
    recorded = {u.id: (u.username, u.fullname) for u in site.users.values()}
    regional_names(site)
    people = [u for u in site.users.values() if recorded[u.id][0] in DEMO_PEOPLE]
    assert len(people) == 32  # every learner and teacher of the recording
    for user in people:
        assert (user.firstname, user.lastname) == DEMO_PEOPLE[recorded[user.id][0]]
        assert user.email.startswith(user.username + "@") and user.username.isascii()
        assert user.lang == "hr" and user.country == "HR"
    finnish = {"Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Laine", "Heikkinen", "Hämäläinen"}
    assert not finnish & {u.lastname for u in site.users.values()}
    assert site.users[35].fullname == "Tomislav Barišić" and site.users[5].fullname == "Lucija Horvat"
    assert site.users[27].username == "jan.zupancic" and site.users[28].username == "zoja.djuric"
    assert {c.fullname for c in site.courses.values()} >= {"Osnove CNC programiranja", "Tehničko crtanje"}
    assert SCHOOL_NAME in site.config.sitename
    # what the mapping matches on is untouched: course short names, activity names, Moodle ids
    again = Site.from_recording(recorded_site_path())
    assert {c.shortname for c in site.courses.values()} == {c.shortname for c in again.courses.values()}
    assert set(site.users) == set(again.users)
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in recordings] == before
