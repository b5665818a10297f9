-- test/switch/setup.sql: a database built on pgvector, with every type
-- (vector, halfvec, sparsevec, bit), hnsw and ivfflat indexes of every
-- operator class, and the tables and functions the switch test records its
-- expectations in.  Those travel with the database (dump and restore, or
-- in place), so the checks after the switch compare against what pgvector
-- answered.
--
-- Every coordinate is a multiple of 1/8 below 4 in magnitude: exact in
-- float32 and float16, so that l2, inner product and l1 sums are exact in
-- any order of summation, and pgvector and vector must agree to the bit
-- (cosine, a quotient of square roots, to a rounding).
\set ON_ERROR_STOP on
CREATE EXTENSION vector;
SELECT setseed(0.17);

CREATE TABLE base (id int PRIMARY KEY, v vector(16), h halfvec(16), s sparsevec(64), b bit(64));
INSERT INTO base
SELECT i,
	CASE WHEN i % 97 = 0 THEN NULL ELSE
		(SELECT array_agg(floor(random() * 64 - 32) / 8 ORDER BY g) FROM generate_series(1, 16) g WHERE i > 0)::vector END,
	(SELECT array_agg(floor(random() * 64 - 32) / 8 ORDER BY g) FROM generate_series(1, 16) g WHERE i > 0)::halfvec,
	(SELECT ('{' || string_agg(k || ':' || ((floor(random() * 31) + 1) * (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END) / 8), ',' ORDER BY k) || '}/64')
		FROM (SELECT DISTINCT (floor(random() * 64) + 1)::int AS k FROM generate_series(1, 8) g WHERE i > 0) ks)::sparsevec,
	(SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '') FROM generate_series(1, 64) g WHERE i > 0)::bit(64)
FROM generate_series(1, 2000) i;

-- One table per access method, each (column, operator) served by exactly one index.
CREATE TABLE items_hnsw (LIKE base INCLUDING ALL, note text DEFAULT 'hnsw');
INSERT INTO items_hnsw SELECT * FROM base;
CREATE INDEX hnsw_v_l2 ON items_hnsw USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 40);
CREATE INDEX hnsw_v_ip ON items_hnsw USING hnsw (v vector_ip_ops);
CREATE INDEX hnsw_v_cos ON items_hnsw USING hnsw (v vector_cosine_ops);
CREATE INDEX hnsw_v_l1 ON items_hnsw USING hnsw (v vector_l1_ops);
CREATE INDEX hnsw_h_l2 ON items_hnsw USING hnsw (h halfvec_l2_ops);
CREATE INDEX hnsw_h_cos ON items_hnsw USING hnsw (h halfvec_cosine_ops);
CREATE INDEX hnsw_s_l2 ON items_hnsw USING hnsw (s sparsevec_l2_ops);
CREATE INDEX hnsw_s_ip ON items_hnsw USING hnsw (s sparsevec_ip_ops);
CREATE INDEX hnsw_b_ham ON items_hnsw USING hnsw (b bit_hamming_ops);
CREATE INDEX hnsw_b_jac ON items_hnsw USING hnsw (b bit_jaccard_ops);
CREATE INDEX hnsw_bq ON items_hnsw USING hnsw ((binary_quantize(v)::bit(16)) bit_hamming_ops);

CREATE TABLE items_ivf (LIKE base INCLUDING ALL, note text DEFAULT 'ivfflat');
INSERT INTO items_ivf SELECT * FROM base;
CREATE INDEX ivf_v_l2 ON items_ivf USING ivfflat (v vector_l2_ops) WITH (lists = 8);
CREATE INDEX ivf_v_ip ON items_ivf USING ivfflat (v vector_ip_ops) WITH (lists = 8);
CREATE INDEX ivf_v_cos ON items_ivf USING ivfflat (v vector_cosine_ops) WITH (lists = 8);
CREATE INDEX ivf_h_l2 ON items_ivf USING ivfflat (h halfvec_l2_ops) WITH (lists = 8);
CREATE INDEX ivf_h_ip ON items_ivf USING ivfflat (h halfvec_ip_ops) WITH (lists = 8);
CREATE INDEX ivf_b_ham ON items_ivf USING ivfflat (b bit_hamming_ops) WITH (lists = 8);
DROP TABLE base;

