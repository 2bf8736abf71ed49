"""Frontdesk: the composition root (settings, database, the FastAPI app, the CLI)."""

__version__ = "0.1.0"
