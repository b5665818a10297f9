from django.db import migrations, models

import djvec.vectors


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        # the extension stays when the app is migrated back to zero: other
        # tables in the database may use it
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS vector", migrations.RunSQL.noop),
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("embedding", djvec.vectors.VectorField(dimensions=3, null=True)),
            ],
            options={"db_table": "py_dj_items"},
        ),
        migrations.AddIndex(
            model_name="item",
            index=djvec.vectors.HnswIndex(ef_construction=64, fields=["embedding"], m=16,
                                          name="py_dj_items_embedding_hnsw",
                                          opclasses=["vector_l2_ops"]),
        ),
    ]
