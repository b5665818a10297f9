-- hnsw with codes (format version 2, option bits): the graph is walked on
-- RaBitQ codes, the scan ranks its candidates by the exact distances of
-- their heap rows, read in the order of lower bounds of the distances
-- (hnswscan.c, deliver), and the rows must come back in exact order.
--
-- A bound above the exact distance, or a batch not sorted by its bounds,
-- hands a row out before a nearer one, which `ordered` catches; a code
-- scored against the wrong query or a broken decode shows in `recall_ok`.
SET enable_seqscan = off;
SELECT setseed(0.21);
-- inserts draw their levels from a fixed sequence, so that the recall figures repeat
SET hnsw.test_level_seed = 7;

CREATE TABLE codes_t (id int PRIMARY KEY, v vector(24), h halfvec(24));
INSERT INTO codes_t
SELECT i, a::vector, a::halfvec
FROM (SELECT i, ARRAY(SELECT (random() - 0.3) * (1 + (i % 5)) + 0 * i FROM generate_series(1, 24)) a
	  FROM generate_series(1, 2000) i) s;
CREATE TABLE codes_q AS SELECT id, v, h FROM codes_t WHERE id % 97 = 1;
UPDATE codes_q SET v = v + '[0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05]',
	h = (v + '[0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05]')::halfvec;

-- For each query: the index's 40 rows in the order they came, whether
-- their distances rise, and how many of the true 10 nearest are among the
-- first 10 (the truth by a sequential scan).
CREATE FUNCTION codes_check(col text, op text, minrecall float8, tab text DEFAULT 'codes_t')
RETURNS TABLE (ordered bool, recall_ok bool, rows_ok bool) AS $$
DECLARE
	q record;
	ids int[];
	ds float8[];
	truth int[];
	hits int := 0;
	total int := 0;
	ord bool := true;
	full_rows bool := true;
BEGIN
	FOR q IN SELECT id, v, h FROM codes_q ORDER BY id LOOP
		PERFORM set_config('enable_indexscan', 'off', true);
		PERFORM set_config('enable_seqscan', 'on', true);
		IF col = 'v' THEN
			EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %I ORDER BY v %s $1, id LIMIT 10) s', tab, op)
				INTO truth USING q.v;
		ELSE
			EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %I ORDER BY h %s $1, id LIMIT 10) s', tab, op)
				INTO truth USING q.h;
		END IF;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_seqscan', 'off', true);
		IF col = 'v' THEN
			EXECUTE format('SELECT array_agg(id), array_agg(d) FROM (SELECT id, v %1$s $1 AS d FROM %2$I ORDER BY v %1$s $1 LIMIT 40) s', op, tab)
				INTO ids, ds USING q.v;
		ELSE
			EXECUTE format('SELECT array_agg(id), array_agg(d) FROM (SELECT id, h %1$s $1 AS d FROM %2$I ORDER BY h %1$s $1 LIMIT 40) s', op, tab)
				INTO ids, ds USING q.h;
		END IF;
		ord := ord AND ds = (SELECT array_agg(x ORDER BY x) FROM unnest(ds) x);
		full_rows := full_rows AND cardinality(ids) = 40;
		hits := hits + (SELECT count(*) FROM unnest(ids[1:10]) x WHERE x = ANY (truth));
		total := total + 10;
	END LOOP;
	IF hits::float8 / total < minrecall THEN
		RAISE NOTICE '% %: recall % below %', col, op, hits::float8 / total, minrecall;
	END IF;
	RETURN QUERY SELECT ord, hits::float8 / total >= minrecall, full_rows;
END
$$ LANGUAGE plpgsql;

-- every metric with codes, on vector and halfvec, at 1, 2, 4 and 8 bits
-- (and with a re-ranking code of rerank bits, which the scan reads rows in the order of)
CREATE FUNCTION codes_all(bits int, minrecall float8, rerank int DEFAULT 0)
RETURNS TABLE (opclass text, ordered bool, recall_ok bool, rows_ok bool) AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM (VALUES ('v', 'vector_l2_ops', '<->'), ('v', 'vector_ip_ops', '<#>'),
			('v', 'vector_cosine_ops', '<=>'), ('h', 'halfvec_l2_ops', '<->'),
			('h', 'halfvec_ip_ops', '<#>'), ('h', 'halfvec_cosine_ops', '<=>')) x(col, opc, op) LOOP
		EXECUTE format('CREATE INDEX codes_idx ON codes_t USING hnsw (%I %s) WITH (bits = %s, rerank_bits = %s)',
					   c.col, c.opc, bits, rerank);
		RETURN QUERY SELECT c.opc, r.* FROM codes_check(c.col, c.op, minrecall) r;
		DROP INDEX codes_idx;
	END LOOP;
