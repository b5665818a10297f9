#!/usr/bin/python3
"""Filtered-search benchmark: k nearest neighbours among the rows that pass a WHERE.

Issue 19's measure, for the vector extension or any pgvector-compatible one
(it only uses SQL that pgvector 0.8 has):
  1. reads an fvecs data set (default sift-128) and gives every row one int
     column per selectivity (50 / 10 / 1 / 0.1 %: 2 / 10 / 100 / 1000 values),
     drawn uniformly and independently of the vectors; every query gets its
     own random value per column (seeded);
  2. loads `filt_items (id, embedding vector(D), c50, c10, c1, c0_1)` with a
     binary COPY, builds an hnsw index on the vector and a btree on each
     filter column, ANALYZEs and prewarms;
  3. computes the exact top k of every query over the rows that pass its
     filter (numpy, float64);
  4. per selectivity, hnsw.ef_search and hnsw.iterative_scan mode, runs
         SELECT id FROM filt_items WHERE c10 = $1 ORDER BY embedding <-> $2 LIMIT k
     one query at a time, prepared, in three plan settings: the planner's own
     choice, the hnsw index forced, and the exact btree plan forced (bitmap scan
     + sort, once per selectivity); EXPLAINs every query of every setting to
     record the plans actually used; reports recall@k, rows returned, QPS,
     p50/p99;
  5. runs ANALYZE --analyze-runs times and records after each which plan the
     planner picks for a fixed query per selectivity (plan stability);
  6. prints a table and writes everything to JSON; drops the table.

--index-filter (this extension only: pgvector has no filter columns in hnsw) also
builds, per filter column, a multi-column index `hnsw (embedding <opclass>, cNN)`
that applies the WHERE inside the graph walk, measures every query through it
too (plan setting `hnsw+f`, beside the single-column index's `hnsw`), and adds an
unfiltered pass (no WHERE) through the single-column index and each multi-column
one, with the indexes' sizes, to show what the filter column costs.

--labels makes each filter column an int4[] of 3 labels, `labels10` etc.: the row's
filter label (the value the scalar column would hold, at a random position in the array)
and 2 noise labels drawn from [1000, 1000000) (never a filter label, distinct), so that
`labels10 && ARRAY[v]` keeps exactly the rows `c10 = v` keeps (same rows, same query
values, same ground truth); the queries are `WHERE labels10 && ARRAY[$1]` (--labels-op
contains: `@>`). A GIN index on each labels column takes the btree's place (the exact plan
is its bitmap scan); --index-filter builds `hnsw (embedding <opclass>, labels10)`, and where
the extension has no array filter columns (pgvector) it warns and measures without them
(planner, single-column hnsw with the iterative modes, GIN exact plan).

Run it with Debian's python (psycopg 3 and numpy):
    /usr/bin/python3 bench/filtered.py --dsn "host=/tmp port=5432 user=postgres"
See bench/README.md for every flag.  Data-set, server and scoring helpers are bench/ann.py's.
"""

import argparse
import collections
import contextlib
import datetime
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.numeric import Int4

import ann
from ann import BenchError, log, warn

DEFAULT_SELECTIVITIES = [50.0, 10.0, 1.0, 0.1]   # percent
DEFAULT_EF_SEARCH = [40, 100]
ITERATIVE_MODES = ["off", "strict_order", "relaxed_order"]
DEFAULT_PGDATA = ann.DEFAULT_OUT_DIR / "filtered-pgdata"
GT_MARGIN = 32            # candidates re-ranked exactly beyond k
# GUCs reset for every setting, so that no setting inherits another's.
PLAN_GUCS = ("enable_seqscan", "enable_bitmapscan", "enable_indexscan")
# --labels: each labels column holds the filter label plus this many noise labels, drawn
# uniformly from [NOISE_LOW, NOISE_HIGH) (NOISE_LOW raised above the filter labels if needed).
NOISE_LABELS = 2
NOISE_LOW, NOISE_HIGH = 1000, 1_000_000
LABEL_OPS = {"overlap": "&&", "contains": "@>"}
INT4_OID = 23
REPORTED_SETTINGS = [
    "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
    "random_page_cost", "seq_page_cost", "cpu_tuple_cost", "cpu_operator_cost",
    "default_statistics_target", "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers", "jit", "plan_cache_mode",
    "hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples",
    "hnsw.scan_mem_multiplier", "vector.simd_level",
]


# --------------------------------------------------------------------------
# Data: filter columns, query values, filtered ground truth
# --------------------------------------------------------------------------

@dataclass
class Filter:
    """One selectivity: its column, how many values it takes, each query's value."""
    percent: float                # as asked (--selectivities)
    column: str                   # c50, c10, c1, c0_1
    n_values: int                 # 100 / percent, rounded
    values: np.ndarray            # (N,) int32, the column (--labels: each row's filter label)
    query_values: np.ndarray      # (Q,) int, each query's WHERE value
    labels: np.ndarray | None = None   # --labels: (N, 1 + NOISE_LABELS) int32, the arrays
    op: str = "="                 # "=", or with --labels "&&" / "@>"
    noise_low: int | None = None  # --labels: the noise labels' range [noise_low, NOISE_HIGH)
    btree: str | None = None      # the exact plan's index (btree; GIN with --labels), unless --no-btree
    filter_index: str | None = None               # hnsw (embedding, column), --index-filter
    gt: list = field(default_factory=list)          # per query: exact ids (<= k), nearest first
    kth: np.ndarray | None = None                   # per query: k-th exact distance (inf if < k rows)
    n_match: np.ndarray | None = None               # per query: rows passing the filter

    @property
    def label(self):
        return f"{self.percent:g} %" if self.column else "unfiltered"

    def where(self):
        """The WHERE of the query, its one parameter the filter value (int4)."""
        col = sql.Identifier(self.column)
        if self.op == "=":
            return sql.SQL("{} = %s::int4").format(col)
        return sql.SQL("{} {} ARRAY[%s::int4]").format(col, sql.SQL(self.op))

    def where_text(self):
        return f"{self.column} = v" if self.op == "=" else f"{self.column} {self.op} ARRAY[v]"


def column_name(percent, labels=False):
    return ("labels" if labels else "c") + f"{percent:g}".replace(".", "_").replace("-", "m")


def make_labels(values, n_values, seed):
    """--labels: per row an array of the row's filter label and NOISE_LABELS distinct noise
    labels from [low, NOISE_HIGH), low = max(NOISE_LOW, n_values) so that no noise label is
    a filter label; the filter label at a random position. Own generator (seed, n_values, 2):
    the filter labels are the scalar column's values."""
    rng = np.random.default_rng([seed, n_values, 2])
    low = max(NOISE_LOW, n_values)
    span = NOISE_HIGH - low
    if span < NOISE_LABELS:
        raise BenchError(f"--labels: {n_values} filter labels leave no room for noise labels "
                         f"below {NOISE_HIGH}")
    n = len(values)
    # distinct noise: the j-th is drawn among span - j offsets and moved past the j earlier
    # ones (in increasing order), so each row's noise labels are a uniform sample
    noise = np.empty((n, NOISE_LABELS), dtype=np.int64)
    for j in range(NOISE_LABELS):
        x = rng.integers(0, span - j, size=n)
        for e in np.sort(noise[:, :j], axis=1).T:
            x += x >= e
        noise[:, j] = x
    labels = np.concatenate([values[:, None].astype(np.int64), noise + low], axis=1)
    return rng.permuted(labels, axis=1).astype(np.int32), low


