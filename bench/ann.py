#!/usr/bin/python3
"""ANN benchmark for the `vector` PostgreSQL extension: recall@k against QPS.

The tool
  1. reads a data set (shipped fvecs set, the user's own fvecs/ivecs files, or
     seeded synthetic Gaussian blobs) and gets exact ground truth for it,
  2. starts a private PostgreSQL 15 cluster (or uses --dsn),
  3. loads the base vectors into `items (id int primary key, embedding vector(D))`
     with a binary COPY,
  4. builds an hnsw or ivfflat index (or none, for exact search), times it and
     measures its size, then prewarms table and index,
  5. sweeps hnsw.ef_search or ivfflat.probes, one query at a time over the Unix
     socket, and reports recall@k, QPS and p50/p99 latency per setting,
  6. times single-row autocommit INSERTs into the indexed table,
  7. prints a table and writes everything (plus server and machine info) to JSON.

Run it with Debian's python (psycopg 3 and numpy):
    /usr/bin/python3 bench/ann.py --dataset sift-128 --index hnsw
See bench/README.md for every flag.
"""

import argparse
import datetime
import json
import os
import platform
import pwd
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT_DIR = SCRIPT_DIR / "out"
DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_OS_USER = "postgres"       # initdb refuses to run as root
RESERVED_PORTS = {5432, 54329}    # used by other servers on the dev machines

# Per metric: distance operator and operator class.
METRICS = {
    "l2": ("<->", "vector_l2_ops"),
    "ip": ("<#>", "vector_ip_ops"),
    "cosine": ("<=>", "vector_cosine_ops"),
    "l1": ("<+>", "vector_l1_ops"),
}
# Operator class of a halfvec expression index, per metric (hnsw has all four,
# ivfflat no l1: check_index_support says so).
HALFVEC_OPCLASSES = {
    "l2": "halfvec_l2_ops",
    "ip": "halfvec_ip_ops",
    "cosine": "halfvec_cosine_ops",
    "l1": "halfvec_l1_ops",
}
BIT_OPCLASS, BIT_OPERATOR = "bit_hamming_ops", "<~>"
DEFAULT_RERANK = [100]
HNSW_MAX_EF_SEARCH = 1000          # upper bound of hnsw.ef_search
# Default metric of the shipped data sets; anything else defaults to l2.
DATASET_METRICS = {
    "sift-128": "l2",
    "glove-100": "cosine",
    "fashion-mnist-784": "l2",
}
# The GUC each index type sweeps, and its default values.
SWEEP_GUCS = {
    "hnsw": ("hnsw.ef_search", [10, 20, 40, 80, 160, 320]),
    "ivfflat": ("ivfflat.probes", [1, 2, 4, 8, 16, 32]),
}
DEFAULT_MEMORY_MB = 4096           # shared_buffers / maintenance_work_mem
COPY_CHUNK_ROWS = 20000


class BenchError(Exception):
    """An error the user can fix (bad flag, missing file, missing access method)."""


_T0 = time.perf_counter()


def _stderr(text):
    """Write to stderr; a closed pipe (| head) must not stop the cleanup."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def log(message):
    """Progress message on stderr, stamped with seconds since start."""
    _stderr(f"[{time.perf_counter() - _T0:7.1f}s] {message}")


def warn(message):
    """A loud warning on stderr."""
    bar = "!" * 72
    _stderr(f"{bar}\nWARNING: {message}\n{bar}")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

@dataclass
class Dataset:
    name: str
    source: str                 # where it came from, for the report
    metric: str
    base: np.ndarray            # (N, D) float32
    queries: np.ndarray         # (Q, D) float32
    gt: np.ndarray              # (Q, depth) int, 0-based base row ids, nearest first
    gt_source: str              # "file <path>" or "computed (numpy float64)"


def read_vecs(path, dtype):
    """Read an .fvecs (dtype float32) or .ivecs (dtype int32) file into (n, d)."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"file not found: {path}")
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise BenchError(f"{path} is empty")
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        raise BenchError(f"{path}: not a valid vecs file (first dim {dim}, "
                         f"{raw.size * 4} bytes)")
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise BenchError(f"{path}: vectors of different dimensions are not supported")
    body = rows[:, 1:].copy()
    return body.view(np.float32) if dtype == np.float32 else body


def default_metric(name, dataset_dir=None):
    """Metric of a data set: the table above, then its SOURCE.md, then l2."""
    if name in DATASET_METRICS:
        return DATASET_METRICS[name]
    if dataset_dir is not None:
        source = Path(dataset_dir) / "SOURCE.md"
        if source.is_file():
            for line in source.read_text(errors="replace").splitlines():
                if "**Metric**" in line:
                    for metric in METRICS:
                        if f" {metric}" in line.lower():
                            return metric
    return "l2"


def load_named_dataset(name, data_dir):
    """base, queries, gt (or None) and the directory of a data set in data_dir."""
    directory = Path(data_dir) / name
    if not directory.is_dir():
        available = sorted(p.parent.name for p in Path(data_dir).glob("*/base.fvecs")) \
            if Path(data_dir).is_dir() else []
        hint = f" Available: {', '.join(available)}." if available else ""
        raise BenchError(f"data set '{name}' not found: looked for {directory}/"
                         f"{{base.fvecs,query.fvecs,gt.ivecs}} (--data-dir {data_dir}).{hint}")
    base = read_vecs(directory / "base.fvecs", np.float32)
    queries = read_vecs(directory / "query.fvecs", np.float32)
    gt_path = directory / "gt.ivecs"
    gt = read_vecs(gt_path, np.int32) if gt_path.is_file() else None
    return base, queries, gt, gt_path, directory


def make_synthetic(spec, n_queries, seed):
    """Seeded Gaussian blobs: spec is 'N,D,CLUSTERS'; queries come from the same mixture."""
    try:
        n, dim, clusters = (int(x) for x in spec.split(","))
    except ValueError:
        raise BenchError(f"--synthetic wants N,D,CLUSTERS (three integers), got '{spec}'")
    if n < 1 or dim < 1 or clusters < 1:
        raise BenchError(f"--synthetic values must be positive, got '{spec}'")
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(clusters, dim))
    spreads = rng.uniform(0.15, 0.45, size=clusters)
    weights = rng.dirichlet(np.full(clusters, 2.0))

    def draw(count):
        labels = rng.choice(clusters, size=count, p=weights)
        noise = rng.normal(0.0, 1.0, size=(count, dim)) * spreads[labels, None]
        return (centers[labels] + noise).astype(np.float32)

    return draw(n), draw(n_queries)