END
$$ LANGUAGE plpgsql;

SELECT * FROM codes_all(4, 0.95);
SELECT * FROM codes_all(2, 0.9);
SELECT * FROM codes_all(1, 0.8);
SELECT * FROM codes_all(8, 0.95);
SELECT * FROM codes_all(1, 0.8, 4);
SELECT * FROM codes_all(2, 0.9, 8);

-- smaller than one holding the vectors (at 24 dimensions the links are most of a node)
CREATE INDEX codes_floats ON codes_t USING hnsw (v vector_l2_ops);
CREATE INDEX codes_4 ON codes_t USING hnsw (v vector_l2_ops) WITH (bits = 4);
SELECT pg_relation_size('codes_4') < pg_relation_size('codes_floats') AS smaller;
DROP INDEX codes_floats;
SELECT * FROM vector_index_check('codes_4');
CREATE INDEX codes_h4 ON codes_t USING hnsw (h halfvec_cosine_ops) WITH (bits = 4);
CREATE INDEX codes_r ON codes_t USING hnsw (v vector_ip_ops) WITH (bits = 1, rerank_bits = 4);

-- inserts (through the codes the build made) and VACUUM's repairs
INSERT INTO codes_t
SELECT i, a::vector, a::halfvec
FROM (SELECT i, ARRAY(SELECT (random() - 0.3) * (1 + (i % 5)) + 0 * i FROM generate_series(1, 24)) a
	  FROM generate_series(2001, 3000) i) s;
SELECT * FROM codes_check('v', '<->', 0.93);
SELECT * FROM codes_check('h', '<=>', 0.93);
SELECT * FROM codes_check('v', '<#>', 0.8);
DELETE FROM codes_t WHERE id % 3 = 0;
VACUUM codes_t;
SELECT * FROM codes_check('v', '<->', 0.95);
SELECT * FROM codes_check('h', '<=>', 0.95);
SELECT * FROM codes_check('v', '<#>', 0.8);
SELECT * FROM vector_index_check('codes_4');
SELECT * FROM vector_index_check('codes_h4');
SELECT * FROM vector_index_check('codes_r');
DROP INDEX codes_h4, codes_r;
-- exact duplicates share a chain: each comes back with its own row
INSERT INTO codes_t SELECT 10000 + i, v, h FROM codes_t, generate_series(1, 5) i WHERE id = 1;
SELECT count(*) FROM (SELECT id FROM codes_t ORDER BY v <-> (SELECT v FROM codes_t WHERE id = 1) LIMIT 6) s
WHERE id = 1 OR id > 10000;
DROP INDEX codes_4;

-- built empty, then filled by inserts: the first row sets the centre (around the
-- origin, recall was 0.79-0.86 here)
CREATE TABLE codes_e (id int, v vector(24), h halfvec(24));
CREATE INDEX ON codes_e USING hnsw (v vector_cosine_ops) WITH (bits = 2);
INSERT INTO codes_e SELECT id, v FROM codes_t;
SELECT * FROM codes_check('v', '<=>', 0.9, 'codes_e');
SELECT * FROM vector_index_check('codes_e_v_idx');
-- ORDER BY a NULL: every row, NULL distances
SELECT count(*) FROM (SELECT id FROM codes_e ORDER BY v <=> NULL LIMIT 100) s;
DROP TABLE codes_e;

