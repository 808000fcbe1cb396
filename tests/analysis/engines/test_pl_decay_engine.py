"""PL decay engine on the Edinburgh F980 exports (real TCSPC decays and an IRF).

Checks: (1) a real decay (``F980_IRF_multiple.txt`` Decay25) tail-fitted with 2 exponentials
equals a direct ``scipy.optimize.curve_fit`` of the same model written here (τ's within 1e-3
relative, errors within 1 %), and a maximum-likelihood fit equals a direct minimisation of
the Poisson deviance; (2) a SIMULATED decay — known τ's and amplitudes convolved with the real
IRF (``F980_IRF.txt``), shifted by two channels, plus background and Poisson noise (fixed
seed) — is recovered within 3 standard errors by the reconvolution fit, which also equals a
direct ``curve_fit`` of a reconvolution model written here with ``np.convolve``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator
from scipy.optimize import curve_fit, minimize

from analysis.engines import pl_decay as eng
from labdb.lib.errors import EngineError
from tests.analysis.engines.conftest import REPO_ROOT

EDINST = REPO_ROOT.parent / "shared" / "data" / "lab_exports" / "edinst"


def _parse(name: str):
    from characterization.parsers.edinst import parse_edinst

    return parse_edinst((EDINST / name).read_bytes(), filename=name)


@pytest.fixture(scope="module")
def decay25() -> eng.Decay:
    scan = _parse("F980_IRF_multiple.txt").series[24]
    assert scan.name == "Decay25"
    return eng.Decay(np.asarray(scan.x), np.asarray(scan.y), label="Decay25")


@pytest.fixture(scope="module")
def irf() -> eng.Decay:
    scan = _parse("F980_IRF.txt").series[0]
    return eng.Decay(np.asarray(scan.x), np.asarray(scan.y), label="F980 IRF")


def _tail_model(t0: float):
    def model(t, a1, tau1, a2, tau2, b):
        return b + a1 * np.exp(-(t - t0) / tau1) + a2 * np.exp(-(t - t0) / tau2)
    return model


def test_tail_fit_of_a_real_decay_equals_a_direct_curve_fit(decay25):
    result = eng.fit_decay(decay25, options=eng.DecayOptions(n_exponentials=2))
    t, y = decay25.time_ns, decay25.counts
    k = int(np.argmax(y))  # the engine's default range: peak to end
    tt, yy = t[k:], y[k:]
    popt, pcov = curve_fit(_tail_model(tt[0]), tt, yy, p0=[250, 20, 100, 100, 10],
                           sigma=np.sqrt(np.maximum(yy, 1)), maxfev=20000)
    order = np.argsort(popt[[1, 3]])
    direct_taus = popt[[1, 3]][order]
    direct_errs = np.sqrt(np.diag(pcov))[[1, 3]][order]
    taus = np.array([c["tau_ns"] for c in result["components"]])
    errs = np.array([c["tau_err_ns"] for c in result["components"]])
    np.testing.assert_allclose(taus, direct_taus, rtol=1e-3)
    np.testing.assert_allclose(errs, direct_errs, rtol=1e-2)
    resid = (yy - _tail_model(tt[0])(tt, *popt)) / np.sqrt(np.maximum(yy, 1))
    assert result["reduced_chi_square"] == pytest.approx(resid @ resid / (yy.size - 5),
                                                         rel=1e-6)
    assert (result["model"], result["n_points"], result["n_varys"]) == (
        "2-exponential tail fit", int(yy.size), 5)
    # the means from the components, with the propagated errors positive
    a = np.array([c["amplitude"] for c in result["components"]])
    tau_amp, tau_int = eng.mean_lifetimes_ns(a, taus)
    assert (result["amplitude_weighted_tau_ns"], result["intensity_weighted_tau_ns"]) == (
        pytest.approx(tau_amp, rel=1e-12), pytest.approx(tau_int, rel=1e-12))
    assert result["intensity_weighted_tau_err_ns"] > 0
    assert len(result["arrays"]["weighted_residual"]) == yy.size


def test_mle_tail_fit_equals_a_direct_poisson_deviance_minimisation(decay25):
    result = eng.fit_decay(decay25, options=eng.DecayOptions(n_exponentials=2, method="mle"))
    t, y = decay25.time_ns, decay25.counts
    k = int(np.argmax(y))
    tt, yy = t[k:], y[k:]
    model = _tail_model(tt[0])

    def deviance(p):
        m = np.maximum(model(tt, *p), 1e-12)
        return 2 * np.sum(m - yy + np.where(yy > 0, yy * np.log(np.where(yy > 0, yy, 1) / m),
                                            0))

    out = minimize(deviance, [250, 20, 100, 100, 10], method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 200000,
                            "maxfev": 200000})
    out = minimize(deviance, out.x, method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 200000,
                            "maxfev": 200000})
    direct = np.sort(out.x[[1, 3]])
    taus = [c["tau_ns"] for c in result["components"]]
    np.testing.assert_allclose(taus, direct, rtol=1e-3)
    assert result["deviance"] == pytest.approx(out.fun, rel=1e-6)
    assert result["method"] == "mle"


# ---------------------------------------------------------------- SIMULATED reconvolution

TRUE = {"a": (3000.0, 800.0), "tau_ns": (4.0, 25.0), "background": 5.0, "shift_channels": 2}


def _irf_net(irf: eng.Decay) -> np.ndarray:
    """The IRF as documented: baseline = median of the channels before the first one above
    10 % of the maximum, subtracted, clipped at 0, unit area."""
    y = irf.counts
    first = int(np.argmax(y > 0.1 * y.max()))
    net = np.clip(y - np.median(y[:first]), 0, None)
    return net / net.sum()


def _reconvolved(irf_w: np.ndarray, step: float, amps, taus, background) -> np.ndarray:
    k = np.arange(irf_w.size) * step
    total = np.zeros(irf_w.size)
    for a, tau in zip(amps, taus, strict=True):
        total += a * np.convolve(irf_w, np.exp(-k / tau))[: irf_w.size]
    return background + total


@pytest.fixture(scope="module")
def simulated(irf) -> eng.Decay:
    """SIMULATED: two exponentials on the IRF's own grid, the IRF shifted by 2 channels."""
    net = _irf_net(irf)
    s = TRUE["shift_channels"]
    shifted = np.concatenate([np.zeros(s), net[:-s]])
    step = float(irf.time_ns[1] - irf.time_ns[0])
    mean = _reconvolved(shifted, step, TRUE["a"], TRUE["tau_ns"], TRUE["background"])
    counts = np.random.default_rng(20261202).poisson(mean).astype(float)
    return eng.Decay(irf.time_ns.copy(), counts, label="SIMULATED 2-exp decay", simulated=True)


