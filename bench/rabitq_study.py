#!/usr/bin/python3
"""How well RaBitQ-style codes rank neighbours, before any index is built.

Groundwork for quantized hnsw (issue 18): it answers "how many bits per
dimension, and how many candidates to re-rank", from the data sets in
../shared/data, with exact arithmetic in numpy and no database.

For each data set and each code width B in --bits (1, 2, 4, 8):
  1. centre the base vectors on their mean c and scale each to unit length;
  2. rotate them with one fixed random orthogonal transform: rounds of random
     sign flips and Walsh-Hadamard transforms on the first and on the last
     2^k coordinates (2^k the largest power of two in the dimension, padded
     to a multiple of 64), which spreads every vector's energy evenly over
     the coordinates, so that a uniform grid loses little;
  3. code each rotated unit vector o on a symmetric grid of 2^B levels per
     coordinate (1 bit: its signs), scaled per vector to the step that
     best keeps its direction, and keep two numbers beside the code:
     |x - c| and <o_bar, o>, how well the code's direction o_bar agrees;
  4. estimate each distance as RaBitQ does: <o, q> ~ <o_bar, q> / <o_bar, o>
     for the rotated unit query q, then
     |x - y|^2 = |x - c|^2 + |y - c|^2 - 2 |x - c| |y - c| <o, q>
     (cosine sets: the vectors are normalised first, and the order is the
     same as l2's).
It reports recall@10 of the 10 best estimates, and after re-ranking the best
R estimates (--rerank) by their exact distances, against the data set's exact
top 10 (gt.ivecs), with the bytes a code takes (bits, plus the two floats).

Run with Debian's python (numpy):
    /usr/bin/python3 bench/rabitq_study.py --dataset sift-128 --queries 200
"""

import argparse
import sys
from pathlib import Path

import numpy as np


def read_vecs(path, dtype=np.float32, limit=None):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    if limit is not None:
        rows = rows[:limit]
    return rows.copy().view(dtype) if dtype == np.float32 else rows.copy()


