-- hnsw on vector: each query under a seq scan and under the index, with
-- EXPLAIN showing the plan changed; options, limits and validation.
\set VERBOSITY terse
SET hnsw.ef_search = 100;

CREATE TABLE hv (id int, v vector(3));
INSERT INTO hv SELECT i, ARRAY[(i * 37) % 101, (i * 53) % 103, (i * 71) % 107]::real[]
FROM generate_series(1, 1000) i;
INSERT INTO hv VALUES (1001, NULL), (1002, '[0,0,0]');

-- l2: the same ids with and without the index
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS SELECT id FROM hv ORDER BY v <-> '[50,50,50]', id LIMIT 10;
RESET enable_indexscan;
CREATE INDEX hv_l2 ON hv USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <-> '[50,50,50]' LIMIT 10;
SELECT count(*) AS found FROM (SELECT id FROM hv ORDER BY v <-> '[50,50,50]' LIMIT 10) s
WHERE id IN (SELECT id FROM exact);
-- distances come out in order and the NULL row is not indexed
SELECT bool_and(d >= lag) AS ordered, count(*) FROM (
  SELECT v <-> '[50,50,50]' AS d, lag(v <-> '[50,50,50]', 1, 0) OVER (ORDER BY v <-> '[50,50,50]') AS lag
  FROM hv ORDER BY v <-> '[50,50,50]' LIMIT 2000) s;
-- after inserts
INSERT INTO hv SELECT i, ARRAY[50 + i % 3, 50 + i % 5, 50] FROM generate_series(2000, 2009) i;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hv ORDER BY v <-> '[50,50,50]' LIMIT 10) s;
-- after delete + vacuum the deleted rows are gone from the results
DELETE FROM hv WHERE id >= 2000 AND id % 2 = 0;
VACUUM hv;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hv ORDER BY v <-> '[50,50,50]' LIMIT 5) s;
DROP INDEX hv_l2;
RESET enable_seqscan;

-- the other metrics, each against its seq scan
CREATE FUNCTION same_topk(op text, opclass text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text := '''[30,60,90]''';
  exact int[];
  got int[];
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v %s %s, id LIMIT 5) s', op, q) INTO exact;
  EXECUTE format('CREATE INDEX hv_idx ON hv USING hnsw (v %s)', opclass);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v %s %s LIMIT 5) s', op, q) INTO got;
  EXECUTE 'DROP INDEX hv_idx';
  RETURN CASE WHEN exact @> got AND got @> exact THEN 'same' ELSE format('differs: %s vs %s', exact, got) END;
END $$;
SELECT same_topk('<#>', 'vector_ip_ops') AS ip, same_topk('<=>', 'vector_cosine_ops') AS cosine,
       same_topk('<+>', 'vector_l1_ops') AS l1;

-- the zero vector is not indexed under cosine
CREATE INDEX hv_cos ON hv USING hnsw (v vector_cosine_ops);
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY v <=> '[1,1,1]' LIMIT 5000) s WHERE id = 1002;
RESET enable_seqscan;
DROP INDEX hv_cos;

-- the planner: a tiny table and a big LIMIT use a seq scan
CREATE TABLE tiny (v vector(3));
INSERT INTO tiny VALUES ('[1,2,3]'), ('[4,5,6]');
CREATE INDEX ON tiny USING hnsw (v vector_l2_ops);
ANALYZE tiny;
EXPLAIN (COSTS OFF) SELECT * FROM tiny ORDER BY v <-> '[1,1,1]' LIMIT 1;
CREATE TABLE big (v vector(3));
INSERT INTO big SELECT ARRAY[i % 101, i % 103, i % 107] FROM generate_series(1, 20000) i;
CREATE INDEX ON big USING hnsw (v vector_l2_ops);
ANALYZE big;
EXPLAIN (COSTS OFF) SELECT * FROM big ORDER BY v <-> '[1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT * FROM big ORDER BY v <-> '[1,1,1]' LIMIT 10000;
EXPLAIN (COSTS OFF) SELECT * FROM big ORDER BY v <-> '[1,1,1]';
EXPLAIN (COSTS OFF) SELECT * FROM big WHERE v <-> '[1,1,1]' < 10;
DROP TABLE tiny, big;