def _normalize_rows(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return x / norms


def _smallest_per_row(dist, depth):
    """Ids of the `depth` smallest entries of each row, ties broken by lower id."""
    dist = np.where(np.isnan(dist), np.inf, dist)
    if depth < dist.shape[1]:
        part = np.argpartition(dist, depth - 1, axis=1)[:, :depth]
    else:
        part = np.tile(np.arange(dist.shape[1]), (dist.shape[0], 1))
    out = np.empty((dist.shape[0], depth), dtype=np.int64)
    for row in range(dist.shape[0]):
        cand = np.sort(part[row])
        order = np.argsort(dist[row, cand], kind="stable")
        out[row] = cand[order]
    return out


def exact_ground_truth(base, queries, metric, depth):
    """Exact top-`depth` base ids for each query, computed in float64."""
    depth = min(depth, len(base))
    b = base.astype(np.float64)
    if metric == "cosine":
        b = _normalize_rows(b)
    b_sq = (b * b).sum(axis=1) if metric == "l2" else None
    out = np.empty((len(queries), depth), dtype=np.int64)
    block = max(1, min(256, int(2e7 // max(1, len(b)))))
    for start in range(0, len(queries), block):
        q = queries[start:start + block].astype(np.float64)
        if metric == "l2":
            dist = b_sq[None, :] - 2.0 * (q @ b.T)   # |q|^2 is constant per row
        elif metric == "ip":
            dist = -(q @ b.T)
        elif metric == "cosine":
            dist = -(_normalize_rows(q) @ b.T)
        else:  # l1
            dist = np.stack([np.abs(b - qi).sum(axis=1) for qi in q])
        out[start:start + len(q)] = _smallest_per_row(dist, depth)
    return out


def resolve_dataset(args):
    """Build the Dataset the flags describe (data, limits, metric and ground truth)."""
    sources = [bool(args.dataset), bool(args.base), bool(args.synthetic)]
    if sum(sources) != 1:
        raise BenchError("give exactly one of --dataset NAME, --base FILE (with --query), "
                         "or --synthetic N,D,CLUSTERS")
    gt, gt_path, dataset_dir = None, None, None
    if args.dataset:
        base, queries, gt, gt_path, dataset_dir = load_named_dataset(args.dataset, args.data_dir)
        name, source = args.dataset, str(dataset_dir)
    elif args.base:
        if not args.query:
            raise BenchError("--base needs --query FILE too")
        base = read_vecs(args.base, np.float32)
        queries = read_vecs(args.query, np.float32)
        if args.gt:
            gt_path = Path(args.gt)
            gt = read_vecs(gt_path, np.int32)
        base_path = Path(args.base)
        name = base_path.parent.name if base_path.stem == "base" else base_path.stem
        source, dataset_dir = str(base_path), base_path.parent
    else:
        n_queries = args.queries if args.queries else 1000
        base, queries = make_synthetic(args.synthetic, n_queries, args.seed)
        name = "synthetic-" + args.synthetic.replace(",", "-")
        source = f"synthetic Gaussian blobs N,D,CLUSTERS={args.synthetic} seed={args.seed}"

    if base.shape[1] != queries.shape[1]:
        raise BenchError(f"base vectors have {base.shape[1]} dimensions, "
                         f"queries {queries.shape[1]}")
    if gt is not None and len(gt) != len(queries):
        raise BenchError(f"{gt_path} has {len(gt)} rows but there are {len(queries)} queries")

    metric = args.metric or default_metric(name, dataset_dir)
    full_n = len(base)
    if args.limit_base:
        base = base[:args.limit_base]
    if args.queries:
        queries = queries[:args.queries]
        gt = gt[:args.queries] if gt is not None else None
    if args.k > len(base):
        raise BenchError(f"--k {args.k} is larger than the number of base vectors ({len(base)})")

    reason = None
    if gt is None:
        reason = "no ground-truth file"
    elif len(base) < full_n:
        reason = f"--limit-base {len(base)} < {full_n}"
    elif gt.shape[1] < args.k:
        reason = f"{gt_path} has only {gt.shape[1]} neighbours per query, --k is {args.k}"
    elif args.metric and args.metric != default_metric(name, dataset_dir):
        reason = f"--metric {args.metric} differs from the data set's metric"
    if reason:
        log(f"computing exact ground truth with numpy ({reason}): "
            f"{len(queries)} queries x {len(base)} base, metric {metric}")
        gt = exact_ground_truth(base, queries, metric, max(args.k, 100))
        gt_source = f"computed (numpy float64; {reason})"
    else:
        gt_source = f"file {gt_path}"
    return Dataset(name=name, source=source, metric=metric, base=np.ascontiguousarray(base),
                   queries=np.ascontiguousarray(queries), gt=gt, gt_source=gt_source)


@dataclass
class IndexMode:
    """What is indexed and how the query reads it (--type, --quantize).

    vector:   the column itself, `embedding <op> $1::vector`
    halfvec:  expression index on `embedding::halfvec(D)`, the query orders by
              `embedding::halfvec(D) <op> $1::halfvec(D)` (the table stays vector(D))
    binary:   hnsw expression index on `binary_quantize(embedding)::bit(D)`
              (bit_hamming_ops); the query takes the `rerank` nearest rows by
              Hamming distance from the index and re-orders them by the exact
              distance of the metric
    """
    column_type: str              # "vector" | "halfvec"
    quantize: str | None          # None | "binary"
    dim: int
    metric: str

    @property
    def label(self):
        """'vector', 'halfvec' or 'binary': part of file names and legends."""
        return "binary" if self.quantize == "binary" else self.column_type

    @property
    def operator(self):
        return METRICS[self.metric][0]

    @property
    def opclass(self):
        if self.quantize == "binary":
            return BIT_OPCLASS
        if self.column_type == "halfvec":
            return HALFVEC_OPCLASSES[self.metric]
        return METRICS[self.metric][1]

    @property
    def expression(self):
        """The indexed column or expression, as written in CREATE INDEX (parenthesized)."""
        if self.quantize == "binary":
            return f"(binary_quantize(embedding)::bit({self.dim}))"
        if self.column_type == "halfvec":
            return f"(embedding::halfvec({self.dim}))"
        return "embedding"

    def index_name(self, table, index):
        infix = {"vector": "", "halfvec": "halfvec_", "binary": "bit_"}[self.label]
        return f"{table}_embedding_{infix}{index}_idx"

    def statement(self, conn, table, k, rerank=None):
        """The benchmark query; every %s is the query vector as text."""
        ident = sql.Identifier(table).as_string(conn)
        op, dim = self.operator, self.dim
        if self.quantize == "binary":
            return (f"SELECT id FROM (SELECT id, embedding FROM {ident} "
                    f"ORDER BY binary_quantize(embedding)::bit({dim}) {BIT_OPERATOR} "
                    f"binary_quantize(%s::vector({dim})) LIMIT {int(rerank)}) c "
                    f"ORDER BY embedding {op} %s::vector({dim}) LIMIT {int(k)}")
        if self.column_type == "halfvec":
            return (f"SELECT id FROM {ident} ORDER BY embedding::halfvec({dim}) {op} "
                    f"%s::halfvec({dim}) LIMIT {int(k)}")
        return query_statement(conn, table, self.metric, k)


def vector_text(vec):
    """pgvector text form '[x,y,...]'; %.9g round-trips every float32."""
    return "[" + ",".join("%.9g" % x for x in vec.tolist()) + "]"


class VectorParam:
    """A query vector already in the vector type's binary wire format."""
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def binary_params(conn, vectors):
    """The query vectors as binary `vector` parameters (int16 dim, int16 0,
    big-endian float4s), the way client libraries send them; the server then
    skips parsing hundreds of floats from text per query."""
    oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]

    class Dumper(psycopg.adapt.Dumper):
        format = psycopg.pq.Format.BINARY

        def dump(self, obj):
            return obj.data

    Dumper.oid = oid
    conn.adapters.register_dumper(VectorParam, Dumper)
    return [VectorParam(struct.pack(">HH%df" % len(v), len(v), 0, *v.tolist())) for v in vectors]


# --------------------------------------------------------------------------
# Private server
# --------------------------------------------------------------------------

def total_ram_mb():
    """MemTotal from /proc/meminfo, in MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise BenchError("cannot read MemTotal from /proc/meminfo")


def parse_size_mb(text):
    """'4GB', '512MB', '1024' (MB) -> MiB."""
    units = {"kb": 1 / 1024, "mb": 1, "gb": 1024, "tb": 1024 * 1024}
    t = text.strip().lower()
    for unit, factor in units.items():
        if t.endswith(unit):
            return int(float(t[:-len(unit)]) * factor)
    return int(float(t))


def memory_setting_mb(requested):
    """An explicit size as given; the default 4GB capped at a quarter of RAM."""
    if requested:
        return parse_size_mb(requested)
    return min(DEFAULT_MEMORY_MB, total_ram_mb() // 4)


def free_port():
    """A TCP port no one listens on (names the socket file and shmem key)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port
    raise BenchError("could not find a free port")


class PrivateServer:
    """A throw-away cluster in `pgdata`, listening only on a Unix socket inside it."""

    def __init__(self, pg_bin, pgdata, settings, keep):
        self.pg_bin = Path(pg_bin)
        self.pgdata = Path(pgdata).resolve()
        self.settings = dict(settings)
        self.keep = keep
        self.port = free_port()
        self.socket_dir = self.pgdata / "socket"
        self.logfile = self.pgdata / "bench-server.log"
        self.as_root = os.geteuid() == 0
        self.started = False

    # -- helpers -----------------------------------------------------------
    def _cmd(self, tool, *argv):
        cmd = [str(self.pg_bin / tool), *argv]
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_OS_USER, "--", *cmd]
        return cmd

    def _run(self, tool, *argv, check=True):
        result = subprocess.run(self._cmd(tool, *argv), cwd="/", text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check and result.returncode != 0:
            raise BenchError(f"{tool} failed (exit {result.returncode}):\n{result.stdout}")
        return result

    def _server_user_ids(self):
        try:
            entry = pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise BenchError(f"running as root, but there is no '{SERVER_OS_USER}' OS user "
                             "to run the server as (initdb refuses root)")
        return entry.pw_uid, entry.pw_gid

    def _chown_tree(self, path, uid, gid):
        os.chown(path, uid, gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    def _tail_log(self, lines=30):
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- lifecycle ---------------------------------------------------------
    def check_binaries(self):
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (self.pg_bin / tool).is_file():
                raise BenchError(f"{tool} not found in {self.pg_bin} (set --pg-bin)")

    def prepare_datadir(self):
        """Create pgdata (owned by the server user) and initdb it unless it is a cluster."""
        try:
            self.pgdata.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BenchError(f"cannot create --pgdata {self.pgdata}: {e}")
        if self.as_root:
            uid, gid = self._server_user_ids()
            if self.pgdata.stat().st_uid != uid:
                self._chown_tree(self.pgdata, uid, gid)
        os.chmod(self.pgdata, 0o700)
        version_file = self.pgdata / "PG_VERSION"
        if version_file.is_file():
            log(f"reusing the cluster in {self.pgdata}")
            return
        if any(self.pgdata.iterdir()):
            raise BenchError(f"{self.pgdata} is not empty and holds no cluster; "
                             "remove it or choose another --pgdata")
        log(f"initdb {self.pgdata}")
        self._run("initdb", "-D", str(self.pgdata), "--username=postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-instructions")

    def stop_stale_server(self):
        """A server left running on this pgdata (--keep) is stopped, to restart with our flags."""
        status = self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False)
        if status.returncode == 0:
            log("a server is already running on this pgdata (an earlier --keep?): stopping it")
            self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w")

    def start(self):
        self.check_binaries()
        self.prepare_datadir()
        self.stop_stale_server()
        self.socket_dir.mkdir(exist_ok=True)
        if self.as_root:
            os.chown(self.socket_dir, *self._server_user_ids())
        os.chmod(self.socket_dir, 0o700)
        if len(str(self.socket_dir)) + 20 > 107:
            raise BenchError(f"socket path under {self.socket_dir} is too long for a Unix "
                             "socket; choose a shorter --pgdata")
        flags = {"port": self.port, "listen_addresses": "",
                 "unix_socket_directories": str(self.socket_dir), **self.settings}
        options = " ".join(f"-c {name}={shlex.quote(str(value))}"
                           for name, value in flags.items())
        log(f"starting PostgreSQL on socket {self.socket_dir} port {self.port}")
        result = self._run("pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.logfile),
                           "-w", "-t", "300", "-o", options, check=False)
        if result.returncode != 0:
            raise BenchError(f"the server did not start:\n{result.stdout}\n"
                             f"--- {self.logfile} ---\n{self._tail_log()}")
        self.started = True

    def stop(self):
        if not self.started:
            return
        log("stopping the server")
        result = self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w",
                           check=False)
        if result.returncode != 0:
            warn(f"pg_ctl stop failed:\n{result.stdout}")
        self.started = False

    def conninfo(self):
        return {"host": str(self.socket_dir), "port": self.port, "user": "postgres",
                "dbname": "postgres"}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        if self.keep and self.started:
            log(f"--keep: the server stays up; connect with: psql -h {self.socket_dir} "
                f"-p {self.port} -U postgres   stop with: "
                f"{' '.join(self._cmd('pg_ctl', 'stop', '-D', str(self.pgdata)))}")
        else:
            self.stop()
        return False


def server_settings(args):
    """The settings passed to the private server as -c flags."""
    workers = args.workers
    parallel = max(workers, os.cpu_count() or 1)
    return {
        "shared_buffers": f"{memory_setting_mb(args.shared_buffers)}MB",
        "maintenance_work_mem": f"{memory_setting_mb(args.maintenance_work_mem)}MB",
        "max_parallel_maintenance_workers": workers,
        "max_parallel_workers": parallel,
        "max_worker_processes": max(8, parallel + 2),
        "jit": "off",
    }


# --------------------------------------------------------------------------
# Database work
# --------------------------------------------------------------------------

def connect(conninfo):
    """An autocommit connection from a conninfo dict or a DSN string."""
    try:
        if isinstance(conninfo, dict):
            return psycopg.connect(autocommit=True, **conninfo)
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as e:
        raise BenchError(f"cannot connect to the server: {e}")


def create_extensions(conn, fresh=True):
    try:
        # The extension's SQL objects must match the installed library: a
        # reused private cluster may carry objects from an older build of the
        # same version, so start from a fresh CREATE EXTENSION there.  On a
        # server given with --dsn (fresh=False) never drop it: CASCADE would
        # take every vector column of the user's other tables with it.
        if fresh:
            conn.execute("DROP EXTENSION IF EXISTS vector CASCADE")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as e:
        raise BenchError(f"CREATE EXTENSION vector failed: {e}".strip()
                         + "\n(is the extension installed? `make install` in the repo)")
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except psycopg.Error as e:
        warn(f"pg_prewarm is not available ({e}); queries will warm the cache themselves")


def check_index_support(conn, index, opclass):
    """Fail early (before loading) if the access method or operator class is missing."""
    if index == "none":
        return
    if conn.execute("SELECT 1 FROM pg_am WHERE amname = %s", (index,)).fetchone() is None:
        raise BenchError(f'access method "{index}" does not exist: the installed vector '
                         f"extension has no {index} index yet (try --index none)")
    found = conn.execute(
        "SELECT 1 FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod "
        "WHERE a.amname = %s AND c.opcname = %s", (index, opclass)).fetchone()
    if found is None:
        raise BenchError(f'operator class "{opclass}" does not exist for access method '
                         f'"{index}" (this metric is not supported by {index})')


def copy_stream_chunks(base, first_id=0):
    """The binary COPY stream for (id, embedding) rows, as bytes chunks."""
    dim = base.shape[1]
    row_type = np.dtype([("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"),
                         ("vec_len", ">i4"), ("dim", ">u2"), ("unused", ">u2"),
                         ("vec", ">f4", (dim,))])
    yield b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    for start in range(0, len(base), COPY_CHUNK_ROWS):
        chunk = base[start:start + COPY_CHUNK_ROWS]
        rows = np.empty(len(chunk), dtype=row_type)
        rows["nfields"] = 2
        rows["id_len"] = 4
        rows["id"] = np.arange(first_id + start, first_id + start + len(chunk))
        rows["vec_len"] = 4 + 4 * dim
        rows["dim"] = dim
        rows["unused"] = 0
        rows["vec"] = chunk
        yield rows.tobytes()
    yield b"\xff\xff"


def load_table(conn, table, base, storage=None):
    """(Re)create the table and COPY the base vectors in; returns seconds.
    storage: the column's STORAGE (main keeps vectors in the table's own
    pages where they fit, instead of out of line in TOAST)."""
    dim = base.shape[1]
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, embedding vector({}))")
                 .format(ident, sql.Literal(dim)))
    if storage:
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN embedding SET STORAGE {}")
                     .format(ident, sql.SQL(storage.upper())))
    log(f"loading {len(base)} vectors of {dim} dimensions into {table}")
    start = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT BINARY)")
                      .format(ident)) as copy:
            for chunk in copy_stream_chunks(base):
                copy.write(chunk)
    seconds = time.perf_counter() - start
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))
    return seconds