@pytest.mark.parametrize("method", ["least_squares", "mle"])
def test_simulated_decay_with_the_real_irf_is_recovered_within_errors(simulated, irf, method):
    result = eng.fit_decay(simulated, irf,
                           options=eng.DecayOptions(n_exponentials=2, method=method))
    step = float(irf.time_ns[1] - irf.time_ns[0])
    comps = result["components"]
    for comp, a, tau in zip(comps, TRUE["a"], TRUE["tau_ns"], strict=True):
        assert abs(comp["tau_ns"] - tau) < 3 * comp["tau_err_ns"], comp
        assert abs(comp["amplitude"] - a) < 3 * comp["amplitude_err"], comp
    assert abs(result["shift_ns"] - TRUE["shift_channels"] * step) < 3 * result["shift_err_ns"]
    tau_amp, tau_int = eng.mean_lifetimes_ns(TRUE["a"], TRUE["tau_ns"])
    assert abs(result["intensity_weighted_tau_ns"] - tau_int) < 3 * result[
        "intensity_weighted_tau_err_ns"]
    assert abs(result["amplitude_weighted_tau_ns"] - tau_amp) < 3 * result[
        "amplitude_weighted_tau_err_ns"]
    assert (result["model"], result["decay"]["simulated"], result["warnings"]) == (
        "2-exponential, IRF reconvolution", True, [])
    if method == "mle":
        # the likelihood recovers the 5-count background (data weights 1/max(y, 1) bias a
        # low background down: 3.3 ± 0.2 with least squares on this decay, see the docs)
        assert abs(result["background_counts"] - TRUE["background"]) < 3 * result[
            "background_err_counts"]
        assert 0.85 < result["pearson_reduced_chi_square"] < 1.15


