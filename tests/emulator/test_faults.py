"""Fault injection, latency, call counting and the /_emulator/ control API."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from credbridge.emulator.faults import Fault, FaultError
from credbridge.emulator.server import DEFAULT_TOKEN, RunningEmulator

SITE_INFO = {"wstoken": DEFAULT_TOKEN, "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}


def call(emu: RunningEmulator, timeout: float = 10, **extra: str) -> requests.Response:
    return requests.post(emu.rest_url, data={**SITE_INFO, **extra}, timeout=timeout)


@pytest.mark.parametrize(("kind", "status"), [("http500", 500), ("http502", 502), ("http503", 503)])
def test_http_error_burst_for_next_n_calls(emulator: RunningEmulator, kind: str, status: int) -> None:
    emulator.inject_fault(kind, count=2)
    assert [call(emulator).status_code for _ in range(3)] == [status, status, 200]


def test_429_carries_retry_after(emulator: RunningEmulator) -> None:
    emulator.inject_fault("http429", count=1, retry_after=7)
    r = call(emulator)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "7")
    assert call(emulator).status_code == 200


def test_html_page_with_200(emulator: RunningEmulator) -> None:
    emulator.inject_fault("html200")
    r = call(emulator)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
def test_broken_json(emulator: RunningEmulator, kind: str) -> None:
    emulator.inject_fault(kind)
    r = call(emulator)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert call(emulator).json()["userid"] == 3


@pytest.mark.slow
def test_hang_outlasts_client_timeout(emulator: RunningEmulator) -> None:
    emulator.inject_fault("hang", hang_seconds=3)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(emulator, timeout=0.5)
    assert time.monotonic() - started < 2


def test_connection_dropped_without_response(emulator: RunningEmulator) -> None:
    emulator.inject_fault("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        call(emulator)
    assert call(emulator).status_code == 200


def test_fault_limited_to_functions(emulator: RunningEmulator) -> None:
    emulator.inject_fault("http503", count=1, functions=["core_course_get_courses"])
    assert call(emulator).status_code == 200
    assert call(emulator, wsfunction="core_course_get_courses").status_code == 503


def test_probability_faults_are_reproducible_per_seed(emulator: RunningEmulator) -> None:
    def pattern() -> list[int]:
        emulator.clear_faults()
        emulator.inject_fault("http500", probability=0.5, seed=42)
        return [call(emulator).status_code for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert 500 in first and 200 in first


def test_fault_spec_validation() -> None:
    with pytest.raises(FaultError, match="unknown fault kind"):
        Fault("http418", count=1)
    with pytest.raises(FaultError, match="exactly one of"):
        Fault("http500")
    with pytest.raises(FaultError, match="probability"):
        Fault("http500", probability=1.5)


def test_call_counter_is_per_function_thread_safe_and_resettable(emulator: RunningEmulator) -> None:
    threads = [threading.Thread(target=lambda: [call(emulator) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    call(emulator, wsfunction="core_course_get_courses")
    assert emulator.calls == {"core_webservice_get_site_info": 20, "core_course_get_courses": 1}
    emulator.reset_calls()
    assert emulator.calls == {}


def test_latency_is_added_per_call(emulator: RunningEmulator) -> None:
    emulator.set_latency(150)
    started = time.monotonic()
    call(emulator)
    assert time.monotonic() - started >= 0.15
    emulator.set_latency(0)


def test_control_api(emulator: RunningEmulator) -> None:
    base = f"{emulator.url}/_emulator"
    state = requests.get(f"{base}/state", timeout=10).json()
    assert [c["shortname"] for c in state["courses"]] == ["CNC101", "WELD201", "TD110"]
    r = requests.post(f"{base}/mutate", json={"action": "complete_activity", "args": {"userid": 34, "cmid": 1}},
                      timeout=10)
    assert r.status_code == 200 and r.json()["result"]["state"] == 1
    bad = requests.post(f"{base}/mutate",
                        json={"action": "set_grade", "args": {"userid": 34, "cmid": 2, "grade": 500}}, timeout=10)
    assert bad.status_code == 400 and "outside" in bad.json()["error"]
    assert requests.post(f"{base}/mutate", json={"action": "drop_tables"}, timeout=10).status_code == 400
    assert requests.post(f"{base}/faults", json={"kind": "http502", "count": 1}, timeout=10).status_code == 200
    assert call(emulator).status_code == 502
    assert requests.post(f"{base}/faults", json={"kind": "nope", "count": 1}, timeout=10).status_code == 400
    counted = requests.get(f"{base}/calls", timeout=10).json()
    assert counted["calls"]["core_webservice_get_site_info"] == 1
    requests.post(f"{base}/calls", json={"reset": True}, timeout=10)
    assert requests.get(f"{base}/calls", timeout=10).json()["total"] == 0
    cfg = requests.post(f"{base}/config", json={"functions": ["core_webservice_get_site_info"], "release": "4.3"},
                        timeout=10).json()
    assert cfg["functions"] == ["core_webservice_get_site_info"]
    assert call(emulator).json()["release"] == "4.3"
    assert requests.post(f"{base}/latency", json={"ms": -5}, timeout=10).status_code == 400
    now = emulator.site.clock.now()
    assert requests.post(f"{base}/clock", json={"advance": 86400}, timeout=10).json()["now"] >= now + 86400