-- TRUNCATE of a table created in the same transaction rebuilds its index
-- empty into the same file: the new codes pages, and the centre the first
-- row then sets, must be read, not the old ones a backend keeps (rows far
-- from the origin: around it, none of the 3 nearest were found)
BEGIN;
CREATE TABLE codes_tr (id int, v vector(3));
INSERT INTO codes_tr SELECT i, ARRAY[i, i * 2 % 17, i % 5] FROM generate_series(1, 500) i;
CREATE INDEX codes_tr_i ON codes_tr USING hnsw (v vector_l2_ops) WITH (bits = 2);
SELECT array_agg(id) FROM (SELECT id FROM codes_tr ORDER BY v <-> '[100, 30, 2]' LIMIT 3) s;
TRUNCATE codes_tr;
INSERT INTO codes_tr SELECT i, ARRAY[-i, -(i * 3 % 11), 1000] FROM generate_series(1, 500) i;
SELECT array_agg(id) FROM (SELECT id FROM codes_tr ORDER BY v <-> '[-100, -3, 1000]' LIMIT 3) s;
SELECT * FROM vector_index_check('codes_tr_i');
COMMIT;
DROP TABLE codes_tr;

-- rows of huge values: the centre the codes are made around is a median
-- (a mean, moved to 1e36, left every other row's code too coarse to tell
-- rows apart, and the nearest rows were missed)
CREATE TABLE codes_x (id int, v vector(4));
INSERT INTO codes_x VALUES (1, '[1e20,1e20,1e20,1e20]'), (2, '[1,2,3,4]'),
	(3, '[-1e20,1e20,3,-1e20]'), (5, '[3e38,3e38,-3e38,1]');
