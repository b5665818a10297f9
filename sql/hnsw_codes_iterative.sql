-- hnsw on codes with hnsw.iterative_scan: the scan fetches its candidates'
-- rows and ranks them by exact distance (hnswscan.c, deliver), so rows come out
-- in order without the executor's re-check.
--
-- Handing the executor lower bounds instead (1 bit at 64 dimensions: wide
-- ones) made an unfiltered LIMIT 10 read a large part of the table, which
-- `tuples_ok` catches through idx_tup_read; strict_order with a filter on
-- a column outside the index came back short, which `rows_ok` catches.
-- Rows a later batch undercuts are dropped under strict_order
-- (`recall_ok`), and relaxed_order returns them out of order.
SET enable_seqscan = off;
SELECT setseed(0.37);
SET hnsw.test_level_seed = 11;

-- room on each page for HOT updates
CREATE TABLE it_t (id int PRIMARY KEY, v vector(64), c int) WITH (fillfactor = 50);
INSERT INTO it_t
SELECT i, ARRAY(SELECT random() - 0.5 + 0.01 * (i % 7) FROM generate_series(1, 64))::vector, i % 50
FROM generate_series(1, 3000) i;
CREATE TABLE it_q AS SELECT id, v + ARRAY(SELECT 0.02 FROM generate_series(1, 64))::vector AS v
FROM it_t WHERE id % 300 = 7;
CREATE INDEX it_i ON it_t USING hnsw (v vector_l2_ops) WITH (bits = 1);
ANALYZE it_t;

-- For each query: LIMIT k through the index under mode, WHERE c = the
-- query's id % 50 when filtered (2 % of the rows); whether distances rise,
-- whether k rows came, and recall@k against a sequential scan.
CREATE FUNCTION it_check(mode text, filtered bool, k int, minrecall float8)
RETURNS TABLE (ordered bool, rows_ok bool, recall_ok bool) AS $$
DECLARE
	q record;
	ids int[];
	ds float8[];
	truth int[];
	hits int := 0;
	total int := 0;
	ord bool := true;
	full_rows bool := true;
	w text := CASE WHEN filtered THEN 'WHERE c = $2' ELSE '' END;
BEGIN
	FOR q IN SELECT id, v FROM it_q ORDER BY id LOOP
		PERFORM set_config('enable_indexscan', 'off', true);
		PERFORM set_config('enable_seqscan', 'on', true);
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM it_t %s ORDER BY v <-> $1, id LIMIT %s) s', w, k)
			INTO truth USING q.v, q.id % 50;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('hnsw.iterative_scan', mode, true);
		EXECUTE format('SELECT array_agg(id), array_agg(d) FROM (SELECT id, v <-> $1 AS d FROM it_t %s ORDER BY v <-> $1 LIMIT %s) s', w, k)
			INTO ids, ds USING q.v, q.id % 50;
		ord := ord AND ds = (SELECT array_agg(x ORDER BY x) FROM unnest(ds) x);
		full_rows := full_rows AND cardinality(ids) = k;
		hits := hits + (SELECT count(*) FROM unnest(ids) x WHERE x = ANY (truth));
		total := total + k;
	END LOOP;
	IF hits::float8 / total < minrecall THEN
		RAISE NOTICE '% %: recall % below %', mode, filtered, hits::float8 / total, minrecall;
	END IF;
	-- relaxed_order may return a later batch's nearer rows after farther ones
	RETURN QUERY SELECT CASE WHEN mode = 'relaxed_order' THEN NULL ELSE ord END, full_rows,
		hits::float8 / total >= minrecall;
END
$$ LANGUAGE plpgsql;

-- index tuples handed out by it_i so far (flushed by the statement before)
CREATE FUNCTION it_read() RETURNS bigint AS $$
	SELECT pg_stat_clear_snapshot();
	SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'it_i';
$$ LANGUAGE sql;

-- unfiltered: LIMIT 10 from the first batch, for each mode; the executor
-- takes 10 rows from the index per query, not hundreds
SELECT pg_stat_force_next_flush();
SELECT it_read() AS before \gset
SELECT * FROM it_check('off', false, 10, 0.6);
SELECT * FROM it_check('relaxed_order', false, 10, 0.8);
SELECT * FROM it_check('strict_order', false, 10, 0.8);
SELECT pg_stat_force_next_flush();
SELECT it_read() - :before <= 3 * 10 * 12 AS tuples_ok;

