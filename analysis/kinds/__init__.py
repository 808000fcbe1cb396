"""Every kind of analysis run, registered at import (one import line per kind module).

See ``analysis/kinds/base.py`` for the contract and ``docs/analysis-kinds.md`` for the recipe.
"""

from analysis.kinds import (  # noqa: F401  (imported to register each kind)
    calculators,
    exafs_fit,
    model_free,
    wavelet,
    xanes_lcf,
    xanes_pca,
)
