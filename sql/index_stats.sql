-- Index scans of both access methods count in pg_stat_user_indexes, as
-- every PostgreSQL index does: a DBA who sees idx_scan = 0 drops the index
-- as unused.
CREATE TABLE sth (id int, v vector(3));
INSERT INTO sth SELECT i, ARRAY[i % 7, i % 11, i % 13] FROM generate_series(1, 300) i;
CREATE TABLE sti AS SELECT * FROM sth;
CREATE INDEX sth_v ON sth USING hnsw (v vector_l2_ops);
CREATE INDEX sti_v ON sti USING ivfflat (v vector_l2_ops) WITH (lists = 3);
ANALYZE sth, sti;
SET enable_seqscan = off;
SET ivfflat.probes = 3;
SELECT pg_stat_force_next_flush();

-- two hnsw scans and one ivfflat scan
SELECT count(*) FROM (SELECT id FROM sth ORDER BY v <-> '[1,2,3]' LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM sth ORDER BY v <-> '[3,2,1]' LIMIT 7) s;
SELECT count(*) FROM (SELECT id FROM sti ORDER BY v <-> '[1,2,3]' LIMIT 4) s;
SELECT pg_stat_force_next_flush();

SELECT indexrelname, idx_scan, idx_tup_read >= 4 AS tuples_read
FROM pg_stat_user_indexes WHERE relname IN ('sth', 'sti') ORDER BY indexrelname;
RESET enable_seqscan;
RESET ivfflat.probes;
DROP TABLE sth, sti;