-- a view and a column default over the types, as applications have
CREATE VIEW near_origin AS
	SELECT id, v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' AS d FROM items_hnsw WHERE v IS NOT NULL;
ALTER TABLE items_ivf ADD COLUMN zero vector(3) DEFAULT '[0,0,0]';


-- which index serves each (table, column, operator)
CREATE TABLE index_probes (idx text, tbl text, col text, op text);
INSERT INTO index_probes VALUES
	('hnsw_v_l2', 'items_hnsw', 'v', '<->'), ('hnsw_v_ip', 'items_hnsw', 'v', '<#>'),
	('hnsw_v_cos', 'items_hnsw', 'v', '<=>'), ('hnsw_v_l1', 'items_hnsw', 'v', '<+>'),
	('hnsw_h_l2', 'items_hnsw', 'h', '<->'), ('hnsw_h_cos', 'items_hnsw', 'h', '<=>'),
	('hnsw_s_l2', 'items_hnsw', 's', '<->'), ('hnsw_s_ip', 'items_hnsw', 's', '<#>'),
	('hnsw_b_ham', 'items_hnsw', 'b', '<~>'), ('hnsw_b_jac', 'items_hnsw', 'b', '<%>'),
	('hnsw_bq', 'items_hnsw', 'binary_quantize(v)::bit(16)', '<~>'),
	('ivf_v_l2', 'items_ivf', 'v', '<->'), ('ivf_v_ip', 'items_ivf', 'v', '<#>'),
	('ivf_v_cos', 'items_ivf', 'v', '<=>'), ('ivf_h_l2', 'items_ivf', 'h', '<->'),
	('ivf_h_ip', 'items_ivf', 'h', '<#>'), ('ivf_b_ham', 'items_ivf', 'b', '<~>');

-- the queries: each (table, column, operator) at four rows' own values
CREATE TABLE probes AS
	SELECT tbl, col, op, qid FROM index_probes, (VALUES (7), (333), (1234), (1999)) q(qid);

CREATE TABLE results (phase text, tbl text, col text, op text, qid int, rank int, id int, dist float8);
CREATE TABLE checksums (phase text, tbl text, n bigint, text_md5 text, bin_md5 text);

-- record_results(phase, use_index): the 10 nearest rows of every probe, by
-- the indexes (hnsw.ef_search 100, ivfflat probing every list: exact) or
-- by a sequential scan and a sort
CREATE FUNCTION record_results(phase text, use_index bool) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	p record;
BEGIN
	PERFORM set_config('enable_seqscan', (NOT use_index)::text, true);
	PERFORM set_config('enable_indexscan', use_index::text, true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	PERFORM set_config('hnsw.ef_search', '100', true);
	PERFORM set_config('ivfflat.probes', '8', true);
	DELETE FROM results r WHERE r.phase = record_results.phase;
	FOR p IN SELECT * FROM probes LOOP
		EXECUTE format('INSERT INTO results SELECT %L, %L, %L, %L, %s, row_number() OVER (ORDER BY d, id), id, d
			FROM (SELECT id, (%s %s (SELECT %s FROM %I WHERE id = %s))::float8 AS d FROM %I
				ORDER BY %s %s (SELECT %s FROM %I WHERE id = %s) LIMIT 10) r',
			phase, p.tbl, p.col, p.op, p.qid,
			p.col, p.op, p.col, p.tbl, p.qid, p.tbl,
			p.col, p.op, p.col, p.tbl, p.qid);
	END LOOP;
	RETURN (SELECT count(*) FROM results r WHERE r.phase = record_results.phase);
END $$;

-- record_checksums(phase): every row of both tables, as text and as the
-- types' binary send format
CREATE FUNCTION record_checksums(phase text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	t text;
BEGIN
	DELETE FROM checksums c WHERE c.phase = record_checksums.phase;
	FOREACH t IN ARRAY ARRAY['items_hnsw', 'items_ivf'] LOOP
		EXECUTE format('INSERT INTO checksums SELECT %L, %L, count(*),
			md5(string_agg(t::text, ''|'' ORDER BY id)),
			md5(string_agg(coalesce(vector_send(v)::text, ''-'') || halfvec_send(h)::text
				|| sparsevec_send(s)::text || b::text, ''|'' ORDER BY id))
			FROM %I t', phase, t, t);
	END LOOP;
END $$;
