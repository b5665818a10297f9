-- Filter columns: every key column of an hnsw index after the vector.  The
-- scan applies = on them (an Index Cond, not a Filter over the scan): it
-- finds the nodes that may match in the tag pages, scores them all when
-- they are fewer than ef_search * 3m (exact), else walks the graph on them
-- only (through the neighbours that do not match, two hops), so that
-- hnsw.ef_search counts matching rows: a LIMIT comes back full whenever
-- enough rows match, at any selectivity.
--
-- filt_check compares, for each query, the index's rows with a sequential
-- scan's: a walk that returns rows the filter rejects (the filter not
-- applied, or applied to the wrong column) fails `all_match`; one that
-- filters after the walk instead of during it comes back short at 1 % and
-- fails `full`; stored values that differ from the row's (a wrong column,
-- a wrong hash) lose rows and fail `recall_ok`.
SET enable_seqscan = off;
SELECT setseed(0.37);
SET hnsw.test_level_seed = 11;

CREATE TABLE filt (id int PRIMARY KEY, v vector(16), c10 int4, c100 int4, small int2, big int8,
				   flag bool, tag text, u uuid);
INSERT INTO filt
SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 16))::vector,
	   (random() * 9.999)::int, (random() * 99.999)::int,
	   CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 5)::int2 END,
	   (i % 7)::int8 * 10000000000, i % 3 = 0, 'tag-' || (i % 4),
	   md5((i % 6)::text)::uuid
FROM generate_series(1, 3000) i;
CREATE TABLE filt_q AS SELECT id, v + '[0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01]' AS v,
	id % 10 AS c10, id % 100 AS c100 FROM filt WHERE id % 101 = 1;

CREATE FUNCTION filt_check(cond text, minrecall float8, lim int DEFAULT 10)
RETURNS TABLE (all_match bool, full_rows bool, recall_ok bool) AS $$
DECLARE
	q record;
	ids int[];
	truth int[];
	bad int;
	hits int := 0;
	total int := 0;
	okrows bool := true;
	allm bool := true;
BEGIN
	FOR q IN SELECT * FROM filt_q ORDER BY id LOOP
		PERFORM set_config('enable_indexscan', 'off', true);
		PERFORM set_config('enable_seqscan', 'on', true);
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM filt WHERE %s ORDER BY v <-> $1, id LIMIT %s) s', cond, lim)
			INTO truth USING q.v, q.c10, q.c100;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_seqscan', 'off', true);
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM filt WHERE %s ORDER BY v <-> $1 LIMIT %s) s', cond, lim)
			INTO ids USING q.v, q.c10, q.c100;
		-- every row returned passes the condition, by the heap's values
		EXECUTE format('SELECT count(*) FROM filt WHERE id = ANY ($4) AND NOT coalesce((%s), false)', cond)
			INTO bad USING q.v, q.c10, q.c100, ids;
		allm := allm AND bad = 0;
		okrows := okrows AND coalesce(cardinality(ids), 0) = coalesce(cardinality(truth), 0);
		hits := hits + (SELECT count(*) FROM unnest(ids) x WHERE x = ANY (truth));
		total := total + coalesce(cardinality(truth), 0);
	END LOOP;
	RETURN QUERY SELECT allm, okrows, total = 0 OR hits::float8 / total >= minrecall;
END $$ LANGUAGE plpgsql;

CREATE INDEX filt_idx ON filt USING hnsw (v vector_l2_ops, c10, c100, small, big, flag, tag, u);
SELECT * FROM vector_index_check('filt_idx');

-- the conditions are Index Conds of the hnsw scan
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE c100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE tag = 'tag-1' AND small = 2 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;

