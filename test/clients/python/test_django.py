"""Django (3.2 as Debian 12 ships it, psycopg2 driver) against the vector
extension: settings configured in code, the djvec app (a VectorField of
our own, an HnswIndex subclass of PostgresIndex, a migration that creates
the extension and the index), migrate, nearest-neighbour queries through
annotate(distance=L2Distance(...)).order_by('distance')[:k].
"""
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django
from django.conf import settings

settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE") or os.environ.get("PGUSER") or "postgres",
            "USER": os.environ.get("PGUSER", ""),
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
        }
    },
    INSTALLED_APPS=["django.contrib.postgres", "djvec"],
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
)
django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from common import exact_neighbours, float32_bits, random_vectors  # noqa: E402
from djvec.models import Item  # noqa: E402
from djvec.vectors import CosineDistance, L2Distance, MaxInnerProduct  # noqa: E402


def sql(query, params=()):
    with connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


class DjangoVectorTest(unittest.TestCase):
    N = 1200
    K = 10

    @classmethod
    def setUpClass(cls):
        # leftovers of an interrupted run
        sql("DROP TABLE IF EXISTS py_dj_items")
        if sql("SELECT to_regclass('django_migrations') IS NOT NULL")[0][0]:
            sql("DELETE FROM django_migrations WHERE app = 'djvec'")
        out = io.StringIO()
        call_command("migrate", "djvec", stdout=out, verbosity=1)
        cls.migrate_output = out.getvalue()
        rng = np.random.default_rng(100)
        cls.data = random_vectors(rng, cls.N, 3)
        cls.queries = random_vectors(rng, 4, 3)
        objs = Item.objects.bulk_create([Item(embedding=v) for v in cls.data])
        cls.ids = np.array([o.id for o in objs])
        Item.objects.create(embedding=None)

    @classmethod
    def tearDownClass(cls):
        call_command("migrate", "djvec", "zero", verbosity=0)
        # migrating back to zero dropped the table (and its index)
        assert sql("SELECT to_regclass('py_dj_items')")[0][0] is None
        # Django's bookkeeping table goes too when nothing else uses it
        if not sql("SELECT count(*) FROM django_migrations")[0][0]:
            sql("DROP TABLE django_migrations")
        connection.close()

    def test_migration(self):
        self.assertIn("Applying djvec.0001_initial... OK", self.migrate_output)
        self.assertEqual(sql("SELECT extname FROM pg_extension WHERE extname = 'vector'"),
                         [("vector",)])
        self.assertEqual(sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'py_dj_items'::regclass AND attname = 'embedding'"),
                         [("vector(3)",)])
        indexdef = sql("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                       ["py_dj_items_embedding_hnsw"])[0][0]
        self.assertIn("USING hnsw (embedding vector_l2_ops) WITH (m='16', ef_construction='64')",
                      indexdef)
        out = io.StringIO()
        call_command("sqlmigrate", "djvec", "0001", stdout=out)
        self.assertRegex(out.getvalue(), r'CREATE INDEX "py_dj_items_embedding_hnsw" ON "py_dj_items" '
                         r'USING hnsw \("embedding" vector_l2_ops\) ?WITH \(m = 16, ef_construction = 64\)')
        # the model state (field and index deconstruction) matches the migration
        try:
            call_command("makemigrations", "djvec", check=True, dry_run=True,
                         stdout=io.StringIO())
        except SystemExit:
            self.fail("makemigrations sees changes the migration lacks")

    def test_round_trip(self):
        got = dict(Item.objects.filter(embedding__isnull=False).values_list("id", "embedding"))
        self.assertEqual(len(got), self.N)
        for i, v in zip(self.ids, self.data):
            self.assertEqual(float32_bits(got[int(i)]), float32_bits(v))
        odd = np.array([-0.0, 1e-45, -3.4028235e38], np.float32)
        item = Item.objects.create(embedding=odd)
        item.refresh_from_db()
        self.assertEqual(float32_bits(item.embedding), float32_bits(odd))
        # equality goes through the vector = operator
        self.assertEqual(list(Item.objects.filter(embedding=odd).values_list("id", flat=True)),
                         [item.id])
        item.delete()

    def nearest(self, func, q):
        qs = (Item.objects.annotate(distance=func("embedding", q))
              .order_by("distance")[: self.K])
        return qs, [(o.id, o.distance) for o in qs]

    def test_nearest_seqscan(self):
        sql("SET enable_indexscan = off")
        try:
            for func, metric in ((L2Distance, "l2"), (CosineDistance, "cosine"),
                                 (MaxInnerProduct, "ip")):
                for q in self.queries:
                    want_ids, want_d = exact_neighbours(self.data, self.ids, q, self.K, metric)
                    _, rows = self.nearest(func, q)
                    self.assertEqual([r[0] for r in rows], want_ids, metric)
                    np.testing.assert_allclose([r[1] for r in rows], want_d,
                                               rtol=1e-5, atol=1e-6)
        finally:
            sql("RESET enable_indexscan")

    def test_nearest_hnsw(self):
        sql("SET enable_seqscan = off")
        sql("SET hnsw.ef_search = 100")
        try:
            qs, _ = self.nearest(L2Distance, self.queries[0])
            self.assertIn("Index Scan using py_dj_items_embedding_hnsw on py_dj_items",
                          qs.explain())
            for q in self.queries:
                want_ids, want_d = exact_neighbours(self.data, self.ids, q, self.K, "l2")
                _, rows = self.nearest(L2Distance, q)
                self.assertEqual([r[0] for r in rows], want_ids)
                np.testing.assert_allclose([r[1] for r in rows], want_d, rtol=1e-5, atol=1e-6)
        finally:
            sql("RESET enable_seqscan")
            sql("RESET hnsw.ef_search")


if __name__ == "__main__":
    unittest.main()
