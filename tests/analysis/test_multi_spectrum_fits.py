"""Fits over several spectra through the fit-run service, checked against bare xraylarch.

Cu foil at 10 K and room temperature with one Einstein temperature (per-dataset constant
``temperature_k``), ZnSe at the Zn K and Se K edges with one Zn–Se distance (a FEFF run per
absorber from the zinc-blende lattice), S0² carried over from a stored fit, and N shown as N
for the "degen 1, s02 'amp*n1'" idiom. The same fits are written in plain xraylarch in each
test from the same μ(E) and path files; labdb's numbers must equal them (≤ 1e-10 relative).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import services
from analysis.engines import feff as feff_engine
from analysis.models import FeffCalculation, FitDataset
from analysis.services.fits import load_mu
from characterization.services import attach_data_file
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
# Speed (issue 11): each fit is computed once per module (module-scoped fixtures inside one
# rolled-back transaction), with one bare-larch reference fit per case shared by its tests.
XAS = SHARED_DATA / "xas"
CU01 = XAS / "larch_examples" / "feff_cu" / "feffcu01.dat"
PROCESSING = {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
              "xftf": {"kmin": 3, "kmax": 14, "kweight": 2, "dk": 4}}
CU_TRANSFORM = {"kmin": 3, "kmax": 16, "kweight": 2, "dk": 4, "window": "kaiser",
                "rmin": 1.4, "rmax": 3.0}
ZNSE_TRANSFORM = {"kmin": 3, "kmax": 13, "kweight": 2, "dk": 4, "window": "kaiser",
                  "rmin": 1.5, "rmax": 2.8}


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker, tmp_path_factory):
    """One transaction for the whole module, rolled back at its end: the fits computed by the
    module-scoped fixtures are shared by the tests (each test runs in a savepoint)."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.test.utils import override_settings

    with django_db_blocker.unblock(), override_settings(
            MEDIA_ROOT=tmp_path_factory.mktemp("media")):
        with transaction.atomic():
            yield User.objects.create_user("ms-alice", password="pw-ms-alice-123")
            transaction.set_rollback(True)


def spectrum_of(path, code, actor=None):
    from characterization.models import XASSpectrum

    sample = builders.sample(code, material="Cu", morphology="bulk", actor=actor)
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample,
                                    actor=actor)
    assert data_file.parse_status == "ok", data_file.parse_error
    # the module shares one database: the same raw file may already be linked to a sample
    return XASSpectrum.objects.get(data_file=data_file, sample=sample)


def run_now(**kwargs):
    run = services.request_fit_run(**kwargs)  # the job runs inline in the pytest process
    run.refresh_from_db()
    assert (run.status, run.error) == ("succeeded", "")
    return run


def guess(value, **bounds):
    return {"kind": "guess", "value": value, **bounds}


def same(a, b):
    """Equal to the last digit: exactly, or within 1e-10 relative."""
    return a == b or (a is not None and b is not None
                      and math.isclose(a, b, rel_tol=1e-10, abs_tol=0.0))


# --------------------------------------------------------------------------- bare xraylarch
def bare_group(spectrum):
    """μ(E) of the stored raw file, processed with plain larch calls (same keywords)."""
    from larch import Group
    from larch.xafs import autobk, pre_edge, xftf

    energy, mu, _ = load_mu(spectrum)
    group = Group(energy=np.asarray(energy, dtype="float64"), mu=np.asarray(mu, dtype="float64"))
    pre_edge(group)
    autobk(group, rbkg=1.0, kweight=2)
    xftf(group, kmin=3, kmax=14, kweight=2, dk=4)
    return group


def bare_fit(params, datasets):
    """``params``: [(name, value, vary)], ``datasets``: [(group, transform, [path kwargs])]."""
    from larch.fitting import param, param_group
    from larch.xafs import feffit, feffit_dataset, feffit_transform, feffpath

    pars = param_group(**{n: param(v, vary=vary) for n, v, vary in params})
    dsets = []
    for group, transform, paths in datasets:
        dsets.append(feffit_dataset(data=group, transform=feffit_transform(**transform),
                                    pathlist=[feffpath(**p) for p in paths]))
    return feffit(pars, dsets)


def assert_same_parameters(run, out, names):
    stored = run.result.provenance["parameters"]
    for name in names:
        assert same(stored[name]["value"], out.params[name].value), name
        assert same(stored[name]["stderr"], out.params[name].stderr), name