def index_params(args, n_base):
    """WITH (...) parameters of the index, in order."""
    if args.index == "hnsw":
        params = {"m": args.m, "ef_construction": args.ef_construction}
        if args.bits is not None:
            params["bits"] = args.bits
        if args.rerank_bits is not None:
            params["rerank_bits"] = args.rerank_bits
        return params
    if args.index == "ivfflat":
        return {"lists": args.lists or max(1, round(n_base ** 0.5))}
    return {}


def build_index(conn, table, index, opclass, params, workers, maintenance_work_mem,
                expression="embedding", name=None):
    """CREATE INDEX on `expression` (the column, or a parenthesized expression);
    returns (index name, seconds, size in MiB)."""
    name = name or f"{table}_embedding_{index}_idx"
    with_clause = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(v))
                                      for k, v in params.items())
    statement = sql.SQL("CREATE INDEX {} ON {} USING {} ({} {}) WITH ({})").format(
        sql.Identifier(name), sql.Identifier(table), sql.Identifier(index),
        sql.SQL(expression), sql.Identifier(opclass), with_clause)
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(
        sql.Literal(workers)))
    if maintenance_work_mem:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(
            sql.Literal(maintenance_work_mem)))
    log(f"building: {statement.as_string(conn)}")
    start = time.perf_counter()
    try:
        conn.execute(statement)
    except psycopg.errors.UndefinedObject as e:
        raise BenchError(f"CREATE INDEX USING {index} failed: {e}")
    seconds = time.perf_counter() - start
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()[0]
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return name, seconds, size / 2**20


