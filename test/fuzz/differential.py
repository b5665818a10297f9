#!/usr/bin/python3
"""Differential fuzzer: vector index scans against exact sequential scans.

Each case drops and re-creates table t(id, v, c int, tag text, labels int4[])
in the target database with one index t_v_idx: hnsw (random m,
ef_construction, sometimes bits 1-8 and filter columns c, tag, labels) or
ivfflat (1-200 lists), on vector, halfvec, sparsevec or bit under every
operator class.  It holds 50-3000 rows of 1-2100 dimensions (sparsevec also
1000 or 100000) drawn gaussian, clustered, duplicated, as small integers,
at mixed, extreme or tiny scales, with low variance or as sparse or dense
bits, with some zero vectors and NULLs.  The index is built before or after
the load, which may be followed by DELETE, VACUUM and re-insert rounds or by
UPDATEs.  Then 6-12 queries SELECT id, v <op> q AS d FROM t [WHERE ...]
ORDER BY v <op> q LIMIT k run, q near a row, zero, extreme, integer or
gaussian, with 0-2 conditions on c, tag, labels or other columns, and random
ef_search, iterative_scan, max_scan_tuples or probes.

Each query runs through the index (skipped when the planner will not use
it) and as a sequential scan.  Checked: distance order, duplicate ids,
every row matching the WHERE with exactly the exact scan's distance, the
row count where the README promises LIMIT rows, recall where the settings
are generous; then vector_index_check(t_v_idx) and (t_v_idx, 100).

Findings are bugs (BUG_CATEGORIES) or information (INFO_CATEGORIES).  By the
README, relaxed_order may return rows out of order; strict_order skips rows
nearer than one already returned, and codes from 512 dimensions on (probable
bounds) may leave a row out, so both may return fewer rows; rows with a NaN
or NULL distance may be absent; recall is approximate, so low recall on
adversarial settings and rows the per-row search of vector_index_check
misses are reported, not bugs.  Inversions within float rounding (relative
1e-5) are noise.  Nodes too large for a page and too many dimensions are
expected input errors; a statement timeout may hide a hang but is not
counted as a bug.

Findings are appended to findings.jsonl in --out (one JSON object each, with
the case, query, settings and both results), progress to log.txt.  Exit
status 1 when a bug was found, else 0.  The server needs the extension
installed; the script runs CREATE EXTENSION IF NOT EXISTS vector.  --stop-at
CASE loads that case and stops, keeping t.
"""

import argparse
import collections
import json
import math
import os
import random
import sys
import time
import traceback

import numpy as np
import psycopg
import psycopg.errors

BUG_CATEGORIES = frozenset({
    # Results that differ from the exact scan beyond what the README allows.
    'wrong-order', 'nan-out-of-place', 'wrong-distance', 'where-violation', 'duplicate-id',
    # Fewer rows than the README promises (see short_category).
    'short-plain', 'short-filter-index', 'short-iterative-relaxed_order',
    'short-ivfflat-allprobes', 'short-ivfflat-iterative',
    'index-check', 'crash', 'error', 'error-index', 'error-exact', 'error-check',
})
INFO_CATEGORIES = frozenset({
    'disorder-relaxed', 'disorder-ulp', 'disorder-cosine-float', 'disorder-cosine-range',
    'short-cosine-range', 'nan-cosine-range',
    'nan-in-index', 'short-iterative-strict_order',
    'short-probable-bound', 'low-recall', 'check-search', 'expected-error', 'timeout',
})

EXPECTED_ERRORS = ('does not fit in a page', 'cannot have more than')
STATEMENT_TIMEOUT = '120s'
# max_scan_tuples at least this large counts as unlimited for these tables.
UNLIMITED_SCAN_TUPLES = 1000000
# Rows added after a DELETE get ids from here, clear of the first load's.
CHURN_ID_BASE = 100000
ULP_NOISE = 1e-5


def cosine_noise(dims):
    """How far an index's 1 - dot of unit vectors may lie from <=> (README, Queries the index
    serves): each dot product or squared norm of dims terms errs by at most dims * 2^-24, twice
    all of it."""
    return 2.0 * (5.0 * dims + 20.0) / 16777216.0


def ranks_unit_cosine(p):
    """Does the index rank cosine by its own 1 - dot of unit vectors, not by <=> itself?
    vector and sparsevec without codes, under hnsw or ivfflat (halfvec computes <=>'s own
    value; hnsw codes re-rank by <=>)."""
    return (p['metric'] == 'cosine' and p['typ'] in ('vector', 'sparsevec')
            and not (p['am'] == 'hnsw' and p['opts'].get('bits', 0)))