def make_filters(percents, n_rows, n_queries, seed, label_op=None):
    """The filter columns and query values, drawn uniformly. Each column and its query
    values have their own generator, seeded with (seed, number of values), so that a
    column does not change with the other --selectivities or their order. With label_op
    (--labels: "&&" or "@>") each column is an int4[]: the same value and noise labels."""
    filters = []
    for percent in percents:
        n_values = max(1, round(100.0 / percent))
        if abs(100.0 / n_values - percent) > 1e-6 * percent:
            warn(f"selectivity {percent:g} % is not 100 % / an integer: using {n_values} "
                 f"values, i.e. {100.0 / n_values:.4g} %")
        rows_rng = np.random.default_rng([seed, n_values, 0])
        query_rng = np.random.default_rng([seed, n_values, 1])
        f = Filter(percent=percent, column=column_name(percent, label_op is not None),
                   n_values=n_values,
                   values=rows_rng.integers(0, n_values, size=n_rows, dtype=np.int32),
                   query_values=query_rng.integers(0, n_values, size=n_queries))
        if label_op is not None:
            f.op = label_op
            f.labels, f.noise_low = make_labels(f.values, n_values, seed)
        filters.append(f)
    return filters


def full_distances(base64, base_sq, base_unit, query, metric):
    """Distances (float64) from `query` to every base row, ranked like the SQL operator
    (l2 without the constant |q|^2: only for choosing candidates)."""
    q = query.astype(np.float64)
    if metric == "l2":
        return base_sq - 2.0 * (base64 @ q)
    if metric == "ip":
        return -(base64 @ q)
    if metric == "cosine":
        norm = np.linalg.norm(q)
        return -(base_unit @ (q / norm)) if norm > 0 else np.zeros(len(base64))
    return np.abs(base64 - q).sum(axis=1)


def filtered_ground_truth(ds, filters, k):
    """Per filter and query: the exact top-k ids among the rows passing the filter
    (ties broken by lower id), the k-th distance and the number of passing rows."""
    log(f"exact filtered ground truth: {len(ds.queries)} queries x {len(ds.base)} rows, "
        f"{len(filters)} filters, metric {ds.metric}")
    base64 = ds.base.astype(np.float64)
    base_sq = (base64 * base64).sum(axis=1) if ds.metric == "l2" else None
    base_unit = ann._normalize_rows(base64) if ds.metric == "cosine" else None
    for f in filters:
        f.gt, f.kth = [], np.full(len(ds.queries), np.inf)
        f.n_match = np.zeros(len(ds.queries), dtype=np.int64)
    for i, query in enumerate(ds.queries):
        dist = full_distances(base64, base_sq, base_unit, query, ds.metric)
        for f in filters:
            ids = np.flatnonzero(f.values == f.query_values[i])
            f.n_match[i] = len(ids)
            depth = min(len(ids), k + GT_MARGIN)
            if depth < len(ids):
                ids = ids[np.argpartition(dist[ids], depth - 1)[:depth]]
            exact = ann.distances(ds.base, query, ids, ds.metric)
            order = np.lexsort((ids, exact))[:k]
            f.gt.append(ids[order])
            if len(order) == k:
                f.kth[i] = exact[order[-1]]


def score(ds, f, results, k):
    """recall@k over the queries of one setting, as ann.RecallScorer: a returned id that
    passes the filter and ties the k-th true distance counts as a hit. A query with
    fewer than k passing rows is scored against all of them."""
    hits = strict = wanted = rows = short = wrong = 0
    for i, result in enumerate(results):
        ids = list(dict.fromkeys(r[0] for r in result))
        truth = set(f.gt[i].tolist())
        want = len(truth)
        hit = truth.intersection(ids)
        others = [j for j in ids if j not in hit]
        valid = [j for j in others if 0 <= j < len(ds.base)
                 and f.values[j] == f.query_values[i]]
        wrong += len(others) - len(valid)
        ties = 0
        if valid and np.isfinite(f.kth[i]):
            d = ann.distances(ds.base, ds.queries[i], valid, ds.metric)
            limit = f.kth[i] + 1e-9 * abs(f.kth[i]) + 1e-12
            ties = int(np.count_nonzero(d <= limit))
        strict += len(hit)
        hits += min(want, len(hit) + ties)
        wanted += want
        rows += len(result)
        short += len(result) < want
    n = len(results)
    return {"recall": hits / wanted if wanted else 1.0,
            "recall_strict": strict / wanted if wanted else 1.0,
            "mean_rows": rows / n, "short_queries": short, "wrong_rows": wrong}


# --------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------

def ensure_extension(conn, name, private):
    """The extension in this database; in a private cluster created afresh (as ann.py)."""
    try:
        if private:
            conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error as e:
        raise BenchError(f"CREATE EXTENSION {name} failed: {e}".strip())
    # The library defines its GUCs when it is loaded: make this backend load it.
    try:
        conn.execute("SELECT '[1]'::vector")
    except psycopg.Error as e:
        raise BenchError(f"type vector does not work after CREATE EXTENSION {name}: {e}")
    if conn.execute("SELECT 1 FROM pg_am WHERE amname = 'hnsw'").fetchone() is None:
        raise BenchError(f"access method hnsw does not exist (extension {name})")


def extension_of_vector(conn):
    """(name, version) of the extension that owns type vector, whatever it is called."""
    return conn.execute(
        "SELECT e.extname, e.extversion FROM pg_type t "
        "JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid "
        "AND d.deptype = 'e' JOIN pg_extension e ON e.oid = d.refobjid "
        "WHERE t.oid = 'vector'::regtype").fetchone() or (None, None)


def guc_exists(conn, name):
    return conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (name,)).fetchone() is not None


def supported_modes(conn, wanted):
    """The iterative modes to run: all of `wanted` that the server knows; [None] (the
    GUC is not set at all) when it has no hnsw.iterative_scan."""
    row = conn.execute("SELECT enumvals FROM pg_settings WHERE name = 'hnsw.iterative_scan'"
                       ).fetchone()
    if row is None:
        warn("this server has no hnsw.iterative_scan (pgvector < 0.8?): iterative modes are "
             "skipped, every setting runs as the extension scans by default")
        return [None]
    known = set(row[0] or [])
    modes = [m for m in wanted if m in known]
    for m in wanted:
        if m not in known:
            warn(f"hnsw.iterative_scan has no value '{m}' here (it has {sorted(known)}): skipped")
    if not modes:
        raise BenchError("none of the --modes is a value of hnsw.iterative_scan")
    return modes


