#!/usr/bin/python3
"""Scatter-gather benchmark: top-k search over postgres_fdw shards against one node.

The tool (issue 8, "Scale-out on PostgreSQL's own machinery")
  1. reads an fvecs data set and gets exact ground truth for it (as bench/ann.py),
  2. starts 1 + S private PostgreSQL clusters on this machine (default S = 3), Unix
     sockets only, distinct ports, the servers running as the `postgres` OS user:
       coord   the coordinator (session_preload_libraries = 'vector'); it also holds
               `items_single`, a full local copy of the data with its own index,
               which is the 1-node baseline of the same run,
       shardI  one shard each, table `items`,
  3. loads the base vectors into coord.items_single with a binary COPY, then routes them
     to the shards through the coordinator's hash-partitioned table `items`, whose
     partitions items_0 .. items_{S-1} are postgres_fdw foreign tables
     (INSERT INTO items SELECT ... FROM items_single, postgres_fdw batch_size),
  4. builds the index (hnsw m=16 ef_construction=64, or ivfflat with sqrt(rows) lists)
     on every shard and on items_single, all at once, and prewarms them,
  5. per search setting (hnsw.ef_search / ivfflat.probes: SET on the coordinator for
     the 1-node case, ALTER DATABASE on every shard followed by a reconnect of the
     coordinator's postgres_fdw connections, checked through those connections),
     one query at a time over the Unix socket, warm cache, measures
       (a) 1 node:  SELECT id FROM items_single ORDER BY embedding <-> q LIMIT k
       (b) shards:  SELECT id FROM items ORDER BY embedding <-> q LIMIT k
                    (the extension's planner hook rewrites it, before planning,
                    into per-partition ORDER BY ... LIMIT k subqueries under a
                    UNION ALL: LIMIT k in every shard's remote SQL, asynchronous
                    foreign scans)
       (c) shards:  the same query with vector.partition_topk = off (Merge Append)
       (d) shards:  the hand-written UNION ALL of per-partition
                    (SELECT id, embedding FROM items_I ORDER BY ... LIMIT k OFFSET 0)
                    subqueries, ordered and limited outside
     (a), (b), (d) over all queries in --repeat timed passes, (b) and (d) swapping
     places every pass, medians reported; (c), slow, once over the first
     --queries-off queries; an untimed warm-up pass of each first.  It reports
     recall@k, QPS, p50/p99 latency, the (b)/(d) QPS ratio, how many queries (b)
     and (d) answer with different id lists (and whether only tied distances
     differ), and how shard 0 plans each remote query,
  6. checks once with EXPLAIN VERBOSE that (b) has LIMIT k in every Remote SQL and
     Async Foreign Scans and that (c) has a Merge Append, and prints the plans,
  7. prints a table, writes everything to JSON under bench/out/, and stops all servers
     (also on error, Ctrl-C or SIGTERM).

Run it with Debian's python (psycopg 3 and numpy):
    /usr/bin/python3 bench/shards.py
See bench/README.md for every flag.  The cluster and data-set code is bench/ann.py's.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import math
import re
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

import ann
from ann import BenchError, log, warn

DEFAULT_PGDATA = ann.DEFAULT_OUT_DIR / "shards-pgdata"
DEFAULT_SWEEPS = {
    "hnsw": ("hnsw.ef_search", [40, 100]),
    "ivfflat": ("ivfflat.probes", [8, 32]),
}
DEFAULT_MEMORY_MB = 1024           # per cluster; there are four of them
CASES = {
    "a": "1 node",
    "b": "shards, rewrite on",
    "c": "shards, rewrite off",
    "d": "shards, UNION ALL",
}
C_WARMUP = 20                      # warm-up queries of the slow case (c)
AIM_RATIO = 0.90                   # issue 8: (b) within 10% of (d)


# --------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------

def memory_mb(requested):
    """An explicit size as given; else 1GB, at most 1/16 of RAM (four clusters)."""
    if requested:
        return ann.parse_size_mb(requested)
    return min(DEFAULT_MEMORY_MB, ann.total_ram_mb() // 16)


def cluster_settings(args, coordinator):
    settings = {
        "shared_buffers": f"{memory_mb(args.shared_buffers)}MB",
        "maintenance_work_mem": f"{memory_mb(args.maintenance_work_mem)}MB",
        # the builds of all clusters run at the same time: one process each
        "max_parallel_maintenance_workers": 0,
        "jit": "off",
    }
    if coordinator:
        settings["session_preload_libraries"] = "vector"
    return settings


def make_servers(args):
    """The coordinator and the shards (not started), with distinct ports."""
    root = Path(args.pgdata).resolve()
    names = ["coord"] + [f"shard{i}" for i in range(args.shards)]
    servers, ports = {}, set()
    for name in names:
        server = ann.PrivateServer(args.pg_bin, root / name,
                                   cluster_settings(args, name == "coord"), args.keep)
        while server.port in ports:
            server.port = ann.free_port()
        ports.add(server.port)
        servers[name] = server
    return servers


# --------------------------------------------------------------------------
# Schema and data
# --------------------------------------------------------------------------

def setup_shard(conn, dim):
    """Extension, empty table, a view of the search settings; no leftovers of earlier runs."""
    ann.create_extensions(conn)
    conn.execute("ALTER DATABASE postgres RESET ALL")
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(sql.SQL("CREATE TABLE items (id int PRIMARY KEY, embedding vector({}))")
                 .format(sql.Literal(dim)))
    # read through the coordinator's postgres_fdw connection: what its scans see
    conn.execute("CREATE OR REPLACE VIEW bench_settings AS SELECT "
                 "current_setting('hnsw.ef_search', true) AS ef_search, "
                 "current_setting('ivfflat.probes', true) AS probes")


def setup_coordinator(conn, servers, nshards, dim, batch_size):
    """postgres_fdw, the shard servers, the partitioned table and its foreign partitions."""
    ann.create_extensions(conn)
    conn.execute("ALTER DATABASE postgres RESET ALL")
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
    conn.execute("DROP TABLE IF EXISTS items CASCADE")
    for (name,) in conn.execute("SELECT srvname FROM pg_foreign_server "
                                "WHERE srvname LIKE 'shard%'").fetchall():
        conn.execute(sql.SQL("DROP SERVER {} CASCADE").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE TABLE items (id int, embedding vector({})) "
                         "PARTITION BY HASH (id)").format(sql.Literal(dim)))
    for i in range(nshards):
        shard = servers[f"shard{i}"]
        server = sql.Identifier(f"shard{i}")
        conn.execute(sql.SQL(
            "CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host {}, port {}, "
            "dbname 'postgres', extensions 'vector', async_capable 'true', batch_size {})")
            .format(server, sql.Literal(str(shard.socket_dir)), sql.Literal(str(shard.port)),
                    sql.Literal(str(batch_size))))
        conn.execute(sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {}").format(server))
        conn.execute(sql.SQL(
            "CREATE FOREIGN TABLE {} PARTITION OF items FOR VALUES WITH (MODULUS {}, "
            "REMAINDER {}) SERVER {} OPTIONS (table_name 'items')")
            .format(sql.Identifier(f"items_{i}"), sql.Literal(nshards), sql.Literal(i), server))
        conn.execute(sql.SQL(
            "CREATE FOREIGN TABLE {} (ef_search text, probes text) SERVER {} "
            "OPTIONS (table_name 'bench_settings')")
            .format(sql.Identifier(f"shard_settings_{i}"), server))


def route_rows(coord, shard_conns, nshards, n):
    """INSERT the 1-node copy into the partitioned table (rows go to their shards); seconds."""
    log(f"routing {n} rows to {nshards} shards through the coordinator (postgres_fdw)")
    start = time.perf_counter()
    coord.execute("INSERT INTO items SELECT id, embedding FROM items_single")
    seconds = time.perf_counter() - start
    counts = []
    for i, conn in enumerate(shard_conns):
        got = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        want = coord.execute("SELECT count(*) FROM items_single WHERE "
                             "satisfies_hash_partition('items'::regclass, %s, %s, id)",
                             (nshards, i)).fetchone()[0]
        if got != want:
            raise BenchError(f"shard{i} holds {got} rows, the coordinator's hash says {want}")
        counts.append(got)
    if sum(counts) != n:
        raise BenchError(f"the shards hold {sum(counts)} rows, expected {n}")
    return seconds, counts


def build_all(conns, tables, index, opclass, params_of):
    """CREATE INDEX on every (connection, table) at once; a list of (name, s, MiB)."""
    def one(conn, table):
        return ann.build_index(conn, table, index, opclass, params_of(conn), 0, None)

    with concurrent.futures.ThreadPoolExecutor(len(conns)) as pool:
        futures = [pool.submit(one, c, t) for c, t in zip(conns, tables)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for conn in conns:          # Ctrl-C or one build failed: stop the others
                with contextlib.suppress(Exception):
                    conn.cancel()
            raise


# --------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------

def statements(op, k, nshards):
    """The four query texts, each with a %(q)s placeholder for the vector."""
    dist = f"embedding {op} %(q)s::vector"
    plain = f"SELECT id FROM items ORDER BY {dist} LIMIT {k}"
    union = " UNION ALL ".join(
        f"(SELECT id, embedding FROM items_{i} ORDER BY {dist} LIMIT {k} OFFSET 0)"
        for i in range(nshards))
    return {
        "a": f"SELECT id FROM items_single ORDER BY {dist} LIMIT {k}",
        "b": plain,
        # (c) runs on its own connection, opened with vector.partition_topk = off, so
        # no cached plan of (b) can serve it; the comment keeps the texts apart too
        "c": plain + " /* partition_topk off */",
        "d": f"SELECT id FROM ({union}) s ORDER BY {dist} LIMIT {k}",
    }


def run_pass(cur, statement, query_texts):
    """One pass, one query at a time; (per-query seconds, id lists, wall seconds)."""
    clock = time.perf_counter
    latencies = np.empty(len(query_texts))
    results = []
    wall_start = clock()
    for i, text in enumerate(query_texts):
        t0 = clock()
        cur.execute(statement, {"q": text}, prepare=True)
        rows = cur.fetchall()
        latencies[i] = clock() - t0
        results.append(rows)
    return latencies, results, clock() - wall_start


def set_search_param(guc, value, shard_conns, coord_conns):
    """The setting for (a) in each coordinator session, on the shards via ALTER DATABASE;
    the coordinator's postgres_fdw connections are reopened and checked."""
    column = "ef_search" if guc == "hnsw.ef_search" else "probes"
    for conn in shard_conns:
        conn.execute(sql.SQL("ALTER DATABASE postgres SET {} = {}")
                     .format(sql.SQL(guc), sql.Literal(value)))
        # this (benchmark) session too, for shard_plans()
        conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(guc), sql.Literal(value)))
    for conn in coord_conns:
        conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(guc), sql.Literal(value)))
        conn.execute("SELECT postgres_fdw_disconnect_all()")
        for i in range(len(shard_conns)):
            seen = conn.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(column), sql.Identifier(f"shard_settings_{i}"))).fetchone()[0]
            if seen != str(value):
                raise BenchError(f"shard{i} runs the coordinator's queries with {guc} = "
                                 f"{seen}, expected {value}")


