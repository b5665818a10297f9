-- operators, distances, functions, casts and aggregates on halfvec
\set SHOW_CONTEXT never

-- arithmetic: computed in float, rounded to the nearest half
SELECT '[1,2,3]'::halfvec + '[4,5,6]';
SELECT '[1,2,3]'::halfvec - '[4,5,6]';
SELECT '[1,2,3]'::halfvec * '[4,5,6]';
SELECT '[1,2]'::halfvec || '[3]';
SELECT '[0.1]'::halfvec + '[0.2]', '[2048]'::halfvec + '[1]';
SELECT '[60000]'::halfvec + '[60000]';
SELECT '[-60000]'::halfvec - '[60000]';
SELECT '[300]'::halfvec * '[300]';
SELECT '[65504]'::halfvec + '[8]';
SELECT '[1e-4]'::halfvec * '[1e-4]';
SELECT '[1,2]'::halfvec + '[1,2,3]';
SELECT '[1,2]'::halfvec - '[1,2,3]';
SELECT '[1,2]'::halfvec * '[1,2,3]';
SELECT (('[' || array_to_string(array_fill(1, ARRAY[8000]), ',') || ']')::halfvec
     || ('[' || array_to_string(array_fill(1, ARRAY[8001]), ',') || ']')::halfvec) IS NULL;
SELECT pg_typeof('[1]'::halfvec + '[1]'), pg_typeof('[1]'::halfvec || '[1]');

-- comparison and btree
SELECT '[1,2,3]'::halfvec < '[1,2,4]', '[1,2]'::halfvec < '[1,2,3]', '[2]'::halfvec > '[1,9]';
SELECT '[1,2,3]'::halfvec = '[1,2,3]', '[1,2,3]'::halfvec <> '[1,2,3]', '[1,2,3]'::halfvec >= '[1,2,3]', '[1,2,3]'::halfvec <= '[1,2,3]';
SELECT '[0]'::halfvec = '[-0]', '[0.1]'::halfvec = '[0.09997]', '[0.1]'::halfvec = '[0.1001]';
SELECT halfvec_cmp('[1,2,3]', '[1,2,3]'), halfvec_cmp('[1,2,3]', '[0,9,9]'), halfvec_cmp('[1]', '[1,0]');
SELECT v FROM (VALUES ('[3,1]'::halfvec), ('[1,2,3]'), ('[1,2]'), ('[0,5]'), ('[-1]')) t(v) ORDER BY v;
CREATE TABLE btree_t (v halfvec);
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
SELECT l2_distance('[0,0]'::halfvec, '[3,4]'), '[0,0]'::halfvec <-> '[3,4]';
SELECT halfvec_l2_squared_distance('[0,0]', '[3,4]');
SELECT inner_product('[1,2]'::halfvec, '[3,4]'), '[1,2]'::halfvec <#> '[3,4]', halfvec_negative_inner_product('[1,2]', '[3,4]');
SELECT cosine_distance('[1,2]'::halfvec, '[2,4]'), cosine_distance('[1,2]'::halfvec, '[0,0]'), cosine_distance('[1,1]'::halfvec, '[-1,-1]');
SELECT '[1,0]'::halfvec <=> '[0,1]', cosine_distance('[1,1]'::halfvec, '[1,1]');
SELECT halfvec_spherical_distance('[1,0]', '[0,1]'), halfvec_spherical_distance('[1,0]', '[-1,0]');
SELECT l1_distance('[0,0]'::halfvec, '[3,-4]'), '[0,0]'::halfvec <+> '[3,-4]';
SELECT l2_distance('[1,2]'::halfvec, '[1]');
SELECT inner_product('[1,2]'::halfvec, '[1]');
SELECT cosine_distance('[1,2]'::halfvec, '[1]');
SELECT l1_distance('[1,2]'::halfvec, '[1]');
SELECT '[1,2]'::halfvec <-> '[1]';
SELECT '[1,2]'::halfvec <#> '[1]';
SELECT '[1,2]'::halfvec <=> '[1]';
SELECT '[1,2]'::halfvec <+> '[1]';
SELECT halfvec_l2_squared_distance('[1,2]', '[1]');
SELECT halfvec_negative_inner_product('[1,2]', '[1]');
SELECT halfvec_spherical_distance('[1,2]', '[1]');
-- sums of halves are formed in float: no overflow at the half range
SELECT l2_distance('[65504]'::halfvec, '[-65504]'), inner_product('[65504,65504]'::halfvec, '[65504,65504]');
-- a vector operand is cast to halfvec (implicit), a halfvec operand is not cast to vector
SELECT '[1,2]'::vector <-> '[2,3]'::halfvec, pg_typeof(l2_distance('[1,2]'::vector, '[2,3]'::halfvec));
-- long vectors hit every SIMD tail: compare with a plain SQL computation on
-- the same half values
SELECT n,
  abs(l2_distance(a, b) - sqrt(s.l2)) < 1e-4 * sqrt(s.l2) AS l2_ok,
  abs(inner_product(a, b) - s.ip) < 1e-4 * s.abs_ip AS ip_ok,
  abs(l1_distance(a, b) - s.l1) < 1e-4 * s.l1 AS l1_ok,
  abs(cosine_distance(a, b) - (1 - s.ip / sqrt(s.aa * s.bb))) < 1e-5 AS cos_ok
