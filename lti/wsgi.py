"""WSGI entry point for gunicorn: settings come from the environment (see README, Configuration)."""

from credbridge.lti.app import create_app

app = create_app()