def prewarm(conn, table, index_name):
    """Load table, its TOAST table and the index into shared buffers; returns blocks read."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'").fetchone() is None:
        return None
    relations = [table]
    toast = conn.execute("SELECT reltoastrelid::regclass::text FROM pg_class "
                         "WHERE oid = %s::regclass AND reltoastrelid <> 0", (table,)).fetchone()
    if toast:
        relations.append(toast[0])
    if index_name:
        relations.append(index_name)
    blocks = {}
    for rel in relations:
        blocks[rel] = conn.execute("SELECT pg_prewarm(%s::regclass)", (rel,)).fetchone()[0]
    log(f"prewarmed {blocks}")
    return blocks


def query_statement(conn, table, metric, k):
    """The benchmark query as a string with one %s placeholder."""
    op = METRICS[metric][0]
    return sql.SQL("SELECT id FROM {} ORDER BY embedding {} %s::vector LIMIT {}").format(
        sql.Identifier(table), sql.SQL(op), sql.Literal(k)).as_string(conn)


def _plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def check_plan(conn, statement, query_text, index_name):
    """EXPLAIN the query once; returns (summary dict, uses_index)."""
    explain = "EXPLAIN (FORMAT JSON) " + statement.replace("%s", "{}")
    literals = [sql.Literal(query_text)] * statement.count("%s")
    rendered = sql.SQL(explain).format(*literals).as_string(conn)
    plan = conn.execute(rendered).fetchone()[0][0]["Plan"]
    nodes = [(n.get("Node Type"), n.get("Index Name")) for n in _plan_nodes(plan)]
    uses_index = any(t in ("Index Scan", "Index Only Scan") and name == index_name
                     for t, name in nodes)
    summary = " -> ".join(t + (f" using {name}" if name else "") for t, name in nodes)
    return {"nodes": summary, "uses_index": uses_index}, uses_index


# --------------------------------------------------------------------------
# Query sweep
# --------------------------------------------------------------------------

def run_queries(cur, statement, query_texts):
    """One pass over the queries; returns (per-query seconds, result ids, wall seconds)."""
    clock = time.perf_counter
    latencies = np.empty(len(query_texts))
    results = []
    nparams = statement.count("%s")          # the re-rank query uses the vector twice
    wall_start = clock()
    for i, text in enumerate(query_texts):
        t0 = clock()
        cur.execute(statement, (text,) * nparams, prepare=True)
        rows = cur.fetchall()
        latencies[i] = clock() - t0
        results.append(rows)
    return latencies, results, clock() - wall_start


def distances(base, query, ids, metric):
    """float64 distances from `query` to base rows `ids`, ranked like the SQL operator."""
    x = base[ids].astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        return ((x - q) ** 2).sum(axis=1)
    if metric == "ip":
        return -(x @ q)
    if metric == "cosine":
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    return np.abs(x - q).sum(axis=1)


class RecallScorer:
    """recall@k: |returned ids ∩ gt[:k]| / k, averaged over the queries.

    `recall` counts a returned id that is not in gt[:k] as a hit when its exact
    distance ties the k-th true neighbour's (equal distances have no single
    right answer; a server that picks the other one is not wrong).
    `recall_strict` is the plain set intersection.
    """

    def __init__(self, ds, k):
        self.ds, self.k = ds, k
        self.truth = [set(row[:k].tolist()) for row in ds.gt]
        self.kth = np.array([distances(ds.base, q, row[k - 1:k], ds.metric)[0]
                             for q, row in zip(ds.queries, ds.gt)])

    def _ties(self, i, ids):
        """How many of `ids` (not in gt[:k]) tie the k-th true distance of query i."""
        ids = [j for j in ids if 0 <= j < len(self.ds.base)]
        if not ids:
            return 0
        d = distances(self.ds.base, self.ds.queries[i], ids, self.ds.metric)
        limit = self.kth[i] + 1e-9 * abs(self.kth[i]) + 1e-12
        return int(np.count_nonzero(d <= limit))

    def score(self, results):
        k = self.k
        strict = tied = rows_returned = 0
        for i, rows in enumerate(results):
            ids = list(dict.fromkeys(r[0] for r in rows[:k]))
            hit = self.truth[i].intersection(ids)
            strict += len(hit)
            tied += min(k - len(hit), self._ties(i, [j for j in ids if j not in hit]))
            rows_returned += len(rows)
        n = k * len(results)
        return {"recall": (strict + tied) / n, "recall_strict": strict / n,
                "mean_rows": rows_returned / len(results)}


@dataclass
class Setting:
    """One point of the sweep: the value shown, the GUCs to SET, the query."""
    value: object                 # ef_search, probes, rerank N; None = exact
    gucs: dict                    # GUC name -> value
    statement: str


def set_gucs(conn, gucs):
    for name, value in gucs.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(name), sql.Literal(value)))


def measure_setting(conn, setting, query_texts, scorer):
    """SET the GUCs, do an untimed warm-up pass and a timed pass; returns metrics."""
    statement = setting.statement
    with conn.cursor() as cur:
        set_gucs(cur, setting.gucs)
        run_queries(cur, statement, query_texts)                       # warm-up
        latencies, results, wall = run_queries(cur, statement, query_texts)
    return {
        **scorer.score(results),
        "qps": len(query_texts) / wall,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "mean_ms": float(latencies.mean() * 1000),
    }


def run_sweep(conn, param, settings, query_texts, scorer, repeat):
    """All settings, `repeat` times; per setting the medians and the raw runs."""
    runs = [[] for _ in settings]
    for r in range(repeat):
        for i, setting in enumerate(settings):
            label = "exact" if param is None else f"{param}={setting.value}"
            extra = {g: v for g, v in setting.gucs.items() if g != param}
            if extra:
                label += " (" + ", ".join(f"{g}={v}" for g, v in extra.items()) + ")"
            log(f"sweep {r + 1}/{repeat}: {label}")
            runs[i].append(measure_setting(conn, setting, query_texts, scorer))
    summary = []
    for setting, rs in zip(settings, runs):
        summary.append({
            "value": setting.value,
            "gucs": setting.gucs,
            "recall": statistics.median(x["recall"] for x in rs),
            "recall_strict": statistics.median(x["recall_strict"] for x in rs),
            "qps": statistics.median(x["qps"] for x in rs),
            "p50_ms": statistics.median(x["p50_ms"] for x in rs),
            "p99_ms": statistics.median(x["p99_ms"] for x in rs),
            "mean_rows": statistics.median(x["mean_rows"] for x in rs),
            "runs": rs,
        })
    return summary


# --------------------------------------------------------------------------
# Inserts
# --------------------------------------------------------------------------

def insert_vectors(base, count, seed):
    """`count` base vectors picked at random plus 1% (of each dimension's std) noise."""
    rng = np.random.default_rng(seed + 1)
    picks = base[rng.integers(0, len(base), size=count)].astype(np.float64)
    scale = base.std(axis=0, dtype=np.float64) * 0.01
    return (picks + rng.normal(0.0, 1.0, size=picks.shape) * scale).astype(np.float32)


def run_inserts(conn, table, vectors, first_id):
    """Single-row autocommit INSERTs; returns rate and latencies."""
    statement = sql.SQL("INSERT INTO {} (id, embedding) VALUES (%s, %s::vector)").format(
        sql.Identifier(table)).as_string(conn)
    texts = [vector_text(v) for v in vectors]
    latencies = np.empty(len(texts))
    clock = time.perf_counter
    log(f"{len(texts)} single-row INSERTs")
    with conn.cursor() as cur:
        wall_start = clock()
        for i, text in enumerate(texts):
            t0 = clock()
            cur.execute(statement, (first_id + i, text), prepare=True)
            latencies[i] = clock() - t0
        wall = clock() - wall_start
    return {
        "count": len(texts),
        "seconds": wall,
        "per_second": len(texts) / wall,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
    }


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

REPORTED_SETTINGS = [
    "shared_buffers", "maintenance_work_mem", "work_mem", "effective_cache_size",
    "max_parallel_maintenance_workers", "max_parallel_workers",
    "max_parallel_workers_per_gather", "max_worker_processes", "jit", "fsync",
    "synchronous_commit", "huge_pages", "hnsw.ef_search", "ivfflat.probes", "enable_seqscan",
]


def machine_info():
    """nproc, CPU model, RAM, kernel."""
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_mib": total_ram_mb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "numpy": np.__version__,
    }


