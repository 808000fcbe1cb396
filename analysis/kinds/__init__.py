"""Every kind of analysis run, registered at import: each module of this package (but
``base``) is imported here and registers its kind, so a new kind is one new module and no
edit of this file.

See ``analysis/kinds/base.py`` for the contract and ``docs/analysis-kinds.md`` for the recipe.
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")
