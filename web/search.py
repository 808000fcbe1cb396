"""One search box over samples, runs, recipes, chemicals, lots and data files.

How it finds things (the same on both databases):

1. **Candidates** come from an index. PostgreSQL: a pg_trgm GIN index on each table's search
   text (``SEARCH_TEXT_SQL``), queried with ``ILIKE '%abc%'`` over the query's trigrams.
   SQLite: the FTS5 table ``web_search_index`` (trigram tokenizer), kept in sync by SQL
   triggers on the six tables, queried with ``"abc" OR "bcd" ...``. Both are created by
   ``web/migrations/0001_search_index.py``. Retired records are never in either.
2. **Ranking** is done here, in Python, with pg_trgm's trigram definition (lower-cased runs of
   letters and digits, padded ``"  word "``): ``coverage`` = the share of the query's trigrams
   found in a field, ``similarity`` = shared / all trigrams of both. A record scores the best of
   its fields; records below ``MIN_COVERAGE`` are dropped. Doing this step in one place is what
   makes both databases return the same hits in the same order. (Each index hands over at most
   ``CANDIDATES`` records per query, chosen by its own rank — bm25 or ``word_similarity`` — so
   on a very broad query over a large table the two may rank slightly different tails.)

Separators do not matter (``MSC 311`` finds ``MSC-311``: both are the words ``msc``, ``311``),
and one wrong, missing or doubled letter keeps most trigrams (``CdZnSS`` finds ``CdZnS``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from labdb.lib.errors import DomainError
from synthesis.selectors import (
    SAMPLE_SEARCH_COLUMNS,
    SAMPLE_SEARCH_KIND_NUMBER,
    SEARCH_INDEX_TABLE,
)

MAX_QUERY_CHARS = 200
MIN_COVERAGE = 0.5  # share of the query's trigrams a field must contain to be a hit
CANDIDATES = 300  # best by the index's own rank, per kind (PostgreSQL) or in all (SQLite)
FTS_TABLE = SEARCH_INDEX_TABLE  # the sample list's search (synthesis.selectors) reads it too

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Kind:
    """A kind of record the search box covers. ``number`` + 8·id is its row in the FTS table."""

    key: str
    label: str
    number: int
    table: str
    columns: tuple[str, ...]  # text columns searched, in the order shown


KINDS: tuple[Kind, ...] = (
    Kind("sample", "Samples", SAMPLE_SEARCH_KIND_NUMBER, "synthesis_sample",
         SAMPLE_SEARCH_COLUMNS),
    Kind("run", "Synthesis runs", 2, "synthesis_synthesisrun", ("code", "operator_name")),
    Kind("recipe", "Recipes", 3, "synthesis_recipe", ("name", "product_description", "citation")),
    Kind("chemical", "Chemicals", 4, "synthesis_chemical", ("name", "formula", "cas", "supplier")),
    Kind("lot", "Chemical lots", 5, "synthesis_chemicallot", ("lot_number", "location")),
    Kind("file", "Data files", 6, "characterization_datafile",
         ("original_name", "format", "technique")),
)
KIND_BY_KEY = {k.key: k for k in KINDS}
KIND_BY_NUMBER = {k.number: k for k in KINDS}


def search_text_sql(kind: Kind, row: str = "") -> str:
    """The SQL expression of a record's search text: its columns joined by spaces.

    ``row`` prefixes the columns (``NEW.`` in a trigger). The PostgreSQL index is built on
    exactly this expression, so queries must use it verbatim to be served by the index.
    """
    return " || ' ' || ".join(f"coalesce({row}{c}, '')" for c in kind.columns)


@dataclass(frozen=True)
class Hit:
    """One found record. ``title`` is its code or name, ``detail`` the other fields."""

    kind: str
    pk: int
    title: str
    detail: str
    coverage: float
    similarity: float
    record: object


# --- trigrams ------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: every other character is a separator."""
    return _WORD.findall((text or "").lower())


