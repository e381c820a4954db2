"""The deployment files, exercised as far as this machine allows: gunicorn starts with the shipped
config and serves a whole LTI launch (and a graceful reload drops no request); the systemd units pass
`systemd-analyze verify`; the compose file has the Compose specification's structure and refers only
to what exists."""

from __future__ import annotations

import configparser
import functools
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from ruamel.yaml import YAML

from credbridge.connector.runtime import open_runtime
from credbridge.connector.settings import load_settings
from credbridge.connector.store import migrate
from credbridge.demo import COURSE_ID, TEACHER_ID, bootstrap, recorded_site_path, run_cycle
from credbridge.emulator import lti_platform
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import serve_in_thread
from tests.conftest import TEST_SECRET_KEY
from tests.lti.support import submit_autopost

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


class LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """A browser's view of http://127.0.0.1: a secure context, so Secure cookies are sent."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        cookie.secure = False
        return super().set_ok(cookie, request)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """gunicorn with deploy/gunicorn.conf.py unchanged (two workers), on a school synced from the
    emulated Moodle, whose LTI platform points at it."""
    port = _free_port()
    tool_url = f"http://127.0.0.1:{port}"
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    migrate.upgrade(db_url)
    site = Site.from_recording(recorded_site_path())
    from credbridge.demo import CLIENT_ID

    mount = functools.partial(lti_platform.register, tool_base_url=tool_url, client_id=CLIENT_ID)
    with serve_in_thread(site, extensions=[mount]) as moodle:
        platform = moodle.app.extensions["lti_platform"]
        tool = platform.default_tool()
        platform.add_link(COURSE_ID, tool, name="credbridge")
        runtime = open_runtime(load_settings(database_url=db_url, secret_key=TEST_SECRET_KEY, base_url=tool_url),
                               configure_logging=False)
        try:
            school_id, connection_id, _ = bootstrap(runtime, moodle.url, tool.deployment_id)
            run_cycle(runtime, school_id, connection_id)
        finally:
            runtime.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
        env.update(CREDBRIDGE_DATABASE_URL=db_url, CREDBRIDGE_SECRET_KEY=TEST_SECRET_KEY,
                   CREDBRIDGE_BASE_URL=tool_url, CREDBRIDGE_BIND=f"127.0.0.1:{port}", CREDBRIDGE_WEB_WORKERS="2")
        log = tmp_path / "gunicorn.log"
        process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py"),
                                    "credbridge.lti.wsgi:app"], cwd=tmp_path, env=env, stdout=log.open("wb"),
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if requests.get(f"{tool_url}/healthz", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or its workers still booting
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            yield {"url": tool_url, "platform": platform, "process": process, "log": log}
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(40)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_gunicorn_with_the_shipped_config_serves_a_launch(gunicorn: dict[str, Any]) -> None:
    url, platform = gunicorn["url"], gunicorn["platform"]
    browser = requests.Session()
    browser.cookies.set_policy(LoopbackCookies())
    start = browser.get(platform.launch_url(TEACHER_ID, COURSE_ID), timeout=20)
    auth = submit_autopost(browser, start)  # credbridge /lti/login → Moodle auth.php
    page = submit_autopost(browser, auth)  # credbridge /lti/launch → the teacher's course page
    assert page.status_code == 200 and page.url == f"{url}/teacher/course/{COURSE_ID}", page.text[:500]
    assert "CNC101" in page.text or "CNC" in page.text
    assert re.fullmatch(r"[0-9a-f]{32}", page.headers["X-Request-ID"])
    ready = requests.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    # /metrics: this machine may read it, not a request that came through the proxy
    assert "credbridge_awards" in requests.get(f"{url}/metrics", timeout=5).text
    assert requests.get(f"{url}/metrics", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5).status_code == 401
    mine = requests.get(f"{url}/healthz", headers={"X-Request-ID": "probe-42"}, timeout=5)
    assert mine.headers["X-Request-ID"] == "probe-42"
    time.sleep(0.5)
    log = gunicorn["log"].read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log and "req=probe-42" in log
    assert "wstoken" not in log and "id_token" not in log


def test_a_graceful_reload_drops_no_request(gunicorn: dict[str, Any]) -> None:
    """SIGHUP (systemctl reload, the upgrade step) replaces every worker while requests keep coming."""
    url, process = gunicorn["url"], gunicorn["process"]
    before = set(re.findall(r"Booting worker with pid: (\d+)", gunicorn["log"].read_text()))
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal answered
        session = requests.Session()
        while not stop.is_set():
            try:
                # while the new workers import the app a request waits in the socket's backlog; on a
                # loaded 2-CPU machine that can take seconds, so only a refusal or an error fails it
                status = session.get(f"{url}/readyz", timeout=90).status_code
                if status != 200:
                    failures.append(str(status))
                answered += 1
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        booted = set(re.findall(r"Booting worker with pid: (\d+)", gunicorn["log"].read_text()))
        if len(booted - before) >= 2:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    booted = set(re.findall(r"Booting worker with pid: (\d+)", gunicorn["log"].read_text()))
    assert len(booted - before) >= 2, "the reload did not start new workers"
    assert failures == [] and answered > 20


# ------------------------------------------------------------------------------------------ systemd units
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def test_systemd_units_have_what_a_service_needs() -> None:
    assert {u.name for u in UNITS} == {"credbridge-web.service", "credbridge-daemon.service"}
    for unit in UNITS:
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # systemd keys are case-sensitive
        parser.read(unit)
        assert set(parser.sections()) == {"Unit", "Service", "Install"}, unit.name
        service = parser["Service"]
        for key in ("ExecStart", "User", "EnvironmentFile", "KillSignal", "TimeoutStopSec", "Restart"):
            assert service.get(key), f"{unit.name}: [Service] {key} missing"
        assert service["KillSignal"] == "SIGTERM"  # the daemon finishes or releases its work item
        assert parser["Install"]["WantedBy"] == "multi-user.target"
    web = configparser.ConfigParser(interpolation=None)
    web.optionxform = str
    web.read(DEPLOY / "systemd" / "credbridge-web.service")
    assert web["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"  # the zero-downtime upgrade step


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # the units name /srv/credbridge; verify them against this checkout's programs instead
    root = tmp_path / "srv"
    (root / ".venv" / "bin").mkdir(parents=True)
    for program in ("credbridge", "gunicorn"):
        (root / ".venv" / "bin" / program).symlink_to(VENV_BIN / program)
    copies = []
    for unit in UNITS:
        text = unit.read_text().replace("/srv/credbridge", str(root)).replace(
            "/etc/credbridge/credbridge.env", str(DEPLOY / "systemd" / "credbridge.env.example"))
        copy = tmp_path / unit.name
        copy.write_text(text)
        copies.append(str(copy))
    result = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"Unknown (key|section|lvalue)|Failed to parse|Invalid", result.stderr), result.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above is worth something: the same call fails on a unit whose program is missing."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    bad = tmp_path / "broken.service"
    bad.write_text("[Service]\nExecStart=/nonexistent/credbridge daemon\n")
    assert subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, timeout=60).returncode != 0


# ------------------------------------------------------------------------------------------ compose
# The shape of the Compose Specification (compose-spec.io, schema/compose-spec.json) for the keys a
# credbridge stack uses; anything else is refused, so a typo cannot slip through. Written from the
# specification, not copied: `docker compose config` is not available on this machine.
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_LIST_OR_DICT = {"oneOf": [{"type": "object", "additionalProperties": {"type": ["string", "number", "boolean",
                                                                                 "null"]}}, _STRING_LIST]}
COMPOSE_SHAPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "services": {"type": "object", "minProperties": 1, "additionalProperties": False,
                     "patternProperties": {"^[a-zA-Z0-9._-]+$": {"$ref": "#/definitions/service"}}},
        "volumes": {"type": "object", "additionalProperties": False,
                    "patternProperties": {"^[a-zA-Z0-9._-]+$": {"type": ["object", "null"]}}},
        "networks": {"type": "object"},
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "definitions": {
        "service": {
            "type": "object",
            "properties": {
                "image": {"type": "string"},
                "build": {"oneOf": [{"type": "string"}, {
                    "type": "object", "additionalProperties": False,
                    "properties": {"context": {"type": "string"}, "dockerfile": {"type": "string"},
                                   "args": _LIST_OR_DICT}}]},
                "command": {"oneOf": [{"type": "string"}, _STRING_LIST]},
                "entrypoint": {"oneOf": [{"type": "string"}, _STRING_LIST]},
                "environment": _LIST_OR_DICT,
                "env_file": {"oneOf": [{"type": "string"}, _STRING_LIST]},
                "ports": {"type": "array", "items": {"type": ["string", "number"]}},
                "expose": {"type": "array", "items": {"type": ["string", "number"]}},
                "volumes": {"type": "array", "items": {"type": "string"}},
                "restart": {"type": "string", "enum": ["no", "always", "on-failure", "unless-stopped"]},
                "stop_grace_period": {"type": "string", "pattern": r"^\d+(ms|s|m|h)$"},
                "depends_on": {"oneOf": [_STRING_LIST, {
                    "type": "object", "additionalProperties": {
                        "type": "object", "required": ["condition"], "additionalProperties": False,
                        "properties": {"condition": {"enum": ["service_started", "service_healthy",
                                                              "service_completed_successfully"]},
                                       "restart": {"type": "boolean"}, "required": {"type": "boolean"}}}}]},
                "healthcheck": {"type": "object", "additionalProperties": False, "properties": {
                    "test": {"oneOf": [{"type": "string"}, _STRING_LIST]},
                    "interval": {"type": "string"}, "timeout": {"type": "string"},
                    "retries": {"type": "integer", "minimum": 0}, "start_period": {"type": "string"},
                    "disable": {"type": "boolean"}}},
                "deploy": {"type": "object", "additionalProperties": False, "properties": {
                    "replicas": {"type": "integer", "minimum": 0}, "resources": {"type": "object"},
                    "restart_policy": {"type": "object"}, "update_config": {"type": "object"}}},
            },
            "additionalProperties": False,
            "patternProperties": {"^x-": {}},
            "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
        },
    },
}


def _compose() -> dict[str, Any]:
    return YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_has_the_specifications_shape() -> None:
    jsonschema.validate(_compose(), COMPOSE_SHAPE)


@pytest.mark.parametrize("mutation, message", [
    (lambda c: c["services"]["web"].update(restart="sometimes"), "sometimes"),
    (lambda c: c["services"]["daemon"].update(deploy={"replica": 2}), "replica"),
    (lambda c: c.update(service={}), "service"),
    (lambda c: c["services"]["web"].update(depends_on={"db": {"condition": "healthy"}}), "healthy"),
])
def test_the_compose_shape_refuses_mistakes(mutation, message: str) -> None:
    compose = _compose()
    mutation(compose)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(compose, COMPOSE_SHAPE)


def test_compose_refers_only_to_what_exists() -> None:
    compose = _compose()
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for other in (depends if isinstance(depends, dict) else {d: {} for d in depends}):
            assert other in services, f"{name} depends on unknown service {other}"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if isinstance(build, dict):
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']} in {context}"
        command = service.get("command") or []
        if command and command[0] == "credbridge":
            from credbridge.cli import SUBCOMMANDS

            assert command[1] in SUBCOMMANDS, f"{name}: credbridge has no command {command[1]}"
        if command and command[0] == "gunicorn":
            assert (REPO / command[command.index("-c") + 1]).is_file()
            module, _, attribute = command[-1].partition(":")
            assert (REPO / module.removeprefix("credbridge.").replace(".", "/")).with_suffix(".py").is_file()
            assert attribute == "app"
    # every CREDBRIDGE_* variable the stack sets is a setting credbridge knows
    from credbridge.connector.settings import Settings

    for service in services.values():
        for key in (service.get("environment") or {}):
            if key.startswith("CREDBRIDGE_") and key not in ("CREDBRIDGE_BIND",):
                assert key.removeprefix("CREDBRIDGE_").lower() in Settings.model_fields, key
    assert (DEPLOY / "systemd" / "credbridge.env.example").is_file()  # what credbridge.env is copied from
