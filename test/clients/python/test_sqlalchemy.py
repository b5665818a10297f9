"""SQLAlchemy (1.4 as Debian 12 ships it, psycopg2 driver) against the
vector extension: a Vector(dim) column type of our own, ORM insert and
select, distance comparators producing <->, <=> and <#>, an hnsw index
declared on the model and created by metadata.create_all, reflection.
"""
import unittest
import warnings

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import base as pg_base
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.types import UserDefinedType

from common import exact_neighbours, float32_bits, random_vectors


# ---- the adapter -----------------------------------------------------------

def to_text(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return "[" + ",".join(str(np.float32(v)) for v in np.asarray(value, np.float32)) + "]"


def from_text(value):
    if value is None:
        return None
    return np.array([np.float32(float(x)) for x in value[1:-1].split(",")], np.float32)


class Vector(UserDefinedType):
    """vector(dim); Python values are float32 numpy arrays (lists accepted)."""
    cache_ok = True

    def __init__(self, dim=None):
        self.dim = None if dim is None else int(dim)

    def get_col_spec(self, **kw):
        return "VECTOR" if self.dim is None else "VECTOR(%d)" % self.dim

    def bind_processor(self, dialect):
        return to_text

    def literal_processor(self, dialect):
        def process(value):
            return "'%s'" % to_text(value)
        return process

    def result_processor(self, dialect, coltype):
        return from_text

    class comparator_factory(UserDefinedType.Comparator):
        def _distance(self, op, other):
            return self.op(op, return_type=sa.Float)(other)

        def l2_distance(self, other):
            return self._distance("<->", other)

        def cosine_distance(self, other):
            return self._distance("<=>", other)

        def max_inner_product(self, other):
            return self._distance("<#>", other)


# reflection: the dialect maps the type name to our class
pg_base.ischema_names["vector"] = Vector


Base = declarative_base()


class Item(Base):
    __tablename__ = "py_sa_items"
    id = sa.Column(sa.Integer, primary_key=True)
    embedding = sa.Column(Vector(3), nullable=True)


sa.Index("py_sa_items_embedding_l2", Item.embedding,
         postgresql_using="hnsw",
         postgresql_with={"m": 16, "ef_construction": 64},
         postgresql_ops={"embedding": "vector_l2_ops"})
sa.Index("py_sa_items_embedding_cos", Item.embedding,
         postgresql_using="hnsw",
         postgresql_ops={"embedding": "vector_cosine_ops"})


class SQLAlchemyVectorTest(unittest.TestCase):
    N = 1500
    K = 10

    @classmethod
    def setUpClass(cls):
        # an empty URL: psycopg2 (libpq) takes everything from PG* variables
        cls.engine = sa.create_engine("postgresql+psycopg2://", future=True)
        with cls.engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            conn.execute(sa.text("DROP TABLE IF EXISTS py_sa_items"))
        Base.metadata.create_all(cls.engine)
        rng = np.random.default_rng(1234)
        cls.data = random_vectors(rng, cls.N, 3)
        cls.ids = np.arange(1, cls.N + 1)
        cls.queries = random_vectors(rng, 4, 3)
        with Session(cls.engine) as s:
            s.add_all([Item(id=int(i), embedding=v) for i, v in zip(cls.ids, cls.data)])
            s.add(Item(id=cls.N + 1, embedding=None))
            s.commit()

    @classmethod
    def tearDownClass(cls):
        Base.metadata.drop_all(cls.engine)
        cls.engine.dispose()

    def test_ddl(self):
        with self.engine.connect() as conn:
            coltype = conn.execute(sa.text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'py_sa_items'::regclass AND attname = 'embedding'")).scalar_one()
            self.assertEqual(coltype, "vector(3)")
            defs = dict(conn.execute(sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'py_sa_items'")).all())
        self.assertIn("USING hnsw (embedding vector_l2_ops) WITH (m='16', ef_construction='64')",
                      defs["py_sa_items_embedding_l2"])
        self.assertIn("USING hnsw (embedding vector_cosine_ops)", defs["py_sa_items_embedding_cos"])
        # reflection sees the index method and options, and the column type
        insp = sa.inspect(self.engine)
        idx = {i["name"]: i for i in insp.get_indexes("py_sa_items")}
        self.assertEqual(idx["py_sa_items_embedding_l2"]["column_names"], ["embedding"])
        opts = idx["py_sa_items_embedding_l2"]["dialect_options"]
        self.assertEqual(opts["postgresql_using"], "hnsw")
        self.assertEqual(opts["postgresql_with"], {"m": "16", "ef_construction": "64"})
        self.assertEqual(idx["py_sa_items_embedding_cos"]["dialect_options"]["postgresql_using"],
                         "hnsw")
        with warnings.catch_warnings():
            # an unknown type would only warn ("Did not recognize type")
            warnings.simplefilter("error", sa.exc.SAWarning)
            cols = {c["name"]: c for c in insp.get_columns("py_sa_items")}
        self.assertIsInstance(cols["embedding"]["type"], Vector)
        self.assertEqual(cols["embedding"]["type"].dim, 3)

    def test_round_trip(self):
        with Session(self.engine) as s:
            rows = s.execute(sa.select(Item).order_by(Item.id)).scalars().all()
            self.assertEqual(len(rows), self.N + 1)
            for item, want in zip(rows, self.data):
                self.assertEqual(float32_bits(item.embedding), float32_bits(want))
            self.assertIsNone(rows[-1].embedding)
            # a reflected table reads the same values through the same type
            t = sa.Table("py_sa_items", sa.MetaData(), autoload_with=s.connection())
            v = s.execute(sa.select(t.c.embedding).where(t.c.id == 1)).scalar_one()
            self.assertEqual(float32_bits(v), float32_bits(self.data[0]))
            # update and read back an awkward value
            odd = np.array([-0.0, 1e-45, 3.4028235e38], np.float32)
            s.get(Item, 2).embedding = odd
            s.commit()
            self.assertEqual(float32_bits(s.get(Item, 2).embedding), float32_bits(odd))
            s.get(Item, 2).embedding = self.data[1]
            s.commit()

    def test_operators_compile(self):
        q = [1, 2, 3]
        for meth, op in (("l2_distance", "<->"), ("cosine_distance", "<=>"),
                         ("max_inner_product", "<#>")):
            expr = getattr(Item.embedding, meth)(q)
            sql = str(sa.select(Item.id).order_by(expr).compile(
                dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
            self.assertIn("ORDER BY py_sa_items.embedding %s '[1.0,2.0,3.0]'" % op, sql)
            self.assertIsInstance(expr.type, sa.Float)

    def nearest(self, s, meth, q):
        dist = getattr(Item.embedding, meth)(q)
        stmt = sa.select(Item.id, dist.label("d")).order_by(dist).limit(self.K)
        return s.execute(stmt).all()

    def test_nearest_seqscan(self):
        with Session(self.engine) as s:
            s.execute(sa.text("SET LOCAL enable_indexscan = off"))
            for meth, metric in (("l2_distance", "l2"), ("cosine_distance", "cosine"),
                                 ("max_inner_product", "ip")):
                for q in self.queries:
                    want_ids, want_d = exact_neighbours(self.data, self.ids, q, self.K, metric)
                    rows = self.nearest(s, meth, q)
                    self.assertEqual([r.id for r in rows], want_ids, metric)
                    np.testing.assert_allclose([r.d for r in rows], want_d, rtol=1e-5, atol=1e-6)

    def test_nearest_hnsw(self):
        with Session(self.engine) as s:
            s.execute(sa.text("SET LOCAL enable_seqscan = off"))
            s.execute(sa.text("SET LOCAL hnsw.ef_search = 100"))
            for meth, metric, index in (("l2_distance", "l2", "py_sa_items_embedding_l2"),
                                        ("cosine_distance", "cosine", "py_sa_items_embedding_cos")):
                stmt = sa.select(Item.id).order_by(
                    getattr(Item.embedding, meth)(self.queries[0])).limit(self.K)
                sql = str(stmt.compile(dialect=self.engine.dialect,
                                       compile_kwargs={"literal_binds": True}))
                plan = "\n".join(s.execute(sa.text("EXPLAIN (COSTS OFF) " + sql)).scalars())
                self.assertIn("Index Scan using %s on py_sa_items" % index, plan)
                for q in self.queries:
                    want_ids, _ = exact_neighbours(self.data, self.ids, q, self.K, metric)
                    # ORM entities, ordered by the comparator
                    items = s.execute(sa.select(Item).order_by(
                        getattr(Item.embedding, meth)(q)).limit(self.K)).scalars().all()
                    self.assertEqual([i.id for i in items], want_ids, metric)


if __name__ == "__main__":
    unittest.main()