CRASH_RESTART_WAIT = 3

FLOAT_OPS = {'l2': '<->', 'ip': '<#>', 'cosine': '<=>', 'l1': '<+>'}
OPS = {'vector': FLOAT_OPS, 'halfvec': FLOAT_OPS, 'sparsevec': FLOAT_OPS,
       'bit': {'hamming': '<~>', 'jaccard': '<%>'}}


class StopRequested(Exception):
    """--stop-at reached: keep table t as it is."""


class CaseAborted(Exception):
    """The connection was lost; the finding is already recorded."""


def fmt_float(x):
    return repr(float(np.float32(x)))


def to_text(typ, v):
    if v is None:
        return None
    if typ in ('vector', 'halfvec'):
        return '[' + ','.join(fmt_float(x) for x in v) + ']'
    if typ == 'sparsevec':
        v = np.asarray(v)
        nz = np.nonzero(v.astype(np.float32))[0]
        elems = ','.join(f"{int(i) + 1}:{fmt_float(v[i])}" for i in nz)
        return '{' + elems + '}/' + str(len(v))
    return ''.join('1' if x > 0 else '0' for x in v)


def literal(typ, dims, v):
    if typ == 'bit':
        return f"B'{to_text(typ, v)}'::bit({dims})"
    return f"'{to_text(typ, v)}'::{typ}({dims})"


def array_text(a):
    return None if a is None else '{' + ','.join(str(x) for x in a) + '}'


def scatter(values, pos, dims):
    z = np.zeros(dims)
    z[pos] = values
    return z


def is_nan(x):
    return isinstance(x, float) and math.isnan(x)


def no_distance(x):
    return x is None or is_nan(x)


def uses_probable_bound(p):
    """README, Compact codes: from 512 dimensions on, codes may leave a row out."""
    codes = (p['opts'].get('bits')
             or (p['typ'] == 'vector' and p['dims'] > 2000)
             or (p['typ'] == 'halfvec' and p['dims'] > 4000))
    return p['am'] == 'hnsw' and bool(codes) and p['dims'] >= 512


def scan_flags(gucs):
    """Returns whether iterative scans are on, and whether max_scan_tuples does not bind."""
    return ((gucs.get('hnsw.iterative_scan', 'off') != 'off'
             or gucs.get('ivfflat.iterative_scan', 'off') != 'off'),
            gucs.get('hnsw.max_scan_tuples', UNLIMITED_SCAN_TUPLES) >= UNLIMITED_SCAN_TUPLES)


