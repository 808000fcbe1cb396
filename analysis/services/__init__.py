"""Writes of the analysis domain (fit runs, aging studies)."""

from analysis.services.aging import *  # noqa: F401,F403
from analysis.services.fits import *  # noqa: F401,F403
