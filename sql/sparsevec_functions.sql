-- operators, distances, functions and casts on sparsevec
\set SHOW_CONTEXT never

-- comparison and btree: the order of the dense vectors (element by element,
-- then the shorter first), as vector orders the same values
SELECT '{1:1,2:2,3:3}/3'::sparsevec < '{1:1,2:2,3:4}/3', '{1:1,2:2}/2'::sparsevec < '{1:1,2:2,3:3}/3', '{1:2}/1'::sparsevec > '{1:1,2:9}/2';
SELECT '{1:1}/3'::sparsevec = '{1:1}/3', '{1:1}/3'::sparsevec = '{1:1}/4', '{1:1}/3'::sparsevec <> '{1:1,2:0}/3', '{1:1}/3'::sparsevec >= '{1:1}/3', '{1:1}/3'::sparsevec <= '{1:1}/3';
SELECT '{}/3'::sparsevec < '{2:1}/3', '{}/3'::sparsevec > '{2:-1}/3', '{1:1}/3'::sparsevec < '{1:1,3:1}/3', '{3:1}/3'::sparsevec > '{2:1}/3';
SELECT sparsevec_cmp('{1:1}/2', '{1:1}/2'), sparsevec_cmp('{1:1}/2', '{2:9}/2'), sparsevec_cmp('{1:1}/1', '{1:1}/2'), sparsevec_cmp('{2:1}/3', '{}/2');
SELECT v FROM (VALUES ('{1:3,2:1}/2'::sparsevec), ('{1:1,2:2,3:3}/3'), ('{1:1,2:2}/2'), ('{2:5}/2'), ('{1:-1}/1'), ('{}/2'), ('{2:-1}/2')) t(v) ORDER BY v;
-- every pair of a set of small vectors compares as the same values as vector do
WITH vals AS (
  SELECT DISTINCT (ARRAY[(i % 3) - 1, (i / 3 % 3) - 1, (i / 9 % 3) - 1])[1:(i / 27 % 3) + 1]::int[] AS a
  FROM generate_series(0, 80) i)
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE sparsevec_cmp(x.a::sparsevec, y.a::sparsevec) <> vector_cmp(x.a::vector, y.a::vector)
                          OR (x.a::sparsevec = y.a::sparsevec) <> (x.a::vector = y.a::vector)
                          OR (x.a::sparsevec < y.a::sparsevec) <> (x.a::vector < y.a::vector)) AS wrong
FROM vals x, vals y;
CREATE TABLE btree_t (v sparsevec);
INSERT INTO btree_t SELECT ARRAY[i % 7, i % 3, 0]::int[] FROM generate_series(1, 100) i;
CREATE INDEX ON btree_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM btree_t WHERE v = '{1:1,2:1}/3';
SELECT count(*) FROM btree_t WHERE v = '{1:1,2:1}/3';
RESET enable_seqscan;
SELECT count(*) FROM btree_t WHERE v = '{1:1,2:1}/3';
SELECT count(DISTINCT v) FROM btree_t;
DROP TABLE btree_t;