FROM (SELECT n, array_agg(x)::halfvec AS a, array_agg(y)::halfvec AS b,
        sum((x - y) ^ 2) AS l2, sum(x * y) AS ip, sum(abs(x * y)) AS abs_ip,
        sum(abs(x - y)) AS l1, sum(x * x) AS aa, sum(y * y) AS bb
      FROM (SELECT n, i, (ARRAY[sin(i * 7 + n)]::halfvec::real[])[1]::float8 AS x,
                   (ARRAY[cos(i * 3 - n)]::halfvec::real[])[1]::float8 AS y
            FROM generate_series(1, 40) n, generate_series(1, n * 13) i) g
      GROUP BY n) s
WHERE NOT (abs(l2_distance(a, b) - sqrt(s.l2)) < 1e-4 * sqrt(s.l2)
       AND abs(inner_product(a, b) - s.ip) < 1e-4 * s.abs_ip
       AND abs(l1_distance(a, b) - s.l1) < 1e-4 * s.l1
       AND abs(cosine_distance(a, b) - (1 - s.ip / sqrt(s.aa * s.bb))) < 1e-5);
-- the same values as vector give the same distances (up to float rounding)
SELECT count(*) FROM (SELECT ARRAY[sin(i), cos(i), sin(2 * i)]::halfvec AS h, ARRAY[cos(i), 0.5, sin(3 * i)]::halfvec AS g
                      FROM generate_series(1, 100) i) t
