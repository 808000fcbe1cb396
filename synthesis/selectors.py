"""Reads of the synthesis domain: list querysets with their prefetches, lineage, deviations."""

from __future__ import annotations

from django.db import connection
from django.db.models import Max, Prefetch, QuerySet

from synthesis.models import (
    Chemical,
    ChemicalLot,
    DataFlag,
    Paper,
    Recipe,
    RecipeStep,
    RunStep,
    Sample,
    SampleParent,
    StockSolution,
    SynthesisRun,
)

MAX_LINEAGE_DEPTH = 50

_ANCESTORS_SQL = """
WITH RECURSIVE lineage(id, depth) AS (
    SELECT parent_id, 1 FROM synthesis_sampleparent WHERE child_id = %s
    UNION
    SELECT sp.parent_id, lineage.depth + 1
    FROM synthesis_sampleparent sp JOIN lineage ON sp.child_id = lineage.id
    WHERE lineage.depth < %s
)
SELECT id, MIN(depth) FROM lineage GROUP BY id
"""

_DESCENDANTS_SQL = """
WITH RECURSIVE lineage(id, depth) AS (
    SELECT child_id, 1 FROM synthesis_sampleparent WHERE parent_id = %s
    UNION
    SELECT sp.child_id, lineage.depth + 1
    FROM synthesis_sampleparent sp JOIN lineage ON sp.parent_id = lineage.id
    WHERE lineage.depth < %s
)
SELECT id, MIN(depth) FROM lineage GROUP BY id
"""


def _depths(sql: str, sample_id: int) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [sample_id, MAX_LINEAGE_DEPTH])
        return {row[0]: row[1] for row in cursor.fetchall()}


def ancestor_ids(sample_id: int) -> dict[int, int]:
    """{ancestor id: generations up} of a sample, with one recursive SQL query."""
    return _depths(_ANCESTORS_SQL, sample_id)


def descendant_ids(sample_id: int) -> dict[int, int]:
    """{descendant id: generations down} of a sample, with one recursive SQL query."""
    return _depths(_DESCENDANTS_SQL, sample_id)


def sample_lineage(sample: Sample) -> dict:
    """Ancestors and descendants of ``sample`` with the edges between them (4 queries).

    Returns ``{"ancestors": [(Sample, depth)], "descendants": [(Sample, depth)],
    "edges": [SampleParent]}`` ordered by depth then code.
    """
    up = ancestor_ids(sample.pk)
    down = descendant_ids(sample.pk)
    ids = set(up) | set(down) | {sample.pk}
    samples = {s.pk: s for s in Sample.objects.filter(pk__in=ids)}
    edges = list(
        SampleParent.objects.filter(child_id__in=ids, parent_id__in=ids).order_by(
            "parent_id", "child_id"
        )
    )

    def ordered(depths):
        return sorted(
            ((samples[i], d) for i, d in depths.items() if i in samples),
            key=lambda item: (item[1], item[0].code),
        )

    return {"ancestors": ordered(up), "descendants": ordered(down), "edges": edges}


def sample_list(*, include_retired: bool = False) -> QuerySet[Sample]:
    """Samples with layers and parent ids prefetched: constant query count for any page."""
    qs = Sample.objects.select_related("owner", "produced_by").prefetch_related(
        "layers", Prefetch("parent_links", queryset=SampleParent.objects.order_by("parent_id"))
    )
    return qs if include_retired else qs.filter(is_retired=False)


def sample_api_list(*, include_retired: bool = False) -> QuerySet[Sample]:
    """Samples with exactly what the API's ``SampleSerializer`` reads (3 queries for any page).

    Its owner, producing run and paper are shown as ids, so they are not joined (``owner_id``
    … are columns of the sample); ``extra`` and ``retired_at``, which it does not show, are not
    read (no JSON decoding per row). Layers and parent links are prefetched as in
    ``sample_list``.
    """
    return sample_list(include_retired=include_retired).select_related(None).defer(
        "extra", "retired_at")


def recipe_list(*, include_retired: bool = False) -> QuerySet[Recipe]:
    qs = (
        Recipe.objects.select_related("paper", "owner")
        .prefetch_related(
            "inputs",
            Prefetch(
                "steps",
                queryset=RecipeStep.objects.prefetch_related(
                    "additions__chemical",
                    "additions__chemical_lot",
                    "additions__stock",
                    "additions__recipe_input",
                ),
            ),
        )
        .annotate(max_setpoint_c=Max("steps__setpoint_c"))
    )
    return qs if include_retired else qs.filter(is_retired=False)


