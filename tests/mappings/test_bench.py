"""bench/evaluate.py runs and ends with its JSON figures (speed itself is measured by the script, not here)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.mappings.helpers import REPO


def test_bench_evaluate_runs():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "evaluate.py"), "--learners", "300", "--pool", "60"],
                         capture_output=True, text=True, check=True, timeout=120, cwd=REPO)
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ")
    figures = json.loads(lines[-1])
    assert figures["learners"] == 300 and figures["units"] == 20
    assert figures["learner_units_per_second"] > 0 and figures["units_achieved"] > 0
