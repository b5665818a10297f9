-- ivfflat on vector: exact answers when every list is probed, each metric
-- against its seq scan, iterative scans, options, limits and validation.
\set VERBOSITY terse

CREATE TABLE iv (id int, v vector(3), cat int);
INSERT INTO iv SELECT i, ARRAY[(i * 37) % 101, (i * 53) % 103, (i * 71) % 107]::real[], i % 100
FROM generate_series(1, 2000) i;
INSERT INTO iv VALUES (2001, NULL, 0), (2002, '[0,0,0]', 0);

-- l2 (the default opclass): probing every list gives the exact answer
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS SELECT id FROM iv ORDER BY v <-> '[50,50,50]', id LIMIT 10;
RESET enable_indexscan;
CREATE INDEX iv_l2 ON iv USING ivfflat (v) WITH (lists = 20);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 10;
SET ivfflat.probes = 20;
SELECT count(*) AS found FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 10) s
WHERE id IN (SELECT id FROM exact);
-- distances come out in order, the values are the operator's, NULL is not indexed
SELECT bool_and(d >= lag) AS ordered, count(*) FROM (
  SELECT v <-> '[50,50,50]' AS d, lag(v <-> '[50,50,50]', 1, 0) OVER (ORDER BY v <-> '[50,50,50]') AS lag
  FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 3000) s;
-- one probe reads one list: fewer rows
SET ivfflat.probes = 1;
SELECT count(*) < 2001 AS one_list FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 3000) s;
-- after inserts (more than a page's worth into one list)
SET ivfflat.probes = 20;
INSERT INTO iv SELECT i, ARRAY[50 + i % 3, 50 + i % 5, 50], 0 FROM generate_series(3000, 3499) i;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]', id LIMIT 3) s;
SELECT count(*) FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 5000) s;
-- after delete + vacuum the deleted rows are gone
DELETE FROM iv WHERE id >= 3000 AND id % 2 = 0;
VACUUM iv;
SELECT count(*), count(*) FILTER (WHERE id >= 3000 AND id % 2 = 0) AS deleted
FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 5000) s;
DELETE FROM iv WHERE id >= 3000;
VACUUM iv;
DROP INDEX iv_l2;
RESET enable_seqscan;

-- the other metrics, each against its seq scan, all lists probed (the
-- distances are compared: inner products of integer vectors tie)
CREATE FUNCTION same_topk(op text, opclass text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text := '''[30,60,90]''';
  exact numeric[];
  got numeric[];
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT v %s %s AS d FROM iv ORDER BY v %s %s LIMIT 5) s',
                 op, q, op, q) INTO exact;
  EXECUTE format('CREATE INDEX iv_idx ON iv USING ivfflat (v %s) WITH (lists = 10)', opclass);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  SET LOCAL ivfflat.probes = 10;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT v %s %s AS d FROM iv ORDER BY v %s %s LIMIT 5) s',
                 op, q, op, q) INTO got;
  EXECUTE 'DROP INDEX iv_idx';
  RETURN CASE WHEN exact = got THEN 'same' ELSE format('differs: %s vs %s', exact, got) END;
END $$;
SELECT same_topk('<->', 'vector_l2_ops') AS l2, same_topk('<#>', 'vector_ip_ops') AS ip,
       same_topk('<=>', 'vector_cosine_ops') AS cosine;
CREATE INDEX ON iv USING ivfflat (v vector_l1_ops);

-- the zero vector is not indexed under cosine; a zero query still works
CREATE INDEX iv_cos ON iv USING ivfflat (v vector_cosine_ops) WITH (lists = 10);
SET enable_seqscan = off;
SET ivfflat.probes = 10;
SELECT count(*) FROM (SELECT id FROM iv ORDER BY v <=> '[1,1,1]' LIMIT 5000) s WHERE id = 2002;
SELECT count(*) FROM (SELECT id FROM iv ORDER BY v <=> '[0,0,0]' LIMIT 5) s;
RESET enable_seqscan;
DROP INDEX iv_cos;

-- iterative scan: a filter keeping 1% of rows still fills the LIMIT
CREATE INDEX iv_it ON iv USING ivfflat (v) WITH (lists = 50);
SET enable_seqscan = off;
SET ivfflat.probes = 1;
SELECT count(*) FROM (SELECT id FROM iv WHERE cat = 7 ORDER BY v <-> '[50,50,50]' LIMIT 10) s;
SET ivfflat.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM iv WHERE cat = 7 ORDER BY v <-> '[50,50,50]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM iv WHERE cat = 7 ORDER BY v <-> '[50,50,50]' LIMIT 100) s;
-- max_probes caps it
SET ivfflat.max_probes = 2;
SELECT count(*) <= 2 * 2000 / 50 + 20 AS capped FROM (SELECT id FROM iv ORDER BY v <-> '[50,50,50]' LIMIT 5000) s;
RESET ivfflat.max_probes;
RESET ivfflat.iterative_scan;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP INDEX iv_it;