def server_info(conn, mode):
    """PostgreSQL and extension versions, SIMD level and relevant settings."""
    info = {"mode": mode}
    info["version"] = conn.execute("SELECT version()").fetchone()[0]
    info["server_version"] = conn.execute("SHOW server_version").fetchone()[0]
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    info["extension_version"] = row[0] if row else None
    info["simd_level"] = conn.execute(
        "SELECT current_setting('vector.simd_level', true)").fetchone()[0]
    settings = {}
    for name in REPORTED_SETTINGS:
        settings[name] = conn.execute("SELECT current_setting(%s, true)", (name,)).fetchone()[0]
    info["settings"] = settings
    return info


def format_params(params):
    return " ".join(f"{k}={v}" for k, v in params.items()) or "-"


def print_report(report):
    """The human-readable table on stdout."""
    ds, ix, sw = report["dataset"], report["index"], report["sweep"]
    k = ds["k"]
    print()
    print(f"data set   {ds['name']}   N={ds['n']}  D={ds['dim']}  metric={ds['metric']}  "
          f"queries={ds['queries']}  k={k}")
    mode = ix.get("mode", "vector")
    print(f"index      {ix['type']}   {format_params(ix['params'])}   type={ix['column_type']}"
          + (f"  quantize={ix['quantize']}  rerank={','.join(map(str, ix['rerank']))}"
             if ix.get("quantize") else ""))
    if ix["type"] != "none" and mode != "vector":
        print(f"on         {ix['expression']} {ix['opclass']}")
    if report.get("storage"):
        print(f"table      embedding SET STORAGE {report['storage'].upper()}")
    if ix["type"] == "none":
        print(f"load       {report['load_s']:.2f} s     (no index: exact search)")
    else:
        print(f"load       {report['load_s']:.2f} s     build {ix['build_s']:.2f} s     "
              f"index {ix['size_mib']:.1f} MiB")
    plan = ix.get("plan") or {}
    flag = "" if ix["type"] == "none" or plan.get("uses_index") else "   <-- NOT USING THE INDEX"
    forced = "   (enable_seqscan = off)" if ix.get("force_index") else ""
    print(f"plan       {plan.get('nodes', '?')}{flag}{forced}")
    shown = {plan.get("nodes")}
    for row in sw["results"]:
        p = row.get("plan")
        if p and (p["nodes"] not in shown or not p["uses_index"]):
            shown.add(p["nodes"])
            bad = "" if p["uses_index"] else "   <-- NOT USING THE INDEX"
            print(f"  {sw['param']}={row['value']}: {p['nodes']}{bad}")
    srv = report["server"]
    print(f"server     PostgreSQL {srv['server_version']}, vector {srv['extension_version']}, "
          f"simd {srv['simd_level'] or '-'}, {report['machine']['nproc']} cores "
          f"({report['machine']['cpu_model']})")
    repeat = sw["repeat"]
    print(f"queries    one connection, one at a time, prepared, vector sent as {sw.get('wire', 'text')}")
    print()
    param = sw["param"] or "setting"
    median = " (median of {} runs)".format(repeat) if repeat > 1 else ""
    # Extra GUCs set per setting besides the swept one (binary: hnsw.ef_search).
    extra = [g for g in dict.fromkeys(g for row in sw["results"] for g in row.get("gucs") or {})
             if g != sw["param"]]
    header = f"{param:>16}  " + "".join(f"{g:>16}  " for g in extra) + \
        f"{'recall@' + str(k):>9}  {'QPS':>9}  {'p50 ms':>8}  {'p99 ms':>8}"
    print(header + median)
    for row in sw["results"]:
        value = "exact" if row["value"] is None else str(row["value"])
        gucs = row.get("gucs") or {}
        cols = "".join(f"{str(gucs.get(g, '-')):>16}  " for g in extra)
        print(f"{value:>16}  {cols}{row['recall']:9.4f}  {row['qps']:9.1f}  "
              f"{row['p50_ms']:8.3f}  {row['p99_ms']:8.3f}")
    ins = report.get("inserts")
    if ins:
        print()
        print(f"inserts    {ins['count']} rows   {ins['per_second']:.1f} /s   "
              f"p50 {ins['p50_ms']:.3f} ms   p99 {ins['p99_ms']:.3f} ms")
    print()


