-- vector.partition_topk: plans over local partitions are left as they are
-- (the rewrite is for foreign partitions; test/t/050_fdw_topk.pl covers
-- those against real shards), and the setting exists.
\set VERBOSITY terse
SHOW vector.partition_topk;
CREATE TABLE parts (id int, v vector(3)) PARTITION BY HASH (id);
CREATE TABLE parts_0 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE parts_1 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO parts SELECT i, ARRAY[i % 7, i % 11, i % 13] FROM generate_series(1, 2000) i;
CREATE INDEX ON parts USING hnsw (v vector_l2_ops);
ANALYZE parts;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM parts ORDER BY v <-> '[1,2,3]' LIMIT 5;
SELECT id FROM parts ORDER BY v <-> '[1,2,3]', id LIMIT 5;
SET vector.partition_topk = off;
EXPLAIN (COSTS OFF) SELECT id FROM parts ORDER BY v <-> '[1,2,3]' LIMIT 5;
RESET vector.partition_topk;
RESET enable_seqscan;
DROP TABLE parts;
