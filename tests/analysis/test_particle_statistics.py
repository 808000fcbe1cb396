"""TEM particle statistics as an analysis run, end to end through POST /api/analysis-runs/.

No real per-particle table is available (../shared/data/instruments/README.md lists ImageJ/Fiji
size tables among the formats without a licensed sample), so the tables are SIMULATED:

* a Digimizer-style platelet table built to match seed 000's Table S1 for 5.5 ML CdSe NPLs
  (length 28.6 ± 3.5 nm, width 7.6 ± 1.2 nm; N = 150 chosen here), uploaded through
  /api/files/ and parsed by the size-table parser;
* an ImageJ/Fiji "Results" table in pixels (first header cell blank, Feret and MinFeret).

Every stored number is compared with numpy/scipy computed here from the same sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from scipy import stats

from characterization.enums import DataSource
from characterization.models import DataFile, TEMSizeMeasurement
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CU_XDI = SHARED_DATA / "xas" / "xdi" / "cu_metal_rt.xdi"
# seed 000, Table S1, 5.5 ML CdSe NPLs: length 28.6 nm (SD 3.5 nm), width 7.6 nm (SD 1.2 nm)
TABLE_S1_CDSE_55ML = {"length": (28.6, 3.5), "width": (7.6, 1.2)}
N_PLATELETS = 150


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def matched(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    """SIMULATED sizes whose sample mean and SD (ddof = 1) are ``mean`` and ``sd``."""
    z = np.random.default_rng(seed).normal(size=n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def platelet_sizes() -> tuple[np.ndarray, np.ndarray]:
    (lm, ls), (wm, ws) = TABLE_S1_CDSE_55ML["length"], TABLE_S1_CDSE_55ML["width"]
    # written with 6 decimals, as an export would; the test reads them back the same way
    length = np.round(matched(lm, ls, N_PLATELETS, seed=11), 6)
    width = np.round(matched(wm, ws, N_PLATELETS, seed=12), 6)
    return length, width


def digimizer_csv(length: np.ndarray, width: np.ndarray) -> bytes:
    lines = ["Object,Length (nm),Width (nm)"]
    lines += [f"NPL {i + 1},{a:.6f},{b:.6f}" for i, (a, b) in enumerate(zip(length, width))]
    return ("\n".join(lines) + "\n").encode()


def imagej_csv(feret_px: np.ndarray, min_feret_px: np.ndarray) -> bytes:
    lines = [" ,Area,Mean,Feret,MinFeret,FeretAngle"]
    lines += [f"{i + 1},{math.pi * a * b / 4:.3f},120.5,{a:.4f},{b:.4f},12.0"
              for i, (a, b) in enumerate(zip(feret_px, min_feret_px))]
    return ("\n".join(lines) + "\n").encode()


def upload(api, sample, name: str, content: bytes) -> DataFile:
    body = {"file": SimpleUploadedFile(name, content), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return DataFile.objects.get(pk=response.json()["id"])


def post(api, table: DataFile, sample=None, **parameters):
    inputs = {"table": table.pk, **({"sample": sample.pk} if sample is not None else {})}
    return api.post("/api/analysis-runs/", {"kind": "particle_statistics", "inputs": inputs,
                                            "parameters": parameters}, format="json")


def run_of(api, response) -> dict:
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", (run.get("error"), run.get("log"))
    return run


@pytest.fixture
def npl(member):
    return builders.sample("NPL-55ML-SIM", core_ml=5.5, actor=member)


@pytest.fixture
def platelet_table(api, npl) -> DataFile:
    length, width = platelet_sizes()
    table = upload(api, npl, "SIMULATED_digimizer_5.5ML_CdSe.csv", digimizer_csv(length, width))
    assert (table.parse_status, table.technique, table.key_numbers["size_column"]) == (
        "ok", "tem_sizes", "Length (nm)")
    return table


def test_platelet_run_stores_length_and_width_of_table_s1(api, member, npl, platelet_table):
    run = run_of(api, post(api, platelet_table, geometry="length_width"))
    length, width = platelet_sizes()
    row = TEMSizeMeasurement.objects.get(extra__analysis_run=run["id"])
    assert (row.sample_id, row.data_file_id, row.source, row.n_counted, row.owner_id,
            row.citation) == (npl.pk, platelet_table.pk, DataSource.COMPUTED, N_PLATELETS,
                              member.pk, f"analysis run {run['id']} (particle_statistics)")
    # Table S1 reproduced (the SIMULATED table was built to match it, 6-decimal export)
    assert (round(row.length_nm, 4), round(row.length_sd_nm, 4), round(row.width_nm, 4),
            round(row.width_sd_nm, 4)) == (28.6, 3.5, 7.6, 1.2)
    # ... and equal to numpy on the sizes as written
    assert (row.length_nm, row.length_sd_nm, row.width_nm, row.width_sd_nm) == (
        pytest.approx(length.mean(), rel=1e-12), pytest.approx(length.std(ddof=1), rel=1e-12),
        pytest.approx(width.mean(), rel=1e-12), pytest.approx(width.std(ddof=1), rel=1e-12))
    assert row.diameter_nm is None
    ext = row.extra["dimensions"]["width"]
    q1, q3 = np.percentile(width, [25, 75])
    assert (ext["median_nm"], ext["iqr_nm"], ext["rsd_pct"], ext["column"]) == (
        pytest.approx(np.median(width), rel=1e-12), pytest.approx(q3 - q1, rel=1e-12),
        pytest.approx(100 * width.std(ddof=1) / width.mean(), rel=1e-12), "Width (nm)")
    s, _, scale = stats.lognorm.fit(length, floc=0)
    ln = row.extra["dimensions"]["length"]["fits"]["lognormal"]
    assert (ln["s"], ln["median_nm"]) == (pytest.approx(s, rel=1e-9),
                                          pytest.approx(scale, rel=1e-9))
    assert row.extra["aspect_ratio"]["mean"] == pytest.approx((length / width).mean(), rel=1e-12)
    out = run["output"]
    assert ([sum(d["histogram"]["counts"]) for d in out["dimensions"].values()],
            out["table"]["columns"]["length"]["unit"]) == ([N_PLATELETS, N_PLATELETS], "nm")
    assert run["records"] == [{"type": "TEMSizeMeasurement", "id": row.pk, "label": str(row)}]
    # the run page: a table of the numbers, the plot div and its data (json_script, no inline JS)
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="particle-stats-output"' in page, 'id="particle-stats-plot-length"' in page,
            "js/particle_statistics." in page, "28.60" in page) == (True, True, True, True)


def test_diameter_of_an_imagej_table_in_pixels_with_a_calibration(api, npl):
    feret = np.round(matched(40.0, 4.0, 60, seed=21), 4)  # SIMULATED, px
    min_feret = np.round(matched(30.0, 3.0, 60, seed=22), 4)
    table = upload(api, npl, "Results.csv", imagej_csv(feret, min_feret))
    assert table.key_numbers["size_column"] == "Feret"
    # ImageJ writes no unit in the header: the unit must be said
    missing = post(api, table)
    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["parameters.unit"])
    no_scale = post(api, table, unit="px")
    assert (no_scale.status_code, list(no_scale.json()["errors"])) == (
        400, ["parameters.nm_per_px"])
    run = run_of(api, post(api, table, unit="px", nm_per_px=0.25))
    row = TEMSizeMeasurement.objects.get(extra__analysis_run=run["id"])
    assert (row.diameter_nm, row.diameter_sd_nm, row.n_counted, row.length_nm) == (
        pytest.approx(0.25 * feret.mean(), rel=1e-12),
        pytest.approx(0.25 * feret.std(ddof=1), rel=1e-12), 60, None)
    # platelet geometry on the same table: Feret as length, MinFeret as width
    both = run_of(api, post(api, table, geometry="length_width", unit="px", nm_per_px=0.25))
    cols = both["output"]["table"]["columns"]
    assert (cols["length"]["column"], cols["width"]["column"]) == ("Feret", "MinFeret")
    assert both["output"]["dimensions"]["width"]["mean_nm"] == pytest.approx(
        0.25 * min_feret.mean(), rel=1e-12)


def test_area_column_gives_the_equivalent_circle_diameter(api, npl):
    d = np.round(matched(12.0, 1.5, 40, seed=31), 6)  # SIMULATED
    content = ("Area (nm^2)\n" + "\n".join(f"{math.pi * v * v / 4:.6f}" for v in d)).encode()
    table = upload(api, npl, "areas.csv", content)
    run = run_of(api, post(api, table))
    ecd = 2 * np.sqrt(np.array([float(f"{math.pi * v * v / 4:.6f}") for v in d]) / math.pi)
    out = run["output"]["dimensions"]["diameter"]
    assert (out["mean_nm"], run["output"]["table"]["columns"]["diameter"]
            ["equivalent_circle_diameter"]) == (pytest.approx(ecd.mean(), rel=1e-12), True)


def test_wrong_technique_is_refused_naming_the_table(api, npl):
    xdi = upload(api, npl, CU_XDI.name, CU_XDI.read_bytes())
    response = post(api, xdi)
    errors = response.json()["errors"]
    assert (response.status_code, list(errors)) == (400, ["inputs.table"])
    assert "expected a TEM size table" in str(errors["inputs.table"])


def test_fewer_than_three_particles_are_refused(api, npl):
    table = upload(api, npl, "two.csv", b"Diameter (nm)\n5.1\n5.3\n")
    response = post(api, table)
    errors = response.json()["errors"]
    assert (response.status_code, list(errors)) == (400, ["inputs.table"])
    assert "2 particle size(s); at least 3" in str(errors["inputs.table"])


def test_a_negative_width_is_refused_with_its_row(api, npl):
    table = upload(api, npl, "npl.csv",
                   b"Length (nm),Width (nm)\n20.1,7.0\n22.3,-6.5\n19.8,7.4\n21.0,7.1\n")
    response = post(api, table, geometry="length_width")
    errors = response.json()["errors"]
    assert (response.status_code, list(errors)) == (400, ["inputs.table"])
    assert "row 3 has size -6.5 nm" in str(errors["inputs.table"])


def test_an_unknown_column_is_refused_naming_the_parameter(api, npl, platelet_table):
    response = post(api, platelet_table, geometry="length_width", width_column="Breadth")
    errors = response.json()["errors"]
    assert (response.status_code, list(errors)) == (400, ["parameters.width_column"])
    assert "no column 'Breadth'" in str(errors["parameters.width_column"])


def test_a_calibration_for_a_table_in_nm_is_refused(api, npl, platelet_table):
    response = post(api, platelet_table, geometry="length_width", nm_per_px=0.5)
    assert (response.status_code, list(response.json()["errors"])) == (
        400, ["parameters.nm_per_px"])


def test_a_table_of_several_samples_needs_the_sample(api, member, npl, platelet_table):
    other = builders.sample("NPL-55ML-SIM-B", core_ml=5.5, actor=member)
    linked = api.post(f"/api/files/{platelet_table.pk}/link/", {"sample": other.pk},
                      format="json")
    assert linked.status_code == 200, linked.content
    response = post(api, platelet_table, geometry="length_width")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["inputs.sample"])
    run = run_of(api, post(api, platelet_table, sample=other, geometry="length_width"))
    assert TEMSizeMeasurement.objects.get(extra__analysis_run=run["id"]).sample_id == other.pk


def test_start_page_has_the_table_picker(member):
    start = _page(member, "/analysis-runs/new/particle_statistics/")
    assert ('id="particle-stats-table"' in start, "js/particle_statistics." in start,
            "js/run_common." in start) == (True, True, True)


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()
