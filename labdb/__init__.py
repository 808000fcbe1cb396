"""labdb: lab information and experiment tracking for colloidal nanocrystal labs."""

from labdb.celery import app as celery_app

__all__ = ["celery_app"]