class CaseGenerator:
    """Every random choice of a run.  The order of the draws fixes what a seed means."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        # draws added later come from a stream of their own, so that the
        # main stream's draws, and what a seed meant before, stay the same
        self.rerank_rng = random.Random(seed ^ 0x5EED)

    def case(self):
        rng = self.rng
        am = 'hnsw' if rng.random() < 0.75 else 'ivfflat'
        typ = rng.choice(['vector'] * 4 + ['halfvec'] * 2 + ['sparsevec'] * 2 + ['bit']
                         if am == 'hnsw' else ['vector'] * 3 + ['halfvec'] * 2 + ['bit'])
        if typ == 'bit':
            metric = rng.choice(['hamming', 'jaccard'] if am == 'hnsw' else ['hamming'])
        else:
            metric = rng.choice(['l2', 'ip', 'cosine'] + (['l1'] if am == 'hnsw' else []))
        bits = 0
        if am == 'hnsw' and typ in ('vector', 'halfvec') and metric != 'l1' and rng.random() < 0.5:
            bits = rng.choice([1, 2, 4, 8])
        dims, n = self._size(am, typ, metric, bits)
        opts, filt = self._index_options(am, bits)
        # README, errors: near 2,000 float dimensions a node fits a page only up to m 17.
        if am == 'hnsw' and dims >= 1800 and opts['m'] > 16 and not bits and typ == 'vector':
            opts['m'] = 16
            opts['ef_construction'] = max(opts['ef_construction'], 32)
        mode = rng.choice(['build', 'build', 'empty_insert', 'build_churn', 'empty_churn',
                           'build_update'])
        return dict(am=am, typ=typ, metric=metric, dims=dims, n=n, opts=opts, filt=filt,
                    mode=mode)

    def _size(self, am, typ, metric, bits):
        rng = self.rng
        r = rng.random()
        if typ == 'bit':
            dims = rng.randint(1, 300)
        elif r < 0.8 or typ == 'sparsevec':
            dims = rng.randint(2, 64)
        elif r < 0.92 and bits:
            dims = rng.randint(512, 1100)
        elif typ == 'vector' and am == 'hnsw' and metric != 'l1':
            dims = rng.randint(2001, 2100)
        else:
            dims = rng.randint(65, 300)
        if typ == 'sparsevec' and rng.random() < 0.3:
            dims = rng.choice([1000, 100000])
        n = rng.choice([rng.randint(50, 300), rng.randint(50, 3000)])
        if dims > 500:
            n = min(n, 1200)
        if typ == 'sparsevec' and dims > 5000:
            n = min(n, 400)
        return dims, n

    def _index_options(self, am, bits):
        rng = self.rng
        if am == 'ivfflat':
            return {'lists': rng.choice([1, 2, 5, 10, 30, 100, rng.randint(1, 200)])}, []
        m = rng.randint(2, 32)
        efc = rng.randint(max(4, 2 * m), max(8, 2 * m) + rng.choice([0, 10, 60, 200]))
        opts = {'m': m, 'ef_construction': efc}
        if bits:
            opts['bits'] = bits
            # README, Compact codes: a finer re-ranking code beside the walk's
            if bits < 8 and self.rerank_rng.random() < 0.5:
                opts['rerank_bits'] = self.rerank_rng.choice([b for b in (2, 4, 8) if b > bits])
        return opts, (rng.sample(['c', 'tag', 'labels'], rng.randint(1, 3))
                      if rng.random() < 0.5 else [])

    def rows(self, typ, n, dims):
        """Returns (distribution, rows, positions in use for a scattered sparsevec)."""
        if typ == 'sparsevec' and dims > 64:
            dist, rows = self._data(typ, n, 64)
            pos = sorted(self.rng.sample(range(dims), 64))
            return dist + '+scatter', [None if r is None else scatter(r, pos, dims)
                                       for r in rows], pos
        dist, rows = self._data(typ, n, dims)
        return dist, rows, None

    def _data(self, typ, n, dims):
        rng, nrng = self.rng, self.nrng
        dist = rng.choice(['gauss', 'gauss', 'cluster', 'dups', 'int', 'int', 'mixed',
                           'extreme', 'tiny', 'lowvar'])
        if typ == 'bit':
            dist = rng.choice(['gauss', 'dups', 'cluster', 'sparsebits', 'densebits'])
        x = self._matrix(dist, n, dims)
        if typ == 'sparsevec':
            x = x * (nrng.random((n, dims)) < rng.choice([0.02, 0.1, 0.3, 1.0]))
            if rng.random() < 0.2:
                x[nrng.random(n) < 0.3] = 0
        if typ == 'halfvec':
            x = np.clip(x, -60000, 60000)
        x = x.astype(np.float32).astype(float)
        if typ == 'halfvec':
            x = x.astype(np.float16).astype(float)
        if rng.random() < 0.3:
            x[nrng.random(n) < rng.choice([0.01, 0.1])] = 0
        rows = list(x)
        if rng.random() < 0.3:
            rows = [None if nrng.random() < 0.05 else r for r in rows]
        return dist, rows

    def _matrix(self, dist, n, dims):
        rng, nrng = self.rng, self.nrng
        simple = {
            'gauss': lambda: nrng.normal(size=(n, dims)),
            'int': lambda: nrng.integers(-rng.randint(1, 3), rng.randint(1, 4),
                                         size=(n, dims)).astype(float),
            'mixed': lambda: nrng.normal(size=(n, dims)) * 10 ** nrng.uniform(-3, 3, size=(n, 1)),
            'tiny': lambda: nrng.normal(size=(n, dims)) * rng.choice([1e-20, 1e-10, 1e-30]),
            'lowvar': lambda: 1000 + nrng.normal(size=(n, dims)) * 0.001,
            'sparsebits': lambda: (nrng.random((n, dims)) < 0.05).astype(float),
            'densebits': lambda: (nrng.random((n, dims)) < 0.95).astype(float),
        }
        if dist in simple:
            return simple[dist]()
        if dist == 'cluster':
            nc = rng.randint(1, 10)
            centres = nrng.normal(size=(nc, dims)) * rng.choice([1, 5, 20])
            return (centres[nrng.integers(0, nc, n)]
                    + nrng.normal(size=(n, dims)) * rng.choice([0.01, 0.1, 0.5]))
        if dist == 'dups':
            nu = rng.randint(1, max(1, n // rng.choice([2, 10, 50, 500])))
            uniq = nrng.normal(size=(nu, dims))
            if rng.random() < 0.5:
                uniq = np.round(uniq * 2)
            return uniq[nrng.integers(0, nu, n)]
        # 'extreme': a tenth of the rows huge, a tenth tiny.
        x = nrng.normal(size=(n, dims))
        x[nrng.random(n) < 0.1] *= rng.choice([1e18, 1e15, 1e10])
        x[nrng.random(n) < 0.1] *= rng.choice([1e-20, 1e-30, 1e-38])
        return x

    def meta(self, n, ccard):
        """Returns the c, tag and labels columns, and the label range."""
        rng, nrng = self.rng, self.nrng
        cs = [int(nrng.integers(0, ccard)) if nrng.random() > 0.02 else None for _ in range(n)]
        tags = [rng.choice(['a', 'b', 'c', 'dd', 'eee', 'x' + str(rng.randint(0, 30))])
                if rng.random() > 0.03 else None for _ in range(n)]
        lmax = rng.choice([8, 64, 1000, 100000])
        return cs, tags, [self._labels(lmax) for _ in range(n)], lmax

    def _labels(self, lmax):
        r = self.rng.random()
        if r < 0.08:
            return None if r < 0.03 else []
        return [self.rng.randrange(lmax) for _ in range(self.rng.randint(1, 6))]

    def query_vector(self, typ, dims, live, pos):
        rng, nrng = self.rng, self.nrng
        r = rng.random()
        if live and r < 0.3:
            kind, v = 'row', np.array(rng.choice(live))
            if rng.random() < 0.3 and typ != 'bit':
                v = v + nrng.normal(size=dims) * 1e-3
                if pos is not None:
                    v = scatter(v[pos], pos, dims)
        elif r < 0.4:
            kind, v = 'zero', np.zeros(dims)
        elif r < 0.47 and typ != 'bit':
            kind, v = 'extreme', nrng.normal(size=dims) * rng.choice([1e18, 1e-20, 1e30])
        elif r < 0.6 and typ != 'bit':
            kind, v = 'int', nrng.integers(-2, 3, size=dims).astype(float)
        else:
            kind, v = 'gauss', nrng.normal(size=dims) * rng.choice([1, 1, 10, 0.1])
            if live and rng.random() < 0.5 and typ != 'bit':
                std = float(np.std(live[0]))
                scale = std if std > 0 else 1.0
                v = v * scale + np.mean(live[:50], axis=0)
        if typ == 'sparsevec' and pos is not None and kind != 'row':
            v = scatter(v[pos], pos, dims)
        if typ == 'halfvec':
            v = np.clip(v, -60000, 60000).astype(np.float16).astype(float)
        else:
            v = np.asarray(v, dtype=np.float32).astype(float)
        if typ == 'bit' and kind != 'row':
            v = (v > 0).astype(float)
        return kind, v

    def where(self, p):
        """Returns the conditions and whether all of them can be index conditions."""
        rng = self.rng
        conds, idxcond = [], True
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            col = rng.choice(['c', 'c', 'tag', 'labels', 'other'])
            conds.append(self._condition(col, p))
            idxcond = idxcond and col in p['filt']
        return conds, idxcond

    def _condition(self, col, p):
        rng = self.rng
        if col == 'other':
            return rng.choice([f"id % {rng.randint(2, 50)} = 0",
                               f"c < {rng.randint(0, p['ccard'])}", "c <> 1"])
        if col == 'tag':
            return f"tag = '{rng.choice(['a', 'b', 'dd', 'eee', 'x3', 'zz'])}'"
        if col == 'labels':
            arr = ','.join(str(rng.randrange(p['lmax']))
                           for _ in range(rng.choice([0, 1, 1, 2, 3])))
            return f"labels {rng.choice(['&&', '@>'])} '{{{arr}}}'"
        cc = p['ccard']
        r = rng.random()
        if r < 0.5:
            return f"c = {rng.randrange(cc + 1)}"
        values = ','.join(str(rng.randrange(cc + 1)) for _ in range(rng.randint(1, 5)))
        return f"c IN ({values})" if r < 0.75 else f"c = ANY('{{{values}}}')"

    def gucs(self, p):
        rng = self.rng
        if p['am'] == 'hnsw':
            return {
                'hnsw.ef_search': rng.choice([1, 2, 5, 10, 40, 40, 100, 200, 400, 1000]),
                'hnsw.iterative_scan': rng.choice(['off', 'off', 'relaxed_order', 'strict_order']),
                'hnsw.max_scan_tuples': rng.choice([UNLIMITED_SCAN_TUPLES] * 3 + [50, 500]),
            }
        lists = p['opts']['lists']
        return {
            'ivfflat.probes': rng.choice([1, lists, lists, rng.randint(1, lists)]),
            'ivfflat.iterative_scan': rng.choice(['off', 'off', 'relaxed_order']),
        }


def short_category(p, gucs, conds, idxcond, got, expect):
    """Returns (category, rows expected) when the scan returned fewer rows than it should."""
    it_on, unlimited = scan_flags(gucs)
    if p['am'] == 'hnsw':
        ef_search = gucs['hnsw.ef_search']
        labels_idx = 'labels' in p['filt'] and any(c.startswith('labels') for c in conds)
        if it_on and unlimited:
            cat = 'short-iterative-' + gucs['hnsw.iterative_scan']
        elif conds and idxcond and not (p.get('dead') and not it_on):
            # (dead tuples use up ef_search slots here too when the scan does not go on)
            cat = 'short-filter-index'
            # Array conditions walk on up to max_scan_tuples (README, Array columns).
            if not (labels_idx and unlimited):
                expect = min(expect, ef_search)
        elif not conds and not p.get('dead'):
            cat, expect = 'short-plain', min(expect, ef_search)
        else:
            return None
    elif gucs['ivfflat.probes'] >= p['opts']['lists'] and (not conds or it_on):
        cat = 'short-ivfflat-allprobes'
    elif it_on:
        cat = 'short-ivfflat-iterative'
    else:
        return None
    if got >= expect:
        return None
    return ('short-probable-bound' if uses_probable_bound(p) else cat), expect


def recall_threshold(p, gucs, k, conds, idxcond):
    """Recall below which generous settings are reported, or None."""
    it_on, unlimited = scan_flags(gucs)
    if p['am'] == 'hnsw':
        if (gucs['hnsw.ef_search'] >= max(4 * k, 100)
                and (not conds or idxcond or (it_on and unlimited))):
            return 0.9
    elif gucs['ivfflat.probes'] >= p['opts']['lists'] and (not conds or it_on):
        return 1.0
    return None


def order_findings(res, exact, relaxed, p):
    ds = [d for _, d in res]
    out = []
    nanpos = [i for i, d in enumerate(ds) if no_distance(d)]
    if nanpos and not all(no_distance(d) for _, d in exact):
        # A sequential scan sorts NaN and NULL after every number.
        if any(i < len(ds) - len(nanpos) for i in nanpos):
            # <=> on a vector whose norm overflows float is NaN; the index ranks it by angle
            out.append(('nan-cosine-range' if ranks_unit_cosine(p) else 'nan-out-of-place',
                        dict(nanpos=nanpos)))
        else:
            out.append(('nan-in-index', dict(nanpos=nanpos)))
    nums = [d for d in ds if not no_distance(d)]
    disorder = [(i, a, b) for i, (a, b) in enumerate(zip(nums, nums[1:])) if b < a]
    if disorder:
        maxrel = max((a - b) / max(abs(a), abs(b), 1e-300) for _, a, b in disorder)
        if relaxed:
            cat = 'disorder-relaxed'
        elif maxrel < ULP_NOISE:
            cat = 'disorder-ulp'
        elif ranks_unit_cosine(p) and all(a - b <= cosine_noise(p['dims']) for _, a, b in disorder):
            cat = 'disorder-cosine-float'
        elif (ranks_unit_cosine(p)
              and all(b in (0.0, 2.0) or a in (0.0, 2.0) for _, a, b in disorder)):
            # <=> computes in float: a vector whose squared norm underflows or overflows
            # (extreme data, or rows churn added) gets 0 or 2 (pgvector's arithmetic), the
            # index its true angle
            cat = 'disorder-cosine-range'
        else:
            cat = 'wrong-order'
        out.append((cat, dict(disorder=disorder[:10], maxrel=maxrel)))
    return out


def row_findings(res, exact_all):
    out = []
    ids = [i for i, _ in res]
    if len(set(ids)) != len(ids):
        out.append(('duplicate-id', {}))
    outside = [(i, d) for i, d in res if i not in exact_all]
    if outside:
        out.append(('where-violation', dict(bad=outside[:20])))
    wrong = [(i, d, exact_all[i]) for i, d in res if i in exact_all
             and not ((d is None and exact_all[i] is None)
                      or (is_nan(d) and is_nan(exact_all[i])) or d == exact_all[i])]
    if wrong:
        out.append(('wrong-distance', dict(bad=wrong[:20])))
    return out


def recall_at(valid, nums, k):
    exk = collections.Counter(valid[:k])
    got = collections.Counter(nums)
    return sum(min(c, got[d]) for d, c in exk.items()) / min(k, len(valid))


class Reporter:
    def __init__(self, outdir, seed):
        os.makedirs(outdir, exist_ok=True)
        self.log_file = open(os.path.join(outdir, 'log.txt'), 'a')
        self.findings_file = open(os.path.join(outdir, 'findings.jsonl'), 'a')
        self.seed = seed
        self.counts = collections.Counter()

    def log(self, msg):
        print(msg, flush=True)
        self.log_file.write(msg + '\n')
        self.log_file.flush()

    def finding(self, category, info):
        assert category in BUG_CATEGORIES | INFO_CATEGORIES, category
        record = dict(info, category=category, bug=category in BUG_CATEGORIES, seed=self.seed)
        self.counts[category] += 1
        self.log(f"FINDING[{category}] seed={self.seed} case={record.get('case')} "
                 f"q={record.get('qno')}")
        self.findings_file.write(json.dumps(record, default=str) + '\n')
        self.findings_file.flush()

    def summary(self, kind, categories):
        found = {c: n for c, n in sorted(self.counts.items()) if c in categories}
        total = sum(found.values())
        self.log(f"{kind}: {total}" + ''.join(f" {c}={n}" for c, n in found.items()))
        return total


class Fuzzer:
    def __init__(self, dsn, gen, report, stop_at):
        self.dsn, self.gen, self.report, self.stop_at = dsn, gen, report, stop_at
        self.connect()
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def connect(self):
        self.conn = psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None)
        # Parallel plans and builds would make the runs less repeatable.
        self.conn.execute("SET max_parallel_maintenance_workers = 0; "
                          "SET max_parallel_workers_per_gather = 0; "
                          "SET client_min_messages = warning; "
                          f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")

    def reconnect(self):
        if self.conn.broken:
            # A crashed server restarts, and refuses connections meanwhile.
            time.sleep(CRASH_RESTART_WAIT)
        self.conn.close()
        self.connect()

    def error_category(self, exc, default):
        if self.conn.broken:
            return 'crash'
        if isinstance(exc, psycopg.errors.QueryCanceled) or 'statement timeout' in str(exc):
            return 'timeout'
        return default

    def db_error(self, exc, default, info):
        """Records a failed statement; raises CaseAborted when the server went away."""
        cat = self.error_category(exc, default)
        self.report.finding(cat, dict(info, err=str(exc), sqlstate=exc.sqlstate))
        if cat == 'crash':
            raise CaseAborted from exc

    def run(self, caseno):
        p = self.gen.case()
        try:
            self.run_case(caseno, p)
        except CaseAborted:
            self.reconnect()
        except psycopg.Error as e:
            cat = self.error_category(e, 'error')
            if cat == 'error' and any(s in str(e) for s in EXPECTED_ERRORS):
                cat = 'expected-error'
            self.report.finding(cat, dict(case=caseno, params=p, err=str(e), sqlstate=e.sqlstate,
                                          tb=traceback.format_exc()))
            self.reconnect()

    def run_case(self, caseno, p):
        data, pos = self.load(caseno, p)
        if caseno == self.stop_at:
            raise StopRequested
        live = [v for v in data.values() if v is not None]
        op = OPS[p['typ']][p['metric']]
        for qno in range(self.gen.rng.randint(6, 12)):
            self.run_query(caseno, qno, p, op, live, pos)
        for args in ["'t_v_idx'", "'t_v_idx', 100"]:
            info = dict(case=caseno, params=p, call=args)
            try:
                rows = self.conn.execute(f"SELECT * FROM vector_index_check({args})").fetchall()
            except psycopg.Error as e:
                self.db_error(e, 'error-check', info)
                continue
            if rows:
                cat = 'check-search' if ', 100' in args else 'index-check'
                self.report.finding(cat, dict(info, rows=[r[0] for r in rows][:30]))

    def copy_rows(self, typ, data, id0, rows, meta):
        cs, tags, labels = meta[:3]
        with self.conn.cursor() as cur:
            with cur.copy("COPY t (id, v, c, tag, labels) FROM STDIN") as cp:
                for i, v in enumerate(rows):
                    cp.write_row((id0 + i, to_text(typ, v), cs[i], tags[i],
                                  array_text(labels[i])))
        data.update((id0 + i, v) for i, v in enumerate(rows))

    def load(self, caseno, p):
        """Creates and fills t and its index; returns {id: vector} and the sparse positions."""
        typ, dims, n = p['typ'], p['dims'], p['n']
        self.conn.execute("DROP TABLE IF EXISTS t")
        self.conn.execute(f"CREATE TABLE t (id int PRIMARY KEY, v {typ}({dims}), c int, "
                          "tag text, labels int4[])")
        dist, rows, pos = self.gen.rows(typ, n, dims)
        p['ccard'] = self.gen.rng.choice([2, 10, 100, 1000])
        meta = self.gen.meta(n, p['ccard'])
        p['dist'], p['lmax'] = dist, meta[3]
        withs = ', '.join(f"{k} = {v}" for k, v in p['opts'].items())
        cols = ', '.join([f"v {p['typ']}_{p['metric']}_ops"] + p['filt'])
        p['ddl'] = f"CREATE INDEX t_v_idx ON t USING {p['am']} ({cols}) WITH ({withs})"
        self.report.log(f"case {caseno}: {json.dumps(p)}")
        data = {}
        if p['mode'].startswith('build'):
            self.copy_rows(typ, data, 1, rows, meta)
            self.conn.execute(p['ddl'])
        else:
            self.conn.execute(p['ddl'])
            self.copy_rows(typ, data, 1, rows, meta)
        if p['mode'].endswith('churn'):
            self.churn(p, data, rows, pos)
        if p['mode'] == 'build_update':
            self.update(p, data)
        self.conn.execute("ANALYZE t")
        self.report.log(f"  loaded {len(data)} rows dist={dist} churn={p.get('churn')}")
        return data, pos

    def churn(self, p, data, rows, pos):
        rng = self.gen.rng
        frac = rng.choice([0.1, 0.5, 0.9, 1.0])
        deleted = [i for i in data if rng.random() < frac]
        self.conn.execute("DELETE FROM t WHERE id = ANY(%s)", (deleted,))
        for i in deleted:
            del data[i]
        self.conn.execute("VACUUM t")
        added = rng.randint(0, p['n'])
        # Scattered sparse rows reuse the first load's positions.
        new_rows = rows[:added] if pos is not None else self.gen.rows(p['typ'], added, p['dims'])[1]
        self.copy_rows(p['typ'], data, CHURN_ID_BASE, new_rows, self.gen.meta(added, p['ccard']))
        p['churn'] = dict(frac=frac, deleted=len(deleted), added=added)
        if rng.random() < 0.5:
            self.conn.execute("DELETE FROM t WHERE id % 3 = 0")
            for i in [i for i in data if i % 3 == 0]:
                del data[i]
            self.conn.execute("VACUUM t")
            p['churn']['second'] = True

    def update(self, p, data):
        rng = self.gen.rng
        ids = list(data)
        for i in rng.sample(ids, min(len(ids), rng.randint(1, max(1, p['n'] // 3)))):
            v = data[rng.choice(ids)]
            self.conn.execute("UPDATE t SET v = %s WHERE id = %s", (to_text(p['typ'], v), i))
            data[i] = v
        if rng.random() < 0.5:
            self.conn.execute("VACUUM t")
        else:
            # Dead tuples use up ef_search slots, so short-plain is not checked.
            p['dead'] = True

    def index_scan(self, info):
        """Runs the query through the index; returns its rows, or None if not applicable."""
        try:
            self.conn.execute(info['setsql'])
            self.conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; "
                              "SET enable_indexscan = on")
            plan = '\n'.join(r[0] for r in
                             self.conn.execute("EXPLAIN (COSTS OFF) " + info['sql']))
            if 'Index Scan using t_v_idx' not in plan:
                self.report.log(f"  q{info['qno']}: skip (plan not index) {info['qkind']} "
                                f"k={info['k']} where={info['where']}")
                return None
            info['plan'] = plan
            return self.conn.execute(info['sql']).fetchall()
        except psycopg.Error as e:
            self.db_error(e, 'error-index', info)
            return None

    def exact_scan(self, info, op, q, where):
        """Returns the exact top k and {id: distance} of every row matching the WHERE."""
        try:
            self.conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off; "
                              "SET enable_seqscan = on")
            top = self.conn.execute(info['sql']).fetchall()
            every = self.conn.execute(f"SELECT id, v {op} {q} AS d FROM t{where}").fetchall()
            return top, dict(every)
        except psycopg.Error as e:
            self.db_error(e, 'error-exact', info)
            return None, None

    def run_query(self, caseno, qno, p, op, live, pos):
        kind, qv = self.gen.query_vector(p['typ'], p['dims'], live, pos)
        q = literal(p['typ'], p['dims'], qv)
        k = self.gen.rng.choice([1, 2, 5, 10, 10, 20, 40, 100, self.gen.rng.randint(1, 100)])
        conds, idxcond = self.gen.where(p)
        where = (' WHERE ' + ' AND '.join(conds)) if conds else ''
        gucs = self.gen.gucs(p)
        info = dict(case=caseno, qno=qno, params=p, qkind=kind, k=k, where=where, gucs=gucs,
                    setsql='; '.join(f"SET {a} = '{b}'" for a, b in gucs.items()),
                    sql=f"SELECT id, v {op} {q} AS d FROM t{where} ORDER BY v {op} {q} LIMIT {k}")
        res = self.index_scan(info)
        if res is None:
            return
        exact, exact_all = self.exact_scan(info, op, q, where)
        if exact is None:
            return
        if 'Filter:' in info['plan']:
            idxcond = False
        info.update(index_result=res, exact_result=exact)
        recall = self.compare(info, p, gucs, conds, idxcond, exact_all)
        self.report.log(f"  q{qno}: {kind} k={k} where={where!r} {gucs} got={len(res)} "
                        f"nvalid={info['nvalid']} recall={recall}")

    def compare(self, info, p, gucs, conds, idxcond, exact_all):
        """Records the findings of one query; returns its recall."""
        res, k = info['index_result'], info['k']
        relaxed = 'relaxed_order' in (gucs.get('hnsw.iterative_scan'),
                                      gucs.get('ivfflat.iterative_scan'))
        found = order_findings(res, info['exact_result'], relaxed, p) + row_findings(res, exact_all)
        valid = sorted(d for d in exact_all.values() if not no_distance(d))
        nums = [d for _, d in res if not no_distance(d)]
        info['nvalid'] = len(valid)
        short = short_category(p, gucs, conds, idxcond, len(nums), min(k, len(valid)))
        if short:
            cat = short[0]
            got_ids = {i for i, _ in res}
            # a scan on codes drops a row whose <=> lies below a row handed out: under
            # cosine, a vector whose squared norm underflows or overflows float, at 0 or 2
            # (or that index ranks rows whose <=> is NaN, for the same reason, among the rest)
            if (p['metric'] == 'cosine' and cat in BUG_CATEGORIES
                    and (any(d in (0.0, 2.0) for i, d in info['exact_result'] if i not in got_ids)
                         or (ranks_unit_cosine(p) and any(no_distance(d) for _, d in res)))):
                cat = 'short-cosine-range'
            found.append((cat, dict(got=len(nums), expected=short[1], nvalid=len(valid))))
        recall = None
        if valid and k:
            recall = info['recall'] = recall_at(valid, nums, k)
            threshold = recall_threshold(p, gucs, k, conds, idxcond)
            if threshold is not None and recall < threshold:
                found.append(('low-recall', dict(recall=recall)))
        for cat, extra in found:
            self.report.finding(cat, dict(info, **extra))
        return recall


def parse_args():
    ap = argparse.ArgumentParser(
        description="Compare hnsw and ivfflat index scans with exact scans on random tables.")
    ap.add_argument('--dsn', default='',
                    help="libpq connection string (default: PGHOST, PGPORT, ... apply)")
    ap.add_argument('--seed', type=int, default=1, metavar='N', help="default 1")
    ap.add_argument('--cases', type=int, default=8, metavar='N', help="default 8")
    ap.add_argument('--out', default='./fuzz-out', metavar='DIR',
                    help="for log.txt and findings.jsonl (default ./fuzz-out)")
    ap.add_argument('--stop-at', type=int, metavar='CASE',
                    help="load case CASE, keep its table t and stop")
    return ap.parse_args()


def main():
    args = parse_args()
    report = Reporter(args.out, args.seed)
    report.log(f"=== seed {args.seed} cases {args.cases} start {time.ctime()}")
    fuzzer = Fuzzer(args.dsn, CaseGenerator(args.seed), report, args.stop_at)
    try:
        for caseno in range(args.cases):
            fuzzer.run(caseno)
        fuzzer.conn.execute("DROP TABLE IF EXISTS t")
    except StopRequested:
        report.log(f"stopping at case {args.stop_at} as requested, table t kept")
    bugs = report.summary('bugs', BUG_CATEGORIES)
    report.summary('info', INFO_CATEGORIES)
    report.log(f"=== seed {args.seed} done {time.ctime()}: {bugs} bug findings")
    return 1 if bugs else 0


if __name__ == '__main__':
    sys.exit(main())
