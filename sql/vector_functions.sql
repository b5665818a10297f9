-- operators, distances, functions, casts and aggregates on vector
\set SHOW_CONTEXT never

-- arithmetic
SELECT '[1,2,3]'::vector + '[4,5,6]';
SELECT '[1,2,3]'::vector - '[4,5,6]';
SELECT '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e38]'::vector * '[1e38]';
SELECT '[1e-38]'::vector * '[1e-38]';
SELECT '[1,2]'::vector + '[1,2,3]';
SELECT '[1,2]'::vector - '[1,2,3]';
SELECT '[1,2]'::vector * '[1,2,3]';
SELECT (('[' || array_to_string(array_fill(1, ARRAY[8000]), ',') || ']')::vector
     || ('[' || array_to_string(array_fill(1, ARRAY[8001]), ',') || ']')::vector) IS NULL;

-- comparison and btree
SELECT '[1,2,3]'::vector < '[1,2,4]', '[1,2]'::vector < '[1,2,3]', '[2]'::vector > '[1,9]';
SELECT '[1,2,3]'::vector = '[1,2,3]', '[1,2,3]'::vector <> '[1,2,3]', '[1,2,3]'::vector >= '[1,2,3]', '[1,2,3]'::vector <= '[1,2,3]';
SELECT vector_cmp('[1,2,3]', '[1,2,3]'), vector_cmp('[1,2,3]', '[0,9,9]'), vector_cmp('[1]', '[1,0]');
SELECT v FROM (VALUES ('[3,1]'::vector), ('[1,2,3]'), ('[1,2]'), ('[0,5]'), ('[-1]')) t(v) ORDER BY v;
CREATE TABLE btree_t (v vector);
INSERT INTO btree_t SELECT ARRAY[i % 7, i % 3]::int[] FROM generate_series(1, 100) i;
CREATE INDEX ON btree_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM btree_t WHERE v = '[1,1]';
SELECT count(*) FROM btree_t WHERE v = '[1,1]';
RESET enable_seqscan;
SELECT count(*) FROM btree_t WHERE v = '[1,1]';
SELECT count(DISTINCT v) FROM btree_t;
DROP TABLE btree_t;

-- distances
SELECT l2_distance('[0,0]', '[3,4]'), '[0,0]'::vector <-> '[3,4]';
SELECT vector_l2_squared_distance('[0,0]', '[3,4]');
SELECT inner_product('[1,2]', '[3,4]'), '[1,2]'::vector <#> '[3,4]', vector_negative_inner_product('[1,2]', '[3,4]');
SELECT cosine_distance('[1,2]', '[2,4]'), cosine_distance('[1,2]', '[0,0]'), cosine_distance('[1,1]', '[-1,-1]');
SELECT '[1,0]'::vector <=> '[0,1]', cosine_distance('[1,1]', '[1,1]');
SELECT vector_spherical_distance('[1,0]', '[0,1]'), vector_spherical_distance('[1,0]', '[-1,0]');
SELECT l1_distance('[0,0]', '[3,-4]'), '[0,0]'::vector <+> '[3,-4]';
SELECT l2_distance('[1,2]', '[1]');
SELECT inner_product('[1,2]', '[1]');
SELECT cosine_distance('[1,2]', '[1]');
SELECT l1_distance('[1,2]', '[1]');
SELECT '[1,2]'::vector <-> '[1]';
SELECT '[1,2]'::vector <#> '[1]';
SELECT '[1,2]'::vector <=> '[1]';
SELECT '[1,2]'::vector <+> '[1]';
SELECT vector_l2_squared_distance('[1,2]', '[1]');
SELECT vector_negative_inner_product('[1,2]', '[1]');
SELECT vector_spherical_distance('[1,2]', '[1]');
SELECT l2_distance('[3e38]', '[-3e38]');
-- long vectors hit every SIMD tail: compare with a plain SQL computation
SELECT n,
  abs(l2_distance(a, b) - sqrt(s.l2)) < 1e-4 * sqrt(s.l2) AS l2_ok,
  abs(inner_product(a, b) - s.ip) < 1e-4 * s.abs_ip AS ip_ok,
  abs(l1_distance(a, b) - s.l1) < 1e-4 * s.l1 AS l1_ok,
  abs(cosine_distance(a, b) - (1 - s.ip / sqrt(s.aa * s.bb))) < 1e-5 AS cos_ok
FROM (SELECT n, array_agg(x)::vector AS a, array_agg(y)::vector AS b,
        sum((x - y) ^ 2) AS l2, sum(x * y) AS ip, sum(abs(x * y)) AS abs_ip,
        sum(abs(x - y)) AS l1, sum(x * x) AS aa, sum(y * y) AS bb
      FROM (SELECT n, i, sin(i * 7 + n)::real::float8 AS x, cos(i * 3 - n)::real::float8 AS y
            FROM generate_series(1, 40) n, generate_series(1, n * 13) i) g
      GROUP BY n) s