def hadamard(x):
    """Walsh-Hadamard transform along the last axis (a power of two),
    scaled to be orthogonal."""
    n = x.shape[-1]
    y = x.copy()
    h = 1
    while h < n:
        y = y.reshape(*x.shape[:-1], n // (2 * h), 2, h)
        a = y[..., 0, :] + y[..., 1, :]
        b = y[..., 0, :] - y[..., 1, :]
        y = np.stack([a, b], axis=-2).reshape(*x.shape[:-1], n)
        h *= 2
    return y / np.sqrt(n)


class Rotation:
    """A fixed random orthogonal map of R^dim into R^padded."""

    def __init__(self, dim, seed, rounds=3):
        self.dim = dim
        self.padded = (dim + 63) // 64 * 64
        self.block = 1 << (self.padded.bit_length() - 1)
        rng = np.random.default_rng(seed)
        self.signs = [rng.choice([-1.0, 1.0], size=(2, self.padded)).astype(np.float32)
                      for _ in range(rounds)]

    def __call__(self, x):
        y = np.zeros((x.shape[0], self.padded), dtype=np.float32)
        y[:, :self.dim] = x
        p, k = self.padded, self.block
        for s in self.signs:
            y *= s[0]
            y[:, :k] = hadamard(y[:, :k])
            y *= s[1]
            y[:, p - k:] = hadamard(y[:, p - k:])
        return y


def encode(o, bits):
    """Codes of the rotated unit vectors o (rows) on 2^bits levels.
    Returns the unit direction of each code (o_bar) and <o_bar, o>."""
    if bits == 1:
        bar = np.where(o >= 0, 1.0, -1.0).astype(np.float32)
        bar /= np.sqrt(o.shape[1])
        return bar, np.einsum('ij,ij->i', bar, o)
    levels = 1 << bits
    half = levels / 2
    top = np.abs(o).max(axis=1, keepdims=True)
    best_bar = None
    best_dot = np.full(o.shape[0], -np.inf, dtype=np.float32)
    # the step: the grid's outermost level at a fraction of the largest
    # coordinate; keep, per vector, the one whose code agrees best
    for frac in np.linspace(0.3, 1.0, 36):
        step = top * frac / (half - 0.5)
        k = np.clip(np.floor(o / step + half), 0, levels - 1)
        rec = (k - half + 0.5).astype(np.float32)
        rec /= np.linalg.norm(rec, axis=1, keepdims=True)
        dot = np.einsum('ij,ij->i', rec, o)
        better = dot > best_dot
        best_dot = np.where(better, dot, best_dot)
        best_bar = rec if best_bar is None else np.where(better[:, None], rec, best_bar)
    return best_bar, best_dot


def study(args, name):
    d = Path(args.data_dir) / name
    base = read_vecs(d / 'base.fvecs', limit=args.rows)
    queries = read_vecs(d / 'query.fvecs', limit=args.queries)
    cosine = name.startswith('glove')
    if cosine:
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    # exact top 10 over the rows used (gt.ivecs covers the whole set only)
    b2 = np.einsum('ij,ij->i', base, base)
    exact = np.empty((len(queries), args.k), dtype=np.int64)
    exact_d = []
    for i, q in enumerate(queries):
        dist = b2 - 2 * base @ q + q @ q
        exact[i] = np.argsort(dist, kind='stable')[:args.k]
        exact_d.append(dist)

    c = base.mean(axis=0)
    rot = Rotation(base.shape[1], args.seed)
    xr = base - c
    xn = np.linalg.norm(xr, axis=1)
    o = rot(xr / np.maximum(xn, 1e-30)[:, None])
    qr = queries - c
    qn = np.linalg.norm(qr, axis=1)
    qo = rot(qr / np.maximum(qn, 1e-30)[:, None])

    print(f"{name}: {len(base)} rows, {base.shape[1]} dimensions "
          f"(codes of {rot.padded}), {len(queries)} queries, k {args.k}"
          f"{', cosine' if cosine else ''}")
    head = " ".join(f"rerank {r:>4}" for r in args.rerank)
    print(f"bits  code bytes  <o_bar,o>  recall (no rerank)  {head}")
    for bits in args.bits:
        bar, agree = encode(o, bits)
        est_ip = (qo @ bar.T) / agree[None, :]
        est = xn[None, :] ** 2 + qn[:, None] ** 2 - 2 * xn[None, :] * qn[:, None] * est_ip
        order = np.argsort(est, axis=1, kind='stable')
        found = [0] * (len(args.rerank) + 1)
        for i in range(len(queries)):
            truth = set(exact[i].tolist())
            found[0] += len(truth & set(order[i, :args.k].tolist()))
            for j, r in enumerate(args.rerank):
                top = order[i, :r]
                best = top[np.argsort(exact_d[i][top], kind='stable')[:args.k]]
                found[j + 1] += len(truth & set(best.tolist()))
        total = len(queries) * args.k
        nbytes = rot.padded * bits // 8 + 8
        cols = " ".join(f"{f / total:11.4f}" for f in found[1:])
        print(f"{bits:4d}  {nbytes:10d}  {agree.mean():9.4f}  {found[0] / total:18.4f}  {cols}")
    print()


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(here.parent.parent / "shared" / "data"))
    ap.add_argument("--dataset", action="append",
                    help="data set under --data-dir (repeatable; default sift-128)")
    ap.add_argument("--rows", type=int, help="use only the first ROWS base vectors")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--bits", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--rerank", type=int, nargs="+", default=[20, 50, 100, 200])
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    for b in args.bits:
        if b not in (1, 2, 3, 4, 5, 6, 7, 8):
            sys.exit("--bits takes 1 to 8")
    for name in args.dataset or ["sift-128"]:
        if not (Path(args.data_dir) / name / "base.fvecs").exists():
            sys.exit(f"no data set {name} under {args.data_dir}")
        study(args, name)


if __name__ == "__main__":
    main()