-- options and their bounds
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON hv USING hnsw (v vector_l2_ops) WITH (foo = 1);
CREATE INDEX hv_opts ON hv USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
DROP INDEX hv_opts;
SHOW hnsw.ef_search;
SET hnsw.ef_search = 0;
SET hnsw.ef_search = 1001;
SET hnsw.iterative_scan = on;
SET hnsw.max_scan_tuples = 0;
SET hnsw.scan_mem_multiplier = 0;

-- limits and types
CREATE TABLE nodim (v vector);
CREATE INDEX ON nodim USING hnsw (v vector_l2_ops);
CREATE TABLE bigdim (v vector(2001));
-- past 2,000 dimensions the index holds codes (hnsw_codes), where the metric has them
CREATE INDEX ON bigdim USING hnsw (v vector_l2_ops);
CREATE INDEX ON bigdim USING hnsw (v vector_l1_ops);
CREATE TABLE maxdim (v vector(2000));
INSERT INTO maxdim SELECT array_fill(i, ARRAY[2000])::vector FROM generate_series(1, 3) i;
CREATE INDEX ON maxdim USING hnsw (v vector_l2_ops);
CREATE INDEX ON maxdim USING hnsw (v vector_l2_ops) WITH (m = 100, ef_construction = 200);
CREATE TABLE ints (i int);
CREATE INDEX ON ints USING hnsw (i);
CREATE INDEX ON ints USING hnsw (i vector_l2_ops);
DROP TABLE nodim, bigdim, maxdim, ints;
-- a query of the wrong dimensions
SET enable_seqscan = off;
SELECT id FROM hv ORDER BY v <-> '[1,2]' LIMIT 1;
RESET enable_seqscan;

-- two ways to build, each then finding every row by its own vector: one
-- that outgrows maintenance_work_mem says so and finishes on disk, and a
-- parallel one, where the leader and a worker insert into one shared graph
CREATE TABLE built (id int, v vector(64));
INSERT INTO built SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 64) j)::real[]
FROM generate_series(1, 6000) i;
CREATE VIEW self_found AS SELECT count(*) AS self_found FROM built s
WHERE s.id % 20 = 0 AND (SELECT t.id FROM built t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
SET maintenance_work_mem = '1MB';
CREATE INDEX built_idx ON built USING hnsw (v vector_l2_ops);
RESET maintenance_work_mem;
SET enable_seqscan = off;
SELECT * FROM self_found;
RESET enable_seqscan;
DROP INDEX built_idx;
SET min_parallel_table_scan_size = 0;
SET max_parallel_maintenance_workers = 1;
SET client_min_messages = debug1;
CREATE INDEX built_idx ON built USING hnsw (v vector_l2_ops);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SELECT * FROM self_found;
RESET enable_seqscan;
DROP VIEW self_found;
DROP TABLE built;

-- a parallel build whose graph does not fit in maintenance_work_mem less
-- the 3 MB a parallel build keeps (pgvector's rule) builds a shared graph
-- of what fits (here the least, 1,024 nodes); when it is full, the leader
-- writes it, says so, and the leader and the worker insert the rest on
-- disk; every row is found by its own vector
CREATE TABLE tiny (id int, v vector(3));
INSERT INTO tiny SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.5)] FROM generate_series(1, 3000) i;
ALTER TABLE tiny SET (parallel_workers = 1);
SET maintenance_work_mem = '3073kB';
SET client_min_messages = debug1;
CREATE INDEX tiny_idx ON tiny USING hnsw (v vector_l2_ops);
RESET client_min_messages;
RESET maintenance_work_mem;
SET enable_seqscan = off;
SELECT count(*) >= 2970 AS self_found FROM tiny s
WHERE (SELECT t.id FROM tiny t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET enable_seqscan;
SELECT * FROM vector_index_check('tiny_idx');
DROP TABLE tiny;

-- a parallel build on a table that grew since ANALYZE (it saw 50 rows, the
-- table has 3000) sizes its shared graph for the pages the table has now,
-- as the planner does, so the graph fits (no spill notice); every row is
-- found by its own vector.  (Sized for the 50 rows, it used to start again
-- serially, and before that grew arrays of the unmapped segment and crashed.)
CREATE TABLE grown (id int, v vector(64)) WITH (autovacuum_enabled = off);
INSERT INTO grown SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 64) j)::real[]
FROM generate_series(1, 50) i;
ANALYZE grown;
INSERT INTO grown SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 64) j)::real[]
FROM generate_series(51, 3000) i;
SET min_parallel_table_scan_size = 0;
SET max_parallel_maintenance_workers = 1;
SET client_min_messages = debug1;
CREATE INDEX grown_idx ON grown USING hnsw (v vector_l2_ops);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SELECT count(*) AS self_found FROM grown s
WHERE s.id % 10 = 0 AND (SELECT t.id FROM grown t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET enable_seqscan;
SELECT * FROM vector_index_check('grown_idx');
DROP TABLE grown;

-- a build counts the table's TOAST pages in its size, as the work they
-- hold: vectors of 1,000 dimensions live out of line, the table proper
-- holds 2 pages of pointers to 150 of TOAST, and against 1 MB (128 pages)
-- the planner's rule alone built it serially; against 8 MB it is still
-- too small for a worker
CREATE TABLE wide (id int, v vector(1000));
INSERT INTO wide SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 1000) j)::real[]
FROM generate_series(1, 300) i;
SELECT pg_relation_size('wide') < 3 * 8192 AS small_table,
       pg_relation_size(reltoastrelid) > 140 * 8192 AS large_toast
