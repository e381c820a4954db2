"""Many emulated Moodle sites behind one port: site *n* answers under ``/site/<n>/`` (its wwwroot).

For the tests and benchmarks of an agency serving many schools: each site is a full emulator app
(:func:`credbridge.emulator.server.create_app`, its own data, counters, faults and latency), mounted
with werkzeug's ``DispatcherMiddleware``. ``GET /_emulator/sites`` at the root sums every site's calls.

    python -m credbridge.emulator.multisite --sites 200 --courses 20 --learners 30 --latency-ms 20
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import STATE_KEY, QuietRequestHandler, create_app


def site_path(index: int) -> str:
    return f"/site/{index}"


class MultiSite:
    """The WSGI app: one emulator app per site, plus a summary at ``/_emulator/sites``."""

    def __init__(self, sites: Sequence[Site], **app_kwargs: Any) -> None:
        self.sites = list(sites)
        self.apps = {index: create_app(site, **app_kwargs) for index, site in enumerate(self.sites, 1)}
        self._wsgi = DispatcherMiddleware(self._root, {site_path(i): app for i, app in self.apps.items()})

    def calls(self) -> dict[int, int]:
        return {i: app.extensions[STATE_KEY].controls.total_calls() for i, app in self.apps.items()}

    def calls_by_function(self, index: int) -> dict[str, int]:
        return self.apps[index].extensions[STATE_KEY].controls.calls()

    def set_latency(self, ms: float) -> None:
        for app in self.apps.values():
            app.extensions[STATE_KEY].controls.set_latency(ms)

    def reset_calls(self) -> None:
        for app in self.apps.values():
            app.extensions[STATE_KEY].controls.reset_calls()

    def _root(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/_emulator/sites" and request.method == "GET":
            calls = self.calls()
            body = {"sites": len(self.apps), "calls": {str(i): n for i, n in calls.items()},
                    "total": sum(calls.values())}
            return Response(json.dumps(body), content_type="application/json")(environ, start_response)
        if request.path == "/_emulator/sites/reset" and request.method == "POST":
            self.reset_calls()
            return Response("{}", content_type="application/json")(environ, start_response)
        return Response("no such site", status=404)(environ, start_response)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._wsgi(environ, start_response)


class RunningSites:
    def __init__(self, server: BaseWSGIServer, thread: threading.Thread, app: MultiSite) -> None:
        self._server, self._thread, self.app = server, thread, app
        self.url = f"http://127.0.0.1:{server.server_port}"

    def site_url(self, index: int) -> str:
        return self.url + site_path(index)

    @property
    def sites(self) -> list[Site]:
        return self.app.sites

    def stop(self) -> None:
        for app in self.app.apps.values():
            app.extensions[STATE_KEY].controls.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSites:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(sites: Sequence[Site], port: int, **app_kwargs: Any) -> tuple[BaseWSGIServer, MultiSite]:
    app = MultiSite(sites, **app_kwargs)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietRequestHandler)
    for index, site in enumerate(app.sites, 1):
        site.config.wwwroot = f"http://127.0.0.1:{server.server_port}{site_path(index)}"
    return server, app


def serve_sites_in_thread(sites: Sequence[Site], port: int = 0, **app_kwargs: Any) -> RunningSites:
    """Serve ``sites`` on 127.0.0.1 in a daemon thread; site *n* is at ``running.site_url(n)``."""
    server, app = _bind(sites, port, **app_kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="moodle-emulator-sites", daemon=True)
    thread.start()
    return RunningSites(server, thread, app)


def generate_sites(count: int, *, courses: int, learners: int, seed: int = 1, **generate_kwargs: Any) -> list[Site]:
    """``count`` different generated schools (seeds ``seed``, ``seed + 1``, …)."""
    return [Site.generate(courses=courses, learners_per_course=learners, seed=seed + i, **generate_kwargs)
            for i in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m credbridge.emulator.multisite",
                                description="Many emulated Moodle 4.5 sites on one port (site n at /site/n)")
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--sites", type=int, default=10)
    p.add_argument("--first", type=int, default=1, help="seed of the first site (the next ones count up)")
    p.add_argument("--courses", type=int, default=20)
    p.add_argument("--learners", type=int, default=30)
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every WS call")
    args = p.parse_args(argv)
    if args.sites < 1:
        p.error("--sites must be at least 1")
    sites = generate_sites(args.sites, courses=args.courses, learners=args.learners, seed=args.first)
    server, _app = _bind(sites, args.port, latency_ms=args.latency_ms)
    print(f"{args.sites} Moodle emulators on http://127.0.0.1:{server.server_port}/site/<1..{args.sites}>", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