-- a filter on a column outside the index: iterative scans go on until
-- LIMIT rows pass it
SELECT * FROM it_check('relaxed_order', true, 10, 0.95);
SELECT * FROM it_check('strict_order', true, 10, 0.95);
SELECT * FROM it_check('strict_order', true, 40, 0.9);

-- an expression index: the distance is the expression's, evaluated on the
-- row as the index holds it
CREATE TEMP TABLE it_hq AS SELECT v::halfvec(64) AS h FROM it_q ORDER BY id LIMIT 1;
SET enable_indexscan = off;
SET enable_seqscan = on;
CREATE TEMP TABLE it_truth AS SELECT id FROM it_t WHERE c < 25
	ORDER BY v::halfvec(64) <-> (SELECT h FROM it_hq), id LIMIT 20;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE INDEX it_h ON it_t USING hnsw ((v::halfvec(64)) halfvec_l2_ops) WITH (bits = 1);
SET hnsw.iterative_scan = strict_order;
SET plan_cache_mode = force_generic_plan;
PREPARE it_p(halfvec) AS SELECT id FROM it_t WHERE c < 25 ORDER BY v::halfvec(64) <-> $1 LIMIT 20;
EXPLAIN (COSTS OFF) EXECUTE it_p('[1]');
DEALLOCATE it_p;
RESET plan_cache_mode;
SELECT count(*) = 20 AS rows_ok, bool_and(d >= prev) AS ordered,
	count(*) FILTER (WHERE id IN (SELECT id FROM it_truth)) >= 16 AS recall_ok
FROM (SELECT id, d, lag(d, 1, '-Infinity') OVER () AS prev
	  FROM (SELECT id, v::halfvec(64) <-> (SELECT h FROM it_hq) AS d FROM it_t WHERE c < 25
			ORDER BY v::halfvec(64) <-> (SELECT h FROM it_hq) LIMIT 20) s) s2;
DROP INDEX it_h;

-- rows updated in place (HOT: c is in no index) are found: the index holds
-- the root of each HOT chain, and the executor must get the root back, not
-- the version the scan read (a fetch from a heap-only tuple finds nothing)
UPDATE it_t SET c = c + 100 WHERE id % 13 = 0;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT n_tup_hot_upd > 0 AS hot FROM pg_stat_user_tables WHERE relname = 'it_t';
SET hnsw.iterative_scan = off;
SELECT count(*) AS updated, count(*) FILTER (WHERE id IN (SELECT b.id FROM it_t b
	ORDER BY b.v <-> a.v LIMIT 5)) >= 0.95 * count(*) AS found_ok
FROM it_t a WHERE id % 13 = 0;
SET hnsw.iterative_scan = strict_order;

-- duplicates chain on one node: each member comes out at its distance
INSERT INTO it_t SELECT 5000 + i, (SELECT v FROM it_t WHERE id = 1), 1 FROM generate_series(1, 30) i;
SELECT count(*) AS dups, bool_and(d = 0) AS at_zero
FROM (SELECT id, v <-> (SELECT v FROM it_t WHERE id = 1) AS d FROM it_t
	  ORDER BY v <-> (SELECT v FROM it_t WHERE id = 1) LIMIT 31) s;
SELECT count(*) AS dups_filtered
FROM (SELECT id FROM it_t WHERE id > 5000 AND id % 2 = 0
	  ORDER BY v <-> (SELECT v FROM it_t WHERE id = 1) LIMIT 10) s;
SELECT * FROM vector_index_check('it_i');

RESET hnsw.iterative_scan;
DROP TABLE it_t, it_q;
DROP FUNCTION it_check, it_read;