INSERT INTO codes_x SELECT i, ARRAY[random(), random(), random(), random()] FROM generate_series(6, 300) i;
CREATE INDEX ON codes_x USING hnsw (v vector_ip_ops) WITH (bits = 2);
SELECT (array_agg(id))[1:2] FROM (SELECT id FROM codes_x ORDER BY v <#> '[1e20,1e20,1e20,1e20]' LIMIT 3) s;
SELECT (array_agg(id))[1:3] FROM (SELECT id FROM codes_x ORDER BY v <#> '[1,1,1,1]' LIMIT 3) s;
DROP TABLE codes_x;

-- bits where there are no codes
CREATE INDEX ON codes_t USING hnsw (v vector_l1_ops) WITH (bits = 4);
CREATE TABLE codes_b (b bit(64), s sparsevec(64));
CREATE INDEX ON codes_b USING hnsw (b bit_hamming_ops) WITH (bits = 4);
CREATE INDEX ON codes_b USING hnsw (s sparsevec_l2_ops) WITH (bits = 4);
CREATE INDEX ON codes_t USING hnsw (v vector_l2_ops) WITH (bits = 9);
CREATE INDEX ON codes_t USING hnsw (v vector_l2_ops) WITH (rerank_bits = 4);
CREATE INDEX ON codes_t USING hnsw (v vector_l1_ops) WITH (bits = 2, rerank_bits = 4);
CREATE INDEX ON codes_t USING hnsw (v vector_l2_ops) WITH (bits = 4, rerank_bits = 4);
CREATE INDEX ON codes_t USING hnsw (v vector_l2_ops) WITH (bits = 2, rerank_bits = 9);
DROP TABLE codes_b;

-- ALTER INDEX SET (bits) applies at the next REINDEX; the index works meanwhile
CREATE INDEX codes_alter ON codes_t USING hnsw (v vector_l2_ops);
ALTER INDEX codes_alter SET (bits = 2);
SELECT * FROM codes_check('v', '<->', 0.95);
REINDEX INDEX codes_alter;
SELECT * FROM codes_check('v', '<->', 0.9);
DROP INDEX codes_alter;

-- past the float limits: a vector(9000) column indexed directly, with codes
CREATE TABLE codes_wide (id int, v vector(9000));
INSERT INTO codes_wide SELECT i, array_fill(i::real, ARRAY[9000])::vector FROM generate_series(1, 50) i;
CREATE INDEX ON codes_wide USING hnsw (v vector_l2_ops);
SELECT array_agg(id) FROM (SELECT id FROM codes_wide ORDER BY v <-> array_fill(7.2::real, ARRAY[9000])::vector LIMIT 3) s;
CREATE INDEX ON codes_wide USING hnsw (v vector_l2_ops) WITH (bits = 8);
CREATE INDEX ON codes_wide USING hnsw (v vector_l2_ops) WITH (bits = 1, rerank_bits = 8);
-- codes chosen for a column too wide get a 4-bit re-ranking code too (a node of
-- about 5.9 kB, one to a page), unless bits are given; at 16,000 dimensions
-- (a 2,000-byte walk code) only a 2-bit one fits a page, and that is taken
CREATE INDEX codes_wide_1 ON codes_wide USING hnsw (v vector_l2_ops) WITH (bits = 1);
SELECT pg_relation_size('codes_wide_v_idx') > 3 * pg_relation_size('codes_wide_1') AS reranked;
SELECT count(*) FROM vector_index_check('codes_wide_v_idx');
CREATE TABLE codes_widest (id int, v vector(16000));
INSERT INTO codes_widest SELECT i, array_fill(i::real, ARRAY[16000])::vector FROM generate_series(1, 5) i;
CREATE INDEX codes_widest_auto ON codes_widest USING hnsw (v vector_l2_ops);
CREATE INDEX codes_widest_1 ON codes_widest USING hnsw (v vector_l2_ops) WITH (bits = 1);
CREATE INDEX codes_widest_2 ON codes_widest USING hnsw (v vector_l2_ops) WITH (bits = 1, rerank_bits = 2);
SELECT pg_relation_size('codes_widest_auto') = pg_relation_size('codes_widest_2') AND
	pg_relation_size('codes_widest_2') > pg_relation_size('codes_widest_1') AS two_bits;
SELECT array_agg(id) FROM (SELECT id FROM codes_widest ORDER BY v <-> array_fill(3.2::real, ARRAY[16000])::vector LIMIT 3) s;
DROP TABLE codes_wide, codes_widest;

-- a re-ranking code at 768 dimensions, where the scan reads rows in the
-- order of probable bounds (each estimate less 4 standard errors): rows
-- still come back in exact order, and the scan reads a third fewer of
-- them at least than on the walk's 1-bit codes (TOAST blocks fetched over
-- 10 queries, 421 against 760 when written: each row the scan reads is
-- detoasted, and the executor detoasts none)
CREATE TABLE codes_p (id int, v vector(768));
INSERT INTO codes_p SELECT i, ARRAY(SELECT random() - 0.5 + (i % 7) * 0.01 FROM generate_series(1, 768))
FROM generate_series(1, 600) i;
CREATE FUNCTION codes_p_run(OUT ordered bool, OUT blocks bigint) AS $$
DECLARE
	q record;
	toast oid := (SELECT reltoastrelid FROM pg_class WHERE oid = 'codes_p'::regclass);
	before bigint;
BEGIN
	ordered := true;
	blocks := 0;
	FOR q IN SELECT v FROM codes_p WHERE id % 60 = 7 LOOP
		ordered := ordered AND (SELECT array_agg(d) = array_agg(d ORDER BY d) AND count(*) = 20
			FROM (SELECT v <=> q.v AS d FROM codes_p ORDER BY v <=> q.v LIMIT 20) s);
		before := pg_stat_get_xact_blocks_fetched(toast);
		PERFORM id FROM codes_p ORDER BY v <=> q.v LIMIT 10;
		blocks := blocks + pg_stat_get_xact_blocks_fetched(toast) - before;
	END LOOP;
END
$$ LANGUAGE plpgsql;
SET hnsw.ef_search = 60;
CREATE INDEX codes_p_1 ON codes_p USING hnsw (v vector_cosine_ops) WITH (bits = 1);
CREATE TEMP TABLE codes_p_plain AS SELECT * FROM codes_p_run();
DROP INDEX codes_p_1;
CREATE INDEX codes_p_r ON codes_p USING hnsw (v vector_cosine_ops) WITH (bits = 1, rerank_bits = 4);
SELECT p.ordered AS plain_ordered, r.ordered, r.blocks * 3 < p.blocks * 2 AS reads_fewer
FROM codes_p_plain p, codes_p_run() r;
SELECT * FROM vector_index_check('codes_p_r', 60);
RESET hnsw.ef_search;
DROP TABLE codes_p, codes_p_plain;
DROP FUNCTION codes_p_run;

DROP FUNCTION codes_all, codes_check;
DROP TABLE codes_t, codes_q;
