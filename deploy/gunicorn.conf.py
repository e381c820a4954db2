"""gunicorn settings for the web side: `gunicorn -c deploy/gunicorn.conf.py 'credbridge.lti.wsgi:app'`.

Zero-downtime upgrades (README, Deployment): `systemctl reload credbridge-web` sends SIGHUP; gunicorn
then starts new workers with the newly installed code and lets the old ones finish their requests
(graceful_timeout). The app is therefore not preloaded in the master (preload_app stays False).
"""

import multiprocessing
import os

bind = os.environ.get("CREDBRIDGE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CREDBRIDGE_WEB_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("CREDBRIDGE_WEB_THREADS", 2))
# longer than nginx's upstream keep-alive (60 s): otherwise gunicorn (2 s by default) closes a pooled
# connection just as the proxy sends the next request on it, and that POST fails with a reset
# (bench/launch.py saw 6 of 494 launches fail so before this; bench/RESULTS.md)
keepalive = 75
timeout = 60
graceful_timeout = 30
preload_app = False
forwarded_allow_ips = "127.0.0.1"  # the reverse proxy in front of us sets X-Forwarded-Proto
accesslog = "-"
# the access log never shows query strings: dynamic-registration URLs carry one-time tokens;
# the request id is the one credbridge's own log lines carry (X-Request-ID, from nginx or new)
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms req=%({x-request-id}o)s'