def copy_stream_chunks(base, filters):
    """The binary COPY stream of (id, embedding, filter columns...) rows; a --labels
    column as a one-dimensional int4 array without NULLs (array_recv's format)."""
    dim = base.shape[1]
    fields = [("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"),
              ("vec_len", ">i4"), ("dim", ">u2"), ("unused", ">u2"), ("vec", ">f4", (dim,))]
    for j, f in enumerate(filters):
        if f.labels is None:
            fields += [(f"len{j}", ">i4"), (f"val{j}", ">i4")]
        else:
            fields += [(f"len{j}", ">i4"), (f"ndim{j}", ">i4"), (f"hasnull{j}", ">i4"),
                       (f"elemtype{j}", ">i4"), (f"n{j}", ">i4"), (f"lbound{j}", ">i4"),
                       (f"items{j}", [("len", ">i4"), ("val", ">i4")], (f.labels.shape[1],))]
    row_type = np.dtype(fields)
    yield b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    for start in range(0, len(base), ann.COPY_CHUNK_ROWS):
        chunk = base[start:start + ann.COPY_CHUNK_ROWS]
        rows = np.empty(len(chunk), dtype=row_type)
        rows["nfields"] = 2 + len(filters)
        rows["id_len"] = 4
        rows["id"] = np.arange(start, start + len(chunk))
        rows["vec_len"] = 4 + 4 * dim
        rows["dim"] = dim
        rows["unused"] = 0
        rows["vec"] = chunk
        for j, f in enumerate(filters):
            if f.labels is None:
                rows[f"len{j}"] = 4
                rows[f"val{j}"] = f.values[start:start + len(chunk)]
                continue
            width = f.labels.shape[1]
            rows[f"len{j}"] = 20 + 8 * width
            rows[f"ndim{j}"] = 1
            rows[f"hasnull{j}"] = 0
            rows[f"elemtype{j}"] = INT4_OID
            rows[f"n{j}"] = width
            rows[f"lbound{j}"] = 1
            rows[f"items{j}"]["len"] = 4
            rows[f"items{j}"]["val"] = f.labels[start:start + len(chunk)]
        yield rows.tobytes()
    yield b"\xff\xff"


def load_table(conn, table, base, filters):
    """(Re)create the table and COPY everything in; returns seconds (VACUUM ANALYZE not timed)."""
    ident = sql.Identifier(table)
    columns = [sql.SQL("{} {} NOT NULL").format(sql.Identifier(f.column),
                                               sql.SQL("int" if f.labels is None else "int4[]"))
               for f in filters]
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, embedding vector({}){}{})").format(
        ident, sql.Literal(base.shape[1]), sql.SQL(", " if columns else ""),
        sql.SQL(", ").join(columns)))
    names = sql.SQL(", ").join(sql.Identifier(c) for c in
                               ["id", "embedding"] + [f.column for f in filters])
    log(f"loading {len(base)} rows into {table}")
    start = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(ident, names)) as cp:
            for chunk in copy_stream_chunks(base, filters):
                cp.write(chunk)
    seconds = time.perf_counter() - start
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))
    return seconds


def hnsw_params(args):
    """WITH (...) of every hnsw index built: m, ef_construction, and bits if asked."""
    params = {"m": args.m, "ef_construction": args.ef_construction}
    if args.bits is not None:
        params["bits"] = args.bits
    return params


def create_hnsw(conn, name, table, opclass, params, filter_column=None):
    """CREATE INDEX name ON table USING hnsw (embedding opclass[, filter_column]);
    returns seconds."""
    keys = sql.SQL("embedding {}").format(sql.Identifier(opclass))
    if filter_column:
        keys = sql.SQL("{}, {}").format(keys, sql.Identifier(filter_column))
    statement = sql.SQL("CREATE INDEX {} ON {} USING hnsw ({}) WITH ({})").format(
        sql.Identifier(name), sql.Identifier(table), keys,
        sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(v))
                           for k, v in params.items()))
    log(f"building: {statement.as_string(conn)}")
    start = time.perf_counter()
    try:
        conn.execute(statement)
    except psycopg.Error as e:
        if filter_column and not conn.closed:     # a lost connection is not a refusal
            raise BenchError(f"--index-filter: this extension cannot build an hnsw index with a "
                             f"filter column ({statement.as_string(conn)}): {e}".strip())
        if "bits" in params:
            raise BenchError(f"CREATE INDEX with bits = {params['bits']} failed (--bits; "
                             f"pgvector has no such option): {e}".strip())
        raise
    return time.perf_counter() - start


def check_index_filter_support(conn, opclass, dim, labels=False):
    """Fail early, before the data are loaded, when the extension cannot build a
    multi-column hnsw index (pgvector: "access method "hnsw" does not support
    multicolumn indexes"): the CREATE INDEX on an empty temporary table, rolled back.
    With labels (the filter column int4[]) it does not fail: it returns why the
    extension refused, None when it can."""
    column_type = "int4[]" if labels else "int"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("CREATE TEMP TABLE filt_probe (embedding vector({}), c {})")
                         .format(sql.Literal(dim), sql.SQL(column_type)))
            conn.execute(sql.SQL("CREATE INDEX ON filt_probe USING hnsw (embedding {}, c)")
                         .format(sql.Identifier(opclass)))
    except psycopg.Error as e:
        message = (str(e).strip().splitlines() or [""])[0]     # without HINT / DETAIL
        failed = (f"CREATE INDEX ... USING hnsw (embedding {opclass}, c) with c {column_type} "
                  f"failed: {message if labels else str(e).strip()}")
        if labels:
            return failed
        raise BenchError("--index-filter needs hnsw indexes with filter columns, which this "
                         f"extension does not have: {failed}")
    return None


def relation_mib(conn, name):
    return conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()[0] / 2**20


def build_indexes(conn, args, opclass, filters, index_filter):
    """The hnsw index on the vector, with index_filter (--index-filter, where the extension
    can) one hnsw (embedding, column) per filter column, and a btree per filter column
    (GIN per labels column); returns their report."""
    table = args.table
    if args.maintenance_work_mem:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(
            sql.Literal(args.maintenance_work_mem)))
    params = hnsw_params(args)
    hnsw = f"{table}_embedding_hnsw_idx"
    hnsw_s = create_hnsw(conn, hnsw, table, opclass, params)
    filter_indexes = []
    if index_filter:
        for f in filters:
            f.filter_index = f"{table}_embedding_{f.column}_hnsw_idx"
            seconds = create_hnsw(conn, f.filter_index, table, opclass, params, f.column)
            filter_indexes.append({"column": f.column, "name": f.filter_index,
                                   "build_s": seconds,
                                   "size_mib": relation_mib(conn, f.filter_index)})
    btree_s = 0.0
    method = "gin" if args.labels else "btree"
    if not args.no_btree:
        start = time.perf_counter()
        for f in filters:
            f.btree = f"{table}_{f.column}_idx"
            conn.execute(sql.SQL("CREATE INDEX {} ON {} USING {} ({})").format(
                sql.Identifier(f.btree), sql.Identifier(table), sql.SQL(method),
                sql.Identifier(f.column)))
        btree_s = time.perf_counter() - start
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return {"hnsw": hnsw, "hnsw_build_s": hnsw_s, "hnsw_size_mib": relation_mib(conn, hnsw),
            "params": params, "opclass": opclass,
            "filter_indexes": filter_indexes,
            "exact_index_method": method,     # of the "btrees" (GIN with --labels)
            "btrees": [f.btree for f in filters if f.btree],
            "btree_sizes_mib": {f.btree: relation_mib(conn, f.btree) for f in filters if f.btree},
            "btree_build_s": btree_s,
            "maintenance_work_mem": conn.execute("SHOW maintenance_work_mem").fetchone()[0]}