def compare_ids(ds, results_x, results_y):
    """Queries whose id lists differ; split into those explained by equal distances
    (same sorted distance list: a tie broken the other way) and the rest."""
    differing, by_ties, details = 0, 0, []
    for i, (rx, ry) in enumerate(zip(results_x, results_y)):
        ids_x = [r[0] for r in rx]
        ids_y = [r[0] for r in ry]
        if ids_x == ids_y:
            continue
        differing += 1
        dx = np.sort(ann.distances(ds.base, ds.queries[i], ids_x, ds.metric))
        dy = np.sort(ann.distances(ds.base, ds.queries[i], ids_y, ds.metric))
        tie = len(dx) == len(dy) and np.allclose(dx, dy, rtol=1e-9, atol=1e-12)
        by_ties += tie
        if len(details) < 20:
            details.append({"query": i, "ids_1": ids_x, "ids_2": ids_y,
                            "dist_1": dx.tolist(), "dist_2": dy.tolist(), "tie": bool(tie)})
    return {"differing": differing, "ties_only": by_ties,
            "other": differing - by_ties, "examples": details}


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------

VECTOR_LITERAL = re.compile(r"'\[[-+0-9.eE, ]*\]'")


def abbreviate(plan_text, dim):
    return VECTOR_LITERAL.sub(f"'[{dim} values]'", plan_text)