-- distances
SELECT l2_distance('{}/2'::sparsevec, '{1:3,2:4}/2'), '{}/2'::sparsevec <-> '{1:3,2:4}/2';
SELECT sparsevec_l2_squared_distance('{}/2', '{1:3,2:4}/2'), sparsevec_l2_squared_distance('{1:1,3:2}/4', '{2:1,3:2,4:-2}/4');
SELECT inner_product('{1:1,2:2}/2'::sparsevec, '{1:3,2:4}/2'), '{1:1,2:2}/2'::sparsevec <#> '{1:3,2:4}/2', sparsevec_negative_inner_product('{1:1,2:2}/2', '{1:3,2:4}/2');
SELECT inner_product('{1:1}/3'::sparsevec, '{2:1}/3'), inner_product('{}/3'::sparsevec, '{}/3');
SELECT cosine_distance('{1:1,2:2}/2'::sparsevec, '{1:2,2:4}/2'), cosine_distance('{1:1,2:2}/2'::sparsevec, '{}/2'), cosine_distance('{1:1,2:1}/2'::sparsevec, '{1:-1,2:-1}/2');
SELECT '{1:1}/2'::sparsevec <=> '{2:1}/2', cosine_distance('{1:1,2:1}/2'::sparsevec, '{1:1,2:1}/2');
SELECT sparsevec_spherical_distance('{1:1}/2', '{2:1}/2'), sparsevec_spherical_distance('{1:1}/2', '{1:-1}/2');
SELECT l1_distance('{}/2'::sparsevec, '{1:3,2:-4}/2'), '{}/2'::sparsevec <+> '{1:3,2:-4}/2', '{1:1,3:2}/4'::sparsevec <+> '{2:1,3:2,4:-2}/4';
SELECT l2_distance('{1:1}/2'::sparsevec, '{1:1}/1');
SELECT inner_product('{1:1}/2'::sparsevec, '{1:1}/1');
SELECT cosine_distance('{1:1}/2'::sparsevec, '{1:1}/1');
SELECT l1_distance('{1:1}/2'::sparsevec, '{1:1}/1');
SELECT '{1:1}/2'::sparsevec <-> '{1:1}/1';
SELECT '{1:1}/2'::sparsevec <#> '{1:1}/1';
SELECT '{1:1}/2'::sparsevec <=> '{1:1}/1';
SELECT '{1:1}/2'::sparsevec <+> '{1:1}/1';
SELECT sparsevec_l2_squared_distance('{1:1}/2', '{1:1}/1');
SELECT sparsevec_negative_inner_product('{1:1}/2', '{1:1}/1');
SELECT sparsevec_spherical_distance('{1:1}/2', '{1:1}/1');
-- the result is a float, as for vector (and pgvector): beyond the float range, Infinity
SELECT l2_distance('{1:3e38}/1'::sparsevec, '{1:-3e38}/1'), inner_product('{1:3e38,2:3e38}/2'::sparsevec, '{1:3e38,2:3e38}/2');
-- far apart in a huge dimension
SELECT '{1:1,1000000000:2}/1000000000'::sparsevec <-> '{999999999:2}/1000000000';
-- a vector or halfvec operand is cast to sparsevec (implicit), a sparsevec operand is not cast to vector
SELECT '{1:1,2:2}/2'::sparsevec <-> '[2,3]'::vector, pg_typeof(l2_distance('{1:1}/2'::sparsevec, '[2,3]'::vector));
SELECT '[1,2]'::halfvec <-> '{1:2,2:3}/2'::sparsevec, pg_typeof(inner_product('[1,2]'::halfvec, '{1:2}/2'::sparsevec));
-- the same values as vector give the same distances (up to rounding):
-- random vectors with about a third of their elements zero, of many lengths
SELECT count(*) AS pairs,
  count(*) FILTER (WHERE abs((a <-> b) - (a::vector <-> b::vector)) > 1e-5 * (a::vector <-> b::vector)
                      OR abs((a <#> b) - (a::vector <#> b::vector)) > 1e-5 * (1 + abs(a::vector <#> b::vector))
                      OR abs((a <=> b) - (a::vector <=> b::vector)) > 1e-5
                      OR abs((a <+> b) - (a::vector <+> b::vector)) > 1e-5 * (a::vector <+> b::vector)
                      OR abs(sparsevec_l2_squared_distance(a, b) - vector_l2_squared_distance(a::vector, b::vector)) > 1e-5 * vector_l2_squared_distance(a::vector, b::vector)
                      OR abs(l2_norm(a) - vector_norm(a::vector)) > 1e-6 * vector_norm(a::vector)) AS wrong
FROM (SELECT n, array_agg(CASE WHEN (i * 7 + n) % 3 = 0 THEN 0 ELSE sin(i * 7 + n) END ORDER BY i)::real[]::sparsevec AS a,
             array_agg(CASE WHEN (i * 5 + n) % 3 = 1 THEN 0 ELSE cos(i * 3 - n) END ORDER BY i)::real[]::sparsevec AS b
      FROM generate_series(1, 60) n, generate_series(1, n * 7) i GROUP BY n) t;
-- cosine with a zero vector is NaN, as for vector
SELECT cosine_distance('{}/3'::sparsevec, '{}/3'), cosine_distance('[0,0,0]'::vector, '[0,0,0]');

-- functions
SELECT l2_norm('{1:3,2:4}/2'::sparsevec), l2_norm('{}/2'::sparsevec), l2_norm('{1:3e38,2:3e38}/5'::sparsevec);
SELECT l2_normalize('{1:3,3:4}/3'::sparsevec), l2_normalize('{}/2'::sparsevec), l2_normalize('{1:3e38,2:3e38}/2'::sparsevec);
-- an element too small beside the norm becomes zero and is dropped
SELECT l2_normalize('{1:1e30,2:1e-30}/2'::sparsevec);
SELECT pg_typeof(l2_normalize('{1:3}/2'::sparsevec)), pg_typeof(l2_norm('{1:3}/2'::sparsevec));
SELECT l2_normalize(a)::vector = l2_normalize(a::vector) AS same_as_vector
FROM (VALUES ('[1,0,2,0,-3]'::vector::sparsevec)) t(a);

-- casts
SELECT ARRAY[1,0,3]::sparsevec, ARRAY[1.5,0,3]::real[]::sparsevec, ARRAY[1.5,0,3]::float8[]::sparsevec, ARRAY[1.5,0,3]::numeric[]::sparsevec;
SELECT ARRAY[0,0]::sparsevec, ARRAY[-0.0]::float8[]::sparsevec;
SELECT ARRAY[1,2,3]::sparsevec(3), ARRAY[1,2]::sparsevec(3);
SELECT ARRAY[[1,2],[3,4]]::sparsevec;
SELECT ARRAY[1,NULL,3]::sparsevec;
SELECT '{}'::int[]::sparsevec;
SELECT ARRAY['NaN']::real[]::sparsevec;
SELECT ARRAY['Infinity']::float8[]::sparsevec;
SELECT ARRAY[1e39]::float8[]::sparsevec;
-- arrays longer than 16000 are fine while at most 16000 elements are non-zero
SELECT array_fill(0, ARRAY[20000])::sparsevec;
SELECT (array_fill(0, ARRAY[19999]) || 5)::sparsevec;
SELECT array_fill(1, ARRAY[16001])::sparsevec;
SELECT '[1,0,2.5]'::vector::sparsevec, '[1,0,2.5]'::halfvec::sparsevec, '{1:1,3:2.5}/3'::sparsevec::vector, '{1:1,3:0.1}/3'::sparsevec::halfvec;
SELECT '[1,2,3]'::vector::sparsevec(3), '{1:1}/3'::sparsevec::vector(3), '{1:1}/3'::sparsevec::halfvec(3), '[1,2,3]'::halfvec::sparsevec(3);
SELECT '[1,2]'::vector::sparsevec(3);
SELECT '[1,2]'::halfvec::sparsevec(3);
SELECT '{1:1}/2'::sparsevec::vector(3);
SELECT '{1:1}/2'::sparsevec::halfvec(3);
SELECT '{1:1}/2'::sparsevec::sparsevec(3);
SELECT '{1:1}/16001'::sparsevec::vector;
SELECT '{1:1}/16001'::sparsevec::halfvec;
SELECT '{1:70000}/2'::sparsevec::halfvec;
SELECT '{1:1e-9,2:1}/2'::sparsevec::halfvec;
-- assignment casts from arrays, vector and halfvec, as ORMs use them
CREATE TABLE cast_t (v sparsevec(3), w vector(3), h halfvec(3));
INSERT INTO cast_t (v) VALUES (ARRAY[1,0,3]), (ARRAY[1.5,2.5,0]::float8[]), ('{4,5,6}'::real[]), ('[7,0,9]'::vector), ('[0,0,1]'::halfvec);
UPDATE cast_t SET w = v, h = v;
SELECT * FROM cast_t ORDER BY v;
DROP TABLE cast_t;
SELECT castcontext, castsource::regtype, casttarget::regtype FROM pg_cast
WHERE castsource = 'sparsevec'::regtype OR casttarget = 'sparsevec'::regtype ORDER BY 2::text, 3::text;

-- the sparsevec functions are among those checked in vector_functions for
-- being immutable, strict and parallel safe
SELECT p.oid::regprocedure, p.provolatile, p.proisstrict, p.proparallel FROM pg_proc p
WHERE p.oid IN ('l2_distance(sparsevec,sparsevec)'::regprocedure, 'sparsevec_in(cstring,oid,integer)'::regprocedure,
                'array_to_sparsevec(numeric[],integer,boolean)'::regprocedure)
ORDER BY 1::text;
-- the access methods that take sparsevec: btree, and hnsw (no ivfflat)
SELECT opcname, amname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE opcintype = 'sparsevec'::regtype ORDER BY 1;
