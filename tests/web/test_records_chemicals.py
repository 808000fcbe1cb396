"""Chemicals, chemical lots and stock solutions: list, create, edit, retire in the web UI."""

from __future__ import annotations

import pytest

from synthesis import services
from synthesis.models import Chemical, ChemicalLot, StockComponent, StockSolution
from tests.synthesis import builders
from tests.web.test_records_samples import _client, _management

pytestmark = pytest.mark.django_db


def _chemical_post(**overrides) -> dict:
    data = {"name": "selenium powder", "formula": "Se", "cas": "7782-49-2",
            "supplier": "Sigma-Aldrich", "purity": "99.99%", "grade": "", "notes": ""}
    data.update(overrides)
    return data


def test_chemical_create_list_and_edit(member):
    client = _client(member)
    response = client.post("/chemicals/new/", _chemical_post())
    chemical = Chemical.objects.get(name="selenium powder")
    assert (response.status_code, response["Location"]) == (
        302, f"/chemicals/#chemical-{chemical.pk}")
    assert (chemical.owner, chemical.cas) == (member, "7782-49-2")
    listing = client.get("/chemicals/").content.decode()
    assert (f'<tr id="chemical-{chemical.pk}"><td>selenium powder</td><td>Se</td>'
            "<td>7782-49-2</td><td>Sigma-Aldrich</td><td>99.99%</td><td></td>") in listing
    response = client.post(f"/chemicals/{chemical.pk}/edit/",
                           _chemical_post(grade="trace metals basis", version="1"))
    chemical.refresh_from_db()
    assert (response.status_code, chemical.grade, chemical.version) == (
        302, "trace metals basis", 2)
    assert chemical.history.first().history_user == member


def test_chemical_bad_cas_shown_beside_cas(member):
    response = _client(member).post("/chemicals/new/", _chemical_post(cas="7782-49"))
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_cas_error"><span aria-hidden="true">✗</span> '
            "expected a CAS number such as 7782-49-2.</p>") in response.content.decode()
    assert Chemical.objects.count() == 0


def test_chemical_duplicate_name_shown_beside_name(member):
    builders.chemical("selenium powder", actor=member)
    response = _client(member).post("/chemicals/new/", _chemical_post())
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_name_error"><span aria-hidden="true">✗</span> '
            "Chemical with this Name already exists.</p>") in response.content.decode()


def test_chemical_edit_by_other_member_forbidden_curator_allowed(member, other_member, curator):
    chemical = builders.chemical("oleic acid", actor=member)
    data = _chemical_post(name="oleic acid", version="1")
    listing = _client(other_member).get("/chemicals/").content.decode()
    assert f'href="/chemicals/{chemical.pk}/edit/"' not in listing
    assert _client(other_member).post(f"/chemicals/{chemical.pk}/edit/", data).status_code == 403
    assert _client(curator).post(f"/chemicals/{chemical.pk}/edit/", data).status_code == 302
    chemical.refresh_from_db()
    assert chemical.history.first().history_user == curator


def test_chemical_stale_edit_refused(member, curator):
    chemical = builders.chemical("oleic acid", actor=member)
    _client(curator).post(f"/chemicals/{chemical.pk}/edit/",
                          _chemical_post(name="oleic acid", grade="technical", version="1"))
    response = _client(member).post(f"/chemicals/{chemical.pk}/edit/",
                                    _chemical_post(name="oleic acid", grade="90%", version="1"))
    html = response.content.decode()
    assert response.status_code == 409
    assert "✗ Chemical oleic acid was changed by carol since you opened it — reload." in html
    assert '<tr><th scope="row">Grade</th><td>technical</td></tr>' in html
    assert 'name="grade" value="90%"' in html


def test_chemical_retire_hides_it(member):
    chemical = builders.chemical("oleic acid", actor=member)
    client = _client(member)
    assert client.post(f"/retire/chemical/{chemical.pk}/", {"reason": "empty"}).status_code == 302
    assert f'id="chemical-{chemical.pk}"' not in client.get("/chemicals/").content.decode()
    assert Chemical.objects.filter(pk=chemical.pk, is_retired=True).count() == 1


def test_lot_create_with_unit_and_bad_unit_beside_it(member):
    chemical = builders.chemical("cadmium acetate dihydrate", actor=member)
    client = _client(member)
    assert f'<option value="{chemical.pk}" selected>' in client.get(
        f"/lots/new/?chemical={chemical.pk}").content.decode()
    data = {"chemical": str(chemical.pk), "lot_number": "MKCD1234", "received_on": "2025-01-10",
            "opened_on": "", "quantity_value": "25", "quantity_unit": "g", "location": "cab. 3"}
    bad = client.post("/lots/new/", {**data, "quantity_unit": "°C"})
    assert bad.status_code == 400
    assert ('<p class="field-error" id="id_quantity_unit_error"><span aria-hidden="true">✗</span>'
            " quantity: unit &#x27;°C&#x27; is a temperature, expected mass or volume or amount "
            "or concentration or mass concentration.</p>") in bad.content.decode()
    assert ChemicalLot.objects.count() == 0
    assert client.post("/lots/new/", data).status_code == 302
    lot = ChemicalLot.objects.get()
    assert (lot.quantity_canonical, lot.quantity_dimension, lot.owner) == (25000, "mass", member)
    listing = client.get("/lots/").content.decode()
    assert "<td>25 g</td><td>cab. 3</td>" in listing
    edit = client.post(f"/lots/{lot.pk}/edit/", {**data, "opened_on": "2025-02-01",
                                                  "version": "1"})
    lot.refresh_from_db()
    assert (edit.status_code, str(lot.opened_on), lot.version) == (302, "2025-02-01", 2)
    retired = client.post(f"/retire/lot/{lot.pk}/", {"reason": "used up"})
    assert (retired.status_code, retired["Location"]) == (302, "/lots/")
    assert f'id="lot-{lot.pk}"' not in client.get("/lots/").content.decode()
    assert ChemicalLot.objects.get(pk=lot.pk).retired_reason == "used up"