def explain_literal(conn, statement, query_text):
    """EXPLAIN (VERBOSE, COSTS OFF) with the vector as a literal (a custom plan)."""
    rendered = psycopg.ClientCursor(conn).mogrify(statement, {"q": query_text})
    rows = conn.execute("EXPLAIN (VERBOSE, COSTS OFF) " + rendered).fetchall()
    return "\n".join(r[0] for r in rows)


def explain_generic(conn, statement, query_text):
    """The generic plan of the prepared form (what a cached prepared statement may run)."""
    name = "shards_explain"
    conn.execute(f"PREPARE {name}(vector) AS " + statement.replace("%(q)s", "$1"))
    try:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        rendered = psycopg.ClientCursor(conn).mogrify(
            f"EXPLAIN (VERBOSE, COSTS OFF) EXECUTE {name}(%(q)s)", {"q": query_text})
        rows = conn.execute(rendered).fetchall()
    finally:
        conn.execute("RESET plan_cache_mode")
        conn.execute(f"DEALLOCATE {name}")
    return "\n".join(r[0] for r in rows)


def plan_checks(text, k, nshards):
    remote = re.findall(r"Remote SQL: (.*)", text)
    return {
        "remote_sql": len(remote),
        "remote_sql_with_limit": sum(1 for r in remote if re.search(rf" LIMIT {k}\b", r)),
        "async_foreign_scans": len(re.findall(r"Async Foreign Scan", text)),
        "foreign_scans": len(re.findall(r"Foreign Scan", text)),
        "merge_append": "Merge Append" in text,
        "sort": bool(re.search(r"^\s*(->\s*)?Sort\b", text, re.M)),
    }


