"""The WSGI app of ``bench/launch.py --profile`` (not a benchmark itself, hence its own folder):
credbridge's app with every credbridge request of the
launch profiled by pyinstrument (one text report per request, in CREDBRIDGE_BENCH_PROFILE_DIR).

pyinstrument samples the Python stack every millisecond; it slows the requests it profiles, so the
figures of a profiled run are not the benchmark's figures, only where the time goes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from credbridge.lti.wsgi import app as credbridge_app

OUT = Path(os.environ["CREDBRIDGE_BENCH_PROFILE_DIR"])
PROFILED = ("/lti/login", "/lti/launch", "/teacher/course/")


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ.get("PATH_INFO", "")
    if not path.startswith(PROFILED):
        return credbridge_app(environ, start_response)
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        return list(credbridge_app(environ, start_response))
    finally:
        profiler.stop()
        name = path.strip("/").replace("/", "_")
        (OUT / f"{name}-{os.getpid()}-{time.monotonic_ns()}.txt").write_text(
            profiler.output_text(unicode=False, show_all=False), encoding="utf-8")
