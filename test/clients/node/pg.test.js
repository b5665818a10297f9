// node-postgres with the pgvector package's pg helpers (registerTypes,
// toSql, fromSql): text round trips, binary parameters and results through
// our own binary codec, exact nearest neighbours with and without hnsw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import pgvector from 'pgvector/pg';
import { fromSql, toSql } from 'pgvector';
import {
  connectionConfig, rng, randomVectors, randomBitFloats, SPECIAL, exactNeighbours,
  vectorToBinary, vectorFromBinary, sameFloat32,
} from './common.js';

let client;

before(async () => {
  client = new pg.Client(connectionConfig());
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await pgvector.registerTypes(client);
  for (const t of ['js_pg_items', 'js_pg_round', 'js_pg_nn']) await client.query(`DROP TABLE IF EXISTS ${t}`);
});

after(async () => {
  for (const t of ['js_pg_items', 'js_pg_round', 'js_pg_nn']) await client.query(`DROP TABLE IF EXISTS ${t}`);
  await client.end();
});

test('registerTypes parses vector results; toSql/fromSql agree with the server', async () => {
  await client.query('CREATE TABLE js_pg_items (id int PRIMARY KEY, embedding vector(3))');
  await client.query('INSERT INTO js_pg_items VALUES (1, $1), (2, $2), (3, NULL)',
    [toSql([1, 2.5, -3]), toSql([0.1, 1e-45, 3.4028234663852886e38])]);
  const { rows } = await client.query('SELECT id, embedding, embedding::text AS t FROM js_pg_items ORDER BY id');
  assert.deepEqual(rows[0].embedding, [1, 2.5, -3]);
  assert.equal(rows[0].t, '[1,2.5,-3]');
  assert.equal(rows[1].t, '[0.1,1e-45,3.4028235e+38]');
  assert.ok(sameFloat32(rows[1].embedding, [0.1, 1e-45, 3.4028234663852886e38]));
  assert.equal(rows[2].embedding, null);
  assert.deepEqual(fromSql(rows[0].t), [1, 2.5, -3]);
  // the deprecated registerType() still registers the parser
  const old = new pg.Client(connectionConfig());
  await old.connect();
  try {
    await pgvector.registerType(old);
    assert.deepEqual((await old.query("SELECT '[4,5,6]'::vector AS v")).rows[0].v, [4, 5, 6]);
  } finally {
    await old.end();
  }
  // typmod and input errors reach the client as errors with the documented wording
  await assert.rejects(client.query('INSERT INTO js_pg_items VALUES (4, $1)', [toSql([1, 2])]),
    /expected 3 dimensions, not 2/);
  await assert.rejects(client.query('SELECT $1::vector', ['[1,NaN]']), /NaN not allowed in vector|invalid input syntax/);
  // distances are double precision: pg returns numbers
  const d = (await client.query('SELECT embedding <-> $1 AS d FROM js_pg_items WHERE id = 1',
    [toSql([1, 2.5, 1])])).rows[0].d;
  assert.equal(d, 4);
});