def run_list(*, include_retired: bool = False) -> QuerySet[SynthesisRun]:
    qs = (
        SynthesisRun.objects.select_related("recipe", "operator", "owner")
        .prefetch_related(
            "inputs__recipe_input",
            "products",
            Prefetch(
                "steps",
                queryset=RunStep.objects.select_related("recipe_step").prefetch_related(
                    "additions__chemical",
                    "additions__chemical_lot",
                    "additions__stock",
                    "additions__recipe_input",
                    "recipe_step__additions",
                ),
            ),
        )
        .annotate(max_setpoint_c=Max("steps__setpoint_c"))
    )
    return qs if include_retired else qs.filter(is_retired=False)


def chemical_list(*, include_retired: bool = False) -> QuerySet[Chemical]:
    qs = Chemical.objects.select_related("owner")
    return qs if include_retired else qs.filter(is_retired=False)


def lot_list(*, include_retired: bool = False) -> QuerySet[ChemicalLot]:
    qs = ChemicalLot.objects.select_related("chemical", "owner")
    return qs if include_retired else qs.filter(is_retired=False)


def stock_list(*, include_retired: bool = False) -> QuerySet[StockSolution]:
    qs = StockSolution.objects.select_related(
        "solvent", "preparation", "prepared_by", "owner"
    ).prefetch_related("components__chemical", "components__chemical_lot", "components__stock")
    return qs if include_retired else qs.filter(is_retired=False)


def paper_list(*, include_retired: bool = False) -> QuerySet[Paper]:
    qs = Paper.objects.all()
    return qs if include_retired else qs.filter(is_retired=False)


def flag_list(*, include_retired: bool = False) -> QuerySet[DataFlag]:
    qs = DataFlag.objects.select_related("content_type", "owner")
    return qs if include_retired else qs.filter(is_retired=False)


# Fields compared when looking for deviations of a run from its recipe.
DEVIATION_STEP_FIELDS = (
    "action",
    "setpoint_c",
    "setpoint_max_c",
    "ramp_c_per_min",
    "duration_s",
    "atmosphere",
    "injection_rate_ml_per_h",
    "injection_start_c",
    "injection_switch_c",
    "injection_rate_after_switch_ml_per_h",
)
DEVIATION_ADDITION_FIELDS = (
    "amount_canonical",
    "equivalents",
    "chemical_id",
    "chemical_lot_id",
    "stock_id",
    "at_temperature_c",
)


def run_deviations(run: SynthesisRun) -> list[dict]:
    """Every difference between what the run did and what its recipe step said.

    Uses the prefetched ``steps`` of ``run_list()``; returns dicts with ``position``, ``field``,
    ``recipe_value``, ``actual_value`` and the step's ``note``.
    """
    out: list[dict] = []
    for step in run.steps.all():
        planned = step.recipe_step
        if planned is None:
            out.append(
                {
                    "position": step.position,
                    "field": "step",
                    "recipe_value": None,
                    "actual_value": step.action,
                    "note": step.deviation_note,
                }
            )
            continue
        for field in DEVIATION_STEP_FIELDS:
            if getattr(step, field) != getattr(planned, field):
                out.append(
                    {
                        "position": step.position,
                        "field": field,
                        "recipe_value": getattr(planned, field),
                        "actual_value": getattr(step, field),
                        "note": step.deviation_note,
                    }
                )
        planned_additions = list(planned.additions.all())
        for index, addition in enumerate(step.additions.all()):
            reference = planned_additions[index] if index < len(planned_additions) else None
            for field in DEVIATION_ADDITION_FIELDS:
                expected = getattr(reference, field) if reference else None
                if getattr(addition, field) != expected:
                    out.append(
                        {
                            "position": step.position,
                            "field": f"additions[{index + 1}].{field}",
                            "recipe_value": expected,
                            "actual_value": getattr(addition, field),
                            "note": step.deviation_note,
                        }
                    )
        if step.deviation_note and not any(d["position"] == step.position for d in out):
            out.append(
                {
                    "position": step.position,
                    "field": "note",
                    "recipe_value": None,
                    "actual_value": None,
                    "note": step.deviation_note,
                }
            )
    return out


# --- sample search: the list's ``?search=`` / ``q``, served by the search index -------------
#
# The index itself (an FTS5 trigram table on SQLite, a pg_trgm GIN expression index on
# PostgreSQL) is created and kept by ``web/search.py`` (web/migrations/0001 and its post_migrate
# hook); it indexes exactly ``SAMPLE_SEARCH_COLUMNS`` of live samples. These constants are the
# contract between the two modules: web.search imports them.

SEARCH_INDEX_TABLE = "web_search_index"  # SQLite FTS5 table; rowid = id * 8 + kind number
SAMPLE_SEARCH_KIND_NUMBER = 1
SAMPLE_SEARCH_COLUMNS = ("code", "name", "material")
_MIN_INDEXED_TERM_CHARS = 3  # a trigram index cannot narrow a 1- or 2-character term