-- 10 % and 1 %: at ef_search 10 a walk that filtered afterwards would
-- return about 1 and 0.1 rows of 10.  At ef_search 10 (m 16) up to 480
-- matching rows are scored exactly: c10 (300 rows) and c100 (30) are, and
-- tag (750), u (500) and small (565) are walked.
SET hnsw.ef_search = 10;
SELECT * FROM filt_check('c10 = $2', 1);
SELECT * FROM filt_check('c100 = $3', 1);
SELECT * FROM filt_check('tag = ''tag-3''', 0.9);
SELECT * FROM filt_check('u = md5(''4'')::uuid', 0.9);
SELECT * FROM filt_check('small = 2', 0.9);
SET hnsw.ef_search = 100;
SELECT * FROM filt_check('c10 = $2', 0.98);
SELECT * FROM filt_check('c100 = $3', 0.98);
-- every type, several conditions together, cross-type integers
SELECT * FROM filt_check('small = 2', 0.98);
SELECT * FROM filt_check('small = 3::int8 AND c10 = $2', 0.98);
SELECT * FROM filt_check('big = 30000000000', 0.98);
SELECT * FROM filt_check('big = 0::int4', 0.98);
-- (bool: flag = true is simplified to flag, which PostgreSQL 15 tries only
-- with btree and hash families; src/planner/filterquals.c makes it an
-- Index Cond there, as 16 does)
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE flag AND c10 = 1 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE NOT flag AND c10 = 1 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
SELECT * FROM filt_check('flag = true', 0.98);
SELECT * FROM filt_check('flag = false AND tag = ''tag-2''', 0.98);
SELECT * FROM filt_check('tag = ''tag-3''', 0.98);
SELECT * FROM filt_check('u = md5(''4'')::uuid', 0.98);
-- a value no row has, one out of the column's range, NULL
SELECT * FROM filt_check('tag = ''none''', 1);
SELECT * FROM filt_check('c10 = 5000000000', 1);
SELECT count(*) FROM (SELECT id FROM filt WHERE c10 = NULL::int ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5) s;
-- rows whose filter value is NULL are never returned for =, but are by the
-- unfiltered walk
SELECT count(*) FROM (SELECT id FROM filt WHERE small IS NULL ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 500) s;
-- IN lists: PostgreSQL 15 and 16 keep them above a scan that must stay
-- ordered (a btree scans each element apart); filterquals.c makes them
-- Index Conds of hnsw's, which takes the whole list at once, as 17 does
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE c100 IN (1, 2, 3) ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE tag = ANY ('{tag-1,tag-2}') AND small IN (1, 2) ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
SELECT * FROM filt_check('c100 IN (1, 2, 3)', 0.95);
SELECT * FROM filt_check('c10 = ANY (ARRAY[$2, $2 + 1]) AND small IN (1, 2)', 0.95);
SELECT * FROM filt_check('c100 IN (1, 2, 3) AND NOT flag', 0.95);

-- duplicates: the same vector with another filter value is a node of its
-- own, not a member of the first one's chain (whose value the scan tests)
INSERT INTO filt SELECT 10000 + id, v, (c10 + 1) % 10, c100, small, big, flag, tag, u FROM filt WHERE id <= 20;
INSERT INTO filt SELECT 20000 + id, v, c10, c100, small, big, flag, tag, u FROM filt WHERE id <= 20;
SELECT count(*) AS found FROM filt f, LATERAL (SELECT id FROM filt g WHERE g.c10 = f.c10 ORDER BY g.v <-> f.v LIMIT 3) s
WHERE f.id > 10000 AND s.id = f.id;

-- inserts, an UPDATE of a filter value, DELETE and VACUUM
INSERT INTO filt SELECT 30000 + i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 16))::vector,
	i % 10, i % 100, 1, 0, true, 'tag-new', NULL FROM generate_series(1, 500) i;
UPDATE filt SET c10 = 42 WHERE id % 50 = 0;
DELETE FROM filt WHERE id % 7 = 3;
VACUUM filt;
SELECT * FROM vector_index_check('filt_idx');
SELECT * FROM filt_check('c10 = $2', 0.98);
SELECT * FROM filt_check('tag = ''tag-new''', 0.98);
SELECT count(*) FROM (SELECT id FROM filt WHERE c10 = 42 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 1000) s;
SELECT count(*) FROM filt WHERE c10 = 42;

