"""`credbridge serve`: the web side (LTI endpoints, pages, verification) for development and small sites.

Production runs the same app under gunicorn (``deploy/gunicorn.conf.py``, ``credbridge.lti.wsgi:app``).
"""

from __future__ import annotations

import logging

import click
from werkzeug.serving import run_simple

from credbridge.connector.commands.common import runtime_or_exit

log = logging.getLogger("credbridge.web")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads/--no-threads", default=True, show_default=True)
def serve(host: str, port: int, threads: bool) -> None:
    """Serve the LTI tool and its pages (use gunicorn behind a TLS proxy in production)."""
    from credbridge.lti.app import create_app

    runtime = runtime_or_exit()
    app = create_app(runtime)
    log.info("credbridge web on http://%s:%d (public URL %s)", host, port, runtime.settings.base_url)
    try:
        run_simple(host, port, app, threaded=threads, use_reloader=False, use_debugger=False)
    finally:
        runtime.close()