-- the planner: a tiny table and a query without ORDER BY use no index
CREATE TABLE tiny (v vector(3));
INSERT INTO tiny VALUES ('[1,2,3]'), ('[4,5,6]');
CREATE INDEX ON tiny USING ivfflat (v) WITH (lists = 1);
ANALYZE tiny;
EXPLAIN (COSTS OFF) SELECT * FROM tiny ORDER BY v <-> '[1,1,1]' LIMIT 1;
CREATE TABLE big (v vector(3));
INSERT INTO big SELECT ARRAY[i % 101, i % 103, i % 107] FROM generate_series(1, 20000) i;
CREATE INDEX ON big USING ivfflat (v) WITH (lists = 100);
ANALYZE big;
EXPLAIN (COSTS OFF) SELECT * FROM big ORDER BY v <-> '[1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT * FROM big WHERE v <-> '[1,1,1]' < 10;
DROP TABLE tiny, big;

-- options, GUCs and their bounds
CREATE INDEX ON iv USING ivfflat (v) WITH (lists = 0);
CREATE INDEX ON iv USING ivfflat (v) WITH (lists = 32769);
CREATE INDEX ON iv USING ivfflat (v) WITH (foo = 1);
SHOW ivfflat.probes;
SHOW ivfflat.iterative_scan;
SHOW ivfflat.max_probes;
SET ivfflat.probes = 0;
SET ivfflat.probes = 32769;
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.max_probes = 0;

-- limits and types
CREATE TABLE nodim (v vector);
CREATE INDEX ON nodim USING ivfflat (v);
CREATE TABLE bigdim (v vector(2001));
CREATE INDEX ON bigdim USING ivfflat (v);
CREATE TABLE maxdim (v vector(2000));
INSERT INTO maxdim SELECT array_fill(i, ARRAY[2000])::vector FROM generate_series(1, 30) i;
CREATE INDEX ON maxdim USING ivfflat (v) WITH (lists = 3);
SET enable_seqscan = off;
SET ivfflat.probes = 3;
SELECT v <-> array_fill(29.5, ARRAY[2000])::vector AS d FROM maxdim
ORDER BY v <-> array_fill(29.5, ARRAY[2000])::vector LIMIT 2;
RESET ivfflat.probes;
RESET enable_seqscan;
CREATE TABLE ints (i int);
CREATE INDEX ON ints USING ivfflat (i);
DROP TABLE nodim, bigdim, maxdim, ints;
-- wrong dimensions: a query, an insert
SET enable_seqscan = off;
CREATE INDEX iv_l2 ON iv USING ivfflat (v) WITH (lists = 5);
SELECT id FROM iv ORDER BY v <-> '[1,2]' LIMIT 1;
INSERT INTO iv (id, v) VALUES (0, '[1,2]');
DROP INDEX iv_l2;
RESET enable_seqscan;

-- little data: fewer rows than lists says so and still answers exactly
CREATE TABLE few (id int, v vector(2));
INSERT INTO few VALUES (1, '[1,1]'), (2, '[5,5]'), (3, '[9,9]');
CREATE INDEX few_idx ON few USING ivfflat (v) WITH (lists = 10);
SET enable_seqscan = off;
SET ivfflat.probes = 10;
SELECT id FROM few ORDER BY v <-> '[6,6]' LIMIT 3;
RESET ivfflat.probes;
-- identical vectors: all of them come back
CREATE TABLE same (id int, v vector(2));
INSERT INTO same SELECT i, '[3,4]' FROM generate_series(1, 500) i;
CREATE INDEX ON same USING ivfflat (v) WITH (lists = 4);
SELECT count(*) FROM (SELECT id FROM same ORDER BY v <-> '[0,0]' LIMIT 1000) s;
RESET enable_seqscan;
DROP TABLE few, same;