# --------------------------------------------------------------------------- Cu 10 K + RT
def cu_einstein_model(cold, warm):
    def dataset(ident, spectrum, temperature_k, dr):
        return {"id": ident, "spectrum": spectrum.pk, "processing": PROCESSING,
                "transform": CU_TRANSFORM, "constants": {"temperature_k": temperature_k},
                "paths": [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp",
                           "e0": "del_e0", "deltar": dr,
                           "sigma2": "sigma2_eins(temperature_k, theta_k)"}]}

    return {
        "feff": {"path_files": {"feffcu01": CU01.read_text()}},
        "parameters": {"amp": guess(1.0), "del_e0": guess(0.0), "theta_k": guess(250.0),
                       "dr_10k": guess(0.0), "dr_rt": guess(0.0)},
        "datasets": [dataset("cu_10k", cold, 10, "dr_10k"), dataset("cu_rt", warm, 298, "dr_rt")],
    }


@pytest.fixture(scope="module")
def cu_two(module_db):
    """The Cu 10 K + RT fit through the service, and the same fit in bare larch."""
    member = module_db
    cold = spectrum_of(XAS / "xdi" / "cu_metal_10K.xdi", "MS-Cu-10K", member)
    warm = spectrum_of(XAS / "xdi" / "cu_metal_rt.xdi", "MS-Cu-RT", member)
    run = run_now(model=cu_einstein_model(cold, warm), actor=member)

    def path(t, dr):
        return {"filename": str(CU01), "label": "Cu1", "s02": "amp", "e0": "del_e0",
                "deltar": dr, "sigma2": f"sigma2_eins({t}, theta_k)"}

    out = bare_fit([("amp", 1.0, True), ("del_e0", 0.0, True), ("theta_k", 250.0, True),
                    ("dr_10k", 0.0, True), ("dr_rt", 0.0, True)],
                   [(bare_group(cold), CU_TRANSFORM, [path(10, "dr_10k")]),
                    (bare_group(warm), CU_TRANSFORM, [path(298, "dr_rt")])])
    return cold, warm, run, out


def test_cu_10k_and_rt_one_einstein_temperature_equals_bare_larch(cu_two):
    cold, warm, run, out = cu_two
    assert_same_parameters(run, out, ["amp", "del_e0", "theta_k", "dr_10k", "dr_rt"])
    fit = run.result
    assert same(fit.r_factor, out.rfactor) and same(fit.reduced_chi2, out.chi2_reduced)
    label = f"fit run {run.pk} (2 spectra)"
    assert (fit.spectrum_id, fit.edge, fit.label) == (cold.pk, "Cu K", label)
    assert same(fit.s02, out.params["amp"].value) and same(fit.s02_err, out.params["amp"].stderr)
    paths = list(fit.paths.order_by("position"))
    assert [p.as_printed["dataset"] for p in paths] == ["cu_10k", "cu_rt"]
    for row, ds in zip(paths, out.datasets, strict=True):
        larch_path = ds.paths["Cu1"]
        larch_path.store_feffdat()
        s2 = out.params[larch_path.pathpar_name("sigma2")]
        assert same(row.sigma2_a2, s2.value) and same(row.sigma2_err_a2, s2.stderr)
        assert (row.n, row.n_err) == (12.0, 0.0)


def test_cu_fit_links_both_spectra_with_per_dataset_statistics(cu_two):
    cold, warm, run, out = cu_two
    fit = run.result
    rows = list(FitDataset.objects.filter(fit=fit).order_by("position"))
    linked = [(r.dataset_id, r.spectrum_id) for r in rows]
    assert linked == [("cu_10k", cold.pk), ("cu_rt", warm.pk)]
    for row, ds in zip(rows, out.datasets, strict=True):
        assert same(row.n_idp, ds.n_idp)
        assert (row.k_min, row.k_max, row.r_min_a, row.r_max_a) == (3.0, 16.0, 1.4, 3.0)
    # same ranges, same N_idp and point count: the datasets' χ² add up to larch's total, and
    # the total R-factor lies between the two datasets' R-factors
    assert math.isclose(rows[0].chi_square + rows[1].chi_square, out.chi_square, rel_tol=1e-10)
    low, high = sorted(r.r_factor for r in rows)
    assert low < out.rfactor < high
    prov = fit.provenance
    assert [(s["dataset"], s["spectrum"], s["sha256"]) for s in prov["spectra"]] == [
        ("cu_10k", cold.pk, cold.data_file.sha256), ("cu_rt", warm.pk, warm.data_file.sha256)]
    assert run.input_sha256 == services.canonical_hash(
        [cold.data_file.sha256, warm.data_file.sha256])
    assert services.staleness_of(fit) == ""


