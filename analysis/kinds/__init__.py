"""Every kind of analysis run, registered at import (one import line per kind module).

See ``analysis/kinds/base.py`` for the contract and ``docs/analysis-kinds.md`` for the recipe.
"""

from analysis.kinds import xanes_lcf, xanes_pca  # noqa: F401,E402
from analysis.kinds import model_free  # noqa: F401,E402

from analysis.kinds import exafs_fit  # noqa: F401
from analysis.kinds import calculators, wavelet  # noqa: F401,E402