WHERE abs((h <-> g) - (h::vector <-> g::vector)) > 1e-6 OR abs((h <#> g) - (h::vector <#> g::vector)) > 1e-6
   OR abs((h <=> g) - (h::vector <=> g::vector)) > 1e-6 OR abs((h <+> g) - (h::vector <+> g::vector)) > 1e-6;

-- functions
SELECT vector_dims('[1,2,3]'::halfvec);
SELECT l2_norm('[3,4]'::halfvec), l2_norm('[0,0]'::halfvec), l2_norm('[65504,65504]'::halfvec);
SELECT l2_normalize('[3,4]'::halfvec), l2_normalize('[0,0]'::halfvec), l2_normalize('[65504,65504]'::halfvec);
SELECT pg_typeof(l2_normalize('[3,4]'::halfvec));
SELECT subvector('[1,2,3,4,5]'::halfvec, 2, 3);
SELECT subvector('[1,2,3,4,5]'::halfvec, 4, 10);
SELECT subvector('[1,2,3,4,5]'::halfvec, -1, 3);
SELECT subvector('[1,2,3,4,5]'::halfvec, 1, 0);
SELECT subvector('[1,2,3,4,5]'::halfvec, 6, 1);
SELECT subvector('[1,2,3,4,5]'::halfvec, 2147483647, 2147483647);
SELECT subvector('[1,2,3,4,5]'::halfvec, -2147483648, 2147483647);
SELECT binary_quantize('[1,-2,0,3,0.5,-1,1,1,2]'::halfvec);
SELECT binary_quantize('[1e-7,-1e-7,-0,6e-8]'::halfvec);
SELECT binary_quantize('[1,-2,0,3,0.5,-1,1,1,2]'::halfvec) = binary_quantize('[1,-2,0,3,0.5,-1,1,1,2]'::vector);

-- casts
SELECT ARRAY[1,2,3]::halfvec, ARRAY[1.5,2,3]::real[]::halfvec, ARRAY[1.5,2,3]::float8[]::halfvec, ARRAY[1.5,2,3]::numeric[]::halfvec;
SELECT '[1,2.5,0.1]'::halfvec::real[];
SELECT ARRAY[1,2,3]::halfvec(3), ARRAY[1,2]::halfvec(3);
SELECT ARRAY[[1,2],[3,4]]::halfvec;
SELECT ARRAY[1,NULL,3]::halfvec;
SELECT '{}'::int[]::halfvec;
SELECT ARRAY['NaN']::real[]::halfvec;
SELECT ARRAY['Infinity']::float8[]::halfvec;
SELECT ARRAY[70000]::halfvec;
SELECT ARRAY[65520]::real[]::halfvec;
SELECT ARRAY[1e39]::float8[]::halfvec;
SELECT ARRAY[1e5]::numeric[]::halfvec;
SELECT array_fill(1, ARRAY[16001])::halfvec;
SELECT '[1,2.5,0.1]'::vector::halfvec, '[1,2.5,0.1]'::halfvec::vector;
SELECT '[1,2,3]'::vector::halfvec(3), '[1,2,3]'::halfvec::vector(3);
SELECT '[1,2]'::vector::halfvec(3);
SELECT '[1,2]'::halfvec::vector(3);
SELECT '[1,70000]'::vector::halfvec;
SELECT '[1e-9,-1e-9]'::vector::halfvec;
-- assignment casts from arrays and from vector, as ORMs use them
CREATE TABLE cast_t (v halfvec(3), r real[], w vector(3));
INSERT INTO cast_t (v) VALUES (ARRAY[1,2,3]), (ARRAY[1.5,2.5,3.5]::float8[]), ('{4,5,6}'::real[]), ('[7,8,9]'::vector);
UPDATE cast_t SET r = v, w = v;
SELECT * FROM cast_t ORDER BY v;
DROP TABLE cast_t;
SELECT castcontext, castsource::regtype, casttarget::regtype FROM pg_cast
WHERE castsource = 'halfvec'::regtype OR casttarget = 'halfvec'::regtype ORDER BY 2::text, 3::text;

-- aggregates
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::halfvec), ('[3,4,5]'), ('[5,6,7]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::halfvec), (NULL)) t(v);
SELECT avg(v) IS NULL AS avg_null, sum(v) IS NULL AS sum_null FROM (SELECT '[1]'::halfvec AS v WHERE false) t;
SELECT pg_typeof(avg(v)), pg_typeof(sum(v)) FROM (VALUES ('[1]'::halfvec)) t(v);
SELECT avg(v) FROM (VALUES ('[1,2,3]'::halfvec), ('[1,2]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2,3]'::halfvec), ('[1,2]')) t(v);
-- the mean is formed in double: no overflow where the sum would
SELECT avg(v) FROM (VALUES ('[60000]'::halfvec), ('[60000]')) t(v);
SELECT sum(v) FROM (VALUES ('[60000]'::halfvec), ('[60000]')) t(v);
SELECT halfvec_avg('{2,4,6}'), halfvec_avg('{0}') IS NULL;
SELECT halfvec_avg('{1,NULL}');
SELECT halfvec_avg('{1,70000}');
SELECT halfvec_accum('{0}', '[1,2]'), halfvec_accum('{1,1,2}', '[1,2]');
-- pgvector's messages for the support functions called directly (issue 14)
SELECT halfvec_accum('{}', '[1]');
SELECT halfvec_avg('{}');
SELECT halfvec_accum('{0,0}', '[1,2,3]');
SELECT halfvec_accum('{0,0}', '[1]');
SELECT avg(v) FROM (VALUES ('[1,2]'::halfvec), ('[1]')) t(v);
-- parallel aggregation gives the same answer
CREATE TABLE agg_t AS SELECT ARRAY[i % 10, i % 7, 1]::real[]::halfvec AS v FROM generate_series(1, 100000) i;
ANALYZE agg_t;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM agg_t;
SELECT avg(v) FROM agg_t;
-- the sum is kept in halves (as the contract's sum(halfvec) does): a total
-- past 65504 is an error, whatever the plan
SELECT sum(v) FROM (VALUES ('[40000,1]'::halfvec), ('[40000,1]')) t(v);
EXPLAIN (COSTS OFF) SELECT sum(v) FROM agg_t WHERE v < '[0,1]';
SELECT sum(v) FROM agg_t WHERE v < '[0,1]';
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
SELECT avg(v) FROM agg_t;
SELECT sum(v) FROM agg_t WHERE v < '[0,1]';
DROP TABLE agg_t;

-- the halfvec functions are among those checked in vector_functions for
-- being immutable, strict and parallel safe; the aggregates too
SELECT p.oid::regprocedure, p.provolatile, p.proisstrict, p.proparallel FROM pg_proc p
WHERE p.oid IN ('avg(halfvec)'::regprocedure, 'sum(halfvec)'::regprocedure, 'l2_distance(halfvec,halfvec)'::regprocedure)
ORDER BY 1::text;
