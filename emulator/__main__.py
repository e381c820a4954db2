"""`python -m credbridge.emulator` / `credbridge emulator`: run the Moodle WS emulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from werkzeug.serving import make_server

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import DEFAULT_TOKEN, NOCAP_TOKEN, create_app


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="credbridge emulator", description="Emulated Moodle 4.5 Web Services")
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--recording", metavar="TESTDATA_JSON",
                   help="rebuild the recorded site from testdata.json instead of generating one")
    p.add_argument("--courses", type=int, default=3, help="generated courses")
    p.add_argument("--learners", type=int, default=30, help="generated learners per course")
    p.add_argument("--activities", type=int, default=4, help="generated activities per course")
    p.add_argument("--completion-ratio", type=float, default=0.6, help="share of learners who finish")
    p.add_argument("--seed", type=int, default=1, help="generator seed (same seed -> same site)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every WS call")
    p.add_argument("--aggregation-lag", type=int, default=0,
                   help="seconds before cron aggregates a course completion (-1 = only on /_emulator run_cron)")
    p.add_argument("--debug", action="store_true", help="add debuginfo to WS errors (Moodle debug mode)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lag = None if args.aggregation_lag < 0 else args.aggregation_lag
    if args.recording:
        site = Site.from_recording(args.recording, aggregation_lag=lag)
    else:
        site = Site.generate(courses=args.courses, learners_per_course=args.learners,
                             activities_per_course=args.activities, completion_ratio=args.completion_ratio,
                             seed=args.seed, aggregation_lag=lag)
    app = create_app(site, latency_ms=args.latency_ms, debug=args.debug)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    site.config.wwwroot = f"http://127.0.0.1:{server.server_port}"
    print(f"Moodle emulator on {site.config.wwwroot}/webservice/rest/server.php", flush=True)
    print(f"  token {DEFAULT_TOKEN} (sync role), {NOCAP_TOKEN} (no capabilities)", flush=True)
    print(f"  control API {site.config.wwwroot}/_emulator/state", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
