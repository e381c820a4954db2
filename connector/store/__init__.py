"""The store: SQLAlchemy models, sessions, migrations and secrets at rest."""
