"""``headstart ui``: a local web page with the live rubric advisor and a list of runs (FastAPI, offline)."""

from headstart.ui.app import create_app

__all__ = ["create_app"]
