"""The web layer: the LTI 1.3 Advantage tool (login, launch, JWKS, deep linking, Dynamic
Registration) and the pages teachers, learners and administrators see.

Entry points: :func:`credbridge.lti.app.create_app`; in views, :func:`credbridge.lti.auth.current_session`
and the ``require_*`` guards of :mod:`credbridge.lti.auth`.
"""