-- 600 rows of one tag far from the others (more than ef_search 10 scores
-- exactly): the walk from the queries' region finds none of them within
-- two hops of what it scores, and scores them all instead
INSERT INTO filt SELECT 40000 + i, ARRAY(SELECT 100 + random() + 0 * i FROM generate_series(1, 16))::vector,
	i % 10, i % 100, 1, 0, true, 'far', NULL FROM generate_series(1, 600) i;
SET hnsw.ef_search = 10;
SELECT * FROM filt_check('tag = ''far''', 1);
SET hnsw.ef_search = 100;

-- with codes
DROP INDEX filt_idx;
CREATE INDEX filt_idx ON filt USING hnsw (v vector_l2_ops, c100, tag) WITH (bits = 4);
SELECT * FROM vector_index_check('filt_idx');
SELECT * FROM filt_check('c100 = $3', 0.95);
SELECT * FROM filt_check('c100 = $3 AND tag = ''tag-1''', 0.95, 3);

-- an index built empty, then filled
TRUNCATE filt_q;
INSERT INTO filt_q SELECT id, v, id % 10, id % 100 FROM filt WHERE id % 89 = 1;
CREATE TABLE filt2 (LIKE filt);
CREATE INDEX ON filt2 USING hnsw (v vector_cosine_ops, c10);
INSERT INTO filt2 SELECT * FROM filt;
SELECT count(*) FROM (SELECT id FROM filt2 WHERE c10 = 4 ORDER BY v <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 50) s;

-- a filtered walk marks visited nodes in a bitmap sized when the scan
-- starts; nodes inserted while a cursor is open are walked too (its
-- snapshot then skips their rows), so the bitmap must grow for them: this
-- grows it three times.  The cursor returns the rows it would have
-- returned, each once.
CREATE TABLE filt3 (id int, v vector(4), c int);
INSERT INTO filt3 SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)], i % 2 FROM generate_series(1, 3000) i;
CREATE INDEX ON filt3 USING hnsw (v vector_l2_ops, c) WITH (m = 4);
BEGIN;
SET LOCAL hnsw.iterative_scan = relaxed_order;
SET LOCAL hnsw.ef_search = 10;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
CREATE TEMP TABLE filt3_got (id int) ON COMMIT DROP;
DO $$
DECLARE
	cur refcursor;
	r record;
	n int := 0;
BEGIN
	OPEN cur FOR SELECT id FROM filt3 WHERE c = 1 ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 300;
	LOOP
		FETCH cur INTO r;
		EXIT WHEN NOT FOUND;
		INSERT INTO filt3_got VALUES (r.id);
		n := n + 1;
		IF n = 20 THEN
			INSERT INTO filt3 SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)], i % 2
			FROM generate_series(3001, 23000) i;
		END IF;
	END LOOP;
END $$;
-- the LIMIT's 300 rows, none new, none twice
SELECT count(*) AS n, count(*) = count(DISTINCT id) AS once, max(id) <= 3000 AS old_rows,
	   bool_and(id % 2 = 1) AS matching
FROM filt3_got;
COMMIT;
DROP TABLE filt3;

-- what is not a filter column
CREATE TABLE filt_bad (v vector(3), x float8, c int4, w vector(3));
CREATE INDEX ON filt_bad USING hnsw (v vector_l2_ops, x);
CREATE INDEX ON filt_bad USING hnsw (c, v vector_l2_ops);
CREATE INDEX ON filt_bad USING hnsw (v vector_l2_ops, w vector_l2_ops);
CREATE INDEX ON filt_bad USING ivfflat (v vector_l2_ops, c);
-- 31 filter columns: a tag page would not hold a word of 64 ids
SELECT format('CREATE TABLE filt_wide (v vector(3), %s)',
			  string_agg(format('c%s int', i), ', ')) FROM generate_series(1, 31) i \gexec
SELECT format('CREATE INDEX ON filt_wide USING hnsw (v vector_l2_ops, %s)',
			  string_agg(format('c%s', i), ', ')) FROM generate_series(1, 31) i \gexec
SELECT format('CREATE INDEX filt_wide_idx ON filt_wide USING hnsw (v vector_l2_ops, %s)',
			  string_agg(format('c%s', i), ', ')) FROM generate_series(1, 30) i \gexec