def test_cu_same_request_is_the_same_run_and_staleness_is_per_raw_file(cu_two):
    cold, warm, run, _out = cu_two
    fit = run.result
    # exactly once: the same request returns the same run
    assert services.request_fit_run(model=cu_einstein_model(cold, warm)).pk == run.pk
    # staleness per raw file
    warm.data_file.sha256 = "0" * 64
    warm.data_file.save(update_fields=["sha256"])
    assert services.staleness_of(fit) == "raw file changed: cu_metal_rt.xdi"


# --------------------------------------------------------------------------- ZnSe Zn K + Se K
def lattice_feff(absorber):
    return {"structure": {"source": "lattice", "kind": "zincblende", "a_a": 5.6676,
                          "cation": "Zn", "anion": "Se"},
            "absorber": absorber, "edge": "K", "cluster_radius_a": 3.0}  # first shell only


def znse_two_edge_model(zn, se):
    def dataset(ident, spectrum, absorber, scatterer, amp, e0):
        return {"id": ident, "spectrum": spectrum.pk, "feff": lattice_feff(absorber),
                "processing": PROCESSING, "transform": ZNSE_TRANSFORM,
                "paths": [{"label": "first shell", "s02": amp, "e0": e0, "deltar": "dr",
                           "sigma2": "ss2",
                           "select": {"absorber": absorber, "scatterer": scatterer,
                                      "r_min_a": 2.3, "r_max_a": 2.6}}]}

    return {
        "parameters": {"amp_zn": guess(1.0), "amp_se": guess(1.0), "e0_zn": guess(0.0),
                       "e0_se": guess(0.0), "dr": guess(0.0), "ss2": guess(0.005)},
        "datasets": [dataset("zn_k", zn, "Zn", "Se", "amp_zn", "e0_zn"),
                     dataset("se_k", se, "Se", "Zn", "amp_se", "e0_se")],
    }


@pytest.fixture(scope="module")
def znse_two(module_db, tmp_path_factory):
    """ZnSe at the Zn K and Se K edges through the service (a FEFF run per absorber), the
    first-shell path files FEFF wrote, and the same fit in bare larch on those files."""
    member, tmp_path = module_db, tmp_path_factory.mktemp("znse")
    zn = spectrum_of(XAS / "xdi" / "zn_znse_rt.xdi", "MS-ZnSe-Zn", member)
    se = spectrum_of(XAS / "xdi" / "se_znse_rt.xdi", "MS-ZnSe-Se", member)
    run = run_now(model=znse_two_edge_model(zn, se), actor=member)
    # the path files the FEFF runs wrote (DB cache), one per absorber
    first_shell = {}
    keys = [f["cache_key"] for f in run.result.provenance["feff_by_dataset"].values()]
    for row in FeffCalculation.objects.filter(cache_key__in=keys):
        feff = feff_engine.FeffRun.from_json(row.path_files)
        path = min(feff.paths, key=lambda p: p.reff_a)
        target = tmp_path / f"{row.absorber}_{path.file_id}.dat"
        target.write_text(path.text)
        first_shell[row.absorber] = (target, path.label)

    def path(absorber, amp, e0):
        return {"filename": str(first_shell[absorber][0]), "label": "first shell", "s02": amp,
                "e0": e0, "deltar": "dr", "sigma2": "ss2"}

    out = bare_fit([("amp_zn", 1.0, True), ("amp_se", 1.0, True), ("e0_zn", 0.0, True),
                    ("e0_se", 0.0, True), ("dr", 0.0, True), ("ss2", 0.005, True)],
                   [(bare_group(zn), ZNSE_TRANSFORM, [path("Zn", "amp_zn", "e0_zn")]),
                    (bare_group(se), ZNSE_TRANSFORM, [path("Se", "amp_se", "e0_se")])])
    return run, out, first_shell


def test_znse_feff_first_shell_per_absorber(znse_two):
    _run, _out, first_shell = znse_two
    assert {k: v[1] for k, v in first_shell.items()} == {
        "Zn": "Zn-Se 2.4541 (4)", "Se": "Se-Zn 2.4541 (4)"}


def test_znse_zn_and_se_edges_one_distance_equals_bare_larch(znse_two):
    run, out, _first_shell = znse_two
    assert_same_parameters(run, out, ["amp_zn", "amp_se", "e0_zn", "e0_se", "dr", "ss2"])
    fit = run.result
    assert same(fit.r_factor, out.rfactor) and same(fit.reduced_chi2, out.chi2_reduced)
    assert fit.edge == "Zn K"
    rows = list(fit.paths.order_by("position"))
    assert [(r.absorber, r.scatterer) for r in rows] == [("Zn", "Se"), ("Se", "Zn")]
    assert same(rows[0].r_a, rows[1].r_a) and same(rows[0].r_a, 2.4541 + out.params["dr"].value)
    assert rows[0].r_err_a == rows[1].r_err_a
    assert set(fit.provenance["feff_by_dataset"]) == {"zn_k", "se_k"}


