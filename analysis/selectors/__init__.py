"""Reads of the analysis domain, importable from a notebook::

    from analysis.selectors import structure_property_frame, correlation, aging_series
"""

from analysis.selectors.aging import *  # noqa: F401,F403
from analysis.selectors.fits import *  # noqa: F401,F403
from analysis.selectors.structure_property import *  # noqa: F401,F403
