"""Flowmatik: the Django project package (settings, routing, cross-cutting pieces)."""

from flowmatik.celery import app as celery_app

__version__ = "1.0.0"

__all__ = ["__version__", "celery_app"]