def search_terms(query: str) -> list[str]:
    """The terms of a list search: ``query`` split at whitespace and commas (as DRF's
    SearchFilter splits), empty pieces dropped, duplicates (case-insensitive) removed."""
    seen: set[str] = set()
    terms: list[str] = []
    for term in (query or "").replace(",", " ").split():
        if term.lower() not in seen:
            seen.add(term.lower())
            terms.append(term)
    return terms


def _sample_search_text_sql(table: str) -> str:
    # Verbatim the expression the PostgreSQL index is built on (web.search.search_text_sql),
    # qualified so a join with another table's ``code``/``name`` cannot make it ambiguous.
    return " || ' ' || ".join(f"coalesce({table}.{c}, '')" for c in SAMPLE_SEARCH_COLUMNS)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_DENSITY_PROBE_ROWS = 2000
_DENSE_FRAC = 0.05


def _dense(term: str) -> bool:
    """True when ``term`` matches at least ``_DENSE_FRAC`` of a probe of the first
    ``_DENSITY_PROBE_ROWS`` samples (tables smaller than the probe: False).

    Why: a trigram index must read the posting list of every trigram of the term, and a common
    term (``CdSe-CdS``: its trigrams are in nearly every sample) costs a walk of most of the
    index (FTS5), or a bitmap of a quarter of the table that PostgreSQL's planner, which
    guesses ~10 rows for it, then sorts whole for one page (0.74 s at 100k samples). A plain
    check on the table read in ``code`` order finds a page of such matches within a few hundred
    rows, and the capped count stops after ``COUNT_CAP`` of them. Results are the same either
    way (the ``icontains`` check decides); only the plan differs.
    """
    pattern = f"%{_like_escape(term)}%"
    like = "LIKE" if connection.vendor == "sqlite" else "ILIKE"  # SQLite's LIKE ignores case
    where = " OR ".join(f"{c} {like} %s ESCAPE '\\'" for c in SAMPLE_SEARCH_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(sum(CASE WHEN {where} THEN 1 ELSE 0 END), 0) FROM "
            f"(SELECT {', '.join(SAMPLE_SEARCH_COLUMNS)} FROM {Sample._meta.db_table} LIMIT %s) "
            "AS probe",
            [*([pattern] * len(SAMPLE_SEARCH_COLUMNS)), _DENSITY_PROBE_ROWS])
        probed, hits = cursor.fetchone()
    return probed >= _DENSITY_PROBE_ROWS and hits >= _DENSE_FRAC * probed


def _indexed_candidates(queryset: QuerySet[Sample], term: str, *, include_retired: bool
                        ) -> QuerySet[Sample]:
    """Restrict ``queryset`` to the index's candidates for one term of 3+ characters."""
    table = Sample._meta.db_table
    if _dense(term):  # a common term: the ordered table beats the index (see _dense)
        return queryset
    if connection.vendor == "postgresql":
        # Served by the partial GIN index web_search_sample_trgm (WHERE NOT is_retired).
        return queryset.extra(
            where=[f"({_sample_search_text_sql(table)}) ILIKE %s"],
            params=[f"%{_like_escape(term)}%"],
        )
    if connection.vendor == "sqlite":
        phrase = '"' + term.replace('"', '""') + '"'  # an FTS5 trigram phrase: a substring
        candidates = (f"{table}.id IN (SELECT rowid / 8 FROM {SEARCH_INDEX_TABLE} "
                      f"WHERE {SEARCH_INDEX_TABLE} MATCH %s AND rowid %% 8 = "
                      f"{SAMPLE_SEARCH_KIND_NUMBER})")
        if include_retired:  # retired samples are not in the index: the check decides alone
            candidates = f"({candidates} OR {table}.is_retired)"
        return queryset.extra(where=[candidates], params=[phrase])
    return queryset


def search_samples(queryset: QuerySet[Sample], query: str, *, include_retired: bool = False
                   ) -> QuerySet[Sample]:
    """Samples of ``queryset`` whose code, name or material contains every term of ``query``.

    A term is a case-insensitive substring (``CdSe-CdS`` finds ``S000123-CdSe-CdS``); terms are
    separated by whitespace or commas and must all match, each in some field. Terms of three or
    more characters are looked up in the search index (no table scan); shorter ones are checked
    on the rows the longer ones leave (a scan only when every term is short). The index
    supplies candidates, the ``icontains`` check decides, so both databases return the same
    rows. An empty query returns ``queryset`` unchanged. Only live samples are in the index:
    pass ``include_retired=True`` when ``queryset`` holds retired ones (they are then checked
    without the index).
    """
    from django.db.models import Q

    for term in search_terms(query):
        if len(term) >= _MIN_INDEXED_TERM_CHARS:
            queryset = _indexed_candidates(queryset, term, include_retired=include_retired)
        match = Q()
        for column in SAMPLE_SEARCH_COLUMNS:
            match |= Q(**{f"{column}__icontains": term})
        queryset = queryset.filter(match)
    return queryset
