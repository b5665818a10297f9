#!/usr/bin/python3
"""Soak benchmark: how an hnsw index ages under updates and VACUUM.

Issue 16's measure, against a running server (--dsn):
  1. loads the first --rows rows of a data set (default sift-128, 50,000)
     into items (id int primary key, v vector(D)) and builds
     USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);
  2. runs --rounds rounds (8); each updates a random --fraction (10 %) of
     the rows to vectors taken, in order, from the rest of the data set,
     then runs VACUUM items;
  3. after the build and after every round reports the index size, recall@10
     at hnsw.ef_search = --ef (40) for --queries of the data set's queries
     against the exact answer over the table as it is then, the round's
     UPDATE + VACUUM time and the VACUUM's own, and how many problems
     vector_index_check() reports
     (--no-check skips it; pgvector has no such function);
  4. then the refill test: a --refill-rows (10,000) row table with an hnsw
     index, every row deleted, VACUUM, the same rows inserted again; it
     reports the index size before and after.

Run it with Debian's python (psycopg 3 and numpy):
    /usr/bin/python3 bench/soak.py --dsn "host=/tmp port=5432 user=postgres"
The tables items and refill are dropped and recreated.  --json FILE writes
the figures too.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg


def read_fvecs(path, limit=None):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)
    return rows if limit is None else rows[:limit]


def literal(vec):
    return "[" + ",".join(repr(float(x)) for x in vec) + "]"


def copy_rows(conn, table, ids, vecs):
    with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN") as copy:
        for i, v in zip(ids, vecs):
            copy.write_row([int(i), literal(v)])


def index_size(conn, index):
    return conn.execute("SELECT pg_relation_size(%s::regclass)", (index,)).fetchone()[0]


def exact_top(table_vecs, table_ids, queries, k):
    """Exact top-k ids by l2 over the table as it is now (float64)."""
    base = table_vecs.astype(np.float64)
    norms = (base * base).sum(1)
    out = []
    for q in queries.astype(np.float64):
        d = norms - 2 * base @ q
        top = np.argpartition(d, k)[:k]
        top = top[np.argsort(d[top], kind="stable")]
        out.append(set(int(table_ids[t]) for t in top))
    return out


def recall(conn, queries, truth, ef, k):
    conn.execute("SET enable_seqscan = off")
    conn.execute(f"SET hnsw.ef_search = {int(ef)}")
    found = 0
    for q, t in zip(queries, truth):
        got = conn.execute(f"SELECT id FROM items ORDER BY v <-> %s::vector LIMIT {k}",
                           (literal(q),)).fetchall()
        found += len(t & set(g[0] for g in got))
    conn.execute("RESET enable_seqscan")
    return found / (k * len(queries))


def check(conn, enabled):
    if not enabled:
        return None
    return conn.execute("SELECT count(*) FROM vector_index_check('items_v_idx')").fetchone()[0]


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq connection string of the server")
    ap.add_argument("--data-dir", default=str(here.parent.parent / "shared" / "data"))
    ap.add_argument("--dataset", default="sift-128")
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--fraction", type=float, default=0.10)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ef", type=int, default=40)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--refill-rows", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--no-check", action="store_true", help="skip vector_index_check()")
    ap.add_argument("--vacuum-mem", help="maintenance_work_mem for the rounds' VACUUM "
                    "(e.g. 1MB; default: the server's)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()

    ddir = os.path.join(args.data_dir, args.dataset)
    allvecs = read_fvecs(os.path.join(ddir, "base.fvecs"))
    queries = read_fvecs(os.path.join(ddir, "query.fvecs"), args.queries)
    per_round = int(args.rows * args.fraction)
    need = args.rows + args.rounds * per_round
    if len(allvecs) < need:
        sys.exit(f"{args.dataset} has {len(allvecs)} rows; {need} are needed")
    rng = np.random.default_rng(args.seed)

    conn = psycopg.connect(args.dsn, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    dim = allvecs.shape[1]
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, v vector({dim})) "
                 "WITH (autovacuum_enabled = false)")
    current = allvecs[:args.rows].copy()
    ids = np.arange(args.rows)
    copy_rows(conn, "items", ids, current)
    conn.execute("VACUUM ANALYZE items")
    t0 = time.perf_counter()
    conn.execute("CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops) "
                 "WITH (m = 16, ef_construction = 64)")
    build = time.perf_counter() - t0

    rows = []
    size0 = index_size(conn, "items_v_idx")
    r0 = recall(conn, queries, exact_top(current, ids, queries, args.k), args.ef, args.k)
    rows.append({"round": 0, "size": size0, "recall": r0, "seconds": build, "vacuum": None,
                 "problems": check(conn, not args.no_check)})
    print(f"vector {version}, {args.dataset}, {args.rows} rows, m 16, ef_construction 64; "
          f"recall@{args.k} at ef_search {args.ef} over {len(queries)} queries")
    print(f"{'round':>5} {'index MiB':>10} {'x build':>8} {'recall':>7} {'seconds':>8} "
          f"{'VACUUM':>7} {'check':>6}")

    def show(r):
        print(f"{r['round']:>5} {r['size'] / 2**20:>10.1f} {r['size'] / size0:>8.2f} "
              f"{r['recall']:>7.4f} {r['seconds']:>8.1f} "
              f"{'-' if r['vacuum'] is None else format(r['vacuum'], '.1f'):>7} "
              f"{'-' if r['problems'] is None else r['problems']:>6}")
    show(rows[0])

    nxt = args.rows
    for rnd in range(1, args.rounds + 1):
        chosen = np.sort(rng.choice(args.rows, per_round, replace=False))
        newvecs = allvecs[nxt:nxt + per_round]
        nxt += per_round
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE upd (id int, v vector(%d)) ON COMMIT DROP" % dim)
            copy_rows(conn, "upd", chosen, newvecs)
            conn.execute("UPDATE items SET v = upd.v FROM upd WHERE items.id = upd.id")
        t1 = time.perf_counter()
        if args.vacuum_mem:
            conn.execute("SELECT set_config('maintenance_work_mem', %s, false)",
                         (args.vacuum_mem,))
        conn.execute("VACUUM items")
        if args.vacuum_mem:
            conn.execute("RESET maintenance_work_mem")
        seconds = time.perf_counter() - t0
        vacuum = time.perf_counter() - t1
        current[chosen] = newvecs
        r = recall(conn, queries, exact_top(current, ids, queries, args.k), args.ef, args.k)
        rows.append({"round": rnd, "size": index_size(conn, "items_v_idx"), "recall": r,
                     "seconds": seconds, "vacuum": vacuum,
                     "problems": check(conn, not args.no_check)})
        show(rows[-1])

    # refill: delete every row, VACUUM, insert the same rows again
    n = args.refill_rows
    conn.execute("DROP TABLE IF EXISTS refill")
    conn.execute(f"CREATE TABLE refill (id int, v vector({dim})) WITH (autovacuum_enabled = false)")
    copy_rows(conn, "refill", range(n), allvecs[:n])
    conn.execute("CREATE INDEX refill_v_idx ON refill USING hnsw (v vector_l2_ops)")
    before = index_size(conn, "refill_v_idx")
    conn.execute("DELETE FROM refill")
    conn.execute("VACUUM refill")
    copy_rows(conn, "refill", range(n), allvecs[:n])
    after = index_size(conn, "refill_v_idx")
    print(f"refill: {n} rows deleted, VACUUM, inserted again: index {before / 2**20:.1f} MiB "
          f"-> {after / 2**20:.1f} MiB ({after / before:.2f}x)")
    conn.execute("DROP TABLE refill")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"version": version, "dataset": args.dataset, "rows": args.rows,
                       "ef_search": args.ef, "rounds": rows,
                       "refill": {"rows": n, "before": before, "after": after}}, f, indent=1)


if __name__ == "__main__":
    main()
