-- Right answers whatever the planner does with our indexes:
--  * ORDER BY col <op> NULL returns rows through the index, as a sequential
--    scan does (every distance is NULL): LIMIT rows, and as many rows without
--    a LIMIT as the zero vector's query (the index walks as if it were the
--    query).  Before, the index returned no rows at all.
--  * A path without ORDER BY never wins (it would return only the rows the
--    search finds), even with enable_seqscan off.
SELECT setseed(0.13);
SET enable_seqscan = off;
SET hnsw.iterative_scan = off;
SET ivfflat.probes = 1;

CREATE TABLE nq_vector (id int, v vector(3));
INSERT INTO nq_vector SELECT i, ARRAY[random(), random(), random()] FROM generate_series(1, 300) i;
CREATE TABLE nq_halfvec (id int, v halfvec(3));
INSERT INTO nq_halfvec SELECT id, v::halfvec FROM nq_vector;
CREATE TABLE nq_sparsevec (id int, v sparsevec(3));
INSERT INTO nq_sparsevec SELECT id, v::sparsevec FROM nq_vector;
CREATE TABLE nq_bit (id int, v bit(8));
INSERT INTO nq_bit SELECT i, (random() * 255)::int::bit(8) FROM generate_series(1, 300) i;

CREATE INDEX ON nq_vector USING hnsw (v vector_l2_ops);
CREATE INDEX ON nq_vector USING hnsw (v vector_ip_ops);
CREATE INDEX ON nq_vector USING hnsw (v vector_cosine_ops);
CREATE INDEX ON nq_vector USING hnsw (v vector_l1_ops);
CREATE INDEX ON nq_halfvec USING hnsw (v halfvec_l2_ops);
CREATE INDEX ON nq_halfvec USING hnsw (v halfvec_ip_ops);
CREATE INDEX ON nq_halfvec USING hnsw (v halfvec_cosine_ops);
CREATE INDEX ON nq_halfvec USING hnsw (v halfvec_l1_ops);
CREATE INDEX ON nq_sparsevec USING hnsw (v sparsevec_l2_ops);
CREATE INDEX ON nq_sparsevec USING hnsw (v sparsevec_ip_ops);
CREATE INDEX ON nq_sparsevec USING hnsw (v sparsevec_cosine_ops);
CREATE INDEX ON nq_sparsevec USING hnsw (v sparsevec_l1_ops);
CREATE INDEX ON nq_bit USING hnsw (v bit_hamming_ops);
CREATE INDEX ON nq_bit USING hnsw (v bit_jaccard_ops);
ANALYZE nq_vector, nq_halfvec, nq_sparsevec, nq_bit;

-- the plan is the index's
EXPLAIN (COSTS OFF) SELECT id FROM nq_vector ORDER BY v <-> (SELECT NULL::vector) LIMIT 10;

-- For each table and operator: rows with LIMIT 10, rows without a LIMIT for
-- a NULL query and for the zero vector (the same), and whether the plan used
-- the index.
CREATE FUNCTION nq_check(tbl text, typ text, zero text, op text)
RETURNS TABLE (tbl_ text, op_ text, with_limit bigint, more_without_limit boolean, same_as_zero boolean, index_used boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q text;
	plan text;
	z bigint;
	null_rows bigint;
BEGIN
	tbl_ := tbl; op_ := op;
	q := format('SELECT id FROM %I ORDER BY v %s (SELECT NULL::%s)', tbl, op, typ);
	EXECUTE format('SELECT count(*) FROM (%s LIMIT 10) s', q) INTO with_limit;
	EXECUTE format('SELECT count(*) FROM (%s) s', q) INTO null_rows;
	EXECUTE format('SELECT count(*) FROM (SELECT id FROM %I ORDER BY v %s %L::%s) s', tbl, op, zero, typ) INTO z;
	same_as_zero := null_rows = z;
	more_without_limit := null_rows > 10;
	index_used := true;
	FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q || ' LIMIT 10' LOOP
		IF plan LIKE '%Seq Scan%' THEN index_used := false; END IF;
	END LOOP;
	RETURN NEXT;
END $$;

SELECT c.* FROM (VALUES
	('nq_vector', 'vector', '[0,0,0]', '<->'), ('nq_vector', 'vector', '[0,0,0]', '<#>'),
	('nq_vector', 'vector', '[0,0,0]', '<=>'), ('nq_vector', 'vector', '[0,0,0]', '<+>'),
	('nq_halfvec', 'halfvec', '[0,0,0]', '<->'), ('nq_halfvec', 'halfvec', '[0,0,0]', '<#>'),
	('nq_halfvec', 'halfvec', '[0,0,0]', '<=>'), ('nq_halfvec', 'halfvec', '[0,0,0]', '<+>'),
	('nq_sparsevec', 'sparsevec', '{}/3', '<->'), ('nq_sparsevec', 'sparsevec', '{}/3', '<#>'),
	('nq_sparsevec', 'sparsevec', '{}/3', '<=>'), ('nq_sparsevec', 'sparsevec', '{}/3', '<+>'),
	('nq_bit', 'bit(8)', '00000000', '<~>'), ('nq_bit', 'bit(8)', '00000000', '<%>')
) AS a(t, typ, zero, op), nq_check(a.t, a.typ, a.zero, a.op) c;

-- iterative scans reach every row for a NULL query too
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM nq_vector ORDER BY v <-> (SELECT NULL::vector)) s;
SELECT count(*) FROM (SELECT id FROM nq_bit ORDER BY v <~> (SELECT NULL::bit(8))) s;
RESET hnsw.iterative_scan;