def test_reconvolution_fit_equals_a_direct_curve_fit_of_the_simulated_decay(simulated, irf):
    result = eng.fit_decay(simulated, irf, options=eng.DecayOptions(n_exponentials=2))
    t, y = simulated.time_ns, simulated.counts
    step = float(t[1] - t[0])
    net = _irf_net(irf)
    cdf = np.concatenate([[0.0], np.cumsum(net)])
    edges = np.append(t, t[-1] + step)

    pchip = PchipInterpolator(edges, cdf)  # the documented C(t): monotone cubic, 0…1

    def model(_t, a1, tau1, a2, tau2, b, shift):
        w = np.diff(pchip(np.clip(edges - shift, edges[0], edges[-1])))
        return _reconvolved(w, step, (a1, a2), (tau1, tau2), b)

    popt, _ = curve_fit(model, t, y, p0=[2000, 3, 1000, 20, 3, 1.0],
                        sigma=np.sqrt(np.maximum(y, 1)), maxfev=20000)
    direct = np.sort(popt[[1, 3]])
    np.testing.assert_allclose([c["tau_ns"] for c in result["components"]], direct, rtol=1e-3)
    assert result["shift_ns"] == pytest.approx(popt[5], rel=1e-3)


# ---------------------------------------------------------------- bad input


def test_a_decay_without_counts_is_refused_naming_the_decay(decay25):
    empty = eng.Decay(decay25.time_ns, np.zeros_like(decay25.counts), label="empty")
    with pytest.raises(EngineError) as info:
        eng.fit_decay(empty, options=eng.DecayOptions())
    assert (info.value.field, info.value.message) == (
        "inputs.decay", "inputs.decay: empty has no counts (every channel is 0)")


@pytest.mark.parametrize("n", [0, 5])
def test_n_exponentials_outside_1_to_4_is_refused(decay25, n):
    with pytest.raises(EngineError) as info:
        eng.fit_decay(decay25, options=eng.DecayOptions(n_exponentials=n))
    assert info.value.field == "parameters.n_exponentials"


def test_a_fit_range_with_too_few_channels_or_outside_is_refused(decay25):
    with pytest.raises(EngineError) as few:
        eng.fit_decay(decay25, options=eng.DecayOptions(n_exponentials=2,
                                                        fit_range_ns=(100.0, 115.0)))
    with pytest.raises(EngineError) as outside:
        eng.fit_decay(decay25, options=eng.DecayOptions(fit_range_ns=(2000.0, 3000.0)))
    assert (few.value.field, outside.value.field) == ("parameters.fit_range_ns",) * 2
    assert "holds 4 channels; 5 free parameters need more" in few.value.message


def test_negative_counts_and_an_irf_without_counts_are_refused(decay25):
    negative = eng.Decay(decay25.time_ns, decay25.counts - 50, label="subtracted")
    with pytest.raises(EngineError) as neg:
        eng.fit_decay(negative, options=eng.DecayOptions())
    flat = eng.Decay(decay25.time_ns, np.zeros_like(decay25.counts), label="dark IRF")
    with pytest.raises(EngineError) as dark:
        eng.fit_decay(decay25, flat, options=eng.DecayOptions())
    assert (neg.value.field, dark.value.field) == ("inputs.decay", "inputs.irf")