-- a parallel build (leader and a worker append to the same lists), and a
-- sample limited by maintenance_work_mem; each finds every row by its vector
CREATE TABLE built (id int, v vector(64));
INSERT INTO built SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 64) j)::real[]
FROM generate_series(1, 6000) i;
CREATE VIEW self_found AS SELECT count(*) AS self_found FROM built s
WHERE s.id % 20 = 0 AND (SELECT t.id FROM built t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
SET min_parallel_table_scan_size = 0;
SET max_parallel_maintenance_workers = 1;
SET client_min_messages = debug1;
CREATE INDEX built_idx ON built USING ivfflat (v) WITH (lists = 30);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SET ivfflat.probes = 3;
SELECT * FROM self_found;
RESET enable_seqscan;
DROP INDEX built_idx;
SET maintenance_work_mem = '1MB';
CREATE INDEX built_idx ON built USING ivfflat (v) WITH (lists = 200);
RESET maintenance_work_mem;
SET enable_seqscan = off;
SELECT * FROM self_found;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP VIEW self_found;
DROP TABLE built;

-- a build counts the table's TOAST pages in its size (see hnsw_vector)
CREATE TABLE wide (id int, v vector(1000));
INSERT INTO wide SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 1000) j)::real[]
FROM generate_series(1, 300) i;
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = '1MB';
SET client_min_messages = debug1;
CREATE INDEX wide_idx ON wide USING ivfflat (v) WITH (lists = 5);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SET ivfflat.probes = 5;
SELECT count(*) AS self_found FROM wide s
WHERE (SELECT t.id FROM wide t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP TABLE wide;

-- the sample notice only when rows really were left out of the sample: not
-- for an empty table (which has pgvector's little-data notice instead), nor
-- for a table smaller than the limited sample
CREATE TABLE small (v vector(64));
SET maintenance_work_mem = '1MB';
\set VERBOSITY default
CREATE INDEX small_idx ON small USING ivfflat (v) WITH (lists = 200);
\set VERBOSITY terse
INSERT INTO small SELECT ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 64) j)::real[]
FROM generate_series(1, 500) i;
REINDEX INDEX small_idx;
RESET maintenance_work_mem;
DROP TABLE small;

-- more lists than distinct values: k-means leaves identical centroids, and
-- Hamming distances tie often.  For each seed, every distinct value must find
-- all rows equal to it at probes = 1 (counts how many values do not).
CREATE FUNCTION equal_rows_missed(typ text, opclass text, op text, vals text, lists int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  missed int := 0;
  m int;
BEGIN
  FOR s IN 1..10 LOOP
    CREATE TEMP TABLE dup (i int, v text);
    PERFORM setseed(s / 11.0);
    EXECUTE format('INSERT INTO dup SELECT i, (%s)[1 + floor(random() * cardinality(%s))::int] FROM generate_series(1, 100) i',
                   vals, vals);
    EXECUTE format('ALTER TABLE dup ALTER v TYPE %s USING v::%s', typ, typ);
    EXECUTE format('CREATE INDEX ON dup USING ivfflat (v %s) WITH (lists = %s)', opclass, lists);
    SET LOCAL enable_seqscan = off;
    EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT v FROM dup) d
                    WHERE (SELECT count(*) FROM dup t WHERE t.v = d.v) <>
                          (SELECT count(*) FROM (SELECT v FROM dup ORDER BY v %s d.v LIMIT 100) s WHERE s.v = d.v)', op)
      INTO m;
    missed := missed + m;
    RESET enable_seqscan;
    DROP TABLE dup;
  END LOOP;
  RETURN missed;
END $$;
SELECT equal_rows_missed('bit(3)', 'bit_hamming_ops', '<~>',
         $$ARRAY['000', '001', '010', '011', '100', '101', '110', '111']$$, 100) AS bit3,
       equal_rows_missed('bit(8)', 'bit_hamming_ops', '<~>',
         $$ARRAY(SELECT (j * 37 % 256)::bit(8)::text FROM generate_series(1, 40) j)$$, 20) AS bit8,
       equal_rows_missed('vector(3)', 'vector_l2_ops', '<->',
         $$ARRAY['[1,2,3]', '[3,1,2]', '[-1,0,4]', '[2,2,-5]', '[0.5,7,1]']$$, 100) AS vector_l2,
       equal_rows_missed('vector(3)', 'vector_cosine_ops', '<=>',
         $$ARRAY['[1,2,3]', '[3,1,2]', '[-1,0,4]', '[2,2,-5]', '[0.5,7,1]']$$, 100) AS vector_cosine,
       equal_rows_missed('halfvec(3)', 'halfvec_l2_ops', '<->',
         $$ARRAY['[1,2,3]', '[3,1,2]', '[-1,0,4]', '[2,2,-5]', '[0.5,7,1]']$$, 100) AS halfvec_l2;
DROP FUNCTION equal_rows_missed;

