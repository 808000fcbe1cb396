"""Template tags of the relative-QY start page: ``{% qy_standards as standards %}`` (the
current QY standards; the picker is rendered by the server, no API call needed) and
``{% qy_solvents as solvents %}`` (the refractive-index table)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def qy_standards() -> list[dict]:
    """Snapshots of every non-retired QY standard, by name."""
    from analysis.models_qy import QYStandard

    return [row.snapshot() for row in QYStandard.objects.filter(is_retired=False)]


@register.simple_tag
def qy_solvents() -> list[tuple[str, float]]:
    """(solvent, n_D) of the engine's refractive-index table."""
    from analysis.engines.relative_qy import REFRACTIVE_INDEX

    return list(REFRACTIVE_INDEX.items())
