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
    # the secret key never reaches the output
    key = (data_dir / "secret.key").read_text().strip()
    assert key not in result.stdout and key not in result.stderr

    # a second run reuses the data and issues nothing twice
    again = _run_demo(data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["issued"] == 19
