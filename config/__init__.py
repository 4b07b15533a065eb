"""The Django project: settings, root URLs, the API router, WSGI/ASGI and the Celery app."""
from .celery import app as celery_app

__all__ = ["celery_app"]
