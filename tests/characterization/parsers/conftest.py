"""Parser tests are pure: they need neither Django settings nor a database.

Shared-data paths live in ``_files.py``; nothing Django-specific is configured here, so the
suite runs the same with and without DJANGO_SETTINGS_MODULE.
"""
