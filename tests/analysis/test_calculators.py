"""Calculator kinds (bond angle, coordination ratio, stoichiometry candidates) on seed 002's
published numbers as the demo stores them, and their columns in the structure–property frame."""

from __future__ import annotations

import pytest

from analysis.demo import ensure_demo_loader
from analysis.selectors.structure_property import structure_property_frame
from characterization.demo import load_characterization
from characterization.enums import DataSource
from characterization.models import ReportedQuantity
from synthesis.demo import load_synthesis, read_demo_file
from synthesis.models import Sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def seed002(db):
    """Seed 002 alone (samples, its XAS fits and printed quantities), as the demo loads it."""
    actor = ensure_demo_loader()
    data = read_demo_file("seed002.json")
    ctx = load_synthesis(data, actor=actor)
    load_characterization(ctx, data)
    return actor


def test_frame_reads_computed_quantity_columns(seed002, django_assert_num_queries):
    msc = Sample.objects.get(code="MSC-322")
    for value in (105.0, 106.1):  # the later record wins (both undated)
        ReportedQuantity.objects.create(
            sample=msc, quantity="Cd–S–Cd bond angle", value=value, err=0.7, unit="deg",
            source=DataSource.COMPUTED, owner=seed002,
            extra={"analysis_run": 1, "frame_column": "cd_s_cd_angle_deg"})
    ReportedQuantity.objects.create(
        sample=msc, quantity="stoichiometry candidates", text_value="Cd39S24", unit="",
        source=DataSource.COMPUTED, owner=seed002,
        extra={"analysis_run": 2, "frame_column": "cd_s_stoichiometry_formula"})
    with django_assert_num_queries(1):
        frame = structure_property_frame()
    assert list(frame.columns[-3:]) == ["computed_cd_s_cd_angle_deg",
                                        "computed_cd_s_cd_angle_deg_err",
                                        "computed_cd_s_stoichiometry_formula"]
    row = frame[frame["sample_code"] == "MSC-322"].iloc[0]
    assert (row["computed_cd_s_cd_angle_deg"], row["computed_cd_s_cd_angle_deg_err"]) == \
        (106.1, 0.7)
    assert row["computed_cd_s_stoichiometry_formula"] == "Cd39S24"
    other = frame[frame["sample_code"] == "MSC-311"].iloc[0]
    assert other["computed_cd_s_stoichiometry_formula"] is None
    published = structure_property_frame(filters={"source": "published"})
    assert "computed_cd_s_cd_angle_deg" not in published.columns
