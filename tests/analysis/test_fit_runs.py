"""Fit runs through the project's own service, task and engine, on real files (slow).

The Larch documentation fits A, B, E and F (../shared/docs/XAS.md §3) are reproduced to their
printed digits from uploaded raw files; re-runs reproduce stored values; staleness and refits;
bad input fails the run and writes nothing else.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from analysis import services
from analysis.engines import feff as feff_engine
from analysis.models import FeffCalculation, FitRun
from characterization.models import XASFit
from characterization.services import attach_data_file, register_xas_spectrum
from labdb.lib import jobs
from labdb.lib.errors import DomainError
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
XAS = SHARED_DATA / "xas"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def spectrum_of(path, *, code="REF-Cu", element=None, edge="K", actor=None):
    sample = builders.sample(code, material="Cu", morphology="bulk", actor=actor)
    with jobs.inline():  # parsed now, also where the test sends fits to a Celery worker
        data_file, _ = attach_data_file(
            content=path.read_bytes(), filename=path.name, sample=sample, actor=actor
        )
    assert data_file.parse_status == "ok", data_file.parse_error
    if element:
        return register_xas_spectrum(data_file=data_file, element=element, edge=edge)
    return _spectrum(data_file)


def _spectrum(data_file):
    from characterization.models import XASSpectrum

    return XASSpectrum.objects.get(data_file=data_file)


def guesses(**values):
    return {name: {"kind": "guess", "value": value} for name, value in values.items()}


def fit_a_model():
    return {
        "feff": {
            "path_files": {
                "feffcu01": (XAS / "larch_examples" / "feff_cu" / "feffcu01.dat").read_text()
            }
        },
        "parameters": guesses(amp=1.0, del_e0=0.0, sig2=0.0, del_r=0.0),
        "datasets": [
            {
                "id": "cu_rt",
                "processing": {
                    "pre_edge": {},
                    "autobk": {"rbkg": 1.0, "kweight": 2},
                    "xftf": {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4},
                },
                "transform": {
                    "kmin": 3,
                    "kmax": 17,
                    "kweight": 2,
                    "dk": 4,
                    "window": "kaiser",
                    "rmin": 1.4,
                    "rmax": 3.0,
                },
                "paths": [
                    {
                        "label": "Cu1",
                        "path_file": "feffcu01",
                        "s02": "amp",
                        "e0": "del_e0",
                        "sigma2": "sig2",
                        "deltar": "del_r",
                    }
                ],
            }
        ],
    }


def run_now(django_capture_on_commit_callbacks, **kwargs) -> FitRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.request_fit_run(**kwargs)
    run.refresh_from_db()
    return run


def test_fit_a_through_service_matches_doc_feffit1(django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    run = run_now(
        django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model(), actor=member
    )
    assert (run.status, run.progress_pct, run.attempts, run.error) == ("succeeded", 100, 1, "")
    fit = run.result
    params = run.result.provenance["parameters"]
    assert (round(params["amp"]["value"], 7), round(params["amp"]["stderr"], 7)) == (
        0.9305631,
        0.0391214,
    )
    assert round(params["del_e0"]["value"], 7) == 4.3577673
    path = fit.paths.get()
    assert (
        path.absorber,
        path.scatterer,
        round(path.sigma2_a2, 7),
        round(path.r_a, 7),
        round(path.r_err_a, 7),
    ) == ("Cu", "Cu", 0.0086697, 2.5417833, 0.0026133)
    assert (fit.source, fit.edge, round(fit.r_factor, 8), round(fit.reduced_chi2, 7)) == (
        "computed",
        "Cu K",
        0.00272181,
        10.0125512,
    )
    prov = fit.provenance
    assert prov["input_sha256"] == spectrum.data_file.sha256
    assert prov["model_hash"] == run.model_hash
    assert set(prov["versions"]) >= {"xraylarch", "lmfit", "numpy", "python"}
    assert prov["processing"]["autobk"]["rbkg"] == 1.0


def test_rerun_reproduces_stored_values_exactly(django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    first = run_now(
        django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model(), actor=member
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = services.request_refit(fit=first.result, actor=member)
    again.refresh_from_db()
    assert again.pk != first.pk and again.status == "succeeded"
    # same model, raw file and engine: a reproduction of the stored fit, not a new fit row
    assert (again.result_id, again.reproduces_id, again.reproduced_exactly) == (
        None, first.result_id, True)
    fields = ("n", "n_err", "r_a", "r_err_a", "sigma2_a2", "sigma2_err_a2", "delta_e0_ev")
    old = first.result.paths.values_list(*fields).get()
    new = tuple(again.result_data["fit"]["paths"][0][f] for f in fields)
    assert new == old
    assert again.result_data["fit"]["statistics"]["rfactor"] == first.result.r_factor


def test_identical_request_returns_existing_run(django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    first = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    second = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    assert second.pk == first.pk
    assert FitRun.objects.count() == 1


def test_redelivered_job_writes_no_second_result(django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    assert services.execute_fit_run(run.pk) == "succeeded"
    assert XASFit.objects.filter(source="computed").count() == 1
    run.refresh_from_db()
    assert run.attempts == 1


def test_fit_b_three_paths_matches_doc_feffit2(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    model = fit_a_model()
    model["feff"] = {
        "path_files": {
            f"feff000{i}": (XAS / "larch_examples" / "feff_cu" / f"feff000{i}.dat").read_text()
            for i in (1, 2, 3)
        }
    }
    model["parameters"] = guesses(
        amp=1, del_e0=3, c3_1=0.002, sig2_1=0.002, sig2_2=0.002, sig2_3=0.002, alpha=0
    )
    dataset = model["datasets"][0]
    dataset["processing"]["autobk"]["rbkg"] = 1.1
    dataset["transform"]["rmax"] = 3.5
    common = {"s02": "amp", "e0": "del_e0", "deltar": "alpha*reff"}
    dataset["paths"] = [
        {"label": "p1", "path_file": "feff0001", "sigma2": "sig2_1", "third": "c3_1", **common},
        {"label": "p2", "path_file": "feff0002", "sigma2": "sig2_2", **common},
        {"label": "p3", "path_file": "feff0003", "sigma2": "sig2_3", **common},
    ]
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model)
    assert run.status == "succeeded", run.error
    params = run.result.provenance["parameters"]
    assert (round(params["amp"]["value"], 7), round(params["sig2_1"]["value"], 7)) == (
        0.9352796,
        0.0086805,
    )
    assert round(run.result.r_factor, 8) == 0.00251320
    assert round(run.result.reduced_chi2, 8) == 1.01309919
    assert [round(r, 7) for r in run.result.paths.values_list("r_a", flat=True)] == [
        2.5549629,
        3.6133300,
        3.8325446,
    ]


def _znse_model(path_file: str, **overrides):
    model = {
        "feff": {
            "path_files": {"p": (XAS / "larch_examples" / "feff_znse" / path_file).read_text()}
        },
        "parameters": guesses(amp=1.0, del_e0=0.5, sig2=0.005, del_r=0.001),
        "datasets": [
            {
                "id": "znse",
                "processing": {
                    "pre_edge": {},
                    "autobk": {"rbkg": 1.0, "kweight": 2},
                    "xftf": {"kmin": 3, "kmax": 12, "kweight": 2, "dk": 4, "window": "kaiser"},
                },
                "transform": {
                    "kmin": 3,
                    "kmax": 12,
                    "kweight": 2,
                    "dk": 4,
                    "window": "kaiser",
                    "rmin": 1.0,
                    "rmax": 3.0,
                },
                "paths": [
                    {
                        "label": "shell1",
                        "path_file": "p",
                        "s02": "amp",
                        "e0": "del_e0",
                        "sigma2": "sig2",
                        "deltar": "del_r",
                    }
                ],
            }
        ],
    }
    model.update(overrides)
    return model


def test_fit_e_znse_matches_notebook(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(
        XAS / "larch_examples" / "znse_zn_xafs.001", code="REF-ZnSe", element="Zn"
    )
    run = run_now(
        django_capture_on_commit_callbacks, spectrum=spectrum, model=_znse_model("feff_znse.dat")
    )
    assert run.status == "succeeded", run.error
    params = run.result.provenance["parameters"]
    assert (round(params["amp"]["value"], 7), round(params["amp"]["stderr"], 7)) == (
        0.9907808,
        0.0545694,
    )
    assert round(params["sig2"]["value"], 7) == 0.0065432
    assert (round(run.result.r_factor, 8), round(run.result.reduced_chi2, 7)) == (
        0.00283002,
        29.1250042,
    )


@pytest.mark.parametrize(
    "path_file,row",
    [
        ("Feff_ZnSe_feff_znse.dat", ("Se", "6.28", "0.89 (0.04)", "2.4483 (0.0027)")),
        ("Feff_ZnSe_feff_znzn.dat", ("Zn", "30.17", "0.72 (0.07)", "2.4714 (0.0058)")),
    ],
)
def test_fit_f_znse_table_rows(django_capture_on_commit_callbacks, path_file, row):
    spectrum = spectrum_of(
        XAS / "larch_examples" / "znse_zn_xafs.001", code="REF-ZnSe", element="Zn"
    )
    model = _znse_model(path_file)
    model["parameters"] = {
        "amp": {"kind": "guess", "value": 1.0},
        "del_e0": {"kind": "guess", "value": 0.1, "min": -20, "max": 20},
        "sig2": {"kind": "guess", "value": 0.006, "min": 0},
        "del_r": {"kind": "guess", "value": 0.0},
    }
    dataset = model["datasets"][0]
    dataset["processing"] = {
        "pre_edge": {},
        "autobk": {"e0": 9665.0, "rbkg": 1.21, "kweight": 2},
        "xftf": {},
    }
    dataset["transform"].update(kmax=13, rmin=1.5)
    dataset["paths"][0]["degen"] = 4.0
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model)
    params, path = run.result.provenance["parameters"], run.result.paths.get()
    got = (
        path.scatterer,
        f"{run.result.reduced_chi2:.2f}",
        f"{params['amp']['value']:.2f} ({params['amp']['stderr']:.2f})",
        f"{path.r_a:.4f} ({params['del_r']['stderr']:.4f})",
    )
    assert got == row


def test_model_change_marks_stale_and_refit_command_refits(
    django_capture_on_commit_callbacks, capsys
):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    assert services.mark_stale_fits() == 0
    changed = fit_a_model()
    changed["datasets"][0]["transform"]["rmax"] = 3.1
    FitRun.objects.filter(pk=run.pk).update(model=changed)
    assert services.mark_stale_fits() == 1
    fit = XASFit.objects.get(pk=run.result_id)
    assert (fit.is_stale, fit.stale_reason) == (True, "model changed")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("refit", "--stale")
    out = capsys.readouterr()
    assert "1 stale computed fit(s)" in out.out
    assert "queueing refits" in out.err
    fit.refresh_from_db()
    new_run = FitRun.objects.get(refit_of=fit)
    assert (new_run.status, fit.is_retired) == ("succeeded", True)
    assert new_run.result.r_max_a == 3.1


def test_engine_version_change_marks_stale(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    fit = run.result
    fit.provenance["versions"]["xraylarch"] = "2025.1.0"  # as if fitted by an older engine
    fit.save(update_fields=["provenance"])
    assert services.staleness_of(fit).startswith("engine version changed: xraylarch 2025.1.0 →")


def test_k_range_outside_data_rejected_and_writes_nothing():
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    model = fit_a_model()
    model["datasets"][0]["transform"]["kmax"] = 40
    with pytest.raises(DomainError) as err:
        services.request_fit_run(spectrum=spectrum, model=model)
    assert err.value.field == "model.datasets[0].transform.kmax"
    assert "cu_metal_rt.xdi" in err.value.message
    assert FitRun.objects.count() == 0
    assert XASFit.objects.filter(source="computed").count() == 0


def test_unknown_path_file_fails_run(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    model = fit_a_model()
    model["datasets"][0]["paths"][0]["path_file"] = "feff9999"
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model)
    assert run.status == "failed"
    assert "feff9999" in run.error
    assert run.result_id is None


def test_unknown_parameter_rejected_at_request():
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    model = fit_a_model()
    model["datasets"][0]["paths"][0]["sigma2"] = "sig2 + nope"
    with pytest.raises(DomainError) as err:
        services.request_fit_run(spectrum=spectrum, model=model)
    assert "nope" in err.value.message
    assert FitRun.objects.count() == 0


def test_feff_failure_fails_run(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(XAS / "xdi" / "zn_znse_rt.xdi", code="REF-ZnSe")
    model = _znse_model("feff_znse.dat")
    model["feff"] = {
        "structure": {
            "source": "lattice",
            "kind": "zincblende",
            "a_a": 0.3,
            "cation": "Zn",
            "anion": "Se",
        },
        "absorber": "Zn",
        "edge": "K",
        "cluster_radius_a": 4.0,
    }
    model["datasets"][0]["paths"][0] = {
        "label": "Zn-Se",
        "s02": "amp",
        "e0": "del_e0",
        "sigma2": "sig2",
        "deltar": "del_r",
        "select": {"absorber": "Zn", "scatterer": "Se", "r_min_a": 0.1, "r_max_a": 3.0},
    }
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model)
    assert run.status == "failed"
    assert XASFit.objects.filter(source="computed").count() == 0


def znse_structure_model():
    model = _znse_model("feff_znse.dat")
    model["feff"] = {
        "structure": {
            "source": "lattice",
            "kind": "zincblende",
            "a_a": 5.6676,
            "cation": "Zn",
            "anion": "Se",
        },
        "absorber": "Zn",
        "edge": "K",
        "cluster_radius_a": 4.5,
    }
    model["datasets"][0]["paths"][0] = {
        "label": "Zn-Se",
        "s02": "amp",
        "e0": "del_e0",
        "sigma2": "sig2",
        "deltar": "del_r",
        "select": {"absorber": "Zn", "scatterer": "Se", "r_min_a": 2.3, "r_max_a": 2.6},
    }
    return model


def test_feff_cache_second_request_runs_no_feff(django_capture_on_commit_callbacks):
    spectrum = spectrum_of(XAS / "xdi" / "zn_znse_rt.xdi", code="REF-ZnSe")
    first = run_now(
        django_capture_on_commit_callbacks, spectrum=spectrum, model=znse_structure_model()
    )
    assert first.status == "succeeded", first.error
    before = feff_engine.feff_run_counts()
    second = run_now(
        django_capture_on_commit_callbacks,
        spectrum=spectrum,
        model=znse_structure_model(),
        force=True,
    )
    assert second.status == "succeeded"
    assert feff_engine.feff_run_counts() == before
    assert FeffCalculation.objects.count() == 1
    assert second.reproduces_id == first.result_id  # same model and file: a reproduction
    assert "(lattice, from cache: True)" in second.log
    zn_se = first.result.paths.get()
    assert abs(zn_se.r_a - 2.4542) < 0.02  # a√3/4 of ZnSe


def test_stale_running_job_is_requeued_then_given_up(django_capture_on_commit_callbacks,
                                                    settings):
    from datetime import timedelta

    from django.utils import timezone

    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    # Queued for the embedded pool, whose hand-off (after commit) never happens here: the run
    # is left as a worker that died mid-fit leaves it.
    settings.LABDB_JOB_RUNNER = "pool"
    with django_capture_on_commit_callbacks(execute=False):
        run = services.request_fit_run(spectrum=spectrum, model=fit_a_model())
    settings.LABDB_JOB_RUNNER = "inline"
    old = timezone.now() - timedelta(hours=1)
    FitRun.objects.filter(pk=run.pk).update(
        status="running", heartbeat_at=old, attempts=1, worker="elsewhere:1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reap_stale_runs() == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("succeeded", 2)
    FitRun.objects.filter(pk=run.pk).update(
        status="running", heartbeat_at=old, attempts=3, result=None
    )
    XASFit.objects.filter(pk=run.result_id).update(is_retired=True)
    assert services.reap_stale_runs() == {"requeued": 0, "failed": 1}


def test_fit_runs_api_contract(django_capture_on_commit_callbacks, api, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/fit-runs/", {"spectrum": spectrum.pk, "model": fit_a_model()}, format="json"
        )
    assert created.status_code == 201, created.content
    assert set(created.json()) >= {"id", "status"}
    body = api.get(f"/api/fit-runs/{created.json()['id']}/").json()
    assert body["status"] == "succeeded"
    fit_id = body["result"]
    for kind in ("mu", "chik", "chir"):
        image = api.get(f"/api/xas-fits/{fit_id}/plot.png?kind={kind}")
        assert (image.status_code, image.content[:4]) == (200, b"\x89PNG"), kind
    svg = api.get(f"/api/xas-fits/{fit_id}/plot.svg?kind=chir")
    assert b"<svg" in svg.content
    with django_capture_on_commit_callbacks(execute=True):
        refit = api.post("/api/fit-runs/", {"refit": fit_id}, format="json")
    assert refit.status_code == 201
    assert api.get(f"/api/fit-runs/{refit.json()['id']}/").json()["status"] == "succeeded"
    bad = api.post("/api/fit-runs/", {"spectrum": spectrum.pk}, format="json")
    assert bad.status_code == 400


def test_compare_computed_with_published(django_capture_on_commit_callbacks, api):
    from characterization.services import record_xas_fit

    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    published = record_xas_fit(
        sample=spectrum.sample,
        data={"absorber": "Cu", "edge_name": "K", "source": "published", "citation": "Cu foil ref"},
        paths=[
            {
                "absorber": "Cu",
                "scatterer": "Cu",
                "r_a": 2.5527,
                "r_err_a": 0.0010,
                "n": 12,
                "n_err": None,
                "sigma2_a2": 0.0087,
                "sigma2_err_a2": 0.0004,
            }
        ],
    )
    body = api.get(f"/api/fit-comparison/?computed={run.result_id}&published={published.pk}")
    rows = {row["parameter"]: row for row in body.json()["rows"]}
    computed_path = run.result.paths.get()
    combined = (computed_path.r_err_a**2 + 0.0010**2) ** 0.5
    assert rows["r_a"]["sigmas"] == pytest.approx((computed_path.r_a - 2.5527) / combined)
    assert rows["n"]["sigmas"] is None or rows["n"]["combined_err"] is None


def test_fit_plots_render_from_parallel_threads(django_capture_on_commit_callbacks):
    from concurrent.futures import ThreadPoolExecutor

    from analysis.selectors import fit_plot

    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model())
    fit = XASFit.objects.select_related("fit_run", "sample").get(pk=run.result_id)
    kinds = ["mu", "chik", "chir"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        images = list(pool.map(lambda kind: fit_plot(fit, kind=kind), kinds))
    assert [image[:4] for image in images] == [b"\x89PNG"] * len(kinds)
