-- Array filter columns (labels, tags): && and @> on an hnsw index's array
-- columns are Index Conds.  Each row's array is stored as a 64-bit
-- signature, three bits per element; the scan passes a row whose signature
-- has the bits of the query's elements (some element's for &&, every
-- element's for @>), and the executor checks the row (hnswfilter.c).
--
-- arr_check compares each query's rows with a sequential scan's:
-- `all_match` fails when the executor's check is lost (the signature
-- passes rows the condition rejects); `full_rows` when the rows the
-- signature passes wrongly crowd out the right ones within ef_search and
-- the scan stops there; `recall_ok` when the test of a signature rejects
-- rows that match (a wrong && or @>, a wrong hash).
SET enable_seqscan = off;
SELECT setseed(0.21);
SET hnsw.test_level_seed = 5;

-- labels: two of 20 small labels (a signature without false matches);
-- many: sixteen of a hundred thousand, and label 5 in every tenth row (the
-- signatures of sixteen elements pass about 15 % of the rows wrongly);
-- words, small, big: other element types
CREATE TABLE arr (id int PRIMARY KEY, v vector(16), labels int4[], many int4[],
				  words text[], small int2[], big int8[]);
INSERT INTO arr
SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 16))::vector,
	   CASE WHEN i % 97 = 0 THEN NULL WHEN i % 89 = 0 THEN '{}'
			WHEN i % 83 = 0 THEN ARRAY[i % 20, NULL] ELSE ARRAY[i % 20, (i * 7 + 3) % 20] END,
	   ARRAY(SELECT 1000 + (random() * 99000)::int + 0 * i FROM generate_series(1, 16))
		   || CASE WHEN i % 10 = 0 THEN ARRAY[5] ELSE '{}' END,
	   ARRAY['w' || (i % 30), 'w' || (i % 7)],
	   ARRAY[(i % 4)::int2],
	   ARRAY[(i % 9)::int8 * 10000000000]
FROM generate_series(1, 3000) i;
CREATE TABLE arr_q AS SELECT id, v + '[0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01]' AS v
FROM arr WHERE id % 101 = 1;

CREATE FUNCTION arr_check(cond text, minrecall float8, lim int DEFAULT 10)
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
	FOR q IN SELECT * FROM arr_q ORDER BY id LOOP
		PERFORM set_config('enable_indexscan', 'off', true);
		PERFORM set_config('enable_seqscan', 'on', true);
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM arr WHERE %s ORDER BY v <-> $1, id LIMIT %s) s', cond, lim)
			INTO truth USING q.v;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_seqscan', 'off', true);
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM arr WHERE %s ORDER BY v <-> $1 LIMIT %s) s', cond, lim)
			INTO ids USING q.v;
		EXECUTE format('SELECT count(*) FROM arr WHERE id = ANY ($2) AND NOT coalesce((%s), false)', cond)
			INTO bad USING q.v, ids;
		allm := allm AND bad = 0;
		okrows := okrows AND coalesce(cardinality(ids), 0) = coalesce(cardinality(truth), 0);
		hits := hits + (SELECT count(*) FROM unnest(ids) x WHERE x = ANY (truth));
		total := total + coalesce(cardinality(truth), 0);
	END LOOP;
	RETURN QUERY SELECT allm, okrows, total = 0 OR hits::float8 / total >= minrecall;
END $$ LANGUAGE plpgsql;

CREATE INDEX arr_idx ON arr USING hnsw (v vector_l2_ops, labels, many, words, small, big);
SELECT * FROM vector_index_check('arr_idx');
EXPLAIN (COSTS OFF) SELECT id FROM arr WHERE labels && '{3}' ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM arr WHERE words @> '{w3,w5}' AND small && '{1}' ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;

-- At ef_search 10 (m 16) up to 480 rows the signatures pass are scored
-- exactly; more are walked.  labels && '{3}' keeps 10 % (exact), '{3,4,5}'
-- 30 % (walked); many && '{5}' keeps 10 %, and its signatures pass 15 %
-- more (walked, and ef_search 10 of them are not all rows that match).
SET hnsw.ef_search = 10;
SELECT * FROM arr_check('labels && ''{3}''', 1);
SELECT * FROM arr_check('labels && ''{3,4,5}''', 0.9);
SELECT * FROM arr_check('labels @> ''{3,10}''', 1);
SELECT * FROM arr_check('many && ''{5}''', 0.9);
SELECT * FROM arr_check('many @> ''{5}''', 0.9, 40);
SET hnsw.ef_search = 40;
SELECT * FROM arr_check('labels && ''{3,4,5}''', 0.95);
SELECT * FROM arr_check('many && ''{5}''', 0.95);
-- other element types, two conditions, a multidimensional query array
SELECT * FROM arr_check('words && ''{w3}''', 0.95);
SELECT * FROM arr_check('words @> ''{w3,w5}''', 1);
SELECT * FROM arr_check('small && ''{1,2}'' AND big @> ARRAY[20000000000]', 0.95);
SELECT * FROM arr_check('labels && ''{{1,2},{3,4}}''', 0.95);
-- empty and NULL: @> '{}' holds for every array (not NULL), && '{}' for
-- none; a NULL element matches nothing (so @> with one holds for no row)
SELECT * FROM arr_check('labels @> ''{}''', 0.95);
SELECT * FROM arr_check('labels && ''{}''', 1);
SELECT * FROM arr_check('labels && ''{NULL,7}''::int[]', 1);
SELECT * FROM arr_check('labels @> ''{NULL}''::int[]', 1);
SELECT count(*) FROM (SELECT id FROM arr WHERE labels && NULL ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5) s;

