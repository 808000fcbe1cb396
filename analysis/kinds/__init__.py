"""Every kind of analysis run, registered at import (one import line per kind module).

See ``analysis/kinds/base.py`` for the contract and ``docs/analysis-kinds.md`` for the recipe.
"""
