"""Formulas with sub/superscripts and numbers rounded to their uncertainty (display only).

Rounding rule: the error keeps 1 significant digit, 2 when that digit is 1 (half-up on the
decimal digits as written); the value is rounded to the same decimal place. Published numbers
show their printed digits. The full value is kept in the ``title`` attribute.
"""

from __future__ import annotations

import pytest
from django.template import Context, Template

from web.templatetags.labdb_web import error_decimals, formula, rounded_pm


@pytest.mark.parametrize(("text", "html"), [
    ("Cd_xZn_{1-x}S", "Cd<sub>x</sub>Zn<sub>1−x</sub>S"),
    ("Hg_xCd_{1-x}Se", "Hg<sub>x</sub>Cd<sub>1−x</sub>Se"),
    ("CdSe/CdZnS", "CdSe/CdZnS"),
    ("Hg_xCd_{1-x}Se_{0.51}S_{0.49}",
     "Hg<sub>x</sub>Cd<sub>1−x</sub>Se<sub>0.51</sub>S<sub>0.49</sub>"),
    ("3.5 ML CdSe/Cd_xZn_{1-x}S core/gradient-shell NPL",
     "3.5 ML CdSe/Cd<sub>x</sub>Zn<sub>1−x</sub>S core/gradient-shell NPL"),
    ("Cd^{2+} and S^{2-}", "Cd<sup>2+</sup> and S<sup>2−</sup>"),
    ("Cd_{1-x", "Cd_{1-x"),  # not closed: left as typed
    ("", ""),
])
def test_formula_renders_markup(text, html):
    assert formula(text) == html


def test_formula_escapes_hostile_names():
    assert formula("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert formula("CdSe_{<img src=x onerror=alert(1)>}") == (
        "CdSe<sub>&lt;img src=x onerror=alert(1)&gt;</sub>")
    assert formula('a & "b" ^<b>') == "a &amp; &quot;b&quot; <sup>&lt;</sup>b&gt;"
    assert formula(None) == ""


def test_formula_filter_in_a_template_is_not_escaped_twice():
    html = Template("{% load labdb_web %}{{ name|formula }}").render(
        Context({"name": "Cd_xZn_{1-x}S <i>"}))
    assert html == "Cd<sub>x</sub>Zn<sub>1−x</sub>S &lt;i&gt;"


@pytest.mark.parametrize(("value", "err", "text"), [
    (2.50812, 0.003411, "2.508 ± 0.003"),
    (2.6139, 0.0143, "2.614 ± 0.014"),   # leading digit 1: two digits
    (0.00512, 0.00096, "0.0051 ± 0.0010"),  # 0.00096 rounds to 0.0010: leading 1, two digits
    (2.5, 0.95, "2.5 ± 1.0"),
    (2.5, 0.15, "2.50 ± 0.15"),
    (4.108, 4.681, "4 ± 5"),
    (1234.5, 23, "1230 ± 20"),
    (-0.0004, 0.002, "0.000 ± 0.002"),  # no "-0.000"
    (2.0085, 0.003, "2.009 ± 0.003"),  # half-up on the written digits
    (3.14159, None, "3.142"),  # no error: 4 significant digits
    (3.14159, float("nan"), "3.142"),
])
def test_rounded_pm_rule(value, err, text):
    assert rounded_pm(value, err) == text


def test_error_decimals():
    assert [error_decimals(e) for e in (0.003411, 0.0143, 0.0096, 0.95, 23, 150)] == [
        3, 3, 3, 1, -1, -1]


def test_pm_tag_keeps_full_precision_on_hover():
    html = Template('{% load labdb_web %}{% pm v e unit="Å" %}').render(
        Context({"v": 2.50812, "e": 0.003411}))
    assert html == '<span class="pm" title="2.50812 ± 0.003411 Å">2.508 ± 0.003 Å</span>'
    assert Template("{% load labdb_web %}{% pm v e %}").render(Context({"v": None})) == "—"


class _Path:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_measured_tag_rounds_published_numbers_and_keeps_the_printed_digits_on_hover():
    published = _Path(r_a=2.6139, r_err_a=0.0043,
                      as_printed={"r_a": "2.6139", "r_err_a": "0.0043"})
    trailing_zero = _Path(n=3.50, n_err=0.30, as_printed={"n": "3.50", "n_err": "0.30"})
    computed = _Path(r_a=2.50812, r_err_a=0.003411, as_printed={})
    template = Template('{% load labdb_web %}{% measured p "r_a" "r_err_a" "Å" %}')
    assert template.render(Context({"p": published})) == (
        '<span class="pm" title="2.6139 ± 0.0043 Å">2.614 ± 0.004 Å</span>')
    assert template.render(Context({"p": computed})) == (
        '<span class="pm" title="2.50812 ± 0.003411 Å">2.508 ± 0.003 Å</span>')
    assert Template('{% load labdb_web %}{% measured p "n" "n_err" %}').render(
        Context({"p": trailing_zero})) == '<span class="pm" title="3.50 ± 0.30">3.5 ± 0.3</span>'


def test_sample_page_layer_stack_renders_the_layer_formula(web, member):
    """The layer stack shows a layer's composition formula as chemistry, not as raw markup."""
    from synthesis import services

    sample = services.create_sample(
        data={"code": "FMT-LAYER-1", "name": "FMT-LAYER-1", "material": "CdSe/CdZnS",
              "morphology": "NPL"},
        layers=[{"material": "CdSe", "role": "core", "thickness_ml": 4.5},
                {"material": "CdZnS", "role": "shell", "composition_formula": "Cd_xZn_{1-x}S"}],
        parents=[], actor=member)
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    stack = html.split('class="layer-stack"', 1)[1].split("</ol>", 1)[0]
    assert "Cd<sub>x</sub>Zn<sub>1−x</sub>S" in stack
    assert "Cd_xZn_{1-x}S" not in stack
