// Sequelize with the pgvector package's sequelize helper (DataTypes.VECTOR,
// l2Distance, cosineDistance, maxInnerProduct): model sync creates the
// vector(3) column and an hnsw index declared on the model; exact nearest
// ids and round trips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sequelize, DataTypes } from 'sequelize';
import { l2Distance, cosineDistance, maxInnerProduct } from 'pgvector/sequelize';
import { connectionConfig, rng, randomVectors, SPECIAL, exactNeighbours, sameFloat32 } from './common.js';

const cfg = connectionConfig();
const sequelize = new Sequelize({
  dialect: 'postgres',
  host: cfg.host,
  port: cfg.port,
  username: cfg.user ?? process.env.USER,
  database: cfg.database ?? cfg.user ?? process.env.USER,
  logging: false,
  pool: { max: 1 },
});
const N = 1500, K = 10, DIM = 3;
let Item;
let data;

before(async () => {
  await sequelize.query('CREATE EXTENSION IF NOT EXISTS vector');
  Item = sequelize.define('Item', {
    embedding: { type: DataTypes.VECTOR(DIM) },
  }, {
    tableName: 'js_seq_items',
    timestamps: false,
    indexes: [
      { name: 'js_seq_items_embedding_l2', fields: ['embedding'], using: 'hnsw', operator: 'vector_l2_ops' },
      { name: 'js_seq_items_embedding_cos', fields: ['embedding'], using: 'hnsw', operator: 'vector_cosine_ops' },
    ],
  });
  await Item.drop();
  await Item.sync();
  const vectors = randomVectors(rng(31337), N, DIM);
  const rows = await Item.bulkCreate(vectors.map((v) => ({ embedding: v })), { returning: ['id'] });
  data = rows.map((x, i) => [x.id, vectors[i]]);
});

after(async () => {
  await Item.drop();
  await sequelize.close();
});

test('sync created the vector(3) column and the hnsw indexes', async () => {
  const [[col]] = await sequelize.query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'js_seq_items'::regclass AND attname = 'embedding'");
  assert.equal(col.t, 'vector(3)');
  const [idx] = await sequelize.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'js_seq_items' ORDER BY indexname");
  const defs = Object.fromEntries(idx.map((x) => [x.indexname, x.indexdef]));
  assert.match(defs.js_seq_items_embedding_l2, /USING hnsw \(embedding vector_l2_ops\)/);
  assert.match(defs.js_seq_items_embedding_cos, /USING hnsw \(embedding vector_cosine_ops\)/);
});

test('round trip is exact', async () => {
  const v = [SPECIAL[1], SPECIAL[4], SPECIAL[7]];
  const created = await Item.create({ embedding: v });
  const got = await Item.findByPk(created.id);
  assert.ok(Array.isArray(got.embedding));
  assert.ok(sameFloat32(got.embedding, v));
  const first = await Item.findAll({ where: { id: data.slice(0, 50).map((x) => x[0]) }, order: [['id', 'ASC']] });
  first.forEach((x, i) => assert.ok(sameFloat32(x.embedding, data[i][1])));
  await got.destroy();
});

test('nearest neighbours: exact ids for l2, cosine and inner product', async () => {
  const queries = randomVectors(rng(5), 4, DIM);
  const nearest = (fn, q, transaction) => Item.findAll({
    attributes: ['id'], order: fn('embedding', q, sequelize), limit: K, transaction,
  });
  await sequelize.transaction(async (t) => {
    await sequelize.query('SET LOCAL enable_indexscan = off', { transaction: t });
    for (const [fn, metric] of [[l2Distance, 'l2'], [cosineDistance, 'cosine'], [maxInnerProduct, 'ip']]) {
      for (const q of queries) {
        const rows = await nearest(fn, q, t);
        assert.deepEqual(rows.map((x) => x.id), exactNeighbours(data, q, K, metric).ids, metric);
      }
    }
  });
  await sequelize.transaction(async (t) => {
    await sequelize.query('SET LOCAL enable_seqscan = off', { transaction: t });
    await sequelize.query('SET LOCAL hnsw.ef_search = 100', { transaction: t });
    for (const [fn, metric, index] of [[l2Distance, 'l2', 'js_seq_items_embedding_l2'], [cosineDistance, 'cosine', 'js_seq_items_embedding_cos']]) {
      let sql = '';
      await Item.findAll({ attributes: ['id'], order: fn('embedding', queries[0], sequelize), limit: K, transaction: t, logging: (s) => { sql = s; } });
      const select = sql.replace(/^Executing \([^)]*\): /, '');
      const [plan] = await sequelize.query(`EXPLAIN (COSTS OFF) ${select}`, { transaction: t });
      assert.match(plan.map((x) => x['QUERY PLAN']).join('\n'), new RegExp(`Index Scan using ${index}`));
      for (const q of queries) {
        const rows = await nearest(fn, q, t);
        assert.deepEqual(rows.map((x) => x.id), exactNeighbours(data, q, K, metric).ids, metric);
      }
    }
  });
});
