"""Fit page sections: ``{% fit_history fit %}`` (version n of m, changes, reproductions;
templates/web/_fit_history.html) and ``{% fit_feff fit %}`` (the FEFF calculations behind the
fit; templates/web/_fit_feff.html). Load with ``{% load labdb_feff %}``."""

from django import template

from analysis.services.fit_versions import version_info
from web.feff_views import fit_feff_calculations

register = template.Library()


@register.inclusion_tag("web/_fit_feff.html")
def fit_feff(fit) -> dict:
    """The FEFF calculations a fit used: feff.inp, path table, download links."""
    return {"fit_feff": fit_feff_calculations(fit)}


@register.inclusion_tag("web/_fit_history.html")
def fit_history(fit) -> dict:
    """Version of a computed fit (n of m, changes since the previous one) and its
    reproductions (each run, exact or not)."""
    return {"fit": fit, "history": version_info(fit)}
