// drizzle-orm with its native pg-core vector column and its distance
// helpers (l2Distance, cosineDistance, innerProduct): insert, select,
// order by distance; exact nearest ids and round trips; an hnsw index.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, vector, index, getTableConfig } from 'drizzle-orm/pg-core';
import { l2Distance, cosineDistance, innerProduct, sql, eq, inArray, asc } from 'drizzle-orm';
import { connectionConfig, rng, randomVectors, SPECIAL, exactNeighbours, sameFloat32 } from './common.js';

const items = pgTable('js_drizzle_items', {
  id: serial('id').primaryKey(),
  embedding: vector('embedding', { dimensions: 3 }),
}, (t) => [
  index('js_drizzle_items_embedding_l2').using('hnsw', t.embedding.op('vector_l2_ops')).with({ m: 16, ef_construction: 64 }),
  index('js_drizzle_items_embedding_ip').using('hnsw', t.embedding.op('vector_ip_ops')),
]);

const N = 1500, K = 10;
const client = new pg.Client(connectionConfig());
const db = drizzle({ client });
let data;

before(async () => {
  await client.connect();
  await db.execute(sql`CREATE EXTENSION IF NOT EXISTS vector`);
  await db.execute(sql`DROP TABLE IF EXISTS js_drizzle_items`);
  // drizzle-orm itself does not emit DDL (drizzle-kit does): the table
  // and the indexes declared above, written out
  await db.execute(sql`CREATE TABLE js_drizzle_items (id serial PRIMARY KEY, embedding vector(3))`);
  const vectors = randomVectors(rng(2718), N, 3);
  const ids = [];
  for (let s = 0; s < N; s += 500) {
    const rows = await db.insert(items).values(vectors.slice(s, s + 500).map((embedding) => ({ embedding })))
      .returning({ id: items.id });
    ids.push(...rows.map((x) => x.id));
  }
  data = ids.map((id, i) => [id, vectors[i]]);
  for (const ix of getTableConfig(items).indexes) {
    const { name, method, columns, with: opts } = ix.config;
    const cols = columns.map((c) => `${c.name} ${c.indexConfig.opClass}`).join(', ');
    const w = opts ? ` WITH (${Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join(', ')})` : '';
    await db.execute(sql.raw(`CREATE INDEX ${name} ON js_drizzle_items USING ${method} (${cols})${w}`));
  }
});

after(async () => {
  await db.execute(sql`DROP TABLE IF EXISTS js_drizzle_items`);
  await client.end();
});

test('column type and indexes', async () => {
  const col = await db.execute(sql`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'js_drizzle_items'::regclass AND attname = 'embedding'`);
  assert.equal(col.rows[0].t, 'vector(3)');
  assert.equal(items.embedding.getSQLType(), 'vector(3)');
  const idx = await db.execute(sql`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'js_drizzle_items'`);
  const defs = Object.fromEntries(idx.rows.map((x) => [x.indexname, x.indexdef]));
  assert.match(defs.js_drizzle_items_embedding_l2, /USING hnsw \(embedding vector_l2_ops\) WITH \(m='16', ef_construction='64'\)/);
  assert.match(defs.js_drizzle_items_embedding_ip, /USING hnsw \(embedding vector_ip_ops\)/);
});

test('round trip is exact', async () => {
  const v = [SPECIAL[4], SPECIAL[2], -SPECIAL[7]];
  const [{ id }] = await db.insert(items).values({ embedding: v }).returning({ id: items.id });
  const [row] = await db.select().from(items).where(eq(items.id, id));
  assert.ok(sameFloat32(row.embedding, v));
  const first = await db.select().from(items).where(inArray(items.id, data.slice(0, 50).map((x) => x[0]))).orderBy(asc(items.id));
  first.forEach((x, i) => assert.ok(sameFloat32(x.embedding, data[i][1])));
  await db.delete(items).where(eq(items.id, id));
});

test('nearest neighbours: exact ids for l2, cosine and inner product', async () => {
  const queries = randomVectors(rng(9), 4, 3);
  const helpers = [[l2Distance, 'l2', '<->'], [cosineDistance, 'cosine', '<=>'], [innerProduct, 'ip', '<#>']];
  const nearest = (fn, q) => db.select({ id: items.id, d: fn(items.embedding, q) })
    .from(items).orderBy(fn(items.embedding, q)).limit(K);
  await db.execute(sql`SET enable_indexscan = off`);
  try {
    for (const [fn, metric, op] of helpers) {
      assert.ok(nearest(fn, queries[0]).toSQL().sql.includes(`order by "js_drizzle_items"."embedding" ${op} $`));
      for (const q of queries) {
        const want = exactNeighbours(data, q, K, metric);
        const rows = await nearest(fn, q);
        assert.deepEqual(rows.map((x) => x.id), want.ids, metric);
        rows.forEach((x, i) => assert.ok(Math.abs(Number(x.d) - want.distances[i]) < 1e-5, metric));
      }
    }
  } finally {
    await db.execute(sql`RESET enable_indexscan`);
  }
  await db.execute(sql`SET enable_seqscan = off`);
  await db.execute(sql`SET hnsw.ef_search = 100`);
  try {
    for (const [fn, metric, index] of [[l2Distance, 'l2', 'js_drizzle_items_embedding_l2'], [innerProduct, 'ip', 'js_drizzle_items_embedding_ip']]) {
      const q = db.select({ id: items.id }).from(items).orderBy(fn(items.embedding, queries[0])).limit(K);
      const plan = await db.execute(sql`EXPLAIN (COSTS OFF) ${q}`);
      assert.match(plan.rows.map((x) => x['QUERY PLAN']).join('\n'), new RegExp(`Index Scan using ${index}`));
      for (const qq of queries) {
        assert.deepEqual((await nearest(fn, qq)).map((x) => x.id), exactNeighbours(data, qq, K, metric).ids, metric);
      }
    }
  } finally {
    await db.execute(sql`RESET enable_seqscan`);
    await db.execute(sql`RESET hnsw.ef_search`);
  }
});