# --------------------------------------------------------------------------- S0² and N
def cu_one_model(spectrum, parameters, path):
    return {"feff": {"path_files": {"feffcu01": CU01.read_text()}}, "parameters": parameters,
            "datasets": [{"id": "cu", "spectrum": spectrum.pk, "processing": PROCESSING,
                          "transform": CU_TRANSFORM,
                          "paths": [{"label": "Cu1", "path_file": "feffcu01", "e0": "del_e0",
                                     "sigma2": "sig2", "deltar": "del_r", **path}]}]}


@pytest.fixture(scope="module")
def s02_carried(module_db):
    """A reference Cu fit, a fit carrying its S0² with the "degen 1, amp*n1" idiom, and the
    second fit in bare larch."""
    member = module_db
    warm = spectrum_of(XAS / "xdi" / "cu_metal_rt.xdi", "MS-Cu-ref", member)
    cold = spectrum_of(XAS / "xdi" / "cu_metal_10K.xdi", "MS-Cu-N", member)
    base = {"del_e0": guess(0.0), "sig2": guess(0.003), "del_r": guess(0.0)}
    reference = run_now(model=cu_one_model(
        warm, {"amp": guess(1.0), **base}, {"s02": "amp"}), actor=member).result
    amp = reference.provenance["parameters"]["amp"]
    # the Larch idiom: degen 1, amplitude "amp*n1", S0² carried over from the reference fit
    model = cu_one_model(cold, {"amp": {"from_fit": reference.pk, "parameter": "amp"},
                                "n1": guess(10.0), **base}, {"degen": 1, "s02": "amp*n1"})
    run = run_now(model=model, actor=member)

    def cu_path(**kw):
        return {"filename": str(CU01), "label": "Cu1", "e0": "del_e0", "sigma2": "sig2",
                "deltar": "del_r", **kw}

    out = bare_fit([("amp", amp["value"], False), ("n1", 10.0, True), ("del_e0", 0.0, True),
                    ("sig2", 0.003, True), ("del_r", 0.0, True)],
                   [(bare_group(cold), CU_TRANSFORM, [cu_path(degen=1, s02="amp*n1")])])
    return reference, run, out


def test_s02_of_the_reference_fit_is_its_amp(s02_carried):
    reference, _run, _out = s02_carried
    amp = reference.provenance["parameters"]["amp"]
    assert (reference.s02, reference.s02_err) == (amp["value"], amp["stderr"])


def test_s02_from_a_stored_fit_is_carried_and_cited(s02_carried):
    reference, run, _out = s02_carried
    amp = reference.provenance["parameters"]["amp"]
    fit = run.result
    assert (fit.s02, fit.s02_err) == (amp["value"], amp["stderr"])
    assert fit.provenance["carried_parameters"]["amp"] == {
        "from_fit": reference.pk, "parameter": "amp", "value": amp["value"],
        "stderr": amp["stderr"], "fit": str(reference)}


def test_carried_s02_fit_equals_bare_larch_and_n_is_shown_as_n(s02_carried):
    reference, run, out = s02_carried
    amp = reference.provenance["parameters"]["amp"]
    assert_same_parameters(run, out, ["n1", "del_e0", "sig2", "del_r"])
    row = run.result.paths.get()
    assert same(row.n, out.params["n1"].value) and same(row.n_err, out.params["n1"].stderr)
    assert same(row.n_s02, amp["value"] * out.params["n1"].value)
    assert 11 < row.n < 13  # fcc copper: 12 neighbours


def test_cu_per_dataset_statistics_equal_larch_residuals_of_each_dataset(cu_two):
    """Each dataset's χ² and R-factor equal the ones computed from that dataset's residual
    and transformed data as larch evaluates them on the bare fit (the service takes the
    residual from the fit's last evaluation instead of evaluating the paths again)."""
    _cold, _warm, run, out = cu_two
    rows = list(FitDataset.objects.filter(fit=run.result).order_by("position"))
    for row, ds in zip(rows, out.datasets, strict=True):
        resid = np.asarray(ds._residual(out.params))
        data = np.asarray(ds._residual(out.params, data_only=True))
        chi_square = float((resid**2).sum()) * float(ds.n_idp) / len(resid)
        assert row.chi_square == chi_square
        assert row.r_factor == float((resid**2).sum() / (data**2).sum())