def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams of ``text``: each word padded with two spaces before, one after."""
    out: set[str] = set()
    for word in words(text):
        padded = f"  {word} "
        out.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return frozenset(out)


def field_score(query_trigrams: frozenset[str], text: str) -> tuple[float, float]:
    """(coverage, similarity) of one field against the query's trigrams, each in [0, 1]."""
    if not query_trigrams:
        return 0.0, 0.0
    field = trigrams(text)
    shared = len(query_trigrams & field)
    return shared / len(query_trigrams), shared / len(query_trigrams | field)


def _index_terms(query: str) -> tuple[list[str], list[str]]:
    """(inner trigrams of words of 3+ characters, shorter words) for the candidate lookup."""
    long_terms: list[str] = []
    short_words: list[str] = []
    for word in words(query):
        if len(word) < 3:
            short_words.append(word)
            continue
        for i in range(len(word) - 2):
            if word[i:i + 3] not in long_terms:
                long_terms.append(word[i:i + 3])
    return long_terms, short_words


# --- candidates ----------------------------------------------------------------------------

def _candidates_sqlite(terms: list[str], short: list[str]) -> dict[str, list[int]]:
    with connection.cursor() as cursor:
        if terms:
            match = " OR ".join(f'"{t}"' for t in terms)
            cursor.execute(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
                           f"ORDER BY bm25({FTS_TABLE}) LIMIT %s", [match, CANDIDATES])
        else:
            where = " OR ".join("body LIKE %s" for _ in short)
            cursor.execute(f"SELECT rowid FROM {FTS_TABLE} WHERE {where} LIMIT %s",
                           [f"%{w}%" for w in short] + [CANDIDATES])
        rowids = [row[0] for row in cursor.fetchall()]
    found: dict[str, list[int]] = {}
    for rowid in rowids:
        kind = KIND_BY_NUMBER.get(rowid % 8)
        if kind is not None:
            found.setdefault(kind.key, []).append(rowid // 8)
    return found


def _candidates_postgresql(query: str, terms: list[str], short: list[str]
                           ) -> dict[str, list[int]]:
    patterns = [f"%{t}%" for t in (terms or short)]
    found: dict[str, list[int]] = {}
    with connection.cursor() as cursor:
        for kind in KINDS:
            text = search_text_sql(kind)
            where = " OR ".join(f"({text}) ILIKE %s" for _ in patterns)
            cursor.execute(
                f"SELECT id FROM {kind.table} WHERE NOT is_retired AND ({where}) "
                f"ORDER BY word_similarity(%s, {text}) DESC, id LIMIT %s",
                [*patterns, query, CANDIDATES])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                found[kind.key] = ids
    return found


# --- records -------------------------------------------------------------------------------

def _querysets() -> dict[str, Callable[[], QuerySet]]:
    """Live records of each kind with only what a hit shows (no list prefetches: a search may
    rank hundreds of candidates)."""
    from characterization.selectors import data_file_list
    from synthesis import selectors

    def lean(qs: QuerySet, kind: str, *related: str) -> QuerySet:
        columns = KIND_BY_KEY[kind].columns
        return (qs.select_related(None).prefetch_related(None).select_related(*related)
                .only("id", *columns, *(f"{r}__{f}" for r, f in
                                        (x.split("__") for x in RELATED_FIELDS.get(kind, ())))))

    return {
        "sample": lambda: lean(selectors.sample_list(), "sample"),
        "run": lambda: lean(selectors.run_list(), "run", "recipe"),
        "recipe": lambda: lean(selectors.recipe_list(), "recipe"),
        "chemical": lambda: lean(selectors.chemical_list(), "chemical"),
        "lot": lambda: lean(selectors.lot_list(), "lot", "chemical"),
        "file": lambda: lean(data_file_list(), "file", "sample"),
    }


#: Fields of related records a hit shows beside its own columns.
RELATED_FIELDS = {"run": ("recipe__name",), "lot": ("chemical__name",),
                  "file": ("sample__code",)}


def _title_detail(kind: Kind, record) -> tuple[str, str]:
    values = [str(getattr(record, c) or "") for c in kind.columns]
    if kind.key == "lot":
        return record.lot_number, " · ".join(v for v in [record.chemical.name, *values[1:]] if v)
    if kind.key == "run":
        return record.code, record.recipe.name
    if kind.key == "file" and record.sample_id:
        values.append(record.sample.code)
    return values[0], " · ".join(v for v in values[1:] if v)


def _score(kind: Kind, record, query_trigrams: frozenset[str]) -> tuple[float, float]:
    return max(field_score(query_trigrams, str(getattr(record, c) or "")) for c in kind.columns)


def search(query: str, *, limit: int = 50) -> list[Hit]:
    """Live (not retired) records whose code, name, material, formula … resemble ``query``.

    Returns at most ``limit`` hits, best first: by coverage of the query's trigrams, then
    trigram similarity, then kind (in ``KINDS`` order), title and id. Separator- and
    case-insensitive, tolerant of a wrong, missing or doubled letter. An empty query (no letters
    or digits) returns ``[]``. Raises DomainError (field ``q``) for a query over
    ``MAX_QUERY_CHARS`` characters. Queries: one (SQLite) or six (PostgreSQL) for candidates,
    then one per kind that has candidates (at most ``CANDIDATES`` records each).
    """
    query = (query or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        raise DomainError(f"q: a search is at most {MAX_QUERY_CHARS} characters; "
                          f"this one has {len(query)}. Search for a code, name or formula.",
                          field="q")
    terms, short = _index_terms(query)
    if not terms and not short:
        return []
    if connection.vendor == "postgresql":
        candidates = _candidates_postgresql(query, terms, short)
    else:
        candidates = _candidates_sqlite(terms, short)
    query_trigrams = trigrams(query)
    querysets = _querysets()
    hits: list[Hit] = []
    for kind in KINDS:
        ids = candidates.get(kind.key)
        if not ids:
            continue
        for record in querysets[kind.key]().filter(pk__in=ids):
            coverage, similarity = _score(kind, record, query_trigrams)
            if coverage >= MIN_COVERAGE:
                title, detail = _title_detail(kind, record)
                hits.append(Hit(kind.key, record.pk, title, detail, round(coverage, 6),
                                round(similarity, 6), record))
    order = {k.key: i for i, k in enumerate(KINDS)}
    hits.sort(key=lambda h: (-h.coverage, -h.similarity, order[h.kind], h.title, h.pk))
    return hits[:limit]


def grouped(hits: list[Hit]) -> list[tuple[Kind, list[Hit]]]:
    """Hits grouped by kind; groups ordered by their best hit (``hits`` is already ranked)."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.kind, []).append(hit)
    return [(KIND_BY_KEY[key], items) for key, items in groups.items()]


# --- the index: created by web/migrations/0001, re-ensured after every migrate -------------
#
# SQLite drops a table's triggers whenever Django rebuilds the table (most AlterField/AddField
# migrations do), so ``ensure_search_index`` runs after every ``migrate`` (see web/apps.py):
# it re-creates missing triggers and refills the index rows of that kind. Data is never synced
# from Python: inserts, updates, retirements and deletes reach the index through the triggers.

def _trigger_names(kind: Kind) -> tuple[str, str, str]:
    return tuple(f"web_search_{kind.key}_{op}" for op in ("ai", "au", "ad"))  # type: ignore


def _sqlite_trigger_sql(kind: Kind) -> list[str]:
    ins, upd, dele = _trigger_names(kind)
    n = kind.number

    def row(prefix: str) -> str:
        return (f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT {prefix}.id * 8 + {n}, "
                f"{search_text_sql(kind, prefix + '.')} WHERE NOT {prefix}.is_retired;")

    return [
        f"CREATE TRIGGER IF NOT EXISTS {ins} AFTER INSERT ON {kind.table} BEGIN {row('NEW')} END",
        f"CREATE TRIGGER IF NOT EXISTS {upd} AFTER UPDATE ON {kind.table} BEGIN "
        f"DELETE FROM {FTS_TABLE} WHERE rowid = OLD.id * 8 + {n}; {row('NEW')} END",
        f"CREATE TRIGGER IF NOT EXISTS {dele} AFTER DELETE ON {kind.table} BEGIN "
        f"DELETE FROM {FTS_TABLE} WHERE rowid = OLD.id * 8 + {n}; END",
    ]


def _ensure_sqlite(cursor, tables: set[str]) -> list[str]:
    cursor.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
                   "USING fts5(body, tokenize = 'trigram')")
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    existing = {row[0] for row in cursor.fetchall()}
    refilled = []
    for kind in KINDS:
        if kind.table not in tables or set(_trigger_names(kind)) <= existing:
            continue
        for statement in _sqlite_trigger_sql(kind):
            cursor.execute(statement)
        cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid % 8 = {kind.number}")
        cursor.execute(f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT id * 8 + {kind.number}, "
                       f"{search_text_sql(kind)} FROM {kind.table} WHERE NOT is_retired")
        refilled.append(kind.key)
    return refilled


def _ensure_postgresql(cursor, tables: set[str]) -> list[str]:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if cursor.fetchone() is None:  # before web's migration has created the extension
        return []
    created = []
    for kind in KINDS:
        if kind.table not in tables:
            continue
        cursor.execute(f"CREATE INDEX IF NOT EXISTS web_search_{kind.key}_trgm ON {kind.table} "
                       f"USING gin (({search_text_sql(kind)}) gin_trgm_ops) "
                       "WHERE NOT is_retired")
        created.append(kind.key)
    if "synthesis_sample" in tables:
        _ensure_upper_statistics(cursor)
    return created


def _upper_statistics() -> list[tuple[str, str]]:
    """(name, column) of the planner statistics on ``UPPER(column::text)`` of the sample
    list's search columns (PostgreSQL)."""
    return [(f"web_search_sample_upper_{column}", column) for column in SAMPLE_SEARCH_COLUMNS]


def _ensure_upper_statistics(cursor) -> None:
    """Extended statistics on ``UPPER(column::text)`` of each sample search column (PostgreSQL
    14+), analysed at once when new; idempotent.

    Why: Django's ``icontains`` on PostgreSQL is ``UPPER(column::text) LIKE UPPER(%s)``, and
    without statistics on that expression the planner guesses a handful of matching rows for any
    term. For a common term (a quarter of the samples) it then sorts every match for one page
    instead of walking the ``code`` index and stopping after the page (page SQL at 10⁵ samples:
    76 ms with the guess, 0.1 ms with the statistics). The statistics cost nothing on writes;
    ANALYZE (autovacuum) keeps them current.
    """
    cursor.execute("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE %s",
                   ["web_search_sample_upper_%"])
    present = {name for (name,) in cursor.fetchall()}
    missing = [(name, column) for name, column in _upper_statistics() if name not in present]
    for name, column in missing:
        cursor.execute(f"CREATE STATISTICS IF NOT EXISTS {name} ON (upper({column}::text)) "
                       "FROM synthesis_sample")
    if missing:
        cursor.execute("ANALYZE synthesis_sample")


def ensure_search_index(conn=None) -> list[str]:
    """Create whatever part of the search index is missing; idempotent.

    SQLite: the FTS5 table and each kind's three triggers (a kind whose triggers were missing is
    refilled from its table). PostgreSQL: one partial GIN trigram index per table (the pg_trgm
    extension itself is created by the migration) and the planner statistics of
    ``_ensure_upper_statistics``. Returns the kinds (re)built or checked.
    """
    conn = conn or connection
    tables = set(conn.introspection.table_names())
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            return _ensure_sqlite(cursor, tables)
        if conn.vendor == "postgresql":
            return _ensure_postgresql(cursor, tables)
    return []


def drop_search_index(conn=None) -> None:
    """Remove the index (the migration's reverse)."""
    conn = conn or connection
    with conn.cursor() as cursor:
        for kind in KINDS:
            if conn.vendor == "sqlite":
                for name in _trigger_names(kind):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            elif conn.vendor == "postgresql":
                cursor.execute(f"DROP INDEX IF EXISTS web_search_{kind.key}_trgm")
        if conn.vendor == "postgresql":
            for name, _column in _upper_statistics():
                cursor.execute(f"DROP STATISTICS IF EXISTS {name}")
        if conn.vendor == "sqlite":
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