-- -Infinity is a distance (an inner product beyond float's range), and the
-- nearest: strict_order dropped such a row, below where its order started
CREATE TABLE it_x (id int, v vector(4));
INSERT INTO it_x VALUES (1, '[1e20,1e20,1e20,1e20]'), (2, '[1,2,3,4]');
INSERT INTO it_x SELECT i, ARRAY[i % 7, i % 5, i % 3, 1] FROM generate_series(3, 100) i;
CREATE INDEX it_xc ON it_x USING hnsw (v vector_ip_ops) WITH (bits = 2);
SET hnsw.iterative_scan = strict_order;
SELECT array_agg(id) AS codes FROM (SELECT id FROM it_x ORDER BY v <#> '[1e20,1e20,1e20,1e20]' LIMIT 2) s;
DROP INDEX it_xc;
CREATE INDEX it_xv ON it_x USING hnsw (v vector_ip_ops);
SELECT array_agg(id) AS vectors FROM (SELECT id FROM it_x ORDER BY v <#> '[1e20,1e20,1e20,1e20]' LIMIT 2) s;
RESET hnsw.iterative_scan;
DROP TABLE it_x;

-- Probable bounds (hnswscan.c, candKey): from 512 dimensions on, the scan
-- reads a candidate's row when its estimate less 4 standard errors comes
-- up, not its bound that always holds, some 20 standard errors lower at
-- 1,024 dimensions.  A LIMIT 10 reads fewer heap rows (`fewer_reads`), all
-- 40 rows of ef_search 40 still come (`rows_ok`: a standard error too
-- small drops rows), in order and as near as with the bounds that always
-- hold.  With a bound far too high (test_probable_sigmas 0.01), rows are
-- read after farther ones went out: they are dropped (`rows_ok` false),
-- never returned out of order (`ordered`).  The rows lie near an
-- 8-dimensional subspace, as embeddings do, so that the candidates'
-- distances spread beyond the estimates' error.
CREATE TABLE it_z AS SELECT i, ARRAY(SELECT 2 * random() - 1 + 0 * i FROM generate_series(1, 8)) AS z
FROM generate_series(1, 610) i;
CREATE TABLE it_w (id int, v vector(1024));
ALTER TABLE it_w ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO it_w SELECT i, ARRAY(SELECT sum(z[k] * sin(j * k * 1.7 + k)) / 4
	FROM generate_series(1, 1024) j, generate_series(1, 8) k GROUP BY j ORDER BY j)
FROM it_z WHERE i <= 600;
CREATE TABLE it_wq AS SELECT i AS id, ARRAY(SELECT sum(z[k] * sin(j * k * 1.7 + k)) / 4
	FROM generate_series(1, 1024) j, generate_series(1, 8) k GROUP BY j ORDER BY j)::vector(1024) AS v
FROM it_z WHERE i > 600;
CREATE TABLE it_wt AS SELECT q.id, ARRAY(SELECT w.id FROM it_w w ORDER BY w.v <-> q.v, w.id LIMIT 40) AS ids
FROM it_wq q;
CREATE INDEX it_wi ON it_w USING hnsw (v vector_l2_ops) WITH (bits = 1);
CREATE FUNCTION it_heap() RETURNS bigint AS $$
	SELECT pg_stat_clear_snapshot();
	SELECT heap_blks_hit + heap_blks_read FROM pg_statio_user_tables WHERE relname = 'it_w';
$$ LANGUAGE sql;
-- for each query, LIMIT k at ef_search 40: ordered, every row, recall@k
CREATE FUNCTION it_wide(sigmas float8, k int, mode text DEFAULT 'off')
RETURNS TABLE (ordered bool, rows_ok bool, recall float8) AS $$
DECLARE
	q record;
	ids int[];
	ds float8[];
	hits int := 0;
	ord bool := true;
	full_rows bool := true;
BEGIN
	PERFORM set_config('hnsw.iterative_scan', mode, true);
	PERFORM set_config('hnsw.test_probable_sigmas', sigmas::text, true);
	FOR q IN SELECT it_wq.id, v, t.ids AS truth FROM it_wq JOIN it_wt t USING (id) ORDER BY id LOOP
		SELECT array_agg(id), array_agg(d) INTO ids, ds
		FROM (SELECT id, v <-> q.v AS d FROM it_w ORDER BY v <-> q.v LIMIT k) s;
		ord := ord AND ds = (SELECT array_agg(x ORDER BY x) FROM unnest(ds) x);
		full_rows := full_rows AND cardinality(ids) = k;
		hits := hits + (SELECT count(*) FROM unnest(ids) x WHERE x = ANY (q.truth[1:k]));
	END LOOP;
	RETURN QUERY SELECT ord, full_rows, hits::float8 / (10 * k);
END
$$ LANGUAGE plpgsql;
SET enable_seqscan = off;
SET hnsw.ef_search = 40;
SELECT pg_stat_force_next_flush();
SELECT it_heap() AS h0 \gset
SELECT * FROM it_wide(0, 10);
SELECT pg_stat_force_next_flush();
SELECT it_heap() AS h1 \gset
SELECT * FROM it_wide(4, 10);
SELECT pg_stat_force_next_flush();
SELECT it_heap() - :h1 < 0.75 * (:h1 - :h0) AS fewer_reads;
SELECT * FROM it_wide(4, 40);
SELECT * FROM it_wide(0.01, 40);
SELECT * FROM it_wide(0.01, 40, 'strict_order');
RESET hnsw.ef_search;
DROP TABLE it_w, it_wq, it_wt, it_z;
DROP FUNCTION it_wide, it_heap;