-- empty, unlogged, truncated and reindexed tables
CREATE TABLE empty (v vector(2));
CREATE INDEX empty_idx ON empty USING ivfflat (v);
SET enable_seqscan = off;
SELECT * FROM empty ORDER BY v <-> '[1,1]' LIMIT 1;
INSERT INTO empty VALUES ('[1,1]'), ('[2,2]');
SELECT * FROM empty ORDER BY v <-> '[0,0]' LIMIT 5;
TRUNCATE empty;
SELECT * FROM empty ORDER BY v <-> '[0,0]' LIMIT 5;
INSERT INTO empty SELECT ARRAY[i, i] FROM generate_series(1, 300) i;
REINDEX INDEX empty_idx;
SELECT * FROM empty ORDER BY v <-> '[0,0]' LIMIT 2;
RESET enable_seqscan;
CREATE UNLOGGED TABLE unlogged (v vector(2));
INSERT INTO unlogged VALUES ('[1,1]'), ('[2,2]');
CREATE INDEX ON unlogged USING ivfflat (v) WITH (lists = 1);
SET enable_seqscan = off;
SELECT * FROM unlogged ORDER BY v <-> '[0,0]' LIMIT 5;
RESET enable_seqscan;
DROP TABLE empty, unlogged;

-- the opclasses validate
SELECT opcname, amvalidate(c.oid) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE amname = 'ivfflat' ORDER BY opcname;
DROP TABLE iv;
DROP FUNCTION same_topk;
-- VACUUM's freed slots are reused: delete every row, VACUUM and insert the
-- same rows again, and the index keeps its size; then a third of them, with
-- new rows in their place.  Every row stays findable (all lists probed).
CREATE TABLE ivf_reuse (id int, v vector(16)) WITH (autovacuum_enabled = false);
INSERT INTO ivf_reuse SELECT i, ARRAY(SELECT sin(i * j) FROM generate_series(1, 16) j)::real[]
FROM generate_series(1, 3000) i;
CREATE INDEX ivf_reuse_v ON ivf_reuse USING ivfflat (v) WITH (lists = 10);
SELECT pg_relation_size('ivf_reuse_v') AS reuse_before \gset
DELETE FROM ivf_reuse;
VACUUM ivf_reuse;
INSERT INTO ivf_reuse SELECT i, ARRAY(SELECT sin(i * j) FROM generate_series(1, 16) j)::real[]
FROM generate_series(1, 3000) i;
SELECT pg_relation_size('ivf_reuse_v') = :reuse_before AS same_size;
DELETE FROM ivf_reuse WHERE id % 3 = 0;
VACUUM ivf_reuse;
INSERT INTO ivf_reuse SELECT i, ARRAY(SELECT cos(i * j) FROM generate_series(1, 16) j)::real[]
FROM generate_series(3001, 4000) i;
SELECT pg_relation_size('ivf_reuse_v') = :reuse_before AS same_size;
SELECT * FROM vector_index_check('ivf_reuse_v');
SET enable_seqscan = off;
SET ivfflat.probes = 10;
SELECT count(*) FROM (SELECT id FROM ivf_reuse ORDER BY v <-> (SELECT v FROM ivf_reuse WHERE id = 1) LIMIT 5000) s;
RESET enable_seqscan;
RESET ivfflat.probes;
DROP TABLE ivf_reuse;

-- rows whose inner product with the query is NaN (terms that overflow
-- float: Infinity less Infinity) come out last, and the others in order
-- (the scan's heap compared with <, and 30 NaN rows among 300 in one list
-- broke its order: rows after farther ones, NaN rows among the first)
CREATE TABLE ivf_nan (id int, v vector(2));
INSERT INTO ivf_nan SELECT i, CASE WHEN i % 10 = 0 THEN '[3e38,-3e38]'::vector
	ELSE ARRAY[random() * 100, random() * 100]::vector END FROM generate_series(1, 300) i;
CREATE INDEX ivf_nan_idx ON ivf_nan USING ivfflat (v vector_ip_ops) WITH (lists = 1);
SET enable_seqscan = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE d = 'NaN') AS nan_rows, bool_and(ok) AS ordered FROM (
	SELECT d, CASE WHEN lag(d) OVER w IS NULL THEN true
		WHEN 'NaN'::float8 = lag(d) OVER w THEN 'NaN'::float8 = d
		ELSE d >= lag(d) OVER w OR 'NaN'::float8 = d END AS ok
	FROM (SELECT v <#> '[1e10,1e10]' AS d, row_number() OVER () AS n FROM
		(SELECT v FROM ivf_nan ORDER BY v <#> '[1e10,1e10]' LIMIT 300) s) t
	WINDOW w AS (ORDER BY n)) x;
RESET enable_seqscan;
DROP TABLE ivf_nan;
