"""Fit page sections of the FEFF work: ``{% load labdb_feff %}{% fit_feff fit %}`` renders the
FEFF calculations behind a fit (templates/web/_fit_feff.html)."""

from django import template

from web.feff_views import fit_feff_calculations

register = template.Library()


@register.inclusion_tag("web/_fit_feff.html")
def fit_feff(fit) -> dict:
    """The FEFF calculations a fit used: feff.inp, path table, download links."""
    return {"fit_feff": fit_feff_calculations(fit)}
