"""gunicorn settings for the web side: `gunicorn -c deploy/gunicorn.conf.py 'credbridge.lti.wsgi:app'`."""

import multiprocessing
import os

bind = os.environ.get("CREDBRIDGE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CREDBRIDGE_WEB_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = 2
timeout = 60
graceful_timeout = 30
forwarded_allow_ips = "127.0.0.1"  # the reverse proxy in front of us sets X-Forwarded-Proto
accesslog = "-"
# the access log never shows query strings: dynamic-registration URLs carry one-time tokens
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
