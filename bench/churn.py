#!/usr/bin/python3
"""Churn benchmark: is every live row still found after concurrent updates?

Issue 20's workload, at full size, against a running server (--dsn):
  1. loads the first --rows rows of a data set (default sift-128) into
     items (id bigserial primary key, v vector(D)) and builds
     USING hnsw (v vector_l2_ops) with the default options (timed);
  2. runs pgbench with --clients clients and --transactions transactions
     each; a transaction is one of
       50 %  a top-10 query by an existing row's vector,
       20 %  an insert of a random vector of integers 0-60,
       15 %  an update of a random id to such a vector,
       15 %  a delete of a random id,
     while another connection runs VACUUM items every --vacuum-every seconds;
  3. looks --sample random live rows up by their own vectors at each
     hnsw.ef_search of --ef (enable_seqscan off): a row is missed when it is
     not among its own top 10;
  4. reports the throughput, the misses per ef_search, the index size, and
     with --deep-ef the count vector_index_check(index, ef) reports.

Run it with Debian's python (psycopg 3 and numpy) and PostgreSQL's pgbench:
    /usr/bin/python3 bench/churn.py --dsn "host=/tmp port=5432 user=postgres"
The table items is dropped and recreated.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psycopg

SCRIPTS = {
    "query": (50, "\\set id random(1, {rows})\n"
              "SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = :id) LIMIT 10;\n"),
    "insert": (20, "INSERT INTO items (v) SELECT array_agg(floor(random() * 61))::vector(D) "
               "FROM generate_series(1, D);\n"),
    "update": (15, "\\set id random(1, {rows})\n"
               "UPDATE items SET v = (SELECT array_agg(floor(random() * 61))::vector(D) "
               "FROM generate_series(1, D)) WHERE id = :id;\n"),
    "delete": (15, "\\set id random(1, {rows})\nDELETE FROM items WHERE id = :id;\n"),
}


def read_fvecs(path, limit):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:limit, 1:].copy().view(np.float32)
    return rows


def load(conn, base):
    dim = base.shape[1]
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(f"CREATE TABLE items (id bigserial PRIMARY KEY, v vector({dim}))")
    with conn.cursor().copy("COPY items (v) FROM STDIN") as copy:
        for row in base:
            copy.write_row(["[" + ",".join(repr(float(x)) for x in row) + "]"])
    conn.execute("VACUUM ANALYZE items")


def vacuum_loop(dsn, every, stop):
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.wait(every):
            conn.execute("VACUUM items")


def misses(conn, ef, sample_ids):
    conn.execute("SET enable_seqscan = off")
    conn.execute(f"SET hnsw.ef_search = {int(ef)}")
    missed = 0
    for rid in sample_ids:
        got = conn.execute(
            "SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = %s) LIMIT 10",
            (rid,)).fetchall()
        if rid not in [g[0] for g in got]:
            missed += 1
    return missed


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq connection string of the server")
    ap.add_argument("--data-dir", default=str(here.parent.parent / "shared" / "data"))
    ap.add_argument("--dataset", default="sift-128")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--transactions", type=int, default=1500, help="per client")
    ap.add_argument("--vacuum-every", type=float, default=5.0, help="seconds")
    ap.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values to look up at")
    ap.add_argument("--sample", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--deep-ef", type=int, default=0, help="also vector_index_check(index, ef)")
    ap.add_argument("--pgbench", default="/usr/lib/postgresql/15/bin/pgbench")
    args = ap.parse_args()

    base = read_fvecs(os.path.join(args.data_dir, args.dataset, "base.fvecs"), args.rows)
    dim = base.shape[1]
    conn = psycopg.connect(args.dsn, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    load(conn, base)
    t0 = time.perf_counter()
    conn.execute("CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops)")
    build = time.perf_counter() - t0
    print(f"loaded {len(base)} rows of {args.dataset}; hnsw build {build:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, (weight, text) in SCRIPTS.items():
            path = os.path.join(tmp, name + ".sql")
            with open(path, "w") as f:
                f.write(text.format(rows=args.rows).replace("(D)", f"({dim})")
                        .replace("generate_series(1, D)", f"generate_series(1, {dim})"))
            files += ["-f", f"{path}@{weight}"]
        stop = threading.Event()
        vac = threading.Thread(target=vacuum_loop, args=(args.dsn, args.vacuum_every, stop))
        vac.start()
        t0 = time.perf_counter()
        run = subprocess.run([args.pgbench, "-n", "-c", str(args.clients), "-j", "2",
                              "-t", str(args.transactions), *files, "-d", args.dsn],
                             capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        stop.set()
        vac.join()
    if run.returncode != 0:
        sys.exit("pgbench failed:\n" + run.stderr)
    tps = [line for line in run.stdout.splitlines() if line.startswith("tps")]
    total = args.clients * args.transactions
    print(f"{total} transactions in {elapsed:.1f} s ({tps[0] if tps else '?'})")

    live = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    rng = np.random.default_rng(args.seed)
    ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]
    sample = [int(x) for x in rng.choice(ids, min(args.sample, len(ids)), replace=False)]
    size = conn.execute("SELECT pg_relation_size('items_v_idx')").fetchone()[0]
    print(f"{live} live rows; index {size / 2**20:.1f} MiB")
    for ef in args.ef.split(","):
        print(f"ef_search {ef:>4}: {misses(conn, ef, sample)} of {len(sample)} rows "
              "not among their own top 10")
    if args.deep_ef:
        rows = conn.execute("SELECT * FROM vector_index_check('items_v_idx', %s)",
                            (args.deep_ef,)).fetchall()
        summary = [r[0] for r in rows if "live nodes are not found" in r[0]]
        print(f"vector_index_check(index, {args.deep_ef}): "
              + (summary[0] if summary else f"{len(rows)} problems"))


if __name__ == "__main__":
    main()
