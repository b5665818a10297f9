// knex with the pgvector package's knex helpers: table.vector() in the
// schema builder, l2Distance / cosineDistance / maxInnerProduct in
// orderBy, an hnsw index, exact nearest ids and round trips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Knex from 'knex';
import pgvector from 'pgvector/knex';
import { connectionConfig, rng, randomVectors, SPECIAL, exactNeighbours, sameFloat32 } from './common.js';

const knex = Knex({ client: 'pg', connection: connectionConfig(), pool: { min: 1, max: 1 } });
const N = 1500, K = 10, DIM = 3;
let data;

before(async () => {
  await knex.schema.createExtensionIfNotExists('vector');
  await knex.schema.dropTableIfExists('js_knex_items');
  await knex.schema.createTable('js_knex_items', (table) => {
    table.increments('id');
    table.vector('embedding', { dimensions: DIM });
  });
  const r = rng(4242);
  const vectors = randomVectors(r, N, DIM);
  const ids = [];
  for (let s = 0; s < N; s += 500) {
    const rows = await knex('js_knex_items')
      .insert(vectors.slice(s, s + 500).map((v) => ({ embedding: pgvector.toSql(v) })))
      .returning('id');
    ids.push(...rows.map((x) => x.id));
  }
  data = ids.map((id, i) => [id, vectors[i]]);
});

after(async () => {
  await knex.schema.dropTableIfExists('js_knex_items');
  await knex.destroy();
});

test('schema: vector(3) column, hnsw index', async () => {
  const col = await knex.raw("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'js_knex_items'::regclass AND attname = 'embedding'");
  assert.equal(col.rows[0].t, 'vector(3)');
  await knex.raw('CREATE INDEX js_knex_items_embedding_idx ON js_knex_items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)');
  const idx = await knex('pg_indexes').where({ tablename: 'js_knex_items' }).select('indexname', 'indexdef');
  const def = idx.find((x) => x.indexname === 'js_knex_items_embedding_idx').indexdef;
  assert.match(def, /USING hnsw \(embedding vector_l2_ops\) WITH \(m='16', ef_construction='64'\)/);
});

test('round trip through toSql/fromSql is exact', async () => {
  const [{ id }] = await knex('js_knex_items').insert({ embedding: pgvector.toSql(SPECIAL.slice(0, 3)) }).returning('id');
  const row = await knex('js_knex_items').where({ id }).first();
  assert.ok(sameFloat32(pgvector.fromSql(row.embedding), SPECIAL.slice(0, 3)));
  const stored = await knex('js_knex_items').whereIn('id', data.slice(0, 50).map((x) => x[0])).orderBy('id');
  stored.forEach((x, i) => assert.ok(sameFloat32(pgvector.fromSql(x.embedding), data[i][1])));
  await knex('js_knex_items').where({ id }).del();
});

test('nearest neighbours: exact ids for l2, cosine and inner product', async () => {
  const queries = randomVectors(rng(99), 4, DIM);
  await knex.raw('SET enable_indexscan = off');
  try {
    for (const [helper, metric] of [['l2Distance', 'l2'], ['cosineDistance', 'cosine'], ['maxInnerProduct', 'ip']]) {
      for (const q of queries) {
        const want = exactNeighbours(data, q, K, metric);
        const rows = await knex('js_knex_items').select('id').orderBy(knex[helper]('embedding', q)).limit(K);
        assert.deepEqual(rows.map((x) => x.id), want.ids, metric);
      }
    }
  } finally {
    await knex.raw('RESET enable_indexscan');
  }
  // the l2 query through the hnsw index (built by the schema test)
  await knex.raw('SET enable_seqscan = off');
  await knex.raw('SET hnsw.ef_search = 100');
  try {
    const q = queries[0];
    const builder = knex('js_knex_items').select('id').orderBy(knex.l2Distance('embedding', q)).limit(K);
    assert.match(builder.toString(), /order by "embedding" <-> '\[/);
    const plan = await knex.raw(`EXPLAIN (COSTS OFF) ${builder.toString()}`);
    assert.match(plan.rows.map((x) => x['QUERY PLAN']).join('\n'), /Index Scan using js_knex_items_embedding_idx/);
    for (const qq of queries) {
      const rows = await knex('js_knex_items').select('id').orderBy(knex.l2Distance('embedding', qq)).limit(K);
      assert.deepEqual(rows.map((x) => x.id), exactNeighbours(data, qq, K, 'l2').ids);
    }
  } finally {
    await knex.raw('RESET enable_seqscan');
    await knex.raw('RESET hnsw.ef_search');
  }
});
