"""SQLAlchemy engines, sessions, migrations and repositories."""