def default_json_path(dataset_name, index, mode_label="vector"):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    mode = "" if mode_label == "vector" else f"-{mode_label}"
    return DEFAULT_OUT_DIR / f"{dataset_name}-{index}{mode}-{stamp}.json"


def write_json(report, path):
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as e:
        raise BenchError(f"cannot write the JSON result to {path}: {e}")
    print(f"json       {path}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def int_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got '{text}'")
    return values


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="ANN benchmark of the vector extension: recall@k vs QPS "
                    "for hnsw, ivfflat or exact search.",
        epilog="example: /usr/bin/python3 bench/ann.py --dataset sift-128 --index hnsw")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", metavar="NAME",
                      help="shipped data set in --data-dir: NAME/base.fvecs, query.fvecs, gt.ivecs "
                           "(sift-128, glove-100, fashion-mnist-784)")
    data.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                      help="where --dataset looks (default: %(default)s)")
    data.add_argument("--base", metavar="FILE", help="your own base vectors (.fvecs)")
    data.add_argument("--query", metavar="FILE", help="your own query vectors (.fvecs)")
    data.add_argument("--gt", metavar="FILE",
                      help="ground truth (.ivecs, 0-based base ids, nearest first); "
                           "computed with numpy when absent")
    data.add_argument("--synthetic", metavar="N,D,CLUSTERS",
                      help="seeded Gaussian blobs instead of a file data set")
    data.add_argument("--metric", choices=sorted(METRICS),
                      help="distance (default: cosine for glove-100, else the data set's "
                           "SOURCE.md, else l2)")
    data.add_argument("--limit-base", type=positive_int, metavar="N",
                      help="use only the first N base vectors (ground truth is recomputed)")
    data.add_argument("--queries", type=positive_int, metavar="N",
                      help="use only the first N queries (default: all)")
    data.add_argument("--k", type=positive_int, default=10, help="neighbours per query, the k of recall@k (default: %(default)s)")
    data.add_argument("--seed", type=int, default=1234,
                      help="seed for --synthetic and for the inserted vectors (default: %(default)s)")

    index = p.add_argument_group("index")
    index.add_argument("--index", choices=["hnsw", "ivfflat", "none"], default="hnsw",
                       help="index to build; none = exact search (default: %(default)s)")
    index.add_argument("--m", type=positive_int, default=16, help="hnsw m (default: %(default)s)")
    index.add_argument("--bits", type=int, default=None,
                       help="hnsw bits: walk the graph on codes of this many bits per dimension "
                            "(0 stores the vectors; default: the extension's default, and no "
                            "option is passed, so that other extensions take the same command)")
    index.add_argument("--rerank-bits", type=int, default=None,
                       help="hnsw rerank_bits: a second, finer code that orders the rows read "
                            "for exact ranking (0: none; default: not passed)")
    index.add_argument("--ef-construction", type=positive_int, default=64,
                       help="hnsw ef_construction (default: %(default)s)")
    index.add_argument("--lists", type=positive_int,
                       help="ivfflat lists (default: sqrt(N) rounded, 316 for 100k)")
    index.add_argument("--ef-search", type=int_list, metavar="LIST",
                       help="hnsw.ef_search values to sweep (default 10,20,40,80,160,320)")
    index.add_argument("--probes", type=int_list, metavar="LIST",
                       help="ivfflat.probes values to sweep (default 1,2,4,8,16,32)")
    index.add_argument("--type", choices=["vector", "halfvec"], default="vector",
                       help="what the index holds: the vector(D) column, or halfvec(D) via an "
                            "expression index on embedding::halfvec(D) (default: %(default)s)")
    index.add_argument("--storage", choices=["main", "external", "extended", "plain"],
                       help="SET STORAGE of the embedding column before loading (default: the "
                            "type's, external: vectors over about 2 kB go out of line into "
                            "TOAST; main keeps them in the table's pages where they fit)")
    index.add_argument("--quantize", choices=["none", "binary"], default="none",
                       help="binary: hnsw index on binary_quantize(embedding)::bit(D) "
                            "(bit_hamming_ops), queries re-rank --rerank candidates by the exact "
                            "distance (default: %(default)s)")
    index.add_argument("--rerank", type=int_list, metavar="LIST",
                       help="with --quantize binary: candidates taken from the bit index (the "
                            "inner LIMIT), swept; hnsw.ef_search = max(rerank, --ef-search) "
                            "(default 100)")
    index.add_argument("--force-index", action="store_true",
                       help="SET enable_seqscan = off for the plan check and the sweep, for "
                            "settings where the planner prefers a Seq Scan to the index")
    index.add_argument("--wire", choices=("binary", "text"), default="binary",
                       help="how query vectors are sent: the binary wire format, as client "
                            "libraries do, or text (default: %(default)s)")
    index.add_argument("--repeat", type=positive_int, default=1,
                       help="run the sweep R times and report medians (default: %(default)s)")
    index.add_argument("--inserts", type=non_negative_int, default=1000,
                       help="single-row INSERTs after the sweep, 0 to skip (default: %(default)s)")
    index.add_argument("--table", default="items", help="table name; dropped and recreated (default: %(default)s)")

    server = p.add_argument_group("server")
    server.add_argument("--dsn",
                        help="use this existing server (libpq conninfo) instead of a private one")
    server.add_argument("--pgdata", type=Path, default=DEFAULT_OUT_DIR / "pgdata",
                        help="data directory of the private cluster, initdb'd if empty (default: %(default)s)")
    server.add_argument("--pg-bin", type=Path, default=DEFAULT_PG_BIN,
                        help="directory with initdb, pg_ctl, postgres (default: %(default)s)")
    server.add_argument("--shared-buffers", metavar="SIZE",
                        help="shared_buffers (default 4GB capped at 1/4 of RAM)")
    server.add_argument("--maintenance-work-mem", metavar="SIZE",
                        help="maintenance_work_mem (default 4GB capped at 1/4 of RAM)")
    server.add_argument("--workers", type=non_negative_int, default=1,
                        help="max_parallel_maintenance_workers for the index build (default: %(default)s)")
    server.add_argument("--keep", action="store_true",
                        help="leave the private server running at the end")

    out = p.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="PATH",
                     help="result file (default bench/out/<dataset>-<index>[-halfvec|-binary]-<timestamp>.json)")
    args = p.parse_args(argv)

    if args.ef_search and args.index != "hnsw":
        p.error("--ef-search applies to --index hnsw only")
    args.quantize = None if args.quantize == "none" else args.quantize
    if args.quantize:
        if args.index != "hnsw":
            p.error("--quantize binary needs --index hnsw")
        if args.type != "vector":
            p.error("--quantize binary quantizes the vector column; do not combine it "
                    "with --type halfvec")
        if args.ef_search and len(args.ef_search) > 1:
            p.error("with --quantize binary the sweep is over --rerank; --ef-search takes one "
                    "value, a floor: hnsw.ef_search = max(rerank, that value)")
        args.rerank = args.rerank or list(DEFAULT_RERANK)
        if max(args.rerank) > HNSW_MAX_EF_SEARCH:
            p.error(f"--rerank above {HNSW_MAX_EF_SEARCH} would need hnsw.ef_search above its "
                    f"maximum {HNSW_MAX_EF_SEARCH}: the inner LIMIT could not be filled")
    elif args.rerank:
        p.error("--rerank goes with --quantize binary")
    if args.force_index and args.index == "none":
        p.error("--force-index needs an index (--index hnsw or ivfflat)")
    if args.probes and args.index != "ivfflat":
        p.error("--probes applies to --index ivfflat only")
    if args.gt and not args.base:
        p.error("--gt goes with --base/--query")
    return args


