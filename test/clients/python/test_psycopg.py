"""psycopg 3 against the vector extension: text and binary parameters,
binary COPY in and out, exact round trips, exact nearest neighbours.

The adapter below is this project's own: a numpy float32 array is a
vector.  Text form '[1,2.5,3]'; binary form (send/recv): uint16 dim,
uint16 unused (0), then dim big-endian float4 values.
"""
import struct
import unittest

import numpy as np
import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from common import (exact_neighbours, float32_bits, libpq_env,
                    random_vectors, special_float32)


# ---- the adapter -----------------------------------------------------------

def vector_text(a):
    """Shortest float32 text for each element: reads back exactly."""
    return "[" + ",".join(str(np.float32(v)) for v in np.asarray(a, np.float32)) + "]"


class VectorTextDumper(Dumper):
    format = Format.TEXT

    def dump(self, obj):
        return vector_text(obj).encode()


class VectorBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj):
        a = np.asarray(obj, dtype=np.float32)
        if a.ndim != 1:
            raise psycopg.DataError("a vector is one-dimensional")
        return struct.pack(">HH", a.shape[0], 0) + a.astype(">f4").tobytes()


class VectorTextLoader(Loader):
    format = Format.TEXT

    def load(self, data):
        s = bytes(data).decode()
        assert s[0] == "[" and s[-1] == "]", s
        return np.array([np.float32(float(x)) for x in s[1:-1].split(",")],
                        dtype=np.float32)


class VectorBinaryLoader(Loader):
    format = Format.BINARY

    def load(self, data):
        data = bytes(data)
        dim, unused = struct.unpack_from(">HH", data)
        assert unused == 0, unused
        assert len(data) == 4 + 4 * dim, (len(data), dim)
        return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


class RawVector(bytes):
    """Bytes sent verbatim as a binary vector parameter (to feed recv
    malformed input)."""


class RawVectorDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj):
        return bytes(obj)


def register_vector(conn):
    """Teach a connection the vector type: dumpers for numpy arrays in both
    formats (binary is the default for %s), loaders for both formats."""
    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise RuntimeError("type vector not found")
    info.register(conn)
    ad = conn.adapters
    # by-oid lookups (COPY set_types) take the last dumper registered for the
    # oid, so the test-only raw dumper goes first
    ad.register_dumper(RawVector, type("RVD", (RawVectorDumper,), {"oid": info.oid}))
    ad.register_dumper(np.ndarray, type("VTD", (VectorTextDumper,), {"oid": info.oid}))
    ad.register_dumper(np.ndarray, type("VBD", (VectorBinaryDumper,), {"oid": info.oid}))
    ad.register_loader(info.oid, VectorTextLoader)
    ad.register_loader(info.oid, VectorBinaryLoader)
    return info


def packed(a):
    a = np.asarray(a, np.float32)
    return struct.pack(">HH", len(a), 0) + a.astype(">f4").tobytes()


def random_bit_floats(rng, n):
    """Finite float32 values drawn uniformly over bit patterns: every
    exponent, subnormals, both zeros."""
    bits = rng.integers(0, 2**32, size=n * 2, dtype=np.uint64).astype(np.uint32)
    vals = bits.view(np.float32)
    return vals[np.isfinite(vals)][:n].copy()


# ---- the tests ---------------------------------------------------------------

class PsycopgVectorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = {k: v for k, v in libpq_env().items() if v}
        cls.conn = psycopg.connect(**env, autocommit=True)
        cls.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cls.info = register_vector(cls.conn)
        for t in ("py_pg_items", "py_pg_round", "py_pg_copy", "py_pg_nn"):
            cls.conn.execute(f"DROP TABLE IF EXISTS {t}")

    @classmethod
    def tearDownClass(cls):
        for t in ("py_pg_items", "py_pg_round", "py_pg_copy", "py_pg_nn"):
            cls.conn.execute(f"DROP TABLE IF EXISTS {t}")
        cls.conn.close()

    def assertSameFloats(self, got, want):
        self.assertEqual(len(got), len(want))
        self.assertEqual(float32_bits(got), float32_bits(want))

    def test_type_registered(self):
        row = self.conn.execute(
            "SELECT oid, typname, typarray <> 0 FROM pg_type WHERE typname = 'vector'").fetchone()
        self.assertEqual(row, (self.info.oid, "vector", True))
        self.assertEqual(self.conn.execute("SELECT '_vector'::regtype::text").fetchone()[0],
                         "vector[]")

    def test_text_parameters(self):
        c = self.conn
        c.execute("CREATE TABLE py_pg_items (id int PRIMARY KEY, embedding vector(3))")
        # a plain string is sent untyped and the server infers vector
        c.execute("INSERT INTO py_pg_items VALUES (1, %s)", ("[1,2.5,-3]",))
        # a numpy array through the text dumper (%t)
        c.execute("INSERT INTO py_pg_items VALUES (2, %t)",
                  (np.array([0.1, 1e-45, -0.0], np.float32),))
        # a list of floats is a double precision[]: assignment cast to vector
        c.execute("INSERT INTO py_pg_items VALUES (3, %s)", ([4.0, 5.0, 6.0],))
        rows = c.execute("SELECT id, embedding, embedding::text FROM py_pg_items ORDER BY id").fetchall()
        self.assertEqual([r[0] for r in rows], [1, 2, 3])
        self.assertEqual(rows[0][2], "[1,2.5,-3]")
        self.assertEqual(rows[1][2], "[0.1,1e-45,-0]")
        self.assertEqual(rows[2][2], "[4,5,6]")
        self.assertSameFloats(rows[0][1], np.array([1, 2.5, -3], np.float32))
        self.assertSameFloats(rows[1][1], np.array([0.1, 1e-45, -0.0], np.float32))
        # the typmod applies to parameters too
        with self.assertRaisesRegex(psycopg.errors.DataException,
                                    "expected 3 dimensions, not 2"):
            c.execute("INSERT INTO py_pg_items VALUES (4, %t)", (np.array([1, 2], np.float32),))
        # distances come back as double precision
        d = c.execute("SELECT embedding <-> %t FROM py_pg_items WHERE id = 1",
                      (np.array([1, 2.5, 1], np.float32),)).fetchone()[0]
        self.assertIsInstance(d, float)
        self.assertEqual(d, 4.0)

    def test_binary_round_trip(self):
        c = self.conn
        rng = np.random.default_rng(20240601)
        c.execute("CREATE TABLE py_pg_round (id int PRIMARY KEY, embedding vector)")
        vectors = [special_float32(), random_bit_floats(rng, 1000),
                   random_vectors(rng, 1, 16000)[0],      # the largest vector
                   np.array([-0.0], np.float32)]
        with c.cursor() as cur:
            for i, v in enumerate(vectors):
                cur.execute("INSERT INTO py_pg_round VALUES (%b, %b)", (i, v))
            # binary results: the server's send output goes through the binary loader
            cur.execute("SELECT id, embedding, vector_dims(embedding) FROM py_pg_round ORDER BY id",
                        binary=True)
            got = cur.fetchall()
        self.assertEqual(len(got), len(vectors))
        for (i, v, dims), want in zip(got, vectors):
            self.assertEqual(dims, len(want))
            self.assertSameFloats(v, want)
        # the text output also reads back to the same bits
        with c.cursor() as cur:
            cur.execute("SELECT embedding FROM py_pg_round ORDER BY id", binary=False)
            for (v,), want in zip(cur.fetchall(), vectors):
                self.assertSameFloats(v, want)
        # the raw bytes of send are exactly the documented layout
        with c.cursor(binary=True) as cur:
            cur.adapters.register_loader(self.info.oid, psycopg.types.string.ByteaBinaryLoader)
            cur.execute("SELECT embedding FROM py_pg_round ORDER BY id")
            for (raw,), want in zip(cur.fetchall(), vectors):
                self.assertEqual(bytes(raw), packed(want))

    def test_binary_recv_rejects_bad_input(self):
        c = self.conn
        bad = [
            (packed(np.array([1, np.nan], np.float32)), "NaN not allowed in vector"),
            (packed(np.array([np.inf], np.float32)), "infinite value not allowed in vector"),
            (struct.pack(">HH", 0, 0), "vector must have at least 1 dimension"),
            (struct.pack(">HH", 3, 0) + b"\0" * 8, None),        # payload shorter than dim
            (struct.pack(">HH", 1, 0) + b"\0" * 8, None),        # trailing bytes
            (struct.pack(">HH", 1, 7) + b"\0" * 4, None),        # unused field not 0
        ]
        for raw, message in bad:
            with self.subTest(raw=raw.hex()):
                with self.assertRaises(psycopg.Error) as cm:
                    c.execute("SELECT %b::vector::text", (RawVector(raw),))
                if message:
                    self.assertIn(message, str(cm.exception))
                # the session is fine afterwards
                self.assertEqual(c.execute("SELECT 1").fetchone()[0], 1)
        # typmod on a binary parameter
        c.execute("CREATE TEMP TABLE py_pg_typmod (v vector(3))")
        with self.assertRaisesRegex(psycopg.errors.DataException, "expected 3 dimensions, not 2"):
            c.execute("INSERT INTO py_pg_typmod VALUES (%b)", (np.array([1, 2], np.float32),))

    def test_binary_copy(self):
        c = self.conn
        rng = np.random.default_rng(7)
        dim, n = 24, 3000
        data = np.stack([random_bit_floats(rng, dim) for _ in range(n)])
        data[0] = np.resize(special_float32(), dim)
        c.execute("CREATE TABLE py_pg_copy (id bigint PRIMARY KEY, embedding vector(%s))" % dim)
        with c.cursor() as cur:
            with cur.copy("COPY py_pg_copy (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "vector"])
                for i in range(n):
                    cp.write_row((i, data[i]))
            self.assertEqual(c.execute("SELECT count(*) FROM py_pg_copy").fetchone()[0], n)
            # binary COPY out, through the binary loader
            got = {}
            with cur.copy("COPY py_pg_copy (id, embedding) TO STDOUT WITH (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "vector"])
                for i, v in cp.rows():
                    got[i] = v
            self.assertEqual(sorted(got), list(range(n)))
            for i in range(n):
                self.assertSameFloats(got[i], data[i])
            # binary COPY out, unparsed: the field bytes are the documented layout
            with cur.copy("COPY (SELECT embedding FROM py_pg_copy ORDER BY id) TO STDOUT WITH (FORMAT BINARY)") as cp:
                blob = b"".join(bytes(b) for b in cp)
            fields = parse_copy_binary(blob)
            self.assertEqual(len(fields), n)
            for i in range(n):
                self.assertEqual(fields[i], packed(data[i]))
            # text COPY out reads back exactly too
            with cur.copy("COPY (SELECT embedding FROM py_pg_copy ORDER BY id) TO STDOUT") as cp:
                lines = b"".join(bytes(b) for b in cp).decode().splitlines()
            self.assertEqual(len(lines), n)
            for i in (0, 1, n - 1):
                v = VectorTextLoader(0).load(lines[i].encode())
                self.assertSameFloats(v, data[i])

    def test_nearest_neighbours(self):
        c = self.conn
        rng = np.random.default_rng(42)
        n, dim, k = 2000, 16, 10
        data = random_vectors(rng, n, dim)
        ids = np.arange(1, n + 1)
        c.execute("CREATE TABLE py_pg_nn (id bigint PRIMARY KEY, embedding vector(%s))" % dim)
        with c.cursor() as cur:
            with cur.copy("COPY py_pg_nn (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "vector"])
                for i in range(n):
                    cp.write_row((int(ids[i]), data[i]))
        queries = random_vectors(rng, 5, dim)
        ops = {"l2": "<->", "ip": "<#>", "cosine": "<=>"}

        def knn(op, q, binary):
            ph = "%b" if binary else "%t"
            return c.execute(f"SELECT id, embedding {op} {ph} AS d FROM py_pg_nn "
                             f"ORDER BY d LIMIT {k}", (q,)).fetchall()

        # sequential scan: exactly the numpy reference, with both parameter formats
        for metric, op in ops.items():
            for q in queries:
                want_ids, want_d = exact_neighbours(data, ids, q, k, metric)
                for binary in (False, True):
                    rows = knn(op, q, binary)
                    self.assertEqual([r[0] for r in rows], want_ids, (metric, binary))
                    np.testing.assert_allclose([r[1] for r in rows], want_d, rtol=1e-5, atol=1e-6)

        # hnsw indexes serve the same queries with the same answers
        c.execute("CREATE INDEX py_pg_nn_l2 ON py_pg_nn USING hnsw (embedding vector_l2_ops) "
                  "WITH (m = 16, ef_construction = 64)")
        c.execute("CREATE INDEX py_pg_nn_cos ON py_pg_nn USING hnsw (embedding vector_cosine_ops)")
        c.execute("CREATE INDEX py_pg_nn_ip ON py_pg_nn USING hnsw (embedding vector_ip_ops)")
        c.execute("SET enable_seqscan = off")
        c.execute("SET hnsw.ef_search = 200")
        try:
            for metric, op in ops.items():
                idx = {"l2": "py_pg_nn_l2", "ip": "py_pg_nn_ip", "cosine": "py_pg_nn_cos"}[metric]
                plan = "\n".join(r[0] for r in c.execute(
                    f"EXPLAIN (COSTS OFF) SELECT id FROM py_pg_nn ORDER BY embedding {op} %b LIMIT {k}",
                    (queries[0],)))
                self.assertIn(f"Index Scan using {idx}", plan)
                for q in queries:
                    want_ids, _ = exact_neighbours(data, ids, q, k, metric)
                    self.assertEqual([r[0] for r in knn(op, q, True)], want_ids, metric)
        finally:
            c.execute("RESET enable_seqscan")
            c.execute("RESET hnsw.ef_search")


def parse_copy_binary(blob):
    """The single field of each row of a binary COPY stream."""
    sig = b"PGCOPY\n\xff\r\n\0"
    assert blob.startswith(sig)
    pos = len(sig)
    flags, ext = struct.unpack_from(">iI", blob, pos)
    pos += 8 + ext
    out = []
    while True:
        (nfields,) = struct.unpack_from(">h", blob, pos)
        pos += 2
        if nfields == -1:
            break
        assert nfields == 1
        (length,) = struct.unpack_from(">i", blob, pos)
        pos += 4
        out.append(blob[pos:pos + length])
        pos += length
    assert pos == len(blob)
    return out


if __name__ == "__main__":
    unittest.main()