test('text and binary round trips are exact', async () => {
  const r = rng(12345);
  const vectors = [SPECIAL, randomBitFloats(r, 1000), randomVectors(r, 1, 16000)[0]];
  await client.query('CREATE TABLE js_pg_round (id int PRIMARY KEY, embedding vector)');
  for (const [i, v] of vectors.entries()) {
    await client.query('INSERT INTO js_pg_round VALUES ($1, $2)', [i, toSql(v)]);
  }
  // text results through pgvector's parser
  let { rows } = await client.query('SELECT id, embedding FROM js_pg_round ORDER BY id');
  for (const [i, v] of vectors.entries()) assert.ok(sameFloat32(rows[i].embedding, v), `text row ${i}`);

  // binary parameters: node-postgres sends Buffers in binary format (recv)
  const withZero = [-0, 0, -1.401298464324817e-45, ...SPECIAL];
  await client.query('INSERT INTO js_pg_round VALUES ($1, $2)', [100, vectorToBinary(withZero)]);
  assert.equal((await client.query('SELECT embedding::text AS t FROM js_pg_round WHERE id = 100')).rows[0].t.slice(0, 10),
    '[-0,0,-1e-');

  // every row, text form back through pgvector's parser, including the
  // binary-inserted one (negative zero survives)
  ({ rows } = await client.query('SELECT id, embedding FROM js_pg_round ORDER BY id'));
  for (const [i, v] of [...vectors, withZero].entries()) assert.ok(sameFloat32(rows[i].embedding, v), `row ${i}`);
  assert.ok(Object.is(rows[3].embedding[0], -0));

  // binary results are out of node-postgres's reach (its protocol parser
  // decodes every field as UTF-8), so the send output is checked through
  // the type's send function: exactly the documented layout
  ({ rows } = await client.query('SELECT id, vector_send(embedding) AS b FROM js_pg_round ORDER BY id'));
  for (const [i, v] of [...vectors, withZero].entries()) {
    assert.ok(rows[i].b.equals(vectorToBinary(v)), `send bytes of row ${i}`);
    assert.ok(sameFloat32(vectorFromBinary(rows[i].b), v));
  }

  // recv rejects malformed binary input cleanly
  const nan = vectorToBinary([1, NaN]);
  await assert.rejects(client.query('SELECT $1::vector', [nan]), /NaN not allowed in vector/);
  await assert.rejects(client.query('SELECT $1::vector', [Buffer.from([0, 0, 0, 0])]),
    /vector must have at least 1 dimension/);
  await assert.rejects(client.query('SELECT $1::vector', [Buffer.from([0, 2, 0, 0, 0, 0, 0, 0])]));
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('nearest neighbours: exact ids, seq scan and hnsw', async () => {
  const r = rng(777);
  const n = 2000, dim = 16, k = 10;
  const data = randomVectors(r, n, dim).map((v, i) => [i + 1, v]);
  await client.query(`CREATE TABLE js_pg_nn (id int PRIMARY KEY, embedding vector(${dim}))`);
  // one multi-row INSERT per 500 rows
  for (let s = 0; s < n; s += 500) {
    const chunk = data.slice(s, s + 500);
    const params = chunk.flatMap(([id, v]) => [id, toSql(v)]);
    const values = chunk.map((_, j) => `($${2 * j + 1}, $${2 * j + 2})`).join(', ');
    await client.query(`INSERT INTO js_pg_nn VALUES ${values}`, params);
  }
  const queries = randomVectors(r, 4, dim);
  const ops = { l2: '<->', ip: '<#>', cosine: '<=>' };
  const knn = async (op, q) => (await client.query(
    `SELECT id, embedding ${op} $1 AS d FROM js_pg_nn ORDER BY d LIMIT ${k}`, [toSql(q)])).rows;

  for (const [metric, op] of Object.entries(ops)) {
    for (const q of queries) {
      const want = exactNeighbours(data, q, k, metric);
      const rows = await knn(op, q);
      assert.deepEqual(rows.map((x) => x.id), want.ids, metric);
      rows.forEach((x, i) => assert.ok(Math.abs(x.d - want.distances[i]) < 1e-5, `${metric} distance`));
    }
  }

  await client.query('CREATE INDEX js_pg_nn_l2 ON js_pg_nn USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)');
  await client.query('CREATE INDEX js_pg_nn_ip ON js_pg_nn USING hnsw (embedding vector_ip_ops)');
  await client.query('CREATE INDEX js_pg_nn_cos ON js_pg_nn USING hnsw (embedding vector_cosine_ops)');
  await client.query('SET enable_seqscan = off');
  await client.query('SET hnsw.ef_search = 200');
  try {
    for (const [metric, op] of Object.entries(ops)) {
      const plan = (await client.query(`EXPLAIN (COSTS OFF) SELECT id FROM js_pg_nn ORDER BY embedding ${op} $1 LIMIT ${k}`,
        [toSql(queries[0])])).rows.map((x) => x['QUERY PLAN']).join('\n');
      assert.match(plan, new RegExp(`Index Scan using js_pg_nn_${metric === 'cosine' ? 'cos' : metric} on js_pg_nn`));
      for (const q of queries) {
        assert.deepEqual((await knn(op, q)).map((x) => x.id), exactNeighbours(data, q, k, metric).ids, metric);
      }
    }
  } finally {
    await client.query('RESET enable_seqscan');
    await client.query('RESET hnsw.ef_search');
  }
});