def plan_ok(case, checks, nshards):
    if case == "b":
        return (checks["remote_sql_with_limit"] == nshards
                and checks["async_foreign_scans"] == nshards and not checks["merge_append"])
    if case == "c":
        return checks["merge_append"] and checks["remote_sql_with_limit"] == 0
    # (d): PostgreSQL 15 plans a Subquery Scan between the Append and each foreign
    # scan of the UNION ALL and runs the scans synchronously; only the LIMIT in every
    # remote query is expected
    return checks["remote_sql_with_limit"] == nshards and not checks["merge_append"]


def shard_plans(conn, plans, index_name):
    """How shard 0 plans the remote queries of (b), (c), (d) at the current setting.

    postgres_fdw runs a remote query as DECLARE CURSOR (the planner then favours
    fast-start plans), so that is what is explained."""
    out = {}
    for case in ("b", "c", "d"):
        remote = re.findall(r"Remote SQL: (.*)", plans[case]["literal"]["text"])
        if not remote:
            continue
        with conn.transaction():
            plan = conn.execute("EXPLAIN (FORMAT JSON) DECLARE bench_cursor CURSOR FOR "
                                + remote[0]).fetchone()[0][0]["Plan"]
        nodes = [(n.get("Node Type"), n.get("Index Name")) for n in ann._plan_nodes(plan)]
        out[case] = {
            "nodes": " -> ".join(t + (f" using {name}" if name else "") for t, name in nodes),
            "uses_index": any(name == index_name for _, name in nodes),
        }
    return out


def check_plans(conns, stmts, query_text, k, nshards):
    """EXPLAIN (b), (c), (d) as literal (custom) and prepared (generic) plans."""
    plans = {}
    for case in ("b", "c", "d"):
        conn = conns[case]
        plans[case] = {}
        for form, explain in (("literal", explain_literal), ("generic", explain_generic)):
            text = explain(conn, stmts[case], query_text)
            checks = plan_checks(text, k, nshards)
            plans[case][form] = {"text": text, "checks": checks,
                                 "ok": plan_ok(case, checks, nshards)}
    return plans


def plan_verdict(case, p, k, nshards):
    c = p["checks"]
    if case in ("b", "d"):
        what = (f"{c['remote_sql_with_limit']}/{nshards} Remote SQL with LIMIT {k}, "
                f"{c['async_foreign_scans']}/{nshards} Async Foreign Scan, "
                f"Merge Append {'yes' if c['merge_append'] else 'no'}")
    else:
        what = (f"Merge Append {'yes' if c['merge_append'] else 'no'}, "
                f"{c['remote_sql_with_limit']} Remote SQL with LIMIT")
    note = ""
    if case == "d" and c["async_foreign_scans"] == 0:
        note = "   (not async: a Subquery Scan sits between Append and each Foreign Scan)"
    return f"{what}   {'OK' if p['ok'] else 'UNEXPECTED'}{note}"


# --------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------