def _stock_post(se, **overrides) -> dict:
    data = {"code": "se-ode-0-1m", "name": "Se in ODE, 0.1 M", "solvent": "",
            "concentration_value": "0.1", "concentration_unit": "M", "preparation": "",
            "prepared_by": "", "prepared_at": "", "citation": "", "notes": "",
            **_management("components", 2), "components-0-component": f"chemical:{se.pk}",
            "components-0-amount_value": "7.9", "components-0-amount_unit": "mg"}
    data.update(overrides)
    return data


def test_stock_solution_create_with_components_and_edit(member):
    se = builders.chemical("selenium powder", actor=member)
    ode = builders.chemical("1-octadecene", actor=member)
    client = _client(member)
    response = client.post("/stock-solutions/new/", _stock_post(se, **{
        "solvent": str(ode.pk), "components-1-component": f"chemical:{ode.pk}",
        "components-1-amount_value": "1", "components-1-amount_unit": "mL"}))
    stock = StockSolution.objects.get()
    assert response.status_code == 302
    assert (stock.concentration_canonical, stock.solvent, stock.owner) == (0.1, ode, member)
    assert [(c.chemical.name, c.amount_canonical, c.amount_dimension)
            for c in stock.components.order_by("position")] == [
        ("selenium powder", 7.9, "mass"), ("1-octadecene", 1.0, "volume")]
    listing = client.get("/stock-solutions/").content.decode()
    assert "<td>selenium powder 7.9 mg; 1-octadecene 1 mL</td>" in listing
    form = client.get(f"/stock-solutions/{stock.pk}/edit/").content.decode()
    assert 'name="components-0-amount_value" value="7.9"' in form
    response = client.post(f"/stock-solutions/{stock.pk}/edit/", _stock_post(
        se, version="1", **{"components-0-amount_value": "15.8", "concentration_value": "0.2"}))
    stock.refresh_from_db()
    assert (response.status_code, stock.concentration_canonical, stock.version) == (302, 0.2, 2)
    assert list(stock.components.values_list("amount_value", flat=True)) == [15.8]


def test_stock_component_bad_unit_beside_that_component(member):
    se = builders.chemical("selenium powder", actor=member)
    response = _client(member).post("/stock-solutions/new/", _stock_post(se, **{
        "components-1-component": f"chemical:{se.pk}", "components-1-amount_value": "3",
        "components-1-amount_unit": "min"}))
    assert response.status_code == 400
    assert ('id="id_components-1-amount_unit_error"><span aria-hidden="true">✗</span> amount: '
            "unit &#x27;min&#x27; is a time, expected mass or volume or amount or concentration "
            "or mass concentration.</p>") in response.content.decode()
    assert (StockSolution.objects.count(), StockComponent.objects.count()) == (0, 0)


def test_stock_and_lot_forbidden_for_other_member(member, other_member):
    se = builders.chemical("selenium powder", actor=member)
    client = _client(member)
    client.post("/stock-solutions/new/", _stock_post(se))
    stock = StockSolution.objects.get()
    other = _client(other_member)
    assert other.post(f"/stock-solutions/{stock.pk}/edit/",
                      _stock_post(se, version="1", name="x")).status_code == 403
    assert other.post(f"/retire/stock/{stock.pk}/", {"reason": "x"}).status_code == 403
    assert client.post(f"/retire/stock/{stock.pk}/", {"reason": "precipitated"}).status_code \
        == 302
    assert f'id="stock-{stock.pk}"' not in client.get("/stock-solutions/").content.decode()


def test_record_lists_and_forms_need_a_login(db):
    for url in ("/chemicals/", "/chemicals/new/", "/lots/", "/lots/new/", "/stock-solutions/",
                "/stock-solutions/new/", "/recipes/", "/recipes/new/"):
        response = _client().get(url)
        assert (response.status_code, response["Location"]) == (
            302, f"/accounts/login/?next={url}")


def test_header_links_to_the_record_pages(member):
    html = _client(member).get("/").content.decode()
    for href, text in (("/samples/new/", "New sample"), ("/recipes/new/", "New recipe"),
                       ("/chemicals/", "Chemicals"), ("/stock-solutions/", "Stock solutions")):
        assert f'<li><a href="{href}" >{text}</a></li>' in html


@pytest.mark.parametrize("url", ["/chemicals/", "/lots/", "/stock-solutions/", "/recipes/"])
def test_record_list_query_count_same_for_1_and_3_items(url, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(member)

    def add(i):
        chemical = builders.chemical(f"chemical {i}", actor=member)
        services.create_record(model=ChemicalLot, data={"chemical": chemical,
                                                        "lot_number": f"L{i}"}, actor=member)
        services.create_stock_solution(data={"code": f"stock-{i}", "name": f"stock {i}"},
                                       components=[{"chemical": chemical, "amount_value": 1,
                                                    "amount_unit": "g"}], actor=member)
        services.create_recipe(data={"name": f"recipe {i}"}, inputs=[{"name": "cores"}],
                               steps=[{"action": "add", "additions": [
                                   {"chemical": chemical, "amount_value": 1,
                                    "amount_unit": "g"}]}], actor=member)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    add(1)
    one = count()
    add(2)
    add(3)
    assert count() == one
