// Shared helpers for the Node.js client tests.  The server comes from the
// libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE), which node-postgres
// reads too; the ORMs get it passed explicitly.

export function connectionConfig() {
  const c = {};
  if (process.env.PGHOST) c.host = process.env.PGHOST;
  if (process.env.PGPORT) c.port = Number(process.env.PGPORT);
  if (process.env.PGUSER) c.user = process.env.PGUSER;
  if (process.env.PGDATABASE) c.database = process.env.PGDATABASE;
  return c;
}

// A small seeded generator (xorshift32), so every run sees the same data.
export function rng(seed) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  return {
    u32: next,
    // float32 value in [-1, 1)
    unit: () => Math.fround(next() / 2 ** 31 - 1),
  };
}

export function randomVectors(r, count, dim) {
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => r.unit()));
}

// Finite float32 values spread over every exponent (uniform over bit
// patterns), negative zero left out: JSON, which the text form goes
// through, has no negative zero.
export function randomBitFloats(r, n) {
  const out = [];
  const buf = new DataView(new ArrayBuffer(4));
  while (out.length < n) {
    buf.setUint32(0, r.u32());
    const v = buf.getFloat32(0);
    if (Number.isFinite(v) && !Object.is(v, -0)) out.push(v);
  }
  return out;
}

export const SPECIAL = [
  0, 1.401298464324817e-45, -1.401298464324817e-45, 1.1754943508222875e-38,
  3.4028234663852886e38, -3.4028234663852886e38, Math.fround(0.1), Math.fround(1 / 3),
  1.0000001192092896, 0.9999999403953552, 16777216, 123456792, Math.fround(1e-30),
];

function distance(metric, a, b) {
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i];
    l2 += (a[i] - b[i]) ** 2;
  }
  if (metric === 'l2') return Math.sqrt(l2);
  if (metric === 'ip') return -dot;
  if (metric === 'cosine') return 1 - dot / Math.sqrt(na * nb);
  throw new Error(metric);
}

// The ids of the k nearest rows, in double precision from the float32
// values; refuses data whose k-th and (k+1)-th distances nearly tie (the
// server's float arithmetic might order them otherwise).
export function exactNeighbours(rows, query, k, metric = 'l2') {
  const scored = rows.map(([id, v]) => [id, distance(metric, v, query)]);
  scored.sort((x, y) => x[1] - y[1]);
  for (let i = 0; i < k; i++) {
    if (scored[i + 1][1] - scored[i][1] <= 1e-5) throw new Error('reference has near-ties; pick another seed');
  }
  return { ids: scored.slice(0, k).map((x) => x[0]), distances: scored.slice(0, k).map((x) => x[1]) };
}

// The documented binary form: uint16 dim, uint16 0, dim big-endian float4.
export function vectorToBinary(values) {
  const b = Buffer.alloc(4 + 4 * values.length);
  b.writeUInt16BE(values.length, 0);
  b.writeUInt16BE(0, 2);
  values.forEach((v, i) => b.writeFloatBE(v, 4 + 4 * i));
  return b;
}

export function vectorFromBinary(b) {
  const dim = b.readUInt16BE(0);
  if (b.readUInt16BE(2) !== 0) throw new Error('unused field is not 0');
  if (b.length !== 4 + 4 * dim) throw new Error(`length ${b.length} for ${dim} dimensions`);
  return Array.from({ length: dim }, (_, i) => b.readFloatBE(4 + 4 * i));
}

// Exact float32 equality, element by element (negative zero distinct).
export function sameFloat32(got, want) {
  if (got.length !== want.length) return false;
  return got.every((v, i) => Object.is(Math.fround(v), Math.fround(want[i])));
}
