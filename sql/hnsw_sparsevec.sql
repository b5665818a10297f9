-- hnsw on sparsevec: each opclass against its seq scan; NULLs, zero and
-- empty vectors; the 1,000 non-zero limit; a build that outgrows
-- maintenance_work_mem; inserts, VACUUM, REINDEX, the structural check and
-- the validator.  Items are variable-length and live out of line
-- (src/hnsw/README.md), so every path that reads an item is exercised.
\set VERBOSITY terse

-- 3,000 rows of 16 non-zeros in 1,000 dimensions: three dimensions every
-- row has, with values that change slowly with i (as common terms give
-- real sparse data some overlap everywhere), and a bump of 13 dimensions
-- whose centre slides with i and whose height oscillates; the values change
-- smoothly, so near rows are near vectors, and distances rarely tie
CREATE FUNCTION sv_text(i int, phase float8) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT '{1:' || round((1.5 + sin(i * 0.004))::numeric, 3) ||
         ',2:' || round((1.5 + cos(i * 0.004))::numeric, 3) ||
         ',3:' || round((1.5 + sin(i * 0.011))::numeric, 3) || ',' ||
         string_agg((c + j) || ':' ||
                    round(((2 + sin(i * 0.7 + phase)) * exp(-power(c + j - (10 + i * 0.27), 2) / 8))::numeric, 3),
                    ',') || '}/1000'
  FROM (SELECT (10 + i * 0.27)::int AS c) c, generate_series(-6, 6) j
$$;
CREATE FUNCTION sv_row(i int) RETURNS sparsevec LANGUAGE sql IMMUTABLE AS $$
  SELECT sv_text(i, 0)::sparsevec
$$;
-- a query near row i: its dimensions, other values
CREATE FUNCTION sv_near(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT sv_text(i, 0.3)
$$;
-- a query with a small non-zero in every dimension: no row is at a tied
-- distance for lack of a shared dimension (small, so that the distances
-- stay far apart in float)
CREATE FUNCTION sv_dense(k int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT '{' || string_agg(d || ':' || round((sin(d * 0.05 + k) * 0.005 + 0.006)::numeric, 4), ',') || '}/1000'
  FROM generate_series(1, 1000) d
$$;
CREATE TABLE hs (id int, v sparsevec(1000));
INSERT INTO hs SELECT i, sv_row(i) FROM generate_series(1, 3000) i;
INSERT INTO hs VALUES (3001, NULL), (3002, '{}/1000');

-- each opclass against a seq scan: on 600 rows with ef_search above the
-- row count, the same ids (the order is checked below); on all 3,000 rows
-- at ef_search 200, at least 9 of the 10 nearest
CREATE FUNCTION same_topk(op text, opclass text, q text, maxid int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  exact int[];
  got int[];
  plan text := '';
  line text;
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hs WHERE id <= %s AND v IS NOT NULL ORDER BY v %s %L, id LIMIT 10) s',
                 maxid, op, q) INTO exact;
  EXECUTE format('CREATE TEMP TABLE hs_part AS SELECT * FROM hs WHERE id <= %s', maxid);
  EXECUTE format('CREATE INDEX hs_idx ON hs_part USING hnsw (v %s)', opclass);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM hs_part ORDER BY v %s %L LIMIT 10', op, q) LOOP
    plan := plan || line;
  END LOOP;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hs_part ORDER BY v %s %L LIMIT 10) s', op, q) INTO got;
  DROP TABLE hs_part;
  IF plan NOT LIKE '%Index Scan using hs_idx%' THEN
    RETURN 'no index scan: ' || plan;
  ELSIF maxid <= 1000 THEN
    RETURN CASE WHEN exact @> got AND got @> exact THEN 'same' ELSE format('differs: %s vs %s', exact, got) END;
  ELSE
    RETURN CASE WHEN (SELECT count(*) FROM unnest(got) g WHERE g = ANY (exact)) >= 9 THEN 'recall ok'
                ELSE format('differs: %s vs %s', exact, got) END;
  END IF;
END $$;
SET hnsw.ef_search = 1000;
SELECT same_topk('<->', 'sparsevec_l2_ops', sv_dense(1), 600) AS l2,
       same_topk('<#>', 'sparsevec_ip_ops', sv_dense(1), 600) AS ip,
       same_topk('<=>', 'sparsevec_cosine_ops', sv_dense(1), 600) AS cosine,
       same_topk('<+>', 'sparsevec_l1_ops', sv_dense(1), 600) AS l1;
