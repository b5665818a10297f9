-- ivfflat on halfvec: each opclass against its seq scan with every list
-- probed (exact), k-means on halves, an expression index, limits and
-- validation.
\set VERBOSITY terse

CREATE TABLE ih (id int, v halfvec(3));
INSERT INTO ih SELECT i, ARRAY[(i * 37) % 101, (i * 53) % 103, (i * 71) % 107]::real[]
FROM generate_series(1, 2000) i;
INSERT INTO ih VALUES (2001, NULL), (2002, '[0,0,0]');

-- each opclass: all lists probed gives the seq scan's distances
CREATE FUNCTION same_topk(op text, opclass text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text := '''[30,60,90]''';
  exact numeric[];
  got numeric[];
  plan text := '';
  line text;
BEGIN
  SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT v %s %s AS d FROM ih ORDER BY v %s %s LIMIT 5) s',
                 op, q, op, q) INTO exact;
  EXECUTE format('CREATE INDEX ih_idx ON ih USING ivfflat (v %s) WITH (lists = 10)', opclass);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  SET LOCAL ivfflat.probes = 10;
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM ih ORDER BY v %s %s LIMIT 5', op, q) LOOP
    plan := plan || line;
  END LOOP;
  EXECUTE format('SELECT array_agg(round(d::numeric, 6)) FROM (SELECT v %s %s AS d FROM ih ORDER BY v %s %s LIMIT 5) s',
                 op, q, op, q) INTO got;
  EXECUTE 'DROP INDEX ih_idx';
  RETURN CASE WHEN plan NOT LIKE '%Index Scan using ih_idx%' THEN 'no index scan: ' || plan
              WHEN exact = got THEN 'same'
              ELSE format('differs: %s vs %s', exact, got) END;
END $$;
SELECT same_topk('<->', 'halfvec_l2_ops') AS l2, same_topk('<#>', 'halfvec_ip_ops') AS ip,
       same_topk('<=>', 'halfvec_cosine_ops') AS cosine;

-- l2 in detail: every row comes back in order, one probe reads fewer rows,
-- inserts and vacuum
CREATE INDEX ih_l2 ON ih USING ivfflat (v halfvec_l2_ops) WITH (lists = 20);
SET enable_seqscan = off;
SET ivfflat.probes = 20;
EXPLAIN (COSTS OFF) SELECT id FROM ih ORDER BY v <-> '[50,50,50]' LIMIT 10;
SELECT bool_and(d >= lag) AS ordered, count(*) FROM (
  SELECT v <-> '[50,50,50]' AS d, lag(v <-> '[50,50,50]', 1, 0) OVER (ORDER BY v <-> '[50,50,50]') AS lag
  FROM ih ORDER BY v <-> '[50,50,50]' LIMIT 3000) s;
SET ivfflat.probes = 1;
SELECT count(*) < 2001 AS one_list FROM (SELECT id FROM ih ORDER BY v <-> '[50,50,50]' LIMIT 3000) s;
SET ivfflat.probes = 20;
INSERT INTO ih SELECT i, ARRAY[50 + i % 3, 50 + i % 5, 50] FROM generate_series(3000, 3499) i;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM ih ORDER BY v <-> '[50,50,50]', id LIMIT 3) s;
DELETE FROM ih WHERE id >= 3000 AND id % 2 = 0;
VACUUM ih;
SELECT count(*), count(*) FILTER (WHERE id >= 3000 AND id % 2 = 0) AS deleted
FROM (SELECT id FROM ih ORDER BY v <-> '[50,50,50]' LIMIT 5000) s;
SELECT id FROM ih ORDER BY v <-> '[1,2]' LIMIT 1;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP INDEX ih_l2;

-- the zero vector is not indexed under cosine
CREATE INDEX ih_cos ON ih USING ivfflat (v halfvec_cosine_ops) WITH (lists = 5);
SET enable_seqscan = off;
SET ivfflat.probes = 5;
SELECT count(*) FROM (SELECT id FROM ih ORDER BY v <=> '[1,1,1]' LIMIT 5000) s WHERE id = 2002;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP INDEX ih_cos;

-- an index on a halfvec expression of a vector column
CREATE TABLE items (id int, embedding vector(3));
INSERT INTO items SELECT id, v FROM ih WHERE v IS NOT NULL;
CREATE INDEX items_half ON items USING ivfflat ((embedding::halfvec(3)) halfvec_l2_ops) WITH (lists = 10);
SET enable_seqscan = off;
SET ivfflat.probes = 10;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]' LIMIT 5;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]' LIMIT 4) s;
RESET ivfflat.probes;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[30,60,90]', id LIMIT 4) s;
RESET enable_indexscan;
DROP TABLE items;

-- limits: 4,000 dimensions index, 4,001 do not
CREATE TABLE nodim (v halfvec);
CREATE INDEX ON nodim USING ivfflat (v halfvec_l2_ops);
CREATE TABLE bigdim (v halfvec(4001));
CREATE INDEX ON bigdim USING ivfflat (v halfvec_l2_ops);
CREATE TABLE maxdim (id int, v halfvec(4000));
INSERT INTO maxdim SELECT i, array_fill(i, ARRAY[4000])::halfvec FROM generate_series(1, 10) i;
CREATE INDEX ON maxdim USING ivfflat (v halfvec_l2_ops) WITH (lists = 2);
SET enable_seqscan = off;
SET ivfflat.probes = 2;
SELECT id FROM maxdim ORDER BY v <-> array_fill(2.2, ARRAY[4000])::halfvec LIMIT 1;
RESET ivfflat.probes;
RESET enable_seqscan;
DROP TABLE nodim, bigdim, maxdim;

-- the halfvec opclasses validate
SELECT opcname, amvalidate(c.oid) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE amname = 'ivfflat' AND opcname LIKE 'halfvec%' ORDER BY opcname;

DROP TABLE ih;
DROP FUNCTION same_topk;