INSERT INTO filt_wide (v, c1, c30) SELECT ARRAY[i, 0, 0]::vector, i % 3, i % 5 FROM generate_series(1, 300) i;
SELECT count(*) FROM (SELECT v FROM filt_wide WHERE c30 = 2 ORDER BY v <-> '[0,0,0]' LIMIT 100) s;
SELECT * FROM vector_index_check('filt_wide_idx');
DROP TABLE filt_wide;

-- a crowd of equal vectors under distinct filter values cannot chain: one
-- node per row, at distance 0 from each other.  Their lists must still lead
-- out of the crowd (the neighbour heuristic keeps one equal item), and every
-- node must have a layer-0 link (the build's reachability walk), or an
-- exhaustive iterative scan misses rows: 132, then 149, of 150 before.
CREATE TABLE crowd (id int, v vector(3), c int);
INSERT INTO crowd SELECT i, (ARRAY['[1,0,0]', '[0,1,0]', '[0,0,1]'])[i % 3 + 1]::vector, i
FROM generate_series(1, 150) i;
CREATE INDEX crowd_v ON crowd USING hnsw (v vector_l2_ops, c) WITH (m = 4);
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM crowd ORDER BY v <-> '[1,0,0]' LIMIT 150) s;
SELECT count(*) FROM (SELECT id FROM crowd ORDER BY v <-> '[0,0.1,1]' LIMIT 150) s;
SELECT count(*) FROM (SELECT id FROM crowd WHERE c > 0 ORDER BY v <-> '[1,0,0]' LIMIT 150) s;
SELECT * FROM vector_index_check('crowd_v', 40);
RESET enable_seqscan;
RESET hnsw.iterative_scan;
RESET hnsw.ef_search;
DROP TABLE crowd;
-- 1,200 zero vectors under distinct filter values, their zeros signed in
-- 256 ways (different bytes, so not even equal items): every node is at
-- distance 0 from every other and the build's lists are arbitrary.  The
-- build's reachability repair must still reach them all; replacing links
-- through the heuristic it cut off as many as it linked (145 left).
CREATE TABLE zc (id int, v vector(8), c int);
INSERT INTO zc SELECT i, ARRAY(SELECT CASE WHEN (i >> j) & 1 = 1 THEN '-0'::real ELSE 0 END
                              FROM generate_series(0, 7) j)::vector, i
FROM generate_series(1, 1200) i;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX zc_v ON zc USING hnsw (v vector_l2_ops, c) WITH (m = 8, ef_construction = 32);
RESET max_parallel_maintenance_workers;
SELECT * FROM vector_index_check('zc_v');
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM zc ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 2000) s;
RESET enable_seqscan;
RESET hnsw.iterative_scan;
DROP TABLE zc;

DROP TABLE filt, filt_q, filt2, filt_bad;
DROP FUNCTION filt_check;

-- a filtered walk follows nodes that do not match only two hops deep, so the
-- matching nodes need not be connected through what it walks; when it has
-- run out, an iterative scan scores the ones it never reached.  1,000 points
-- on a line, every fourth matching, m 2 (layer 0 is about a path): relaxed
-- order at ef_search 1 returned 3 of the 250 rows
CREATE TABLE fline (id int, c int, v vector(2));
INSERT INTO fline SELECT i, i % 4, ARRAY[i, 0]::real[]::vector FROM generate_series(1, 1000) i;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX ON fline USING hnsw (v vector_l2_ops, c) WITH (m = 2, ef_construction = 8);
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SET hnsw.ef_search = 1;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM fline WHERE c = 0 ORDER BY v <-> '[0,0]' LIMIT 1000) s;
-- strict order drops the rows that come nearer than one returned, but
-- returns each row once
SET hnsw.iterative_scan = strict_order;
SELECT count(*) = count(DISTINCT id) AS once FROM (SELECT id FROM fline WHERE c = 0 ORDER BY v <-> '[0,0]' LIMIT 1000) s;
RESET enable_seqscan;
RESET hnsw.ef_search;
RESET hnsw.iterative_scan;
DROP TABLE fline;