SELECT same_topk('<->', 'sparsevec_l2_ops', sv_row(7)::text, 600) AS l2,
       same_topk('<#>', 'sparsevec_ip_ops', sv_row(7)::text, 600) AS ip,
       same_topk('<=>', 'sparsevec_cosine_ops', sv_row(7)::text, 600) AS cosine,
       same_topk('<+>', 'sparsevec_l1_ops', sv_row(7)::text, 600) AS l1;
SET hnsw.ef_search = 200;
SELECT same_topk('<->', 'sparsevec_l2_ops', sv_near(1234), 3000) AS l2,
       same_topk('<#>', 'sparsevec_ip_ops', sv_near(1234), 3000) AS ip,
       same_topk('<=>', 'sparsevec_cosine_ops', sv_near(1234), 3000) AS cosine,
       same_topk('<+>', 'sparsevec_l1_ops', sv_near(1234), 3000) AS l1;
SELECT same_topk('<->', 'sparsevec_l2_ops', sv_near(2001), 3000) AS l2,
       same_topk('<#>', 'sparsevec_ip_ops', sv_near(2001), 3000) AS ip,
       same_topk('<=>', 'sparsevec_cosine_ops', sv_near(2001), 3000) AS cosine,
       same_topk('<+>', 'sparsevec_l1_ops', sv_near(2001), 3000) AS l1;
SET hnsw.ef_search = 100;

-- l2 in detail: ordered distances; the NULL row is not indexed, the empty
-- vector (no non-zeros) is, at its norm from the query
CREATE INDEX hs_l2 ON hs USING hnsw (v sparsevec_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hs ORDER BY v <-> '{1:1}/1000' LIMIT 5;
SELECT id, round((v <-> '{1:0.5,2:0.5}/1000')::numeric, 6) AS d
FROM hs ORDER BY v <-> '{1:0.5,2:0.5}/1000' LIMIT 3;
SELECT id FROM hs ORDER BY v <-> '{}/1000' LIMIT 1;
SELECT bool_and(d >= lag) AS ordered, count(*), count(*) FILTER (WHERE id = 3001) AS nulls FROM (
  SELECT id, v <-> '{5:1}/1000' AS d, lag(v <-> '{5:1}/1000', 1, 0) OVER (ORDER BY v <-> '{5:1}/1000') AS lag
  FROM hs ORDER BY v <-> '{5:1}/1000' LIMIT 5000) s;
-- a query of the wrong dimensions; a query with more non-zeros than an
-- indexed value may have is fine (it is never stored)
SELECT id FROM hs ORDER BY v <-> '{1:1}/999' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM hs ORDER BY v <-> (SELECT ('{' || string_agg(i || ':1', ',') || '}/1000')::sparsevec
                                                        FROM generate_series(1, 1000) i) LIMIT 3) s;
-- a row of other dimensions cannot even be stored in the column
INSERT INTO hs VALUES (9999, '{1:1}/5');

-- iterative scan with a filter: keeps going until the LIMIT is met
SET hnsw.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM hs WHERE id % 50 = 0 ORDER BY v <-> sv_row(77) LIMIT 20) s;
SET hnsw.iterative_scan = strict_order;
SELECT count(*), bool_and(d >= lag) AS ordered FROM (
  SELECT id, v <-> sv_row(77) AS d, lag(v <-> sv_row(77), 1, 0) OVER (ORDER BY v <-> sv_row(77)) AS lag
  FROM (SELECT id, v FROM hs WHERE id % 50 = 0 ORDER BY v <-> sv_row(77) LIMIT 20) f) s;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM hs WHERE id % 50 = 0 ORDER BY v <-> sv_row(77) LIMIT 20) s;
RESET hnsw.iterative_scan;
SET hnsw.ef_search = 100;

