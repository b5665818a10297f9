from django.db import models

from .vectors import HnswIndex, VectorField


class Item(models.Model):
    embedding = VectorField(dimensions=3, null=True)

    class Meta:
        db_table = "py_dj_items"
        indexes = [
            HnswIndex(name="py_dj_items_embedding_hnsw", fields=["embedding"],
                      m=16, ef_construction=64, opclasses=["vector_l2_ops"]),
        ]
