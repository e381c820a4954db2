"""`python -m credbridge.emulator` serves a site another process can drive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from credbridge.emulator.__main__ import build_parser
from credbridge.emulator.server import DEFAULT_TOKEN
from tests.emulator.conftest import TESTDATA


def test_cli_flags() -> None:
    args = build_parser().parse_args(["--port", "0", "--courses", "2", "--learners", "5", "--seed", "3",
                                      "--latency-ms", "20", "--recording", str(TESTDATA)])
    assert (args.port, args.courses, args.learners, args.seed, args.latency_ms) == (0, 2, 5, 3, 20.0)
    assert Path(args.recording) == TESTDATA


def test_module_runs_a_server_driven_over_http() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "credbridge.emulator", "--port", "0", "--courses", "2",
                             "--learners", "4", "--seed", "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "Moodle emulator on http://127.0.0.1:" in first, first
        rest_url = first.split(" on ", 1)[1].strip()
        base = rest_url.rsplit("/webservice/", 1)[0]
        info = requests.post(rest_url, data={"wstoken": DEFAULT_TOKEN, "wsfunction": "core_webservice_get_site_info",
                                             "moodlewsrestformat": "json"}, timeout=10).json()
        assert info["userid"] == 3 and info["siteurl"] == base
        state = requests.get(f"{base}/_emulator/state", timeout=10).json()
        assert len(state["courses"]) == 2
        assert state["calls"] == {"core_webservice_get_site_info": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