-- inserts after the build (new item pages), then (nearly) each row finds
-- itself: insert levels are random, so one miss in 100 can happen
INSERT INTO hs SELECT i, sv_row(i) FROM generate_series(3003, 3500) i;
SELECT count(*) >= 98 AS nearly_all_self_found FROM hs s
WHERE s.id BETWEEN 3003 AND 3500 AND s.id % 5 = 0
  AND (SELECT t.id FROM hs t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
SELECT * FROM vector_index_check('hs_l2');
-- DELETE, VACUUM, and the same vectors inserted again
DELETE FROM hs WHERE id % 3 = 0;
VACUUM hs;
SELECT * FROM vector_index_check('hs_l2');
SELECT count(*) FROM (SELECT id FROM hs ORDER BY v <-> sv_row(9) LIMIT 10) s WHERE id % 3 = 0;
INSERT INTO hs SELECT i + 10000, sv_row(i) FROM generate_series(3, 3000, 3) i;
SELECT id FROM hs ORDER BY v <-> sv_row(9) LIMIT 1;
SELECT * FROM vector_index_check('hs_l2');
REINDEX INDEX hs_l2;
SELECT id FROM hs ORDER BY v <-> sv_row(9) LIMIT 1;
SELECT * FROM vector_index_check('hs_l2');
RESET enable_seqscan;
DROP INDEX hs_l2;

-- cosine: the zero vector is not indexed (neither the empty row nor one
-- inserted later), NULLs neither
CREATE INDEX hs_cos ON hs USING hnsw (v sparsevec_cosine_ops);
INSERT INTO hs VALUES (20000, '{}/1000'), (20001, NULL), (20002, '{3:2}/1000');
SET enable_seqscan = off;
SELECT count(*), count(*) FILTER (WHERE v = '{}/1000') AS zeros, count(*) FILTER (WHERE v IS NULL) AS nulls
FROM (SELECT id, v FROM hs ORDER BY v <=> '{3:1}/1000' LIMIT 100000) s;
SELECT id FROM hs ORDER BY v <=> '{3:1}/1000' LIMIT 1;
-- a zero query under cosine has no direction: every distance is NaN in
-- SQL; the index still returns rows
SELECT count(*) FROM (SELECT id FROM hs ORDER BY v <=> '{}/1000' LIMIT 5) s;
SELECT * FROM vector_index_check('hs_cos');
RESET enable_seqscan;
DROP INDEX hs_cos;

-- the limit: 1,000 non-zeros index, 1,001 do not (at build and at insert)
CREATE TABLE big (id int, v sparsevec(5000));
INSERT INTO big SELECT 1, ('{' || string_agg(i || ':' || i, ',') || '}/5000')::sparsevec FROM generate_series(1, 1000) i;
INSERT INTO big SELECT 2, ('{' || string_agg(i || ':' || i, ',') || '}/5000')::sparsevec FROM generate_series(2, 1001) i;
CREATE INDEX big_idx ON big USING hnsw (v sparsevec_ip_ops);
SET enable_seqscan = off;
SELECT id FROM big ORDER BY v <#> '{1000:1}/5000' LIMIT 1;
INSERT INTO big SELECT 3, ('{' || string_agg(i || ':1', ',') || '}/5000')::sparsevec FROM generate_series(1, 1001) i;
RESET enable_seqscan;
SELECT * FROM vector_index_check('big_idx');
DROP INDEX big_idx;
INSERT INTO big SELECT 4, ('{' || string_agg(i || ':1', ',') || '}/5000')::sparsevec FROM generate_series(1, 1001) i;
CREATE INDEX big_idx ON big USING hnsw (v sparsevec_ip_ops);
DROP TABLE big;
-- a column without dimensions; no dimension limit beyond the type's
CREATE TABLE nodim (v sparsevec);
CREATE INDEX ON nodim USING hnsw (v sparsevec_l2_ops);
CREATE TABLE hugedim (id int, v sparsevec(1000000000));
INSERT INTO hugedim VALUES (1, '{1:1,999999999:2}/1000000000'), (2, '{1000000000:1}/1000000000');
CREATE INDEX ON hugedim USING hnsw (v sparsevec_l1_ops);
SET enable_seqscan = off;
SELECT id FROM hugedim ORDER BY v <+> '{999999999:1}/1000000000' LIMIT 1;
RESET enable_seqscan;
DROP TABLE nodim, hugedim;
-- ivfflat does not take sparsevec
CREATE INDEX ON hs USING ivfflat (v);

-- a build that outgrows maintenance_work_mem says so, writes what it has
-- and goes on with on-disk inserts; (nearly) every row still finds itself
CREATE TABLE built (id int, v sparsevec(3000));
INSERT INTO built SELECT i, ('{' || string_agg((i % 2900 + j) || ':' ||
                                               round(sin(i * 0.37 + j * 1.3)::numeric, 4), ',') || '}/3000')::sparsevec
FROM generate_series(1, 2500) i, generate_series(1, 100) j GROUP BY i;
SET maintenance_work_mem = '1MB';
CREATE INDEX built_idx ON built USING hnsw (v sparsevec_l2_ops);
RESET maintenance_work_mem;
SET enable_seqscan = off;
SELECT count(*) >= 98 AS nearly_all_self_found FROM built s
WHERE s.id % 25 = 0 AND (SELECT t.id FROM built t ORDER BY t.v <-> s.v LIMIT 1) = s.id;
RESET enable_seqscan;
SELECT * FROM vector_index_check('built_idx');
-- sparsevec builds in parallel too (its items in an arena in shared memory)
SET min_parallel_table_scan_size = 0;
SET max_parallel_maintenance_workers = 1;
SET client_min_messages = debug1;
CREATE INDEX built_par ON built USING hnsw (v sparsevec_l2_ops);
RESET client_min_messages;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
SELECT * FROM vector_index_check('built_par');
DROP TABLE built;

-- empty and unlogged tables
CREATE TABLE empty (v sparsevec(10));
CREATE INDEX empty_idx ON empty USING hnsw (v sparsevec_l2_ops);
SET enable_seqscan = off;
SELECT * FROM empty ORDER BY v <-> '{1:1}/10' LIMIT 1;
INSERT INTO empty VALUES ('{1:1}/10'), ('{2:1}/10');
SELECT * FROM empty ORDER BY v <-> '{1:1}/10' LIMIT 1;
RESET enable_seqscan;
SELECT * FROM vector_index_check('empty_idx');
CREATE UNLOGGED TABLE unl (v sparsevec(10));
CREATE INDEX ON unl USING hnsw (v sparsevec_cosine_ops);
INSERT INTO unl VALUES ('{1:1}/10');
DROP TABLE empty, unl;

-- every sparsevec opclass passes the validator
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw') AND opcname LIKE 'sparsevec%' ORDER BY opcname;

-- The index orders rows by float distances, so the operator's values must
-- not tell apart rows the index ties: a squared distance of 1e-60 (0 in
-- float) and L1 distances of 100000001 .. 100000020 (a float apart by 8).
-- Every row must come in the order of the values returned beside it.
CREATE TABLE ties (id int, v sparsevec(2));
INSERT INTO ties SELECT i, CASE WHEN i % 2 = 0 THEN '{1:1e-30}/2' ELSE '{}/2' END::sparsevec
FROM generate_series(1, 20) i;
INSERT INTO ties SELECT 20 + i, format('{1:100000000,2:%s}/2', i)::sparsevec
FROM generate_series(1, 20) i;
CREATE INDEX ties_l2 ON ties USING hnsw (v sparsevec_l2_ops);
CREATE INDEX ties_l1 ON ties USING hnsw (v sparsevec_l1_ops);
SET enable_seqscan = off;
SELECT count(*) AS rows, bool_and(d >= prev) AS in_order, count(DISTINCT d) AS distances
FROM (SELECT d, lag(d, 1, '-Infinity') OVER (ORDER BY n) AS prev
      FROM (SELECT v <-> '{}/2' AS d, row_number() OVER () AS n
            FROM (SELECT v FROM ties ORDER BY v <-> '{}/2' LIMIT 20) s) s) s;
SELECT count(*) AS rows, bool_and(d >= prev) AS in_order, count(DISTINCT d) AS distances
FROM (SELECT d, lag(d, 1, '-Infinity') OVER (ORDER BY n) AS prev
      FROM (SELECT v <+> '{}/2' AS d, row_number() OVER () AS n
            FROM (SELECT v FROM ties WHERE id > 20 ORDER BY v <+> '{}/2' LIMIT 20) s) s) s;
RESET enable_seqscan;
DROP TABLE ties;

DROP TABLE hs;
DROP FUNCTION same_topk(text, text, text, int);
DROP FUNCTION sv_row(int);
DROP FUNCTION sv_dense(int);
DROP FUNCTION sv_near(int);
DROP FUNCTION sv_text(int, float8);
