-- hnsw on halfvec: each opclass against its seq scan, EXPLAIN showing the
-- index is used; an index on a halfvec expression of a vector column;
-- limits (4,000 dimensions) and validation.
\set VERBOSITY terse
SET hnsw.ef_search = 100;

CREATE TABLE hh (id int, v halfvec(3));
INSERT INTO hh SELECT i, ARRAY[(i * 37) % 101, (i * 53) % 103, (i * 71) % 107]::real[]
FROM generate_series(1, 1000) i;
INSERT INTO hh VALUES (1001, NULL), (1002, '[0,0,0]');

-- each opclass: the index is used and returns the seq scan's rows
CREATE FUNCTION same_topk(op text, opclass text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text := '''[30,60,90]''';
  exact int[];
  got int[];
  plan text := '';
  line text;
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hh ORDER BY v %s %s, id LIMIT 5) s', op, q) INTO exact;
  EXECUTE format('CREATE INDEX hh_idx ON hh USING hnsw (v %s)', opclass);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM hh ORDER BY v %s %s LIMIT 5', op, q) LOOP
    plan := plan || line;
  END LOOP;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hh ORDER BY v %s %s LIMIT 5) s', op, q) INTO got;
  EXECUTE 'DROP INDEX hh_idx';
  RETURN CASE WHEN plan NOT LIKE '%Index Scan using hh_idx%' THEN 'no index scan: ' || plan
              WHEN exact @> got AND got @> exact THEN 'same'
              ELSE format('differs: %s vs %s', exact, got) END;
END $$;
SELECT same_topk('<->', 'halfvec_l2_ops') AS l2, same_topk('<#>', 'halfvec_ip_ops') AS ip,
       same_topk('<=>', 'halfvec_cosine_ops') AS cosine, same_topk('<+>', 'halfvec_l1_ops') AS l1;

-- l2 in detail: ordered distances, the NULL row not indexed, inserts, vacuum
CREATE INDEX hh_l2 ON hh USING hnsw (v halfvec_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hh ORDER BY v <-> '[50,50,50]' LIMIT 10;
SELECT bool_and(d >= lag) AS ordered, count(*) FROM (
  SELECT v <-> '[50,50,50]' AS d, lag(v <-> '[50,50,50]', 1, 0) OVER (ORDER BY v <-> '[50,50,50]') AS lag
  FROM hh ORDER BY v <-> '[50,50,50]' LIMIT 2000) s;
INSERT INTO hh SELECT i, ARRAY[50 + i % 3, 50 + i % 5, 50] FROM generate_series(2000, 2009) i;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hh ORDER BY v <-> '[50,50,50]' LIMIT 10) s;
DELETE FROM hh WHERE id >= 2000 AND id % 2 = 0;
VACUUM hh;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hh ORDER BY v <-> '[50,50,50]' LIMIT 5) s;
-- a query of the wrong dimensions
SELECT id FROM hh ORDER BY v <-> '[1,2]' LIMIT 1;
RESET enable_seqscan;
DROP INDEX hh_l2;

-- the zero vector is not indexed under cosine
CREATE INDEX hh_cos ON hh USING hnsw (v halfvec_cosine_ops);
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM hh ORDER BY v <=> '[1,1,1]' LIMIT 5000) s WHERE id = 1002;
RESET enable_seqscan;
DROP INDEX hh_cos;

-- an index on a halfvec expression of a vector column serves the same
-- expression in ORDER BY
CREATE TABLE items (id int, embedding vector(3));
INSERT INTO items SELECT id, v FROM hh WHERE v IS NOT NULL;
CREATE INDEX items_half ON items USING hnsw ((embedding::halfvec(3)) halfvec_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]' LIMIT 5;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]' LIMIT 5) s;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]', id LIMIT 5) s;
RESET enable_indexscan;
DROP TABLE items;

-- limits: 4,000 dimensions index, 4,001 do not; a column without dimensions
CREATE TABLE nodim (v halfvec);
CREATE INDEX ON nodim USING hnsw (v halfvec_l2_ops);
CREATE TABLE bigdim (v halfvec(4001));
CREATE INDEX ON bigdim USING hnsw (v halfvec_l2_ops);
CREATE INDEX ON bigdim USING hnsw (v halfvec_l1_ops);
CREATE TABLE maxdim (id int, v halfvec(4000));
INSERT INTO maxdim SELECT i, array_fill(i, ARRAY[4000])::halfvec FROM generate_series(1, 3) i;
CREATE INDEX ON maxdim USING hnsw (v halfvec_l2_ops);
SET enable_seqscan = off;
SELECT id FROM maxdim ORDER BY v <-> array_fill(2.2, ARRAY[4000])::halfvec LIMIT 1;
RESET enable_seqscan;
-- a vector column of 2,001 dimensions is indexed as halfvec
CREATE TABLE bigvec (v vector(2001));
CREATE INDEX ON bigvec USING hnsw ((v::halfvec(2001)) halfvec_l2_ops);
DROP TABLE nodim, bigdim, maxdim, bigvec;

-- every halfvec opclass passes the validator
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw') AND opcname LIKE 'halfvec%' ORDER BY opcname;

DROP TABLE hh;
DROP FUNCTION same_topk(text, text);