WHERE NOT (abs(l2_distance(a, b) - sqrt(s.l2)) < 1e-4 * sqrt(s.l2)
       AND abs(inner_product(a, b) - s.ip) < 1e-4 * s.abs_ip
       AND abs(l1_distance(a, b) - s.l1) < 1e-4 * s.l1
       AND abs(cosine_distance(a, b) - (1 - s.ip / sqrt(s.aa * s.bb))) < 1e-5);

-- functions
SELECT vector_dims('[1,2,3]'::vector);
SELECT vector_norm('[3,4]'), vector_norm('[0,0]');
SELECT l2_normalize('[3,4]'::vector), l2_normalize('[0,0]'::vector), l2_normalize('[3e38,3e38]'::vector);
SELECT subvector('[1,2,3,4,5]'::vector, 2, 3);
SELECT subvector('[1,2,3,4,5]'::vector, 4, 10);
SELECT subvector('[1,2,3,4,5]'::vector, -1, 3);
SELECT subvector('[1,2,3,4,5]'::vector, 1, 0);
SELECT subvector('[1,2,3,4,5]'::vector, 6, 1);
SELECT subvector('[1,2,3,4,5]'::vector, 2147483647, 2147483647);
SELECT subvector('[1,2,3,4,5]'::vector, -2147483648, 2147483647);
SELECT binary_quantize('[1,-2,0,3,0.5,-1,1,1,2]'::vector);
SELECT binary_quantize('[1,-2,0,3,0.5,-1,1,1,2]'::vector) <~> binary_quantize('[-1,2,0,3,0.5,1,1,1,2]'::vector);

-- casts
SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2,3]::real[]::vector, ARRAY[1.5,2,3]::float8[]::vector, ARRAY[1.5,2,3]::numeric[]::vector;
SELECT '[1,2,3]'::vector::real[];
SELECT ARRAY[1,2,3]::vector(3), ARRAY[1,2]::vector(3);
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT '{}'::int[]::vector;
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY['Infinity']::float8[]::vector;
SELECT ARRAY[1e39]::float8[]::vector;
SELECT ARRAY[1e39]::numeric[]::vector;
SELECT array_fill(1, ARRAY[16001])::vector;
-- assignment casts from arrays, as ORMs use them
CREATE TABLE cast_t (v vector(3));
INSERT INTO cast_t VALUES (ARRAY[1,2,3]), (ARRAY[1.5,2.5,3.5]::float8[]), ('{4,5,6}'::real[]);
SELECT * FROM cast_t ORDER BY v;
DROP TABLE cast_t;
SELECT castcontext, castsource::regtype, casttarget::regtype FROM pg_cast
WHERE castsource = 'vector'::regtype OR casttarget = 'vector'::regtype ORDER BY 2::text, 3::text;

-- aggregates
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]'), ('[5,6,7]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), (NULL)) t(v);
SELECT avg(v) IS NULL AS avg_null, sum(v) IS NULL AS sum_null FROM (SELECT '[1]'::vector AS v WHERE false) t;
SELECT avg(v) FROM (VALUES ('[1,2,3]'::vector), ('[1,2]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[1,2]')) t(v);
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT vector_avg('{2,4,6}'), vector_avg('{0}') IS NULL;
SELECT vector_avg('{1,NULL}');
-- a state longer than the type allows is rejected, not built
SELECT vector_avg(array_fill(1::float8, ARRAY[16002]));
SELECT vector_accum('{0}', '[1,2]'), vector_accum('{1,1,2}', '[1,2]');
SELECT vector_combine('{1,1,2}', '{2,3,4}'), vector_combine('{0}', '{2,3,4}'), vector_combine('{1,1,2}', '{0}');
-- pgvector's messages for the support functions called directly (issue 14):
-- a bad state names the function; a state fixes its dimensions even with
-- a count of 0, and only {0} takes any
SELECT vector_accum('{}', '[1]');
SELECT vector_accum('{{1,2}}', '[1]');
SELECT vector_avg('{}');
SELECT vector_combine('{1,1}', '{}');
SELECT vector_combine('{1,1,2}', '{1,1}');
SELECT vector_accum('{0,0}', '[1,2,3]');
SELECT vector_accum('{0,0}', '[1]');
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1]')) t(v);
-- parallel aggregation gives the same answer
CREATE TABLE agg_t AS SELECT ARRAY[i % 10, i % 7, 1]::real[]::vector AS v FROM generate_series(1, 100000) i;
ANALYZE agg_t;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_t;
SELECT avg(v), sum(v) FROM agg_t;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
SELECT avg(v), sum(v) FROM agg_t;
DROP TABLE agg_t;

-- every function is immutable, strict and parallel safe
SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = 'vector'
WHERE p.prokind = 'f' AND p.prorettype <> 'index_am_handler'::regtype
  AND p.proname <> 'vector_index_check'	-- reads an index: volatile, parallel restricted
  AND (p.provolatile <> 'i' OR NOT p.proisstrict OR p.proparallel <> 's');
SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = 'vector'
WHERE p.prokind = 'a' AND p.proparallel <> 's';
