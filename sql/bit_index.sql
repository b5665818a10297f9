-- hnsw bit_hamming_ops and bit_jaccard_ops, ivfflat bit_hamming_ops: each
-- against its seq scan (distances compared: Hamming distances tie often),
-- the binary quantization + re-rank pattern, and the limits.
\set VERBOSITY terse
CREATE TABLE bv (id int, v vector(24), b bit(24));
INSERT INTO bv SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.1) FROM generate_series(1, 24) j)::real[]
FROM generate_series(1, 2000) i;
UPDATE bv SET b = binary_quantize(v)::bit(24);

CREATE FUNCTION same_bits(am text, op text, opclass text, setting text, opts text DEFAULT '') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  q text := 'B''101101110001011010011100''';
  exact numeric[];
  got numeric[];
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT b %s %s AS d FROM bv ORDER BY b %s %s LIMIT 10) s',
                 op, q, op, q) INTO exact;
  EXECUTE format('CREATE INDEX bv_idx ON bv USING %s (b %s) %s', am, opclass, opts);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  EXECUTE setting;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT b %s %s AS d FROM bv ORDER BY b %s %s LIMIT 10) s',
                 op, q, op, q) INTO got;
  EXECUTE 'DROP INDEX bv_idx';
  RETURN CASE WHEN exact = got THEN 'same' ELSE format('differs: %s vs %s', exact, got) END;
END $$;
SELECT same_bits('hnsw', '<~>', 'bit_hamming_ops', 'SET LOCAL hnsw.ef_search = 400') AS hnsw_hamming,
       same_bits('hnsw', '<%>', 'bit_jaccard_ops', 'SET LOCAL hnsw.ef_search = 400') AS hnsw_jaccard,
       same_bits('ivfflat', '<~>', 'bit_hamming_ops', 'SET LOCAL ivfflat.probes = 10', 'WITH (lists = 10)') AS ivfflat_hamming;

-- the plan uses the index
CREATE INDEX bv_h ON bv USING hnsw (b bit_hamming_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bv ORDER BY b <~> B'101101110001011010011100' LIMIT 5;
DROP INDEX bv_h;

-- binary quantization on an expression index, then re-rank by the exact distance
CREATE INDEX bv_q ON bv USING hnsw ((binary_quantize(v)::bit(24)) bit_hamming_ops);
EXPLAIN (COSTS OFF)
SELECT id FROM (
  SELECT id, v FROM bv ORDER BY binary_quantize(v)::bit(24) <~> binary_quantize('[1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1]'::vector(24)) LIMIT 50
) c ORDER BY v <-> '[1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1]' LIMIT 5;
SET hnsw.ef_search = 100;
SELECT count(*) AS reranked FROM (
  SELECT id FROM (
    SELECT id, v FROM bv ORDER BY binary_quantize(v)::bit(24) <~> binary_quantize('[1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1]'::vector(24)) LIMIT 50
  ) c ORDER BY v <-> '[1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1]' LIMIT 5) s;
RESET hnsw.ef_search;
RESET enable_seqscan;
DROP INDEX bv_q;

-- limits: 64,000 bits indexable, one more is not; a length mismatch is an error
CREATE TABLE wide (b bit(64000));
CREATE INDEX ON wide USING hnsw (b bit_hamming_ops);
CREATE TABLE wider (b bit(64001));
CREATE INDEX ON wider USING hnsw (b bit_hamming_ops);
CREATE INDEX ON wider USING ivfflat (b bit_hamming_ops);
CREATE TABLE varying (b bit varying(8));
CREATE INDEX ON varying USING hnsw (b bit_hamming_ops);
CREATE INDEX bv_h ON bv USING hnsw (b bit_hamming_ops);
INSERT INTO bv (id, b) VALUES (0, B'101');
SET enable_seqscan = off;
SELECT id FROM bv ORDER BY b <~> B'101' LIMIT 1;
RESET enable_seqscan;
SELECT * FROM vector_index_check('bv_h');
DROP TABLE bv, wide, wider, varying;
DROP FUNCTION same_bits;

-- varbit is binary-coercible to bit, but its values need not share a
-- length: neither index takes it, even without a typmod (pgvector's message
-- comes before the one about dimensions)
CREATE TABLE vb (b varbit);
CREATE INDEX ON vb USING hnsw (b bit_hamming_ops);
CREATE INDEX ON vb USING ivfflat (b bit_hamming_ops) WITH (lists = 1);
DROP TABLE vb;
