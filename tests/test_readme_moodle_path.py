"""Acceptance (issue 11): the README's "Connecting a real Moodle" runs as written, command by command,
against the Moodle emulator — from an empty database to a credential and its "credential issued" score
in the Moodle gradebook.

Every ``credbridge …`` line of the section's shell blocks is run, in order, through the real command line
with the README's example names replaced by this test's servers. What the README asks of the Moodle
administrator and the teacher is done on the emulator the way its steps say: the role imported from
deploy/moodle/, the service given the release's function list, the tool registered through the link
``credbridge lti registration-url`` printed, activated, and attached to a course by deep linking.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from credbridge.cli import main
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.runtime import open_runtime
from credbridge.connector.store.models import Award, Credential, ResourceLinkTemplate
from credbridge.connector.sync import runner
from credbridge.emulator.dataset import Site
from credbridge.emulator.lti_platform import LtiPlatform, register
from credbridge.emulator.server import DEFAULT_TOKEN, RunningEmulator, serve_in_thread
from credbridge.emulator.ws import Principal
from credbridge.lti.app import create_app
from tests.conftest import FIXTURES, REPO
from tests.lti.support import _Placeholder, _platform_key, forms, launch, make_server, start, submit_autopost

README_MOODLE, README_TOOL = "https://moodle.school.example", "https://credbridge.school.example"
TEACHER, COURSE, TEMPLATE = 35, 4, "TD-BASICS"  # the recorded site's TD110 and its editing teacher
LONG_RUNNING = ("serve", "daemon")


def readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start_at = text.index("\n## Connecting a real Moodle")
    section = text[start_at:text.index("\n## ", start_at + 1)]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.strip().startswith("credbridge "):
                commands.append(shlex.split(line.split("  #")[0]))
    return commands


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningEmulator, str, object]]:
    """A fresh Moodle (its sync user holds no capability, its service no function) and the tool's port."""
    monkeypatch.chdir(tmp_path)
    for name in ("CREDBRIDGE_CONFIG", "CREDBRIDGE_DATABASE_URL", "CREDBRIDGE_SECRET_KEY", "CREDBRIDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "300")
    # this Moodle is on the machine's own network, as an on-premises one is: the README's "Dynamic
    # registration reaches only public addresses" step, the operator allowing that network
    monkeypatch.setenv("CREDBRIDGE_LTI_PRIVATE_NETWORKS", '["127.0.0.0/8"]')
    # the production politeness (20 calls/s) only slows the emulator's answers down here
    monkeypatch.setattr(runner, "client_factory", functools.partial(MoodleClient, rate_per_second=None))
    tool_server = make_server("127.0.0.1", 0, _Placeholder(), threaded=True)
    tool_url = f"http://127.0.0.1:{tool_server.server_port}"
    site = Site.from_recording(FIXTURES / "testdata.json")
    mount = functools.partial(register, private_key=_platform_key())
    try:
        with serve_in_thread(site, extensions=[mount], tokens={DEFAULT_TOKEN: Principal(3, frozenset())},
                             functions=()) as moodle:
            yield moodle, tool_url, tool_server
    finally:
        if not isinstance(tool_server.app, _Placeholder):
            tool_server.shutdown()
        tool_server.server_close()


def test_the_readme_path_from_an_empty_database_to_a_credential_and_its_gradebook_score(servers, tmp_path):
    moodle, tool_url, tool_server = servers
    platform: LtiPlatform = moodle.app.extensions["lti_platform"]
    cli = CliRunner()
    commands = readme_commands()
    assert [c[1] for c in commands] == ["init", "schools", "serve", "connections", "connections", "lti", "mappings",
                                        "sync", "issue", "schools", "daemon"]
    done: list[str] = []

    def run(args: list[str], **kwargs: object) -> str:
        args = [a.replace(README_MOODLE, moodle.url).replace(README_TOOL, tool_url) for a in args]
        args = [str(REPO / "mappings" / "examples" / "vet-college.yaml") if a == "my-school.yaml" else a
                for a in args]
        if args[1] == "init":
            args = [f"sqlite:///{tmp_path / 'credbridge.db'}" if a == "sqlite:///credbridge.db" else a for a in args]
        result = cli.invoke(main, args[1:], **kwargs)
        assert result.exit_code == 0, f"{shlex.join(args)}\n{result.output}"
        done.append(args[1])
        return result.output

    queue = iter(commands)
    # --- 1. credbridge itself: init, the school, and the web side running
    run(next(queue))
    run(next(queue))
    assert next(queue)[1] == "serve"
    runtime = open_runtime()
    start(tool_server, create_app(runtime, config={"LTI_COOKIE_SECURE": False}))
    assert requests.get(f"{tool_url}/.well-known/jwks.json", timeout=10).status_code == 200

    # --- 2. in Moodle: the role imported from deploy/moodle/, the service's functions for 4.5, the token
    role = etree.parse(str(REPO / "deploy" / "moodle" / "credbridge-sync-role.xml")).getroot()
    moodle.set_role({node.text for node in role.find("permissions") if node.tag == "allow"})
    functions = (REPO / "deploy" / "moodle" / "functions-4.5.txt").read_text(encoding="utf-8").splitlines()
    moodle.set_functions([f.strip() for f in functions if f.strip() and not f.startswith("#")])

    # --- 3. connect and check: the role shows sync every activity
    run(next(queue), input=f"{DEFAULT_TOKEN}\n")
    checked = run(next(queue))
    assert "HIDDEN" not in checked and "every activity of 3 course(s) is visible" in checked

    # --- 4. LTI: the registration link pasted into Moodle's Tool URL, the pending tool activated
    link = run(next(queue)).strip().splitlines()[0]
    http = requests.Session()
    page = http.get(platform.registration_url(link), timeout=20)
    registered = http.post(f"{tool_url}/lti/register", data=forms(page.text)[0]["fields"], timeout=20)
    assert "org.imsglobal.lti.close" in registered.text, registered.text
    (tool,) = platform.tools.values()
    assert tool.status == "pending"
    platform.activate(tool.client_id)

    # --- 5. mapping file and first sync
    run(next(queue))
    synced = run(next(queue))
    assert "new" in synced and "0 withdrawn" in synced
    # the teacher adds the tool to TD110 and attaches a template by deep linking, then opens the activity
    teacher = requests.Session()
    picker = launch(teacher, platform, TEACHER, COURSE, message_type="LtiDeepLinkingRequest", tool=tool)
    form = forms(picker.text)[0]
    assert TEMPLATE in form["multi"]["template"]
    answer = teacher.post(f"{tool_url}/lti/deep-link", data={**form["fields"], "template": [TEMPLATE],
                                                            "grade_item": "1", "title": "Technical drawing credential"},
                          timeout=20)
    submit_autopost(teacher, answer)
    (cmid,) = platform.deep_link_returns[-1]["cmids"]
    assert launch(requests.Session(), platform, TEACHER, COURSE, cmid=cmid, tool=tool).status_code == 200
    with runtime.db.unit_of_work() as s:
        assert s.scalar(select(ResourceLinkTemplate.lineitem_url)).endswith(f"type_id={tool.type_id}")

    issued = run(next(queue))
    assert "sent" in issued and "notifications" in issued
    shown = run(next(queue))
    assert "ags_score" in shown and "on: the platform granted AGS" in " ".join(shown.replace("│", " ").split())
    assert next(queue)[1] == "daemon"  # the long-running form of sync + issue, run above once each

    # a credential, and its "credential issued" score in the activity's grade item in Moodle
    with runtime.db.unit_of_work() as s:
        awards = list(s.scalars(select(Award).where(Award.template_code == TEMPLATE, Award.status == "issued")))
        assert awards, "nobody was issued the template"
        assert s.scalars(select(Credential).where(Credential.award_id == awards[0].id)).first() is not None
    line_item = platform.links[cmid].lineitem_id
    scores = {user: result for (item, user), result in platform.results.items() if item == line_item}
    assert scores and all(r["comment"].startswith("Credential issued:") for r in scores.values())
    assert all(r["score"] == 100 for r in scores.values())
    assert done == [c[1] for c in commands if c[1] not in LONG_RUNNING]
    runtime.close()