def prewarm(conn, table):
    """pg_prewarm the table, its TOAST table and all its indexes, if pg_prewarm is there."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except psycopg.Error as e:
        warn(f"pg_prewarm is not available ({e}); the warm-up passes warm the cache")
        return None
    relations = conn.execute(
        "SELECT oid::regclass::text FROM pg_class WHERE oid = %s::regclass "
        "UNION ALL SELECT reltoastrelid::regclass::text FROM pg_class "
        "WHERE oid = %s::regclass AND reltoastrelid <> 0 "
        "UNION ALL SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
        (table, table, table)).fetchall()
    blocks = {rel: conn.execute("SELECT pg_prewarm(%s::regclass)", (rel,)).fetchone()[0]
              for (rel,) in relations}
    log(f"prewarmed {blocks}")
    return blocks


def index_methods(conn, table, filters=()):
    """Index name -> what plans call it: the access method name, and for the
    --index-filter indexes 'hnsw+<column>'."""
    rows = conn.execute(
        "SELECT c.relname, a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass", (table,)).fetchall()
    methods = dict(rows)
    for f in filters:
        if f.filter_index:
            methods[f.filter_index] = f"hnsw+{f.column}"
    return methods


def set_gucs(conn, gucs):
    for name, value in gucs.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(name), sql.Literal(value)))


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------

def summarize_plan(plan, methods):
    """(short label, node chain) of an EXPLAIN (FORMAT JSON) plan: the label names the
    access path that reads the table: 'hnsw', 'hnsw+c10' (the --index-filter index
    of c10; '(WHERE as Filter)' added when the WHERE is a Filter of that scan rather
    than an Index Cond), 'btree bitmap', 'btree', 'seq scan'."""
    nodes, scans = [], []
    for node in ann._plan_nodes(plan):
        kind, index = node.get("Node Type"), node.get("Index Name")
        nodes.append(kind + (f" using {index}" if index else ""))
        parallel = "parallel " if node.get("Parallel Aware") else ""
        if kind in ("Index Scan", "Index Only Scan"):
            label = methods.get(index, index or "?")
            if label.startswith("hnsw+") and "Filter" in node and "Index Cond" not in node:
                label += " (WHERE as Filter)"
            scans.append(parallel + label)
        elif kind == "Bitmap Index Scan":
            scans.append(methods.get(index, index or "?") + " bitmap")
        elif kind == "Seq Scan":
            scans.append(parallel + "seq scan")
    label = " + ".join(dict.fromkeys(scans)) or "?"
    return label, " -> ".join(nodes)


class Planner:
    """EXPLAINs the benchmark query the way it is executed: with the query's own values
    (custom plans, plan_cache_mode = force_custom_plan; the values are sent as parameters,
    as in the timed passes), or the one generic plan of the prepared statement
    (force_generic_plan; PREPARE + EXPLAIN EXECUTE)."""

    def __init__(self, conn, methods, generic, vectors, texts):
        self.conn, self.methods, self.generic = conn, methods, generic
        self.vectors, self.texts = vectors, texts     # binary parameters, text literals
        self.chains = {}                    # label -> a node chain of that label

    def explain(self, statement, value, qi):
        """(label, total cost) of the plan of `statement` for filter value `value` and
        query vector number `qi` (value None: the unfiltered statement, the vector its
        only parameter)."""
        if self.generic:
            numbered = statement
            for n in range(1, statement.count("%s") + 1):
                numbered = numbered.replace("%s", f"${n}", 1)
            literals = ([] if value is None else [sql.Literal(int(value))]) + \
                [sql.Literal(self.texts[qi])]
            self.conn.execute(f"PREPARE filt_probe AS {numbered}")
            try:
                plan = self.conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE filt_probe({})")
                                         .format(sql.SQL(", ").join(literals))).fetchone()[0]
            finally:
                self.conn.execute("DEALLOCATE filt_probe")
        else:
            params = ([] if value is None else [Int4(int(value))]) + [self.vectors[qi]]
            with self.conn.cursor() as cur:
                cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
                plan = cur.fetchone()[0]
        plan = plan[0]["Plan"]
        label, chain = summarize_plan(plan, self.methods)
        self.chains.setdefault(label, chain)
        return label, plan.get("Total Cost")

    def census(self, statement, values):
        """Counter of the plan labels of all queries (query i with filter value values[i];
        one EXPLAIN for the generic plan, which is the same for all)."""
        if self.generic:
            return collections.Counter({self.explain(statement, values[0], 0)[0]: len(values)})
        return collections.Counter(self.explain(statement, v, i)[0] for i, v in enumerate(values))


def describe_counts(counts):
    """'hnsw' or 'hnsw 150, btree bitmap 50' (most common first)."""
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{label} {n}" for label, n in counts.most_common())


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------

@dataclass
class Setting:
    filter: Filter
    kind: str                     # planner | hnsw | hnsw+f | exact | unfiltered
    ef_search: int | None
    mode: str | None              # hnsw.iterative_scan value; None = not set
    gucs: dict
    hide_btree: bool = False      # hnsw forced by dropping the btree in a rolled-back transaction
    hidden: tuple = ()            # hnsw indexes dropped the same way (--index-filter)
    index: str | None = None      # the index a forced hnsw setting must use
    plans: collections.Counter | None = None
    plan_ok: bool = True
    runs: list = field(default_factory=list)


def statement_for(conn, table, f, metric, k):
    op = ann.METRICS[metric][0]
    return sql.SQL("SELECT id FROM {} WHERE {} ORDER BY embedding {} %s::vector "
                   "LIMIT {}").format(sql.Identifier(table), f.where(),
                                      sql.SQL(op), sql.Literal(k)).as_string(conn)


FORCED_HNSW = {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_indexscan": "on"}


def settings_for(f, efs, modes, no_btree, hnsw, filter_indexes):
    """The settings of one selectivity: planner and hnsw per ef_search and mode (and
    hnsw+f: f's own (embedding, column) index, with --index-filter), then exact.
    `hnsw` is the single-column index, `filter_indexes` all --index-filter indexes."""
    out = []
    for ef in efs:
        for mode in modes:
            base = {"hnsw.ef_search": ef}
            if mode is not None:
                base["hnsw.iterative_scan"] = mode
            out.append(Setting(f, "planner", ef, mode, {**base, "enable_seqscan": "on",
                                                        "enable_bitmapscan": "on",
                                                        "enable_indexscan": "on"}))
            out.append(Setting(f, "hnsw", ef, mode, {**base, **FORCED_HNSW},
                               hidden=tuple(filter_indexes), index=hnsw))
            if f.filter_index:
                out.append(Setting(f, "hnsw+f", ef, mode, {**base, **FORCED_HNSW},
                                   hidden=(hnsw,) + tuple(i for i in filter_indexes
                                                          if i != f.filter_index),
                                   index=f.filter_index))
    # exact: no index scan (so no hnsw), and the btree's bitmap scan rather than a seq scan
    out.append(Setting(f, "exact", None, None, {"enable_seqscan": "on" if no_btree else "off",
                                                "enable_bitmapscan": "on",
                                                "enable_indexscan": "off"}))
    return out


def unfiltered_statement_for(conn, table, metric, k):
    op = ann.METRICS[metric][0]
    return sql.SQL("SELECT id FROM {} ORDER BY embedding {} %s::vector LIMIT {}").format(
        sql.Identifier(table), sql.SQL(op), sql.Literal(k)).as_string(conn)


def unfiltered_settings(unfiltered, efs, modes, hnsw, filter_indexes):
    """--index-filter: the query without WHERE per ef_search, through the single-column
    index and through each (embedding, column) index, the others hidden; iterative scan
    off (LIMIT k never needs more than ef_search rows)."""
    out = []
    for ef in efs:
        base = {"hnsw.ef_search": ef, **FORCED_HNSW}
        if modes != [None]:
            base["hnsw.iterative_scan"] = "off"
        every = [hnsw] + list(filter_indexes)
        for index in every:
            out.append(Setting(unfiltered, "unfiltered", ef, base.get("hnsw.iterative_scan"),
                               dict(base), hidden=tuple(i for i in every if i != index),
                               index=index))
    return out


@contextlib.contextmanager
def applied(conn, setting):
    """SET the setting's GUCs; for a hidden btree or hnsw index, drop it inside a
    transaction that is rolled back on exit (the index is back, untouched, afterwards)."""
    set_gucs(conn, setting.gucs)
    drops = list(setting.hidden) + ([setting.filter.btree] if setting.hide_btree else [])
    if not drops:
        yield
        return
    with conn.transaction(force_rollback=True):
        for name in drops:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        yield


def check_setting(conn, planner, setting, statement, methods):
    """Census of the plans of every query; forces hnsw by hiding the btree if needed."""
    f = setting.filter
    values = f.query_values if f.column else [None] * len(f.query_values)
    with applied(conn, setting):
        setting.plans = planner.census(statement, values)
    wanted = {methods[setting.index]} if setting.index else None
    if wanted and set(setting.plans) != wanted and f.btree:
        setting.hide_btree = True
        with applied(conn, setting):
            setting.plans = planner.census(statement, values)
    if wanted:
        setting.plan_ok = set(setting.plans) == wanted
    elif setting.kind == "exact":
        setting.plan_ok = not any(label.startswith("hnsw") for label in setting.plans)
    if not setting.plan_ok:
        warn(f"{f.label}, {setting.kind} plan not forced: {describe_counts(setting.plans)}")


def run_queries(cur, statement, params):
    """One pass: (per-query seconds, rows per query, wall seconds)."""
    clock = time.perf_counter
    latencies = np.empty(len(params))
    results = []
    start = clock()
    for i, p in enumerate(params):
        t0 = clock()
        cur.execute(statement, p, prepare=True)
        rows = cur.fetchall()
        latencies[i] = clock() - t0
        results.append(rows)
    return latencies, results, clock() - start


def measure(conn, ds, setting, statement, params, k):
    """A warm-up pass and a timed pass under the setting; returns the figures."""
    with applied(conn, setting):
        with conn.cursor() as cur:
            run_queries(cur, statement, params)
            latencies, results, wall = run_queries(cur, statement, params)
    return {**score(ds, setting.filter, results, k),
            "qps": len(params) / wall,
            "p50_ms": float(np.percentile(latencies, 50) * 1000),
            "p99_ms": float(np.percentile(latencies, 99) * 1000),
            "mean_ms": float(latencies.mean() * 1000)}


def summarize_runs(runs):
    keys = ["recall", "recall_strict", "mean_rows", "short_queries", "wrong_rows",
            "qps", "p50_ms", "p99_ms", "mean_ms"]
    return {key: statistics.median(r[key] for r in runs) for key in keys}


def plan_stability(conn, planner, filters, statements, args, efs, modes):
    """ANALYZE --analyze-runs times; after each, the plan of query 0 per selectivity,
    ef_search and mode, the planner's row estimate for its filter, and (at the first
    ef_search and mode) the plan of every query."""
    table = sql.Identifier(args.table)
    combos = [(ef, mode) for ef in efs for mode in modes]
    out = {f.column: {"sample_value": int(f.query_values[0]), "actual_rows": int(f.n_match[0]),
                      "estimated_rows": [], "hnsw_share_all_queries": [],
                      "plans": {f"{ef}/{mode}": [] for ef, mode in combos},
                      "all_queries_setting": f"{combos[0][0]}/{combos[0][1]}"}
           for f in filters}
    set_gucs(conn, {g: "on" for g in PLAN_GUCS})
    for run in range(args.analyze_runs):
        conn.execute(sql.SQL("ANALYZE {}").format(table))
        for f in filters:
            entry = out[f.column]
            value = Int4(int(f.query_values[0]))
            est = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}")
                               .format(table, f.where()), (value,)
                               ).fetchone()[0][0]["Plan"]["Plan Rows"]
            entry["estimated_rows"].append(est)
            for ef, mode in combos:
                gucs = {"hnsw.ef_search": ef}
                if mode is not None:
                    gucs["hnsw.iterative_scan"] = mode
                set_gucs(conn, gucs)
                label, _ = planner.explain(statements[f.column], f.query_values[0], 0)
                entry["plans"][f"{ef}/{mode}"].append(label)
                if (ef, mode) == combos[0] and args.analyze_all_queries:
                    counts = planner.census(statements[f.column], f.query_values)
                    entry["hnsw_share_all_queries"].append(
                        sum(n for label, n in counts.items() if label.startswith("hnsw"))
                        / len(f.query_values))
        log(f"plan stability: ANALYZE {run + 1}/{args.analyze_runs}")
    for entry in out.values():
        entry["distinct_plans"] = {key: len(set(seq)) for key, seq in entry["plans"].items()}
    return out


def server_info(conn, mode):
    """Versions, the extension that owns type vector, and the session's settings as the
    measuring starts (the search GUCs are then set per setting)."""
    ext_name, ext_version = extension_of_vector(conn)
    return {"mode": mode,
            "version": conn.execute("SELECT version()").fetchone()[0],
            "server_version": conn.execute("SHOW server_version").fetchone()[0],
            "extension": ext_name, "extension_version": ext_version,
            "settings": {name: conn.execute("SELECT current_setting(%s, true)", (name,))
                         .fetchone()[0] for name in REPORTED_SETTINGS}}


def benchmark(conn, args, ds, mode):
    report = {"tool": "bench/filtered.py",
              "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": sys.argv}
    ensure_extension(conn, args.extension, private=(mode == "private"))
    opclass = ann.METRICS[ds.metric][1]
    index_filter, no_index_filter = args.index_filter, None
    if args.index_filter:
        no_index_filter = check_index_filter_support(conn, opclass, ds.base.shape[1],
                                                     labels=args.labels)
        if no_index_filter:
            warn(f"--index-filter: this extension has no array filter columns in hnsw "
                 f"({no_index_filter}); measuring without them: planner, single-column hnsw "
                 f"and the GIN plan")
            index_filter = False
    modes = supported_modes(conn, args.modes)
    label_op = LABEL_OPS[args.labels_op] if args.labels else None
    filters = make_filters(args.selectivities, len(ds.base), len(ds.queries), args.seed,
                           label_op)
    # --index-filter: the unfiltered queries are scored as a filter every row passes
    unfiltered = None
    if index_filter:
        unfiltered = Filter(percent=100.0, column=None, n_values=1,
                            values=np.zeros(len(ds.base), dtype=np.int32),
                            query_values=np.zeros(len(ds.queries), dtype=np.int64))
    filtered_ground_truth(ds, filters + ([unfiltered] if unfiltered else []), args.k)

    load_s = load_table(conn, args.table, ds.base, filters)
    indexes = build_indexes(conn, args, opclass, filters, index_filter)
    indexes["index_filter_refused"] = no_index_filter
    prewarmed = prewarm(conn, args.table)
    methods = index_methods(conn, args.table, filters)
    filter_indexes = [fi["name"] for fi in indexes["filter_indexes"]]

    conn.execute(sql.SQL("SET plan_cache_mode = {}").format(
        sql.Literal("force_generic_plan" if args.plan_cache == "generic" else "force_custom_plan")))
    if args.jit == "off":
        conn.execute("SET jit = off")
    if args.max_scan_tuples is not None:
        if guc_exists(conn, "hnsw.max_scan_tuples"):
            set_gucs(conn, {"hnsw.max_scan_tuples": args.max_scan_tuples})
        else:
            warn("this server has no hnsw.max_scan_tuples: --max-scan-tuples ignored")
    server = server_info(conn, mode)
    vectors = ann.binary_params(conn, ds.queries)
    planner = Planner(conn, methods, args.plan_cache == "generic", vectors,
                      [ann.vector_text(q) for q in ds.queries])
    statements = {f.column: statement_for(conn, args.table, f, ds.metric, args.k)
                  for f in filters}

    settings = []
    for f in filters:
        params = [(Int4(int(v)), vec) for v, vec in zip(f.query_values, vectors)]
        for s in settings_for(f, args.ef_search, modes, args.no_btree, indexes["hnsw"],
                              filter_indexes):
            check_setting(conn, planner, s, statements[f.column], methods)
            settings.append((s, params, statements[f.column]))
    unfiltered_statement = None
    if unfiltered:
        unfiltered_statement = unfiltered_statement_for(conn, args.table, ds.metric, args.k)
        params = [(vec,) for vec in vectors]
        for s in unfiltered_settings(unfiltered, args.ef_search, modes, indexes["hnsw"],
                                     filter_indexes):
            check_setting(conn, planner, s, unfiltered_statement, methods)
            settings.append((s, params, unfiltered_statement))
    log(f"{len(settings)} settings, {len(ds.queries)} queries each, {args.repeat} round(s)")
    for r in range(args.repeat):
        for n, (s, params, statement) in enumerate(settings):
            log(f"round {r + 1}/{args.repeat}: {s.filter.label} {s.kind}"
                + (f" ef_search={s.ef_search} iterative={s.mode}" if s.kind != "exact" else "")
                + (f" index={s.index}" if s.index else ""))
            # Its own statement text per setting, so its own prepared statement: a cached
            # (generic) plan made under another setting's GUCs must not serve it.
            tagged = f"{statement} /* setting {n} */"
            s.runs.append(measure(conn, ds, s, tagged, params, args.k))

    results = []
    for s, _, _ in settings:
        results.append({
            "selectivity_percent": s.filter.percent, "column": s.filter.column,
            "plan_setting": s.kind, "ef_search": s.ef_search, "iterative_scan": s.mode,
            "gucs": s.gucs, "btree_hidden": s.hide_btree,
            "index": s.index, "indexes_hidden": list(s.hidden),
            "plans": dict(s.plans), "plan": describe_counts(s.plans), "plan_forced_ok": s.plan_ok,
            **summarize_runs(s.runs), "runs": s.runs})
        if results[-1]["wrong_rows"]:
            warn(f"{s.filter.label}, {s.kind}: rows that do not pass the filter were returned "
                 f"({results[-1]['wrong_rows']} in the median run)")
        if s.kind == "exact" and results[-1]["recall"] < 1.0:
            warn(f"the exact plan at {s.filter.label} has recall {results[-1]['recall']:.4f} "
                 "< 1: the ground truth or the scoring is wrong")

    stability = None
    if args.analyze_runs:
        stability = plan_stability(conn, planner, filters, statements, args,
                                   args.ef_search, modes)

    report.update({
        "dataset": {"name": ds.name, "source": ds.source, "metric": ds.metric,
                    "n": len(ds.base), "dim": int(ds.base.shape[1]),
                    "queries": len(ds.queries), "k": args.k, "seed": args.seed},
        "filters": [{"selectivity_percent": f.percent, "column": f.column,
                     "n_values": f.n_values, "btree": f.btree,
                     "where": f.where_text(),
                     "labels": None if f.labels is None else {
                         "type": "int4[]", "per_row": int(f.labels.shape[1]),
                         "filter_labels": f"0..{f.n_values - 1}, one per row",
                         "noise_labels": int(f.labels.shape[1] - 1),
                         "noise_range": [f.noise_low, NOISE_HIGH - 1],
                         "operator": f.op},
                     "rows_passing": {"mean": float(f.n_match.mean()),
                                      "min": int(f.n_match.min()), "max": int(f.n_match.max())},
                     "queries_with_fewer_than_k_rows": int((f.n_match < args.k).sum())}
                    for f in filters],
        "table": args.table, "load_s": load_s, "index": indexes, "prewarmed_blocks": prewarmed,
        "measure": {"ef_search": args.ef_search, "iterative_modes": modes,
                    "plan_cache": args.plan_cache, "jit": args.jit, "repeat": args.repeat,
                    "index_filter": index_filter, "index_filter_asked": args.index_filter,
                    "labels": args.labels,
                    "queries": statements, "unfiltered_query": unfiltered_statement,
                    "plan_chains": planner.chains,
                    "wire": "binary"},
        "results": results,
        "plan_stability": stability,
        "server": server,
        "machine": ann.machine_info(),
    })
    return report


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def n_values(f):
    if f.get("labels"):
        return (f"{f['n_values']} filter label" + ("" if f["n_values"] == 1 else "s")
                + f" + {f['labels']['noise_labels']} noise per row")
    return f"{f['n_values']} value" + ("" if f["n_values"] == 1 else "s")


def print_report(report):
    ds, ix, me, srv = report["dataset"], report["index"], report["measure"], report["server"]
    k = ds["k"]
    print()
    print(f"data set   {ds['name']}   N={ds['n']}  D={ds['dim']}  metric={ds['metric']}  "
          f"queries={ds['queries']}  k={k}  seed={ds['seed']}")
    labels = me.get("labels")
    cols = ", ".join(f"{f['column']}{' int4[]' if labels else ''} ({n_values(f)})"
                     for f in report["filters"])
    print(f"table      {report['table']}   load {report['load_s']:.2f} s   filter columns {cols}")
    if labels:
        first = report["filters"][0]["labels"]
        noise = sorted({tuple(f["labels"]["noise_range"]) for f in report["filters"]})
        ranges = ", ".join(f"{lo}..{hi}" for lo, hi in noise)
        print(f"labels     each row's labelsNN = {first['per_row']} int4 labels: its filter label "
              f"(0..n-1, the value cNN would hold; rows with label v are the fraction kept) at a "
              f"random position, and {first['noise_labels']} distinct noise labels uniform in "
              f"{ranges}, which no query asks for; WHERE labelsNN {first['operator']} ARRAY[v]")
    method = ix.get("exact_index_method", "btree")
    what = "labels" if labels else "filter"
    btrees = (f"{method} on each {what} column {ix['btree_build_s']:.2f} s" if ix["btrees"]
              else f"no {method} (--no-btree)")
    print(f"index      hnsw {ann.format_params(ix['params'])} {ix['opclass']}   build "
          f"{ix['hnsw_build_s']:.2f} s   {ix['hnsw_size_mib']:.1f} MiB   {btrees}")
    for fi in ix.get("filter_indexes", []):
        print(f"           hnsw (embedding, {fi['column']}), same parameters   build "
              f"{fi['build_s']:.2f} s   {fi['size_mib']:.1f} MiB "
              f"({fi['size_mib'] / ix['hnsw_size_mib']:.2f} x the single-column index)")
    if ix.get("index_filter_refused"):
        print(f"           no hnsw (embedding, labelsNN) (--index-filter): "
              f"{ix['index_filter_refused']}")
    print(f"server     PostgreSQL {srv['server_version']}, extension {srv['extension']} "
          f"{srv['extension_version']}, shared_buffers {srv['settings']['shared_buffers']}, "
          f"{report['machine']['nproc']} cores ({report['machine']['cpu_model']})")
    cache = ("generic plan (plan_cache_mode = force_generic_plan)" if me["plan_cache"] == "generic"
             else "custom plans (plan_cache_mode = force_custom_plan)")
    print(f"queries    one connection, one at a time, prepared, {cache}, jit {srv['settings']['jit']}, "
          f"vector sent binary; per setting a warm-up pass, then "
          + ("a timed pass" if me["repeat"] == 1 else f"{me['repeat']} timed passes (medians)"))
    modes = ", ".join(m for m in me["iterative_modes"] if m) or "(no hnsw.iterative_scan)"
    print(f"iterative  {modes};  hnsw.max_scan_tuples = "
          f"{srv['settings']['hnsw.max_scan_tuples'] or '-'}")
    exact = "enable_indexscan, enable_seqscan off" if ix["btrees"] else "enable_indexscan off"
    print("plans      planner = its own choice; hnsw = enable_seqscan, enable_bitmapscan off "
          f"(+ {method} dropped in a rolled-back transaction where marked *); exact = {exact}")
    if me.get("index_filter"):
        print("           hnsw+f = the same forced through the column's (embedding, column) "
              "index, its WHERE an Index Cond (hnsw: the single-column index; in both, the other "
              "hnsw indexes are dropped in the rolled-back transaction)")
    for f in report["filters"]:
        rows = f["rows_passing"]
        print()
        print(f"selectivity {f['selectivity_percent']:g} %   "
              f"WHERE {f.get('where') or f['column'] + ' = v'} "
              f"({n_values(f)}); rows passing per query: mean {rows['mean']:.0f}, "
              f"min {rows['min']}, max {rows['max']}"
              + (f"; {f['queries_with_fewer_than_k_rows']} queries have fewer than {k}"
                 if f["queries_with_fewer_than_k_rows"] else ""))
        print(f"  {'plan':<8} {'ef_search':>9}  {'iterative':<13} {'recall@' + str(k):>9} "
              f"{'rows':>6} {'short':>5} {'QPS':>9} {'p50 ms':>8} {'p99 ms':>8}  plan used")
        for r in report["results"]:
            if r["column"] != f["column"]:
                continue
            ef = "-" if r["ef_search"] is None else str(r["ef_search"])
            mode = r["iterative_scan"] or "-"
            if r["plan_setting"] == "unfiltered":
                continue
            mark = "*" if r["btree_hidden"] else ""
            bad = "   <-- NOT FORCED" if not r["plan_forced_ok"] else ""
            print(f"  {r['plan_setting'] + mark:<8} {ef:>9}  {mode:<13} {r['recall']:9.4f} "
                  f"{r['mean_rows']:6.1f} {r['short_queries']:5.0f} {r['qps']:9.1f} "
                  f"{r['p50_ms']:8.3f} {r['p99_ms']:8.3f}  {r['plan']}{bad}")
    unfiltered = [r for r in report["results"] if r["plan_setting"] == "unfiltered"]
    if unfiltered:
        sizes = {ix["hnsw"]: ix["hnsw_size_mib"]}
        names = {ix["hnsw"]: "hnsw (embedding)"}
        for fi in ix.get("filter_indexes", []):
            sizes[fi["name"]] = fi["size_mib"]
            names[fi["name"]] = f"hnsw (embedding, {fi['column']})"
        print()
        op = ann.METRICS[report["dataset"]["metric"]][0]
        print(f"unfiltered   ORDER BY embedding {op} q LIMIT {k}, no WHERE, "
              "through each hnsw index (the others dropped in a rolled-back transaction), "
              "iterative scan off")
        width = max([24] + [len(name) for name in names.values()])
        print(f"  {'index':<{width}} {'MiB':>7} {'ef_search':>9} {'recall@' + str(k):>9} {'QPS':>9} "
              f"{'p50 ms':>8} {'p99 ms':>8}  {'QPS / single':>12}  plan used")
        single = {r["ef_search"]: r["qps"] for r in unfiltered if r["index"] == ix["hnsw"]}
        for r in unfiltered:
            bad = "   <-- NOT FORCED" if not r["plan_forced_ok"] else ""
            print(f"  {names.get(r['index'], r['index']):<{width}} {sizes.get(r['index'], 0):7.1f} "
                  f"{r['ef_search']:>9} {r['recall']:9.4f} {r['qps']:9.1f} {r['p50_ms']:8.3f} "
                  f"{r['p99_ms']:8.3f}  {r['qps'] / single[r['ef_search']]:12.2f}  "
                  f"{r['plan']}{bad}")
    stab = report.get("plan_stability")
    if stab:
        first = next(iter(stab.values()))
        runs = len(first["estimated_rows"])
        print()
        print(f"plan stability: {runs} x ANALYZE; after each, the planner's plan for query 0 "
              f"(its value at each selectivity); settings with the same sequence share a line")
        print(f"  {'selectivity':<11} {'distinct':>8}  {'plans in ANALYZE order':<24} settings "
              f"(ef_search/iterative)")
        for f in report["filters"]:
            entry = stab[f["column"]]
            groups = {}
            for key, seq in entry["plans"].items():
                groups.setdefault(tuple(seq), []).append(key.replace("/None", ""))
            sel = f"{f['selectivity_percent']:g} %"
            for seq, keys in groups.items():
                counts = collections.Counter(seq)
                letter = {label: chr(ord("A") + i) for i, label in enumerate(counts)}
                legend = ", ".join(f"{letter[l]} = {l} x{n}" for l, n in counts.items())
                where = "all" if len(groups) == 1 else ", ".join(keys)
                print(f"  {sel:<11} {len(counts):>8}  {''.join(letter[l] for l in seq):<24} "
                      f"{where}   ({legend})")
                sel = ""
            est = entry["estimated_rows"]
            share = entry["hnsw_share_all_queries"]
            print(f"  {'':<11} {'':>8}  rows estimated for query 0's filter {min(est):.0f}-"
                  f"{max(est):.0f} (actual {entry['actual_rows']})"
                  + (f"; share of all {report['dataset']['queries']} queries planned hnsw "
                     f"{min(share):.2f}-{max(share):.2f} (at "
                     f"{entry['all_queries_setting'].replace('/None', '')})" if share else ""))
    print()


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def percent_list(text):
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated percentages, got '{text}'")
    if not values or any(not 0 < v <= 100 for v in values):
        raise argparse.ArgumentTypeError(f"expected percentages in (0, 100], got '{text}'")
    if len({column_name(v) for v in values}) != len(values):
        raise argparse.ArgumentTypeError(f"repeated selectivity in '{text}'")
    return values


def mode_list(text):
    values = [x.strip() for x in text.split(",") if x.strip()]
    bad = [v for v in values if v not in ITERATIVE_MODES]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(ITERATIVE_MODES)}, "
                                         f"got '{text}'")
    return list(dict.fromkeys(values))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Filtered kNN benchmark (WHERE col = v, or with --labels WHERE labels && "
                    "ARRAY[v], ORDER BY distance LIMIT k) for the vector extension or any "
                    "pgvector-compatible one.",
        epilog='example: /usr/bin/python3 bench/filtered.py --dsn "host=/tmp port=5432 user=postgres"')
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default="sift-128", metavar="NAME",
                      help="data set in --data-dir: NAME/base.fvecs, query.fvecs (default: %(default)s)")
    data.add_argument("--data-dir", type=Path, default=ann.DEFAULT_DATA_DIR,
                      help="where --dataset looks (default: %(default)s)")
    data.add_argument("--metric", choices=sorted(ann.METRICS),
                      help="distance (default: the data set's, as bench/ann.py)")
    data.add_argument("--limit-base", type=ann.positive_int, metavar="N",
                      help="use only the first N base vectors (default: all)")
    data.add_argument("--queries", type=ann.positive_int, default=200, metavar="Q",
                      help="use only the first Q queries (default: %(default)s)")
    data.add_argument("--k", type=ann.positive_int, default=10, help="the LIMIT (default: %(default)s)")
    data.add_argument("--seed", type=int, default=1234,
                      help="seed of the filter columns and query values (default: %(default)s)")
    data.add_argument("--selectivities", type=percent_list, default=DEFAULT_SELECTIVITIES,
                      metavar="LIST", help="percent of rows each filter keeps; one column each "
                      "with round(100 / p) values (default: 50,10,1,0.1)")
    data.add_argument("--labels", action="store_true",
                      help="array filters: each filter column is an int4[] (labels50, labels10, "
                           "...) of 3 labels per row: the row's filter label (what the int "
                           "column would hold: 0..round(100 / p)-1, at a random position) and "
                           f"{NOISE_LABELS} distinct noise labels uniform in "
                           f"{NOISE_LOW}..{NOISE_HIGH - 1} that no query asks for; queries "
                           "WHERE labels10 && ARRAY[v] keep the same rows as c10 = v; a GIN "
                           "index per column instead of the btree")
    data.add_argument("--labels-op", choices=sorted(LABEL_OPS), default="overlap",
                      help="--labels: WHERE labelsNN && ARRAY[v] (overlap) or @> ARRAY[v] "
                           "(contains); the same rows (default: %(default)s)")

    index = p.add_argument_group("index and search")
    index.add_argument("--m", type=ann.positive_int, default=16, help="hnsw m (default: %(default)s)")
    index.add_argument("--ef-construction", type=ann.positive_int, default=64,
                       help="hnsw ef_construction (default: %(default)s)")
    index.add_argument("--bits", type=int, default=None, metavar="B",
                       help="hnsw option bits of every hnsw index built: 0 stores the vectors, "
                            "1-8 codes of that many bits (default: not passed, so that the "
                            "command also runs against pgvector)")
    index.add_argument("--index-filter", action="store_true",
                       help="also build one hnsw (embedding, column) index per filter column "
                            "(filter columns inside the index: this extension only, the run "
                            "stops with an error where CREATE INDEX refuses it; with --labels "
                            "it warns and goes on without) and measure "
                            "every query through it (plan hnsw+f), plus unfiltered queries "
                            "through every hnsw index")
    index.add_argument("--maintenance-work-mem", default="1GB", metavar="SIZE",
                       help="SET for the index build, '' for the server's (default: %(default)s)")
    index.add_argument("--no-btree", action="store_true",
                       help="no btree (--labels: GIN) on the filter columns (the exact plan "
                            "is then a seq scan)")
    index.add_argument("--ef-search", type=ann.int_list, default=DEFAULT_EF_SEARCH, metavar="LIST",
                       help="hnsw.ef_search values (default: 40,100)")
    index.add_argument("--modes", type=mode_list, default=ITERATIVE_MODES, metavar="LIST",
                       help="hnsw.iterative_scan values (default: off,strict_order,relaxed_order)")
    index.add_argument("--max-scan-tuples", type=ann.positive_int, metavar="N",
                       help="SET hnsw.max_scan_tuples (default: the server's)")
    index.add_argument("--plan-cache", choices=["custom", "generic"], default="custom",
                       help="plan_cache_mode of the prepared query: custom plans with each "
                            "query's values, or one generic plan (default: %(default)s)")
    index.add_argument("--jit", choices=["off", "server"], default="off",
                       help="SET jit = off, or leave the server's (default: %(default)s)")
    index.add_argument("--repeat", type=ann.positive_int, default=1,
                       help="timed passes per setting (after one warm-up each), medians "
                            "reported (default: %(default)s)")
    index.add_argument("--analyze-runs", type=ann.non_negative_int, default=10, metavar="N",
                       help="ANALYZEs of the plan-stability check, 0 to skip (default: %(default)s)")
    index.add_argument("--no-analyze-all-queries", dest="analyze_all_queries",
                       action="store_false",
                       help="in the plan-stability check, EXPLAIN only query 0, not all queries")
    index.add_argument("--table", default="filt_items",
                       help="table name; dropped and recreated (default: %(default)s)")
    index.add_argument("--keep-table", action="store_true", help="do not drop the table at the end")
    index.add_argument("--extension", default="vector",
                       help="CREATE EXTENSION IF NOT EXISTS this (default: %(default)s)")

    server = p.add_argument_group("server")
    server.add_argument("--dsn", help="use this existing server (libpq conninfo); without it a "
                        "private cluster is started as bench/ann.py does")
    server.add_argument("--pgdata", type=Path, default=DEFAULT_PGDATA,
                        help="private cluster directory (default: %(default)s)")
    server.add_argument("--pg-bin", type=Path, default=ann.DEFAULT_PG_BIN,
                        help="initdb, pg_ctl, postgres of the private cluster (default: %(default)s)")
    server.add_argument("--shared-buffers", metavar="SIZE",
                        help="private cluster shared_buffers (default 4GB capped at RAM/4)")
    server.add_argument("--keep", action="store_true", help="leave the private server running")

    out = p.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="PATH",
                     help="result file (default bench/out/filtered-<dataset>-<timestamp>.json)")
    args = p.parse_args(argv)
    args.maintenance_work_mem = args.maintenance_work_mem or None
    return args


def resolve_dataset(args):
    """ann.py's data set, without its ground truth (the filtered one is computed here)."""
    base, queries, _, _, directory = ann.load_named_dataset(args.dataset, args.data_dir)
    metric = args.metric or ann.default_metric(args.dataset, directory)
    base = base[:args.limit_base] if args.limit_base else base
    queries = queries[:args.queries]
    if args.k > len(base):
        raise BenchError(f"--k {args.k} is larger than the number of base vectors ({len(base)})")
    return ann.Dataset(name=args.dataset, source=str(directory), metric=metric,
                       base=np.ascontiguousarray(base), queries=np.ascontiguousarray(queries),
                       gt=None, gt_source="computed per filter (numpy float64)")


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def run(conn, args, ds, mode):
    try:
        return benchmark(conn, args, ds, mode)
    finally:
        if not args.keep_table and not conn.closed:
            try:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(args.table)))
            except psycopg.Error as e:
                warn(f"could not drop {args.table}: {e}")


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    def body():
        ds = resolve_dataset(args)
        log(f"data set {ds.name}: {len(ds.base)} x {ds.base.shape[1]}, {len(ds.queries)} "
            f"queries, metric {ds.metric}")
        if args.dsn:
            with ann.connect(args.dsn) as conn:
                report = run(conn, args, ds, "dsn")
        else:
            ns = argparse.Namespace(workers=1, shared_buffers=args.shared_buffers,
                                    maintenance_work_mem=args.maintenance_work_mem)
            flags = ann.server_settings(ns)
            with ann.PrivateServer(args.pg_bin, args.pgdata, flags, args.keep) as server:
                with ann.connect(server.conninfo()) as conn:
                    report = run(conn, args, ds, "private")
                report["server"]["pgdata"] = str(server.pgdata)
                report["server"]["flags"] = flags
        print_report(report)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        ann.write_json(report, args.json or
                       ann.DEFAULT_OUT_DIR / f"filtered-{ds.name}-{stamp}.json")
        return 0
    return ann.run_tool(body)


if __name__ == "__main__":
    sys.exit(main())