def sweep_plan(args):
    """(GUC name or None, values) for the chosen index."""
    if args.index == "none":
        return None, [None]
    guc, defaults = SWEEP_GUCS[args.index]
    chosen = args.ef_search if args.index == "hnsw" else args.probes
    return guc, chosen or defaults


def sweep_settings(conn, args, mode):
    """(name of the swept parameter or None, [Setting]) of the run.

    vector / halfvec: the index's GUC (hnsw.ef_search, ivfflat.probes), one query.
    binary: the inner LIMIT `rerank` (--rerank LIST), with hnsw.ef_search =
    max(rerank, --ef-search) so that the index scan can fill the inner LIMIT.
    """
    if mode.quantize == "binary":
        floor = args.ef_search[0] if args.ef_search else 1
        return "rerank", [Setting(n, {"hnsw.ef_search": max(n, floor)},
                                  mode.statement(conn, args.table, args.k, rerank=n))
                          for n in args.rerank]
    guc, values = sweep_plan(args)
    statement = mode.statement(conn, args.table, args.k)
    return guc, [Setting(v, {guc: v} if guc else {}, statement) for v in values]


def check_plans(conn, settings, query_text, index_name):
    """EXPLAIN each distinct query of the sweep (with its GUCs set); warn when one does
    not use the index. Returns (summary of the first plan, per-setting summaries or None)."""
    plans, seen = [], {}
    for setting in settings:
        if setting.statement not in seen:
            set_gucs(conn, setting.gucs)
            seen[setting.statement], _ = check_plan(conn, setting.statement, query_text,
                                                    index_name)
        plans.append(seen[setting.statement])
    for setting, plan in zip(settings, plans):
        if index_name and not plan["uses_index"]:
            where = "" if len(seen) == 1 else f" (setting {setting.value})"
            warn(f"the query plan{where} does not use {index_name}: {plan['nodes']}\n"
                 "the numbers below measure something else than the index")
            if len(seen) == 1:
                break
    return plans[0], (plans if len(seen) > 1 else None)