def benchmark(servers, args, ds):
    nshards = args.shards
    n, dim = ds.base.shape
    op, opclass = ann.METRICS[ds.metric]
    guc, values = sweep_plan(args)
    timings = {}

    with contextlib.ExitStack() as stack:
        def connect(server, **options):
            conninfo = server.conninfo()
            if options:
                conninfo["options"] = " ".join(f"-c {k}={v}" for k, v in options.items())
            conn = ann.connect(conninfo)
            stack.callback(conn.close)    # close, not __exit__: no rollback mid-query
            return conn

        coord = connect(servers["coord"])
        shards = [connect(servers[f"shard{i}"]) for i in range(nshards)]

        if coord.execute("SELECT current_setting('vector.partition_topk', true)").fetchone()[0] \
                is None:
            raise BenchError("the installed vector library has no vector.partition_topk "
                             "setting (no top-k planner hook): reinstall the extension")
        for conn in shards:
            setup_shard(conn, dim)
        setup_coordinator(coord, servers, nshards, dim, args.batch_size)
        ann.check_index_support(coord, args.index, opclass)

        timings["copy_1node_s"] = ann.load_table(coord, "items_single", ds.base)
        timings["route_s"], counts = route_rows(coord, shards, nshards, n)
        log(f"rows per shard: {counts}")

        def params_of(conn):
            rows = n if conn is coord else counts[shards.index(conn)]
            if args.index == "hnsw":
                return {"m": args.m, "ef_construction": args.ef_construction}
            return {"lists": args.lists or max(1, round(math.sqrt(rows)))}

        start = time.perf_counter()
        built = build_all([coord] + shards, ["items_single"] + ["items"] * nshards,
                          args.index, opclass, params_of)
        timings["build_wall_s"] = time.perf_counter() - start
        log("ANALYZE on the coordinator (samples the foreign partitions)")
        coord.execute("ANALYZE items")
        for conn in shards:
            conn.execute("VACUUM ANALYZE items")
        prewarmed = {"coord": ann.prewarm(coord, "items_single", built[0][0])}
        for i, conn in enumerate(shards):
            prewarmed[f"shard{i}"] = ann.prewarm(conn, "items", built[i + 1][0])

        # (c) gets its own session with the rewrite off from the start
        coord_off = connect(servers["coord"], **{"vector.partition_topk": "off"})
        conns = {"a": coord, "b": coord, "c": coord_off, "d": coord}
        stmts = statements(op, args.k, nshards)
        query_texts = [ann.vector_text(q) for q in ds.queries]
        warmup_texts = query_texts[:args.warmup] if args.warmup else query_texts

        set_search_param(guc, values[0], shards, [coord, coord_off])
        log("EXPLAIN VERBOSE of (b), (c), (d)")
        plans = check_plans(conns, stmts, query_texts[0], args.k, nshards)
        for case in ("b", "c", "d"):
            for form in ("literal", "generic"):
                if not plans[case][form]["ok"]:
                    warn(f"the {form} plan of ({case}) is not the expected one:\n"
                         + abbreviate(plans[case][form]["text"], dim))

        scorer = ann.RecallScorer(ds, args.k)
        sweep = []
        for value in values:
            set_search_param(guc, value, shards, [coord, coord_off])
            runs = {case: [] for case in CASES}
            last = {}
            shard_plan = shard_plans(shards[0], plans, built[1][0])
            for case, p in shard_plan.items():
                log(f"{guc}={value}: shard0 plans the remote query of ({case}) as {p['nodes']}")
            texts = {case: query_texts for case in CASES}
            texts["c"] = query_texts[:args.queries_off] if args.queries_off else query_texts
            for case in CASES:                         # untimed warm-up pass each
                warm = warmup_texts[:len(texts[case])]
                if case == "c":
                    warm = warm[:C_WARMUP]
                log(f"{guc}={value}: warm-up ({case}), {len(warm)} queries")
                with conns[case].cursor() as cur:
                    run_pass(cur, stmts[case], warm)
            for r in range(args.repeat):
                # (b) and (d) swap places every round; (c), the slow one, runs once
                order = ["a", "b", "d"] if r % 2 == 0 else ["a", "d", "b"]
                for case in order + (["c"] if r == 0 else []):
                    log(f"{guc}={value}: timed pass {len(runs[case]) + 1} ({case}) "
                        f"{CASES[case]}, {len(texts[case])} queries")
                    with conns[case].cursor() as cur:
                        lat, results, wall = run_pass(cur, stmts[case], texts[case])
                    runs[case].append({
                        **scorer.score(results),
                        "qps": len(texts[case]) / wall,
                        "p50_ms": float(np.percentile(lat, 50) * 1000),
                        "p99_ms": float(np.percentile(lat, 99) * 1000),
                        "mean_ms": float(lat.mean() * 1000),
                    })
                    last[case] = results
            cases = {}
            for case in CASES:
                rs = runs[case]
                cases[case] = {key: statistics.median(x[key] for x in rs)
                               for key in ("recall", "recall_strict", "qps", "p50_ms",
                                           "p99_ms", "mean_ms", "mean_rows")}
                cases[case]["queries"] = len(texts[case])
                cases[case]["runs"] = rs
            sweep.append({
                "value": value,
                "cases": cases,
                "shard0_plans": shard_plan,
                "ratio_b_d": cases["b"]["qps"] / cases["d"]["qps"],
                "ratio_b_d_per_round": [b["qps"] / d["qps"]
                                        for b, d in zip(runs["b"], runs["d"])],
                "b_vs_d": compare_ids(ds, last["b"], last["d"]),
                "b_vs_c": compare_ids(ds, last["b"], last["c"]),
            })

        info = ann.server_info(coord, "private")

    return {
        "tool": "bench/shards.py",
        "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": sys.argv,
        "dataset": {
            "name": ds.name, "source": ds.source, "metric": ds.metric, "n": n, "dim": dim,
            "queries": len(ds.queries), "k": args.k, "ground_truth": ds.gt_source,
        },
        "topology": {
            "shards": nshards, "rows_per_shard": counts,
            "coordinator": "coord: partitioned table items (hash on id) over postgres_fdw "
                           "foreign partitions, plus items_single, the full 1-node copy",
            "servers": {name: {"pgdata": str(s.pgdata), "socket": str(s.socket_dir),
                               "port": s.port, "flags": s.settings}
                        for name, s in servers.items()},
            "batch_size": args.batch_size,
        },
        "load": {
            "copy_1node_s": timings["copy_1node_s"],
            "route_s": timings["route_s"],
            "method": "binary COPY into coord.items_single, then INSERT INTO items SELECT "
                      "... FROM items_single (routed to the foreign partitions, postgres_fdw "
                      f"batch_size {args.batch_size})",
        },
        "index": {
            "type": args.index, "opclass": opclass, "operator": op,
            "build_wall_s": timings["build_wall_s"],
            "single": {"name": built[0][0], "params": params_of(coord), "build_s": built[0][1],
                       "size_mib": built[0][2]},
            "shards": [{"name": b[0], "params": params_of(shards[i]), "build_s": b[1],
                        "size_mib": b[2]} for i, b in enumerate(built[1:])],
            "prewarmed_blocks": prewarmed,
        },
        "plans": plans,
        "sweep": {"param": guc, "repeat": args.repeat, "warmup_queries": len(warmup_texts),
                  "queries": stmts, "results": sweep, "aim_ratio_b_d": AIM_RATIO},
        "server": info,
        "machine": ann.machine_info(),
    }


