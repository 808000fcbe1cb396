"""Shared helpers for the XAS engine tests (models of the published reference fits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[3]


def read_columns(path: Path, labels: list[str] | None = None):
    from larch.io import read_ascii

    return read_ascii(str(path), labels=labels)


def sig(x: float, digits: int) -> float:
    """x rounded to ``digits`` significant digits (how feffit_report prints e.g. 3.0785e-4)."""
    return float(f"{x:.{digits - 1}e}")


def guesses(**values: float) -> dict:
    return {name: {"kind": "guess", "value": value} for name, value in values.items()}


def cu_model(*, rbkg: float, rmax: float, parameters: dict, paths: list[dict]) -> dict:
    """Model of the Larch docs Cu fits (doc_feffit1 / doc_feffit2)."""
    return {
        "parameters": parameters,
        "datasets": [{
            "id": "cu_rt",
            # The scripts call autobk(rbkg, kw=2) only; larch runs pre_edge with defaults.
            "processing": {"pre_edge": {}, "autobk": {"rbkg": rbkg, "kweight": 2},
                           "xftf": {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4}},
            "transform": {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4, "window": "kaiser",
                          "rmin": 1.4, "rmax": rmax},
            "paths": paths}]}


def znse_mu(xas_data: Path) -> dict:
    g = read_columns(xas_data / "larch_examples" / "znse_zn_xafs.001",
                     ["energy", "time", "i0", "itrans"])
    # exactly as the notebook / doc_feffit6: mu = -ln(It/I0)
    return {"energy_ev": g.energy, "mu": -np.log(g.itrans / g.i0)}
