"""Pure numerical engines for the analysis app (no Django, no DRF).

XAS modules:

* :mod:`analysis.engines.xas_processing` – μ(E) → normalized μ(E), χ(k), |χ(R)|
  (larch pre_edge/autobk/xftf)
* :mod:`analysis.engines.feff` – structure → feff.inp → FEFF paths (feff6l / feff8l
  subprocesses), cache
* :mod:`analysis.engines.feffit_model` – the declarative JSON fit model and its validation
* :mod:`analysis.engines.fitting` – ``run_fit`` (larch feffit) → :class:`FitResult`
* :mod:`analysis.engines.simulation` – χ(k) simulated from published path values (round-trip tests)
* :mod:`analysis.engines.plots` – matplotlib (Agg) PNG/SVG figures

xraylarch is imported lazily (≈3.5 s) the first time an engine needs it; preload it once per worker
with :func:`analysis.engines._larch.preload`.
"""