def check_mode_support(conn, mode):
    """The functions a quantized index needs (the opclass is checked with the AM)."""
    if mode.quantize == "binary":
        found = conn.execute("SELECT to_regprocedure('binary_quantize(vector)')").fetchone()[0]
        if found is None:
            raise BenchError("function binary_quantize(vector) does not exist in the "
                             "installed vector extension (--quantize binary needs it)")


def benchmark(conn, args, ds, mode):
    """Everything after connecting: load, build, prewarm, sweep, inserts; returns the report."""
    imode = IndexMode(column_type=args.type, quantize=args.quantize,
                      dim=int(ds.base.shape[1]), metric=ds.metric)
    op, opclass = imode.operator, imode.opclass
    create_extensions(conn, fresh=not args.dsn)
    check_index_support(conn, args.index, opclass)
    check_mode_support(conn, imode)
    load_s = load_table(conn, args.table, ds.base, args.storage)

    params = index_params(args, len(ds.base))
    index_name, build_s, size_mib = None, 0.0, 0.0
    if args.index != "none":
        index_name, build_s, size_mib = build_index(
            conn, args.table, args.index, opclass, params, args.workers,
            args.maintenance_work_mem, expression=imode.expression,
            name=imode.index_name(args.table, args.index))
    prewarmed = prewarm(conn, args.table, index_name)

    guc, settings = sweep_settings(conn, args, imode)
    if args.force_index:
        conn.execute("SET enable_seqscan = off")
    statement = settings[0].statement
    query_texts = [vector_text(q) for q in ds.queries]
    plan, setting_plans = check_plans(conn, settings, query_texts[0], index_name)
    query_params = binary_params(conn, ds.queries) if args.wire == "binary" else query_texts

    scorer = RecallScorer(ds, args.k)
    results = run_sweep(conn, guc, settings, query_params, scorer, args.repeat)
    if setting_plans:
        for row, setting, p in zip(results, settings, setting_plans):
            row["query"], row["plan"] = setting.statement, p

    inserts = None
    if args.inserts:
        vectors = insert_vectors(ds.base, args.inserts, args.seed)
        inserts = run_inserts(conn, args.table, vectors, first_id=len(ds.base))

    return {
        "tool": "bench/ann.py",
        "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": sys.argv,
        "dataset": {
            "name": ds.name, "source": ds.source, "metric": ds.metric,
            "n": len(ds.base), "dim": int(ds.base.shape[1]), "queries": len(ds.queries),
            "k": args.k, "ground_truth": ds.gt_source,
        },
        "load_s": load_s,
        "storage": args.storage,
        "index": {
            "type": args.index, "name": index_name, "opclass": opclass, "operator": op,
            "column_type": imode.column_type, "quantize": imode.quantize,
            "rerank": args.rerank if imode.quantize else None,
            "expression": imode.expression if args.index != "none" else None,
            "mode": imode.label,
            "params": params, "build_s": build_s, "size_mib": size_mib,
            "workers": args.workers, "plan": plan, "prewarmed_blocks": prewarmed,
            "force_index": args.force_index,
        },
        "sweep": {"param": guc, "repeat": args.repeat, "query": statement, "wire": args.wire,
                  "results": results},
        "inserts": inserts,
        "server": server_info(conn, mode),
        "machine": machine_info(),
    }


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)      # unwinds through PrivateServer.__exit__


def run_tool(body):
    """Run a tool's body() and return its exit status; the tools' errors end
    it with a message: 2 for a BenchError (arguments, missing support), 1 for
    a database error, 130 for Ctrl-C."""
    try:
        return body()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except psycopg.Error as e:
        print(f"error: database error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    def body():
        ds = resolve_dataset(args)
        log(f"data set {ds.name}: {len(ds.base)} x {ds.base.shape[1]}, "
            f"{len(ds.queries)} queries, metric {ds.metric}, ground truth {ds.gt_source}")
        if args.dsn:
            with connect(args.dsn) as conn:
                report = benchmark(conn, args, ds, mode="dsn")
        else:
            settings = server_settings(args)
            with PrivateServer(args.pg_bin, args.pgdata, settings, args.keep) as server:
                with connect(server.conninfo()) as conn:
                    report = benchmark(conn, args, ds, mode="private")
                report["server"]["pgdata"] = str(server.pgdata)
                report["server"]["flags"] = settings
        print_report(report)
        write_json(report, args.json or default_json_path(ds.name, args.index,
                                                         report["index"]["mode"]))
        return 0
    return run_tool(body)


if __name__ == "__main__":
    sys.exit(main())