-- the planner prices the rows a signature passes wrongly: for a label no
-- row of sixteen has, the signatures pass 15 % of the rows, all fetched
-- and rejected, and a GIN index and a sort are cheaper; labels of two
-- small elements pass none wrongly, and the hnsw scan is cheaper
CREATE INDEX arr_gin ON arr USING gin (many);
CREATE INDEX arr_gin2 ON arr USING gin (labels);
ANALYZE arr;
SET enable_seqscan = on;
EXPLAIN (COSTS OFF) SELECT id FROM arr WHERE many && '{77}' ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM arr WHERE labels && '{3}' ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
SET enable_seqscan = off;
DROP INDEX arr_gin, arr_gin2;

-- duplicates: the same vector under another array is a node of its own;
-- under the same elements in another order, a member of its chain
INSERT INTO arr SELECT 10000 + id, v, ARRAY[(id + 1) % 20], many, words, small, big FROM arr WHERE id <= 20;
INSERT INTO arr SELECT 20000 + id, v, ARRAY[labels[2], labels[1]], many, words, small, big FROM arr WHERE id <= 20;
SELECT count(*) AS found FROM arr f, LATERAL (SELECT id FROM arr g WHERE g.labels && f.labels ORDER BY g.v <-> f.v LIMIT 3) s
WHERE f.id > 10000 AND s.id = f.id;

-- inserts, an UPDATE of the arrays, DELETE and VACUUM
INSERT INTO arr SELECT 30000 + i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 16))::vector,
	ARRAY[40 + i % 3], ARRAY[i], ARRAY['new'], NULL, NULL FROM generate_series(1, 500) i;
UPDATE arr SET labels = labels || 41 WHERE id % 50 = 0;
DELETE FROM arr WHERE id % 7 = 3;
VACUUM arr;
SELECT * FROM vector_index_check('arr_idx');
SELECT * FROM arr_check('labels && ''{41}''', 0.95);
SELECT * FROM arr_check('labels @> ''{3,10}''', 1);
SELECT count(*) FROM (SELECT id FROM arr WHERE words @> '{new}' ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 1000) s;

-- with codes
DROP INDEX arr_idx;
CREATE INDEX arr_idx ON arr USING hnsw (v vector_l2_ops, many, labels) WITH (bits = 4);
SELECT * FROM vector_index_check('arr_idx');
SELECT * FROM arr_check('many && ''{5}'' AND labels && ''{0,1,2,3,4,5,6,7,8,9}''', 0.9);

-- an array of a type without a hash operator class is not a filter column
CREATE TABLE arr_bad (v vector(3), p point[]);
CREATE INDEX ON arr_bad USING hnsw (v vector_l2_ops, p);
-- an array column counts as two of the 30 filter columns (a tag page holds
-- 64 ids of 4 bytes per word): 15 are taken, 16 are not
SELECT format('CREATE TABLE arr_wide (v vector(3), %s)',
			  string_agg(format('a%s int4[]', i), ', ')) FROM generate_series(1, 16) i \gexec
SELECT format('CREATE INDEX ON arr_wide USING hnsw (v vector_l2_ops, %s)',
			  string_agg(format('a%s', i), ', ')) FROM generate_series(1, 16) i \gexec
SELECT format('CREATE INDEX arr_wide_idx ON arr_wide USING hnsw (v vector_l2_ops, %s)',
			  string_agg(format('a%s', i), ', ')) FROM generate_series(1, 15) i \gexec
INSERT INTO arr_wide (v, a1, a15) SELECT ARRAY[i, 0, 0]::vector, ARRAY[i % 3], ARRAY[i % 5, 70000 + i] FROM generate_series(1, 300) i;
SELECT count(*) FROM (SELECT v FROM arr_wide WHERE a15 && '{2}' AND a1 @> '{1}' ORDER BY v <-> '[0,0,0]' LIMIT 100) s;
SELECT * FROM vector_index_check('arr_wide_idx');
DROP TABLE arr_wide;

DROP TABLE arr, arr_q, arr_bad;
DROP FUNCTION arr_check;
