"""Reproductions vs new versions of computed fits (issue 11 item 4).

A refit of an unchanged model on an unchanged raw file with the same engine is recorded as a
reproduction of the stored fit (no new fit row; count, runs, exact or not); a changed model on
the same spectrum is a new version linked to the previous one, with the changes in words.
Real fits of Larch's Cu foil (``cu_metal_rt.xdi``, path ``feffcu01.dat``).
"""

from __future__ import annotations

import pytest
from django.test import Client

from analysis import services
from analysis.engines._larch import software_versions
from analysis.models import FitRun
from analysis.services.fit_versions import model_changes, version_info
from characterization.models import XASFit
from tests.analysis.test_fit_runs import fit_a_model, run_now, spectrum_of
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
CU_RT = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def model(sig2=0.003):
    body = fit_a_model()
    body["parameters"]["sig2"] = {"kind": "guess", "value": sig2}
    return body


def refit(capture, fit, actor):
    with capture(execute=True):
        run = services.request_refit(fit=fit, actor=actor)
    run.refresh_from_db()
    assert (run.status, run.error) == ("succeeded", "")
    return run


def page(member, fit_id) -> str:
    web = Client()
    web.force_login(member)
    return web.get(f"/fits/{fit_id}/").content.decode()


def test_refit_of_an_unchanged_fit_is_a_reproduction_not_a_new_fit(
        django_capture_on_commit_callbacks, member, api):
    spectrum = spectrum_of(CU_RT, actor=member)
    first = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model(),
                    actor=member)
    fit = first.result
    again = refit(django_capture_on_commit_callbacks, fit, member)
    third = refit(django_capture_on_commit_callbacks, fit, member)
    assert XASFit.objects.count() == 1
    for run in (again, third):
        assert (run.result_id, run.reproduces_id, run.reproduced_exactly) == (None, fit.pk, True)
        assert run.reproduction_differences == []
        assert run.fit_id == fit.pk
        assert run.result_data["fit"]["parameters"] == fit.provenance["parameters"]
    assert f"reproduction of fit {fit.pk}: every number agreed exactly" in again.log
    info = version_info(fit)
    assert (info["version"], info["of"], info["reproduction_count"], info["all_exact"]) == (
        1, 1, 2, True)
    assert [(r["run"], r["exact"]) for r in info["reproductions"]] == [
        (again.pk, True), (third.pk, True)]
    body = api.get(f"/api/fit-runs/{again.pk}/").json()
    assert (body["result"], body["reproduction_of"], body["reproduced_exactly"]) == (
        None, fit.pk, True)
    assert body["provenance"]["model_hash"] == first.model_hash
    html = page(member, fit.pk)
    assert ("Reproduced 2 times (same model, raw files and engine versions), every number "
            "agreed exactly:") in html
    assert f'<a href="/fit-runs/?ids={again.pk}">fit run {again.pk}</a>: agreed exactly' in html
    assert "Version 1 of 1" in html


def test_reproduction_whose_numbers_differ_says_which(django_capture_on_commit_callbacks,
                                                      member):
    spectrum = spectrum_of(CU_RT, actor=member)
    fit = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model(),
                  actor=member).result
    computed_amp = fit.provenance["parameters"]["amp"]["value"]
    # the stored digits as if transcribed with fewer digits
    fit.provenance["parameters"]["amp"]["value"] = round(computed_amp, 3)
    fit.save(update_fields=["provenance"])
    run = refit(django_capture_on_commit_callbacks, fit, member)
    assert (run.reproduces_id, run.reproduced_exactly) == (fit.pk, False)
    assert run.reproduction_differences == [
        f"amp value: {round(computed_amp, 3):g} stored, {computed_amp:g} now"]
    assert "differed — amp value:" in page(member, fit.pk)


def test_changed_model_is_a_new_version_linked_to_the_previous(
        django_capture_on_commit_callbacks, member, api):
    spectrum = spectrum_of(CU_RT, actor=member)
    first = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model(0.003),
                    actor=member)
    second = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model(0.005),
                     actor=member)
    assert second.result_id not in (None, first.result_id)
    assert (second.previous_version_id, second.fit_version) == (first.result_id, 2)
    assert second.version_changes == ["parameter sig2: guess 0.003 → 0.005"]
    assert (first.fit_version, first.previous_version_id) == (1, None)
    body = api.get(f"/api/fit-runs/{second.pk}/").json()
    assert (body["fit_version"], body["previous_version"], body["version_changes"]) == (
        2, first.result_id, ["parameter sig2: guess 0.003 → 0.005"])
    assert ("Version 2 of 2 — changes: parameter sig2: guess 0.003 → 0.005 · previous version: "
            f'<a href="/fits/{first.result_id}/">fit {first.result_id}</a>'
            ) in page(member, second.result_id)
    assert (f'Version 1 of 2 · next version: <a href="/fits/{second.result_id}/">'
            f"fit {second.result_id}</a>") in page(member, first.result_id)
    # the first model again: a reproduction of version 1, not a third version
    with django_capture_on_commit_callbacks(execute=True):
        back = services.request_fit_run(spectrum=spectrum, model=model(0.003), actor=member,
                                        force=True)
    back.refresh_from_db()
    assert (back.reproduces_id, back.result_id) == (first.result_id, None)
    assert version_info(first.result)["reproduction_count"] == 1


def test_new_engine_version_makes_a_new_version_not_a_reproduction(
        django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(CU_RT, actor=member)
    fit = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=model(),
                  actor=member).result
    fit.provenance["versions"]["xraylarch"] = "2025.1.0"  # as if fitted by an older engine
    fit.save(update_fields=["provenance"])
    run = refit(django_capture_on_commit_callbacks, fit, member)
    assert (run.reproduces_id, run.previous_version_id, run.fit_version) == (None, fit.pk, 2)
    assert run.version_changes == [
        f"engine: xraylarch 2025.1.0 → {software_versions()['xraylarch']}"]
    assert FitRun.objects.filter(result__isnull=False).count() == 2


def test_model_changes_in_words():
    old = {"feff": {"path_files": {"feffcu01": "x" * 100}},
           "parameters": {"amp": {"kind": "guess", "value": 1.0},
                          "sig2": {"kind": "guess", "value": 0.003, "min": 0}},
           "datasets": [{"id": "cu", "transform": {"kmin": 3, "rmax": 3.0}, "paths": [{}]}]}
    new = {"feff": {"path_files": {"feffcu01": "y" * 100}},
           "parameters": {"amp": {"kind": "set", "value": 0.9},
                          "sig2": {"kind": "guess", "value": 0.003, "min": 0.001},
                          "n1": {"kind": "guess", "value": 12}},
           "datasets": [{"id": "cu", "transform": {"kmin": 3, "rmax": 3.1}, "paths": [{}, {}]}]}
    assert model_changes(old, new) == [
        "parameter n1 added: guess 12",
        "parameter amp: guess 1 → set 0.9",
        "parameter sig2: guess 0.003 (min 0) → guess 0.003 (min 0.001)",
        "feff.path_files.feffcu01 changed",
        "datasets[0].transform.rmax: 3 → 3.1",
        "datasets[0].paths: 1 → 2 entries",
    ]
    assert model_changes(old, old) == []