FROM pg_class WHERE relname = 'wide';
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = '1MB';
SET client_min_messages = debug1;
CREATE INDEX wide_idx ON wide USING hnsw (v vector_l2_ops);
RESET client_min_messages;
SHOW min_parallel_table_scan_size;
DROP INDEX wide_idx;
SET min_parallel_table_scan_size = '8MB';
SET client_min_messages = debug1;
CREATE INDEX wide_idx ON wide USING hnsw (v vector_l2_ops);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SELECT count(*) AS self_found FROM wide s
WHERE s.id % 10 = 0 AND (SELECT t.id FROM wide t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET enable_seqscan;
DROP TABLE wide;

-- a parallel build on a table never analysed counts the rows of its first
-- blocks instead of the planner's guess from a vector's width (32 bytes,
-- where a value in TOAST leaves 18 in the row): sized for that guess
-- (8,128 of 10,000 rows), the shared graph filled and the build spilled
-- with a NOTICE
CREATE TABLE wide (id int, v vector(520)) WITH (autovacuum_enabled = off);
INSERT INTO wide SELECT i, array_fill(i * 0.001::real, ARRAY[520]) FROM generate_series(1, 10000) i;
SELECT reltuples < 0 AS never_analysed FROM pg_class WHERE relname = 'wide';
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET client_min_messages = debug1;
CREATE INDEX wide_idx ON wide USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 10, bits = 1);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SELECT * FROM vector_index_check('wide_idx');
DROP TABLE wide;

