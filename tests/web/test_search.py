"""The header search: the same hits on SQLite and PostgreSQL over the real demo data.

Run on both: ``.venv/bin/pytest -q tests/web/test_search.py`` and
``bash scripts/with_postgres.sh .venv/bin/pytest -q tests/web/test_search.py``. The expected
lists below are pinned once and must hold on both databases (that is the point).
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from labdb.lib.errors import DomainError
from tests.conftest import SHARED_DATA
from web.search import KINDS, search


@pytest.fixture(scope="module")
def demo_synthesis(django_db_setup, django_db_blocker):
    """Chemicals, recipes, runs and samples of the three demo papers (no measurements), loaded
    once for this module inside a transaction that is rolled back at its end."""
    from analysis.demo import ensure_demo_users
    from synthesis.demo import load_synthesis, read_demo_file

    with django_db_blocker.unblock(), transaction.atomic():
        actor = ensure_demo_users()
        for name in ("seed000.json", "seed002.json", "seed004.json"):
            load_synthesis(read_demo_file(name), actor=actor)
        yield actor
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_synthesis, db):
    return demo_synthesis


def _hits(query, limit=50):
    return [(h.kind, h.title) for h in search(query, limit=limit)]


def test_search_separator_msc_311_finds_msc_311_first(demo):
    assert _hits("MSC 311", limit=5) == [
        ("sample", "MSC-311"), ("run", "RUN-MSC-311"),
        ("recipe", "Reversible thermal isomerisation MSC-311 <-> MSC-322"),
        ("sample", "MSC-322"), ("run", "RUN-MSC-322")]
    assert _hits("msc-311", limit=2) == _hits("MSC_311", limit=2) == _hits("MSC 311", limit=2)


def test_search_core_shell_and_thickness_ranks_the_4_5_ml_samples_first(demo):
    assert _hits("CdSe/CdZnS 4.5", limit=6) == [
        ("sample", "NPL-CdSe/CdZnS-4.5ML"), ("sample", "NPL-CdSe/CdS/CdZnS-4.5ML"),
        ("run", "RUN-NPL-CdSe/CdZnS-4.5ML"), ("run", "RUN-NPL-CdSe/CdS/CdZnS-4.5ML"),
        ("sample", "NPL-CdSe/CdZnS-5.5ML"), ("sample", "NPL-CdSe/CdS/CdZnS-5.5ML")]


def test_search_typo_cdznss_finds_exactly_the_cdzns_samples(demo):
    from synthesis.models import Sample

    hits = search("CdZnSS", limit=100)
    samples = [h.title for h in hits if h.kind == "sample"]
    assert samples == [
        "NPL-CdSe/CdZnS-3.5ML", "NPL-CdSe/CdZnS-4.5ML", "NPL-CdSe/CdZnS-5.5ML",
        "S4-REF-CdSe/CdZnS-Invitrogen", "NPL-CdSe/CdS/CdZnS-3.5ML", "NPL-CdSe/CdS/CdZnS-4.5ML",
        "NPL-CdSe/CdS/CdZnS-5.5ML", "S4-HgSe/CdZnS-3.2nm", "S4-HgCdSe/CdZnS-3.2nm",
        "S4-QD1270"]
    assert set(samples) == set(Sample.objects.filter(material__contains="CdZnS")
                               .values_list("code", flat=True))
    assert hits[0].coverage == pytest.approx(5 / 7, abs=1e-6)  # 5 of the 7 query trigrams


def test_search_finds_chemicals_by_supplier_formula_and_cas(demo):
    from synthesis.models import Chemical

    assert _hits("oleic") == [("chemical", "oleic acid"),
                              ("recipe", "CdS MSC / RQD synthesis in oleic acid "
                                         "(procedure not given)"),
                              ("chemical", "oleylamine")]
    from synthesis.services import update_chemical

    cdo = Chemical.objects.get(name="cadmium oxide")
    assert _hits("1306-19-0") == []  # the demo data has no CAS numbers
    # Demo suppliers live on the papers' lots; the chemical gets one here.
    update_chemical(chemical=cdo, expected_version=cdo.version,
                    changes={"cas": "1306-19-0", "supplier": "Sigma-Aldrich"},
                    actor=demo)  # the update trigger re-indexes it
    assert _hits("1306 19 0", limit=1) == [("chemical", "cadmium oxide")]
    assert _hits("CdO", limit=2) == [("sample", "REF-CdO-bulk"), ("chemical", "cadmium oxide")]
    assert ("chemical", "cadmium oxide") in _hits("Sigma Aldrich", limit=100)


def test_search_short_word_uses_substring_fallback(demo):
    hits = search("Cd", limit=3)
    assert [(h.kind, h.title, h.coverage) for h in hits] == [
        ("chemical", "cadmium acetate anhydrous", 1.0),
        ("chemical", "cadmium acetate dihydrate", 1.0),
        ("chemical", "cadmium nitrate tetrahydrate", 1.0)]


def test_search_record_created_after_migration_is_found_and_retired_one_is_not(demo):
    from labdb.lib.records import retire_record
    from synthesis.services import create_sample, update_sample

    assert _hits("Zxqwv-77") == []
    sample = create_sample(data={"code": "ZXQWV-77", "name": "test batch Zxqwv",
                                 "material": "CdSe", "morphology": "QD"}, actor=demo)
    assert _hits("zxqwv 77", limit=1) == [("sample", "ZXQWV-77")]
    assert _hits("ZXQWW-77", limit=1) == [("sample", "ZXQWV-77")]  # one letter wrong
    sample = update_sample(sample=sample, expected_version=sample.version,
                           changes={"code": "YKJHR-78"}, actor=demo)
    assert _hits("ZXQWV-77") == [("sample", "YKJHR-78")]  # still by its name
    assert _hits("YKJHR 78", limit=1) == [("sample", "YKJHR-78")]
    retire_record(sample, reason="test of the search index", actor=demo)
    assert _hits("YKJHR 78") == []
    assert [h for h in search("MSC 322") if h.title == "MSC-322"] != []


def test_search_retired_demo_sample_disappears(demo):
    from labdb.lib.records import retire_record
    from synthesis.models import Sample

    assert _hits("MSC 322", limit=1) == [("sample", "MSC-322")]
    retire_record(Sample.objects.get(code="MSC-322"), reason="duplicate", actor=demo)
    hits = _hits("MSC 322", limit=20)
    assert hits[:2] == [("run", "RUN-MSC-322"),
                        ("recipe", "Reversible thermal isomerisation MSC-311 <-> MSC-322")]
    assert ("sample", "MSC-322") not in hits


def test_search_finds_a_data_file_by_original_name(demo):
    from characterization.services import attach_data_file
    from synthesis.models import Sample

    path = SHARED_DATA / "instruments" / "cary_csv" / "filters.csv"
    sample = Sample.objects.get(code="MSC-311")
    data_file, _ = attach_data_file(content=path.read_bytes(), filename="MSC311_abs_filters.csv",
                                    sample=sample, actor=demo)
    hits = search("MSC311 abs filters", limit=1)
    assert [(h.kind, h.pk, h.detail) for h in hits] == [
        ("file", data_file.pk, f"{data_file.format} · {data_file.technique} · MSC-311"
         .replace(" ·  · ", " · "))]


def test_search_empty_and_overlong_queries(demo):
    assert search("", limit=10) == []
    assert search("  / - ", limit=10) == []
    with pytest.raises(DomainError) as err:
        search("x" * 201, limit=10)
    assert err.value.field == "q"
    assert "at most 200 characters" in err.value.message


def test_search_index_is_in_place(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                           "AND name LIKE 'web_search_%' ORDER BY name")
            assert [r[0] for r in cursor.fetchall()] == sorted(
                f"web_search_{k.key}_{op}" for k in KINDS for op in ("ad", "ai", "au"))
        else:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexdef LIKE "
                           "'%%gin_trgm_ops%%' AND indexname LIKE 'web_search_%%' "
                           "ORDER BY indexname")
            assert [r[0] for r in cursor.fetchall()] == sorted(
                f"web_search_{k.key}_trgm" for k in KINDS)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm plan on PostgreSQL")
def test_search_postgresql_candidates_use_the_trigram_index(db):
    from web.search import search_text_sql

    kind = KINDS[0]
    with connection.cursor() as cursor:
        # On 60 rows the planner prefers the is_retired b-tree; without it (dropped inside
        # this test's transaction, rolled back) and without sequential scans, the candidate
        # query must be able to use the trigram index.
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s "
                       "AND indexdef LIKE '%%(is_retired)'", [kind.table])
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT id FROM {kind.table} WHERE NOT is_retired AND "
                       f"(({search_text_sql(kind)}) ILIKE %s)", ["%cdz%"])
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "web_search_sample_trgm" in plan


def test_search_page_groups_hits_by_kind_with_links(demo, client):
    from synthesis.models import Chemical, Recipe, Sample

    client.force_login(demo)
    response = client.get("/search/", {"q": "MSC 311"})
    assert response.status_code == 200
    html = response.content.decode()
    msc = Sample.objects.get(code="MSC-311")
    assert f'href="/samples/{msc.pk}/">MSC-311</a>' in html
    assert html.index('id="h-sample"') < html.index('id="h-run"') < html.index('id="h-recipe"')
    recipe = Recipe.objects.get(name__startswith="Reversible thermal isomerisation")
    assert (f'<a href="/recipes/{recipe.pk}/">Reversible thermal isomerisation MSC-311 '
            "&lt;-&gt; MSC-322</a>") in html
    oleic = client.get("/search/", {"q": "oleic acid"}).content.decode()
    chemical = Chemical.objects.get(name="oleic acid")
    assert f'<a href="/chemicals/#chemical-{chemical.pk}">oleic acid</a>' in oleic
    too_long = client.get("/search/", {"q": "x" * 201})
    assert too_long.status_code == 400
    assert "q: a search is at most 200 characters; this one has 201." in too_long.content.decode()


def test_search_page_escapes_a_hostile_query(demo, client):
    client.force_login(demo)
    html = client.get("/search/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_search_query_count_does_not_grow_with_hits(demo):
    from django.test.utils import CaptureQueriesContext

    from synthesis.services import create_sample

    with CaptureQueriesContext(connection) as before:
        assert len(search("MSC 311", limit=50)) == 6
    for i in range(3):
        create_sample(data={"code": f"MSC-311-B{i}", "name": f"repeat {i}", "material": "CdS",
                            "morphology": "MSC"}, actor=demo)
    with CaptureQueriesContext(connection) as after:
        assert len(search("MSC 311", limit=50)) == 9
    candidate_queries = 1 if connection.vendor == "sqlite" else len(KINDS)
    assert len(after.captured_queries) == len(before.captured_queries) == candidate_queries + 3
