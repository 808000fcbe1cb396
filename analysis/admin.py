"""Curators' admin of the analysis app (Django autodiscovers this module)."""

from analysis import admin_qy  # noqa: F401  (QY standards)