def loadavg():
    """The 1-minute load average: other work on this machine skews every number."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def sweep_plan(args):
    guc, defaults = DEFAULT_SWEEPS[args.index]
    chosen = args.ef_search if args.index == "hnsw" else args.probes
    return guc, chosen or defaults


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def print_report(report):
    ds, topo, ix = report["dataset"], report["topology"], report["index"]
    k, nshards, dim = ds["k"], topo["shards"], ds["dim"]
    print()
    print(f"data set   {ds['name']}   N={ds['n']}  D={dim}  metric={ds['metric']}  "
          f"queries={ds['queries']}  k={k}")
    print(f"clusters   coord (coordinator + 1-node copy) and {nshards} shards, Unix sockets; "
          f"rows per shard {', '.join(map(str, topo['rows_per_shard']))}")
    print(f"load       COPY 1-node {report['load']['copy_1node_s']:.2f} s   routed to shards "
          f"{report['load']['route_s']:.2f} s (postgres_fdw batch_size {topo['batch_size']})")
    single = ix["single"]
    shard_build = ", ".join(f"{s['build_s']:.1f}" for s in ix["shards"])
    shard_size = ", ".join(f"{s['size_mib']:.1f}" for s in ix["shards"])
    print(f"index      {ix['type']} {ann.format_params(single['params'])}: 1 node "
          f"{single['build_s']:.1f} s {single['size_mib']:.1f} MiB; shards "
          f"{shard_build} s {shard_size} MiB"
          + (f" ({ann.format_params(ix['shards'][0]['params'])})"
             if ix["type"] == "ivfflat" else "")
          + f"; all at once {ix['build_wall_s']:.1f} s")
    for case in ("b", "c", "d"):
        for form in ("literal", "generic"):
            p = report["plans"][case][form]
            print(f"plan ({case})   {form:<8} {plan_verdict(case, p, k, nshards)}")
    srv = report["server"]
    load = report["machine"].get("loadavg_1min") or {}
    print(f"load avg   {load.get('start')} at the start, {load.get('end')} at the end "
          f"(1 minute; {report['machine']['nproc']} cores)")
    print(f"server     PostgreSQL {srv['server_version']}, vector {srv['extension_version']}, "
          f"simd {srv['simd_level'] or '-'}, {report['machine']['nproc']} cores "
          f"({report['machine']['cpu_model']})")
    print()
    print("EXPLAIN (VERBOSE, COSTS OFF), vector literal, first query:")
    for case in ("b", "c"):
        print(f"-- ({case}) {CASES[case]}")
        for line in abbreviate(report["plans"][case]["literal"]["text"], dim).splitlines():
            print("   " + line)
    print()
    sw = report["sweep"]
    param = sw["param"]
    print(f"{param:>15}  {'case':<26} {'queries':>7} {'runs':>4}  {'recall@' + str(k):>9}  "
          f"{'QPS':>8}  {'p50 ms':>7}  {'p99 ms':>7}")
    for row in sw["results"]:
        for case, label in CASES.items():
            c = row["cases"][case]
            print(f"{row['value']:>15}  ({case}) {label:<22} {c['queries']:>7} "
                  f"{len(c['runs']):>4}  {c['recall']:9.4f}  {c['qps']:8.1f}  "
                  f"{c['p50_ms']:7.3f}  {c['p99_ms']:7.3f}")
        shard_plan = "; ".join(f"({case}) {p['nodes']}"
                               for case, p in row["shard0_plans"].items())
        print(f"{'':>15}  shard0 runs {shard_plan}")
        bd, bc = row["b_vs_d"], row["b_vs_c"]
        verdict = "meets" if row["ratio_b_d"] >= sw["aim_ratio_b_d"] else "BELOW"
        rounds = ", ".join(f"{x:.3f}" for x in row["ratio_b_d_per_round"])
        print(f"{'':>15}  (b)/(d) QPS {row['ratio_b_d']:.3f} ({verdict} the aim "
              f">= {sw['aim_ratio_b_d']:.2f}; per round {rounds})")
        print(f"{'':>15}  id lists (b) != (d): {bd['differing']} of "
              f"{row['cases']['b']['queries']} queries ({bd['ties_only']} only by tied "
              f"distances);  (b) != (c): {bc['differing']} of {row['cases']['c']['queries']} "
              f"({bc['ties_only']} ties)")
    print()


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Scatter-gather benchmark of the vector extension: top-k over "
                    "postgres_fdw shards (planner rewrite on/off, hand-written UNION ALL) "
                    "against one node.",
        epilog="example: /usr/bin/python3 bench/shards.py --queries 200")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", metavar="NAME", default="sift-128",
                      help="data set in --data-dir: NAME/base.fvecs, query.fvecs, gt.ivecs "
                           "(default: %(default)s)")
    data.add_argument("--data-dir", type=Path, default=ann.DEFAULT_DATA_DIR,
                      help="where --dataset looks (default: %(default)s)")
    data.add_argument("--metric", choices=sorted(ann.METRICS),
                      help="distance (default: the data set's, as bench/ann.py)")
    data.add_argument("--limit-base", type=ann.positive_int, metavar="N",
                      help="use only the first N base vectors (ground truth is recomputed)")
    data.add_argument("--queries", type=ann.positive_int, metavar="N",
                      help="use only the first N queries (default: all)")
    data.add_argument("--k", type=ann.positive_int, default=10,
                      help="neighbours per query, the LIMIT (default: %(default)s)")

    index = p.add_argument_group("index and sweep")
    index.add_argument("--index", choices=["hnsw", "ivfflat"], default="hnsw",
                       help="index on every shard and on the 1-node copy (default: %(default)s)")
    index.add_argument("--m", type=ann.positive_int, default=16,
                       help="hnsw m (default: %(default)s)")
    index.add_argument("--ef-construction", type=ann.positive_int, default=64,
                       help="hnsw ef_construction (default: %(default)s)")
    index.add_argument("--lists", type=ann.positive_int,
                       help="ivfflat lists (default: sqrt of each table's rows)")
    index.add_argument("--ef-search", type=ann.int_list, metavar="LIST",
                       help="hnsw.ef_search values (default 40,100)")
    index.add_argument("--probes", type=ann.int_list, metavar="LIST",
                       help="ivfflat.probes values (default 8,32)")
    index.add_argument("--warmup", type=ann.non_negative_int, default=200, metavar="N",
                       help="untimed warm-up pass per case and setting over the first N "
                            "queries, 0 = all (default: %(default)s)")
    index.add_argument("--repeat", type=ann.positive_int, default=5,
                       help="timed passes of (a), (b), (d) per setting, (b) and (d) in "
                            "alternating order; medians are reported (default: %(default)s)")
    index.add_argument("--queries-off", type=ann.non_negative_int, default=100, metavar="N",
                       help="(c), which is slow, runs once over the first N queries only, "
                            "0 = all (default: %(default)s)")

    server = p.add_argument_group("servers")
    server.add_argument("--shards", type=ann.positive_int, default=3,
                        help="number of shard clusters (default: %(default)s)")
    server.add_argument("--batch-size", type=ann.positive_int, default=1000,
                        help="postgres_fdw batch_size of the routed load (default: %(default)s)")
    server.add_argument("--pgdata", type=Path, default=DEFAULT_PGDATA,
                        help="parent of the clusters' data directories coord, shard0, ... "
                             "(default: %(default)s)")
    server.add_argument("--pg-bin", type=Path, default=ann.DEFAULT_PG_BIN,
                        help="directory with initdb, pg_ctl, postgres (default: %(default)s)")
    server.add_argument("--shared-buffers", metavar="SIZE",
                        help="shared_buffers of each cluster (default 1GB, at most RAM/16)")
    server.add_argument("--maintenance-work-mem", metavar="SIZE",
                        help="maintenance_work_mem of each cluster (default 1GB, at most RAM/16)")
    server.add_argument("--keep", action="store_true",
                        help="leave the servers running at the end")

    out = p.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="PATH",
                     help="result file (default bench/out/shards-<dataset>-<index>-"
                          "<timestamp>.json)")
    args = p.parse_args(argv)
    if args.ef_search and args.index != "hnsw":
        p.error("--ef-search applies to --index hnsw only")
    if args.probes and args.index != "ivfflat":
        p.error("--probes applies to --index ivfflat only")
    if args.shards < 2:
        p.error("--shards must be at least 2 (the rewrite needs a Merge Append of partitions)")
    return args


def dataset_args(args):
    """The namespace bench/ann.py's resolve_dataset expects."""
    return argparse.Namespace(
        dataset=args.dataset, data_dir=args.data_dir, base=None, query=None, gt=None,
        synthetic=None, metric=args.metric, limit_base=args.limit_base,
        queries=args.queries, k=args.k, seed=1234)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, ann._exit_on_sigterm)
    started = time.perf_counter()
    def body():
        ds = ann.resolve_dataset(dataset_args(args))
        log(f"data set {ds.name}: {len(ds.base)} x {ds.base.shape[1]}, "
            f"{len(ds.queries)} queries, metric {ds.metric}, ground truth {ds.gt_source}")
        if len(ds.base) < args.shards * args.k:
            raise BenchError(f"{len(ds.base)} rows are too few for {args.shards} shards")
        servers = make_servers(args)
        with contextlib.ExitStack() as stack:
            for server in servers.values():       # stopped in reverse order on the way out
                stack.enter_context(server)
            load_start = loadavg()
            report = benchmark(servers, args, ds)
            report["machine"]["loadavg_1min"] = {"start": load_start, "end": loadavg()}
        report["elapsed_s"] = time.perf_counter() - started
        print_report(report)
        print(f"run time   {report['elapsed_s']:.1f} s")
        path = args.json or (ann.DEFAULT_OUT_DIR / "shards-{}-{}-{}.json".format(
            ds.name, args.index, datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
        ann.write_json(report, path)
        return 0
    return ann.run_tool(body)


if __name__ == "__main__":
    sys.exit(main())
