"""Fixtures for the XAS engine tests (pure numerics: no Django database needed).

Works with or without a root conftest that configures pytest-django: nothing here touches
Django, and the repository root is put on sys.path when pytest was started without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
# the repository (for `analysis`, `labdb`) and this folder (for `xas_helpers`), in any import mode
for _p in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

#: /work/shared/data/xas — public XAS test data (see its README.md for sources and licenses).
XAS_DATA = REPO_ROOT.parent / "shared" / "data" / "xas"


@pytest.fixture(scope="session", autouse=True)
def larch_loaded():
    """Import larch once for the whole session (≈3 s); skip cleanly if it is not installed."""
    pytest.importorskip("larch")
    from analysis.engines._larch import larch

    return larch()


@pytest.fixture(scope="session")
def xas_data() -> Path:
    assert (XAS_DATA / "README.md").exists(), f"test data missing at {XAS_DATA}"
    return XAS_DATA


@pytest.fixture(scope="session")
def feff_cache(tmp_path_factory):
    from analysis.engines.feff import DirectoryFeffCache

    return DirectoryFeffCache(tmp_path_factory.mktemp("feff-cache"))
