"""The FastAPI application: JSON API (and, later, the web pages)."""
