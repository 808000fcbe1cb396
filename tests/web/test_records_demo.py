"""The demo data (seed 000) opens in every editor, and saving a form unchanged changes nothing
but the version: the forms show every stored value the way the services read it back."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.db import transaction

from synthesis import selectors
from synthesis.models import Recipe, Sample, SynthesisRun
from tests.web.test_records_samples import _client

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """What a browser would submit for the first ``record-form`` on the page."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "record-form" in (a.get("class") or ""):
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.values.append((a["name"], a.get("value") or "on"))
            else:
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value") or ""))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.values.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def _submitted(html: str) -> dict[str, list[str]]:
    parser = _FormValues()
    parser.feed(html)
    out: dict[str, list[str]] = {}
    for name, value in parser.values:
        out.setdefault(name, []).append(value)
    return out


@pytest.fixture
def demo_curator(curator):
    from synthesis.demo import load_synthesis, read_demo_file

    with transaction.atomic():
        load_synthesis(read_demo_file("seed000.json"), actor=curator)
    return curator


def _resave(client, url: str):
    page = client.get(url)
    assert page.status_code == 200, url
    return client.post(url, _submitted(page.content.decode()))


def test_demo_runs_resaved_unchanged_keep_their_deviations(demo_curator):
    client = _client(demo_curator)
    runs = list(selectors.run_list())
    before = {r.pk: selectors.run_deviations(r) for r in runs}
    for run in runs:
        response = _resave(client, f"/runs/{run.pk}/edit/")
        assert response.status_code == 302, (run.code, response.content.decode()[-3000:])
    after = {r.pk: selectors.run_deviations(r) for r in selectors.run_list()}
    assert after == before
    assert set(SynthesisRun.objects.values_list("version", flat=True)) == {2}


def test_demo_recipes_resaved_unchanged_keep_their_steps(demo_curator):
    from synthesis.services import recipe_as_data

    client = _client(demo_curator)
    recipes = list(Recipe.objects.filter(is_current=True, runs=None))
    before = {r.slug: recipe_as_data(r)[2] for r in recipes}
    for recipe in recipes:
        response = _resave(client, f"/recipes/{recipe.pk}/edit/")
        assert response.status_code == 302, (recipe.slug, response.content.decode()[-3000:])
    after = {r.slug: recipe_as_data(r)[2] for r in Recipe.objects.filter(slug__in=before)}
    assert after == before


def test_demo_samples_resaved_unchanged_keep_layers_and_parents(demo_curator):
    client = _client(demo_curator)
    samples = list(Sample.objects.order_by("code"))

    def state():
        return {s.code: ([(x.role, x.material, x.thickness_ml, x.thickness_nm,
                           x.composition_x, x.composition_formula, x.gradient)
                          for x in s.layers.all()],
                         sorted((p.parent_id, p.process, p.note) for p in s.parent_links.all()),
                         s.storage_conditions, s.notes)
                for s in Sample.objects.prefetch_related("layers", "parent_links")}

    before = state()
    for sample in samples:
        response = _resave(client, f"/samples/{sample.pk}/edit/")
        assert response.status_code == 302, (sample.code, response.content.decode()[-3000:])
    assert state() == before