-- running out of node ids is a clean error, on insert and in a build
-- (hnsw.test_max_nodes lowers the limit of 2^32 - 2 for the test)
CREATE TABLE few (id int, v vector(2));
INSERT INTO few SELECT i, ARRAY[i, i % 7]::real[] FROM generate_series(1, 20) i;
CREATE INDEX few_idx ON few USING hnsw (v vector_l2_ops);
SET hnsw.test_max_nodes = 21;
INSERT INTO few VALUES (21, '[100,1]');
INSERT INTO few VALUES (22, '[101,1]');
SET hnsw.test_max_nodes = 10;
REINDEX INDEX few_idx;
RESET hnsw.test_max_nodes;
INSERT INTO few VALUES (22, '[101,1]');
SET enable_seqscan = off;
SELECT count(*) AS self_found FROM few s
WHERE (SELECT t.id FROM few t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET enable_seqscan;
SELECT * FROM vector_index_check('few_idx');
DROP TABLE few;

-- empty and unlogged tables
CREATE TABLE empty (v vector(2));
CREATE INDEX ON empty USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
SELECT * FROM empty ORDER BY v <-> '[1,1]' LIMIT 1;
INSERT INTO empty VALUES ('[1,1]'), ('[2,2]');
SELECT * FROM empty ORDER BY v <-> '[0,0]' LIMIT 5;
RESET enable_seqscan;
CREATE UNLOGGED TABLE unlogged (v vector(2));
INSERT INTO unlogged VALUES ('[1,1]'), ('[2,2]');
CREATE INDEX ON unlogged USING hnsw (v vector_l2_ops);
DROP TABLE empty, unlogged;

-- every opclass passes the validator
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw') ORDER BY opcname;

DROP TABLE hv;
DROP FUNCTION same_topk(text, text);
-- a deleted crowd of duplicates: 600 equal vectors, half chained at the
-- build and half inserted after it, all deleted and vacuumed (the heap is
-- truncated under them).  Chains lose their dead members and dead heads
-- leave the graph, so searches next to them still fill their LIMIT.
CREATE TABLE dupdead (id int, v vector(3)) WITH (autovacuum_enabled = false);
INSERT INTO dupdead SELECT i, ARRAY[abs(sin(i)), abs(sin(2 * i)), abs(sin(3 * i))]
FROM generate_series(1, 2000) i;
INSERT INTO dupdead SELECT 10000 + i, '[0.5,0.5,0.5]' FROM generate_series(1, 300) i;
CREATE INDEX dupdead_v ON dupdead USING hnsw (v vector_l2_ops);
INSERT INTO dupdead SELECT 20000 + i, '[0.5,0.5,0.5]' FROM generate_series(1, 300) i;
DELETE FROM dupdead WHERE id > 10000;
VACUUM dupdead;
SET enable_seqscan = off;
SET hnsw.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM dupdead ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10) s;
SET hnsw.ef_search = 40;
SELECT count(*) FROM (SELECT id FROM dupdead ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 40) s;
SELECT count(*) FROM (SELECT id FROM dupdead ORDER BY v <-> '[0.5,0.5,0.55]' LIMIT 40) s;
SELECT * FROM vector_index_check('dupdead_v');
RESET enable_seqscan;
RESET hnsw.ef_search;
DROP TABLE dupdead;

-- crowds of duplicates: 2,000 rows of 5 vectors.  About one row in 16
-- draws an upper level; such a row too joins the chain of its equal node
-- instead of becoming one more node at distance 0 from it, so the graph
-- has 5 nodes and an exhaustive scan returns every row, built (serial and
-- parallel) or inserted.  As nodes of their own, an exhaustive scan from
-- one end returned 811 rows.
CREATE TABLE crowd (id int, v vector(2)) WITH (autovacuum_enabled = false);
INSERT INTO crowd SELECT i, format('[0,%s]', i % 5)::vector FROM generate_series(1, 2000) i;
CREATE INDEX crowd_v ON crowd USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SELECT v, count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[5,5]' LIMIT 5000) s GROUP BY v ORDER BY v;
SELECT * FROM vector_index_check('crowd_v', 100);
DROP INDEX crowd_v;
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
CREATE INDEX crowd_v ON crowd USING hnsw (v vector_l2_ops);
RESET max_parallel_maintenance_workers;
RESET min_parallel_table_scan_size;
SELECT count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[5,5]' LIMIT 5000) s;
TRUNCATE crowd;
INSERT INTO crowd SELECT i, format('[0,%s]', i % 5)::vector FROM generate_series(1, 2000) i;
SELECT count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[5,5]' LIMIT 5000) s;
SELECT count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[-5,-5]' LIMIT 5000) s;
SELECT * FROM vector_index_check('crowd_v', 100);
-- m = 2: half the rows draw an upper level
DROP TABLE crowd;
CREATE TABLE crowd (id int, v vector(2));
INSERT INTO crowd SELECT i, CASE WHEN i % 2 = 0 THEN format('[%s,%s]', i % 5 - 2, i % 7 - 3)::vector
                                 ELSE '[0,0]' END
FROM generate_series(1, 15) i;
CREATE INDEX crowd_v ON crowd USING hnsw (v vector_l2_ops) WITH (m = 2);
SELECT count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[0,0]' LIMIT 100) s;
SELECT count(*) FROM (SELECT v FROM crowd ORDER BY v <-> '[1,1]' LIMIT 100) s;
SELECT * FROM vector_index_check('crowd_v', 100);
RESET enable_seqscan;
RESET hnsw.iterative_scan;
DROP TABLE crowd;

