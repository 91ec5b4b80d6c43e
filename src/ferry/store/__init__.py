"""SQLAlchemy tables and repositories; every query is scoped to one tenant."""