-- the same through ivfflat (no l1 or sparsevec opclasses there)
DROP INDEX nq_vector_v_idx, nq_vector_v_idx1, nq_vector_v_idx2, nq_halfvec_v_idx,
	nq_halfvec_v_idx1, nq_halfvec_v_idx2, nq_bit_v_idx;
CREATE INDEX ON nq_vector USING ivfflat (v vector_l2_ops) WITH (lists = 10);
CREATE INDEX ON nq_vector USING ivfflat (v vector_ip_ops) WITH (lists = 10);
CREATE INDEX ON nq_vector USING ivfflat (v vector_cosine_ops) WITH (lists = 10);
CREATE INDEX ON nq_halfvec USING ivfflat (v halfvec_l2_ops) WITH (lists = 10);
CREATE INDEX ON nq_halfvec USING ivfflat (v halfvec_ip_ops) WITH (lists = 10);
CREATE INDEX ON nq_halfvec USING ivfflat (v halfvec_cosine_ops) WITH (lists = 10);
CREATE INDEX ON nq_bit USING ivfflat (v bit_hamming_ops) WITH (lists = 10);
EXPLAIN (COSTS OFF) SELECT id FROM nq_vector ORDER BY v <-> (SELECT NULL::vector) LIMIT 10;
SELECT c.* FROM (VALUES
	('nq_vector', 'vector', '[0,0,0]', '<->'), ('nq_vector', 'vector', '[0,0,0]', '<#>'),
	('nq_vector', 'vector', '[0,0,0]', '<=>'),
	('nq_halfvec', 'halfvec', '[0,0,0]', '<->'), ('nq_halfvec', 'halfvec', '[0,0,0]', '<#>'),
	('nq_halfvec', 'halfvec', '[0,0,0]', '<=>'),
	('nq_bit', 'bit(8)', '00000000', '<~>')
) AS a(t, typ, zero, op), nq_check(a.t, a.typ, a.zero, a.op) c;
SET ivfflat.probes = 10;
SELECT count(*) FROM (SELECT id FROM nq_vector ORDER BY v <-> (SELECT NULL::vector)) s;
RESET ivfflat.probes;

-- No ORDER BY: a partial index's predicate is not a reason to scan it, with
-- or without enable_seqscan (an index-only scan of it returned 0 rows).
CREATE TABLE tb (id int, cat int, v vector(3));
INSERT INTO tb SELECT i, i % 3, ARRAY[random(), random(), random()] FROM generate_series(1, 1000) i;
CREATE INDEX tb_h ON tb USING hnsw (v vector_l2_ops) WHERE cat = 1;
CREATE INDEX tb_i ON tb USING ivfflat (v vector_l2_ops) WITH (lists = 5) WHERE cat = 2;
ANALYZE tb;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tb WHERE cat = 1;
SELECT count(*) FROM tb WHERE cat = 1;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tb WHERE cat = 2;
SELECT count(*) FROM tb WHERE cat = 2;
SET enable_indexscan = off;
SELECT count(*) FROM tb WHERE cat = 1;
SELECT count(*) FROM tb;
RESET enable_indexscan;
RESET enable_bitmapscan;
-- the index still serves its ORDER BY
EXPLAIN (COSTS OFF) SELECT id FROM tb WHERE cat = 1 ORDER BY v <-> '[1,1,1]' LIMIT 5;

DROP TABLE nq_vector, nq_halfvec, nq_sparsevec, nq_bit, tb;
DROP FUNCTION nq_check;
RESET enable_seqscan;
RESET hnsw.iterative_scan;
RESET ivfflat.probes;
