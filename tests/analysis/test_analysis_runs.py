"""Analysis runs of any kind through the one lifecycle and the one API (issue #14 item 1).

Two real kinds: ``exafs_fit`` (the project's feffit path, Larch doc fit A on the Cu foil) and
an edge-step kind defined here whose engine is larch's ``pre_edge`` on a real raw file — its
numbers are checked against a direct larch call. Requests, 400s, idempotency, exactly-once
storage, failures stored failed, staleness (re-parse, edit, engine version), reruns,
permissions and the list's query count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from html import unescape
from typing import Any

import numpy as np
import pytest
from rest_framework import serializers

from analysis.enums import RunStatus
from analysis.kinds import base
from analysis.models import AnalysisRun, FitRun
from analysis.services import runs
from analysis.services.fits import load_mu
from characterization.models import ReportedQuantity, XASSpectrum
from characterization.services import parse_data_file
from labdb.lib.errors import EngineError
from labdb.lib.records import update_record
from tests.analysis.test_fit_runs import XAS, fit_a_model, spectrum_of

pytestmark = [pytest.mark.django_db]
CU_FOIL = XAS / "larch_examples" / "cu_metal_rt.xdi"
URL = "/api/analysis-runs/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class EdgeStepParameters(serializers.Serializer):
    pre1_ev = serializers.FloatField(max_value=0, default=-150.0)
    pre2_ev = serializers.FloatField(max_value=0, default=-30.0)
    norm1_ev = serializers.FloatField(min_value=0, default=150.0)
    norm2_ev = serializers.FloatField(min_value=0, default=600.0)


class EdgeStepKind(base.AnalysisKind):
    """E0 and edge step of one spectrum by larch ``pre_edge`` (a real kind, for the test)."""

    name = "test_edge_step"
    label = "Edge step (test kind)"
    engine_name = "larch pre_edge"
    engine_version = "1.0"
    inputs = (base.InputRole("spectrum", "spectrum", help="an XAS spectrum with raw data"),)
    parameters = EdgeStepParameters

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        if parameters["pre2_ev"] <= parameters["pre1_ev"]:
            raise serializers.ValidationError(
                {"parameters.pre2_ev": "the pre-edge range must end after it starts."}
            )

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> Any:
        energy, mu, _raw = load_mu(inputs["spectrum"])
        return np.asarray(energy, dtype=float), np.asarray(mu, dtype=float)

    def compute(self, loaded: Any, parameters: dict, progress: base.Progress) -> dict:
        from larch.xafs import pre_edge

        energy, mu = loaded
        progress(20, f"read {energy.size} points")
        group = _pre_edge(pre_edge, energy, mu, parameters)
        if float(group.e0) + parameters["pre1_ev"] < float(energy.min()):
            raise EngineError(
                f"parameters.pre1_ev: the pre-edge range starts at "
                f"{float(group.e0) + parameters['pre1_ev']:.1f} eV, below the data (from "
                f"{float(energy.min()):.1f} eV)."
            )
        progress(90, "normalized")
        return {"e0_ev": float(group.e0), "edge_step": float(group.edge_step)}

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        spectrum = inputs["spectrum"]
        return [runs.record_run_quantity(
            run, sample=spectrum.sample, quantity="edge step", value=result["edge_step"],
            unit="", spectrum=spectrum.pk,
        )]

    def summary(self, run: AnalysisRun) -> str:
        return f"edge step {run.output['edge_step']:.4f}" if run.output else ""


def _pre_edge(pre_edge, energy, mu, parameters: dict):
    from larch import Group

    group = Group(energy=energy, mu=mu)
    pre_edge(group, pre1=parameters["pre1_ev"], pre2=parameters["pre2_ev"],
             norm1=parameters["norm1_ev"], norm2=parameters["norm2_ev"])
    return group


@pytest.fixture
def edge_kind() -> Iterator[EdgeStepKind]:
    kind = base.register(EdgeStepKind())
    yield kind
    base._REGISTRY.pop(kind.name)


@pytest.fixture
def foil(member) -> XASSpectrum:
    return spectrum_of(CU_FOIL, actor=member)


def _post(api, kind: str, inputs: dict, parameters: dict | None = None):
    return api.post(URL, {"kind": kind, "inputs": inputs, "parameters": parameters or {}},
                    format="json")


def test_generic_run_end_to_end_matches_direct_larch(api, member, foil, edge_kind):
    response = _post(api, "test_edge_step", {"spectrum": foil.pk}, {"norm2_ev": 500})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["kind"], body["status"], body["progress_pct"], body["repeat"]) == (
        "test_edge_step", "succeeded", 100, False)
    from larch.xafs import pre_edge

    energy, mu, _ = load_mu(foil)
    direct = _pre_edge(pre_edge, np.asarray(energy), np.asarray(mu),
                       {"pre1_ev": -150.0, "pre2_ev": -30.0, "norm1_ev": 150.0, "norm2_ev": 500})
    assert body["output"] == {"e0_ev": float(direct.e0), "edge_step": float(direct.edge_step)}
    quantity = ReportedQuantity.objects.get(extra__analysis_run=body["id"])
    assert (quantity.source, quantity.sample_id, quantity.quantity, quantity.value) == (
        "computed", foil.sample_id, "edge step", float(direct.edge_step))
    assert body["records"] == [
        {"type": "ReportedQuantity", "id": quantity.pk, "label": str(quantity)}]
    prov = body["provenance"]
    # The key set, not the order: PostgreSQL's jsonb stores keys in its own order.
    assert sorted(prov) == sorted(base.PROVENANCE_KEYS)
    assert prov["engine"] == {"name": "larch pre_edge", "version": "1.0"}
    assert prov["parameters"] == {"pre1_ev": -150.0, "pre2_ev": -30.0, "norm1_ev": 150.0,
                                  "norm2_ev": 500.0}
    assert prov["inputs"] == [{
        "role": "spectrum", "type": "spectrum", "id": foil.pk, "label": str(foil),
        "sha256": foil.data_file.sha256,
        "parsed_by": f"{foil.data_file.parser_name} {foil.data_file.parser_version}",
        "version": foil.version,
    }]
    assert prov["requested_by"] == member.username
    assert "20 % read" in body["log"] and "stored: 1 record(s)" in body["log"]
    assert body["stale"] == ""


def test_identical_request_returns_the_run_as_a_repeat(api, foil, edge_kind):
    first = _post(api, "test_edge_step", {"spectrum": foil.pk}).json()
    again = _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": -150}).json()
    assert (again["id"], again["repeat"], first["repeat"]) == (first["id"], True, False)
    other = _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": -140}).json()
    assert (other["id"] != first["id"], other["repeat"]) == (True, False)
    assert ReportedQuantity.objects.filter(source="computed").count() == 2


def test_second_execution_of_a_finished_run_changes_nothing(member, foil, edge_kind):
    run = runs.request_run(kind="test_edge_step", inputs={"spectrum": foil.pk},
                           parameters={}, actor=member)
    assert run.status == RunStatus.SUCCEEDED
    before = AnalysisRun.objects.values().get(pk=run.pk)
    assert runs.execute_run(run.pk) == RunStatus.SUCCEEDED
    assert AnalysisRun.objects.values().get(pk=run.pk) == before
    assert ReportedQuantity.objects.filter(extra__analysis_run=run.pk).count() == 1


def test_run_failing_at_compute_time_is_stored_failed(api, foil, edge_kind):
    body = _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": -5000}).json()
    assert (body["status"], body["output"], body["records"]) == ("failed", None, [])
    assert body["error"].startswith("parameters.pre1_ev: the pre-edge range starts at ")
    assert body["error"].endswith("below the data (from 8779.0 eV).")
    assert ReportedQuantity.objects.filter(source="computed").count() == 0
    # a failed run is not a repeat: the same request is tried again
    again = _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": -5000}).json()
    assert (again["id"] != body["id"], again["status"]) == (True, "failed")


@pytest.mark.parametrize(
    ("inputs", "parameters", "field", "message"),
    [
        ({}, {}, "inputs.spectrum", "inputs.spectrum: required (an XAS spectrum with raw data)."),
        ({"spectrum": "x"}, {}, "inputs.spectrum",
         "inputs.spectrum: expected spectrum ids (integers), got 'x'."),
        ({"spectrum": 999999}, {}, "inputs.spectrum",
         "inputs.spectrum: there is no spectrum 999999."),
        ({"standards": [1]}, {}, "inputs.standards",
         "inputs.standards: test_edge_step takes no input 'standards' (roles: spectrum)."),
        ("FOIL", {"pre1_ev": 10}, "parameters.pre1_ev",
         "parameters.pre1_ev: Ensure this value is less than or equal to 0."),
        ("FOIL", {"pre1_ev": -20, "pre2_ev": -30}, "parameters.pre2_ev",
         "parameters.pre2_ev: the pre-edge range must end after it starts."),
    ],
)
def test_bad_request_is_a_400_naming_the_field(
    api, foil, edge_kind, inputs, parameters, field, message
):
    inputs = {"spectrum": foil.pk} if inputs == "FOIL" else inputs
    response = _post(api, "test_edge_step", inputs, parameters)
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == (field, message)
    assert AnalysisRun.objects.count() == 0


def test_unknown_kind_and_retired_input_are_400s(api, member, foil, edge_kind):
    response = _post(api, "no_such_kind", {})
    assert (response.status_code, response.json()["field"]) == (400, "kind")
    XASSpectrum.objects.filter(pk=foil.pk).update(is_retired=True, retired_reason="bad scan")
    response = _post(api, "test_edge_step", {"spectrum": foil.pk})
    assert (response.status_code, response.json()["field"]) == (400, "inputs.spectrum")
    assert "is retired (bad scan)" in response.json()["message"]


def test_staleness_when_an_input_is_edited_or_reparsed_and_when_the_engine_changes(
    api, member, foil, edge_kind
):
    run_id = _post(api, "test_edge_step", {"spectrum": foil.pk}).json()["id"]
    run = AnalysisRun.objects.get(pk=run_id)
    assert runs.staleness_of_run(run) == ""
    AnalysisRun.objects.filter(pk=run_id).update(engine_version="0.9")  # an older engine
    run.refresh_from_db()
    assert runs.staleness_of_run(run) == "engine version changed: larch pre_edge 0.9 → 1.0"
    AnalysisRun.objects.filter(pk=run_id).update(engine_version="1.0")
    update_record(foil, changes={"beamline": "10-BM"}, expected_version=foil.version, actor=member)
    run.refresh_from_db()
    label = f"inputs.spectrum {foil}"
    assert runs.staleness_of_run(run) == f"{label}: edited (version 1 → 2)"
    assert api.get(f"{URL}{run_id}/").json()["stale"] == f"{label}: edited (version 1 → 2)"
    assert api.get(URL).json()["results"][0]["stale"] == f"{label} changed"
    parse_data_file(data_file=foil.data_file)  # a re-parse replaces the derived spectrum
    assert runs.staleness_of_run(run) == f"{label}: no longer exists"


def test_rerun_links_the_new_run_and_only_the_owner_or_a_curator_may(
    api, other_api, curator_api, anon_api, foil, edge_kind
):
    run_id = _post(api, "test_edge_step", {"spectrum": foil.pk}).json()["id"]
    assert other_api.post(f"{URL}{run_id}/rerun/").status_code == 403
    assert anon_api.post(f"{URL}{run_id}/rerun/").status_code in (401, 403)
    assert anon_api.get(URL).status_code in (401, 403)
    assert other_api.get(f"{URL}{run_id}/").status_code == 200  # members read every run
    response = api.post(f"{URL}{run_id}/rerun/")
    assert response.status_code == 202
    rerun = response.json()
    assert (rerun["refit_of_run"], rerun["status"], rerun["id"] != run_id) == (
        run_id, "succeeded", True)
    assert rerun["output"] == api.get(f"{URL}{run_id}/").json()["output"]
    assert curator_api.post(f"{URL}{run_id}/rerun/").status_code == 202


def test_list_filters_by_kind_status_and_sample(api, member, foil, edge_kind):
    run_id = _post(api, "test_edge_step", {"spectrum": foil.pk}).json()["id"]
    _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": -5000})
    ids = [r["id"] for r in api.get(URL, {"kind": "test_edge_step",
                                         "status": "succeeded"}).json()["results"]]
    assert ids == [run_id]
    assert len(api.get(URL, {"sample": foil.sample_id}).json()["results"]) == 2
    assert api.get(URL, {"sample": foil.sample_id + 1000}).json()["results"] == []
    assert api.get(URL, {"kind": "exafs_fit"}).json()["results"] == []


def test_list_query_count_is_flat(api, member, foil, edge_kind, django_assert_num_queries):
    _post(api, "test_edge_step", {"spectrum": foil.pk})
    with django_assert_num_queries(LIST_QUERIES):
        assert len(api.get(URL).json()["results"]) == 1
    for pre1 in (-140, -130):
        _post(api, "test_edge_step", {"spectrum": foil.pk}, {"pre1_ev": pre1})
    with django_assert_num_queries(LIST_QUERIES):
        assert len(api.get(URL).json()["results"]) == 3


LIST_QUERIES = 3  # page count, the runs with their joins, the spectra of their inputs


def test_kinds_endpoint_describes_roles_and_parameter_schema(api, edge_kind):
    kinds = {k["name"]: k for k in api.get(f"{URL}kinds/").json()}
    assert kinds["test_edge_step"] == {
        "name": "test_edge_step",
        "label": "Edge step (test kind)",
        "engine": {"name": "larch pre_edge", "version": "1.0"},
        "inputs": [{"name": "spectrum", "type": "spectrum", "many": False, "required": True,
                    "min": 1, "max": None, "help": "an XAS spectrum with raw data"}],
        "parameters_schema": {
            "type": "object",
            "properties": {
                "pre1_ev": {"type": "number", "maximum": 0, "default": -150.0},
                "pre2_ev": {"type": "number", "maximum": 0, "default": -30.0},
                "norm1_ev": {"type": "number", "minimum": 0, "default": 150.0},
                "norm2_ev": {"type": "number", "minimum": 0, "default": 600.0},
            },
        },
    }
    assert kinds["exafs_fit"]["inputs"][0]["name"] == "spectrum"


@pytest.mark.slow
def test_exafs_fit_through_the_analysis_run_api(api, member, foil):
    response = _post(api, "exafs_fit", {"spectrum": foil.pk}, {"model": fit_a_model()})
    assert response.status_code == 202, response.json()
    body = response.json()
    run = FitRun.objects.get(pk=body["id"])
    assert (body["kind"], body["status"], body["fit"], body["repeat"]) == (
        "exafs_fit", "succeeded", run.result_id, False)
    assert body["records"] == [{"type": "XASFit", "id": run.result_id,
                                "label": f"XAS fit {run.result_id}"}]
    assert body["inputs"][0]["sha256"] == foil.data_file.sha256
    assert body["provenance"] == run.result.provenance  # the stored fit's, with the model
    assert body["summary"] == f"fit {run.result_id}: R-factor {run.result.r_factor:.4f}"
    again = _post(api, "exafs_fit", {"spectrum": foil.pk}, {"model": fit_a_model()}).json()
    assert (again["id"], again["repeat"]) == (body["id"], True)
    listed = api.get(URL, {"kind": "exafs_fit"}).json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert api.get(f"/api/fit-runs/{body['id']}/").json()["result"] == run.result_id
    rerun = api.post(f"{URL}{body['id']}/rerun/").json()
    assert (rerun["kind"], rerun["refit_of_run"], rerun["status"]) == (
        "exafs_fit", body["id"], "succeeded")
    assert FitRun.objects.get(pk=rerun["id"]).refit_of_id == run.result_id


# --- pages ---------------------------------------------------------------------------------


@pytest.fixture
def web(client, member):
    client.force_login(member)
    return client


def test_plain_start_form_runs_the_kind_and_the_run_page_shows_it(web, foil, edge_kind):
    page = web.get("/analysis-runs/new/test_edge_step/").content.decode()
    assert 'name="input_spectrum"' in page and "&quot;pre1_ev&quot;" in page  # the generated form
    response = web.post("/analysis-runs/new/test_edge_step/start/",
                        {"input_spectrum": str(foil.pk), "parameters": '{"norm2_ev": 500}'})
    run = AnalysisRun.objects.get(kind="test_edge_step")
    assert (response.status_code, response["Location"]) == (302, f"/analysis-runs/{run.pk}/")
    html = web.get(f"/analysis-runs/{run.pk}/").content.decode()
    assert f"edge step {run.output['edge_step']:.4f}" in html
    assert '"engine": {\n    "name": "larch pre_edge"' in unescape(html)  # provenance, copyable
    assert 'id="rerun-button"' in html
    assert web.get(f"/analysis-runs/{run.pk}/status.json").json() == {
        "id": run.pk, "status": "succeeded", "progress_pct": 100, "log": run.log, "error": "",
        "finished": True}
    rerun = web.post(f"/analysis-runs/{run.pk}/rerun/")
    new = AnalysisRun.objects.get(refit_of_run=run)
    assert rerun["Location"] == f"/analysis-runs/{new.pk}/"
    listing = web.get("/analysis-runs/?kind=test_edge_step").content.decode()
    assert listing.count('data-kind="test_edge_step"') == 2
    assert "Edge step (test kind)" in listing


def test_plain_start_form_shows_the_400_message(web, foil, edge_kind):
    response = web.post("/analysis-runs/new/test_edge_step/start/",
                        {"input_spectrum": str(foil.pk), "parameters": '{"pre1_ev": 5}'},
                        follow=True)
    assert "Ensure this value is less than or equal to 0." in response.content.decode()
    assert AnalysisRun.objects.count() == 0
    assert web.get("/analysis-runs/new/no_such_kind/").status_code == 404
