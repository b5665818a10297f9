"""Shared helpers for the Python client tests.

The server comes from the libpq environment (PGHOST, PGPORT, PGUSER,
PGDATABASE); nothing here names a server of its own.
"""
import os

import numpy as np


def libpq_env():
    """The connection settings the libpq environment names, as a dict."""
    return {
        "host": os.environ.get("PGHOST", ""),
        "port": os.environ.get("PGPORT", ""),
        "user": os.environ.get("PGUSER", ""),
        "dbname": os.environ.get("PGDATABASE", ""),
    }


def random_vectors(rng, count, dim):
    """count × dim float32 values in [-1, 1)."""
    return rng.uniform(-1.0, 1.0, size=(count, dim)).astype(np.float32)


def exact_neighbours(data, ids, query, k, metric="l2"):
    """The ids of the k nearest rows, computed in float64 from the float32
    data.  Fails if the k-th and (k+1)-th distances are so close that the
    server's float arithmetic could order them differently: the fixed seeds
    the tests use are chosen so that this never happens."""
    x = data.astype(np.float64)
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    if metric == "l2":
        d = np.sqrt(((x - q) ** 2).sum(axis=1))
    elif metric == "ip":
        d = -(x @ q)
    elif metric == "cosine":
        d = 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    else:
        raise ValueError(metric)
    order = np.argsort(d, kind="stable")
    top = d[order[: k + 1]]
    gaps = np.diff(top)
    assert gaps.min() > 1e-5, "reference has near-ties; pick another seed"
    return [int(ids[i]) for i in order[:k]], [float(v) for v in d[order[:k]]]


def float32_bits(a):
    """The bit patterns of a float32 array, for exact comparisons
    (negative zero differs from zero here, as it should)."""
    return np.asarray(a, dtype=np.float32).view(np.uint32).tolist()


def special_float32():
    """Values a round trip must preserve bit for bit."""
    f = np.finfo(np.float32)
    return np.array(
        [
            0.0,
            -0.0,
            f.tiny,                  # smallest normal
            -f.tiny,
            f.smallest_subnormal,    # 1.4e-45
            -f.smallest_subnormal,
            3 * f.smallest_subnormal,
            f.max,                   # 3.4028235e38
            -f.max,
            np.nextafter(np.float32(1), np.float32(2)),
            np.nextafter(np.float32(1), np.float32(0)),
            0.1,
            1.0 / 3.0,
            16777217.0,              # not exact in float32: rounds to 2^24
            123456789.0,
            1e-30,
            -7.5e37,
        ],
        dtype=np.float32,
    )