-- VACUUM of a chain whose members are alternately dead and live: 40 equal
-- rows inserted one by one, every second deleted.  VACUUM counted the live
-- member that ends each dead run twice, took the chain's 60 steps for a
-- loop through more than the index's 40 nodes, and failed with "has a
-- duplicate chain that loops" every time after.
CREATE TABLE vch (id int, v vector(3)) WITH (autovacuum_enabled = false);
SET hnsw.test_level_seed = 2;
CREATE INDEX vch_v ON vch USING hnsw (v vector_l2_ops);
INSERT INTO vch SELECT i, '[1,2,3]' FROM generate_series(1, 40) i;
RESET hnsw.test_level_seed;
DELETE FROM vch WHERE id % 2 = 0;
VACUUM vch;
SELECT * FROM vector_index_check('vch_v');
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM vch ORDER BY v <-> '[1,2,3]' LIMIT 100) s;
RESET enable_seqscan;
DROP TABLE vch;

-- the entry point seeds layer 0 too: here no layer-0 list leads to it (m 2,
-- inner product on rows close to one another), and an exhaustive iterative
-- scan returned every row but the entry point's (65 of 66)
CREATE TABLE ent (id int, v vector(63));
INSERT INTO ent SELECT i, ARRAY(SELECT 1000 + ((i * 37 + j * 101 + i * j) % 41 - 20) * 0.0001
                               FROM generate_series(1, 63) j)::real[]::vector
FROM generate_series(1, 66) i;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX ent_v ON ent USING hnsw (v vector_ip_ops) WITH (m = 2, ef_construction = 8);
RESET max_parallel_maintenance_workers;
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM ent ORDER BY v <#> (SELECT v FROM ent WHERE id = 5) LIMIT 100) s;
RESET enable_seqscan;
RESET hnsw.iterative_scan;

-- the build's reachability repair takes a free slot or a link outside its
-- walk's tree, so it never cuts off a node it reached: on the same rows under
-- cosine (near-parallel, so the codes barely tell them apart) it took the
-- place of links other reached nodes shared, and those were reached only
-- through the link it took; 16 nodes stayed unreachable after ten rounds
SET max_parallel_maintenance_workers = 0;
CREATE INDEX ent_c8 ON ent USING hnsw (v vector_cosine_ops) WITH (m = 2, ef_construction = 8, bits = 8);
CREATE INDEX ent_c4 ON ent USING hnsw (v vector_cosine_ops) WITH (m = 2, ef_construction = 8, bits = 4);
RESET max_parallel_maintenance_workers;
SELECT * FROM vector_index_check('ent_c8');
SELECT * FROM vector_index_check('ent_c4');
DROP TABLE ent;

-- so does VACUUM's, and it walks layer 0 as the scan does: inserted one by
-- one, every third row deleted.  It walked every level, so nodes reached
-- only through upper-level links were left, and an exhaustive scan after
-- VACUUM returned 105 to 123 of these 200 rows; and its links went through
-- the insert's back-link path, whose heuristic pushed out neighbours only
-- that link led to: after its three rounds 10 or more nodes could not be
-- reached on any level.  The check now walks layer 0 too.
CREATE TABLE vrep (id int, v vector(63));
CREATE INDEX vrep_v ON vrep USING hnsw (v vector_cosine_ops) WITH (m = 2, ef_construction = 8, bits = 4);
INSERT INTO vrep SELECT i, ARRAY(SELECT 1000 + ((i * 37 + j * 101 + i * j) % 41 - 20) * 0.0001
                                 FROM generate_series(1, 63) j)::real[]::vector
FROM generate_series(1, 300) i;
DELETE FROM vrep WHERE id % 3 = 0;
VACUUM vrep;
SELECT * FROM vector_index_check('vrep_v');
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM vrep ORDER BY v <=> (SELECT v FROM vrep WHERE id = 5) LIMIT 300) s;
RESET enable_seqscan;
RESET hnsw.iterative_scan;
DROP TABLE vrep;
