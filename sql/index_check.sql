-- vector_index_check(): no rows for sound hnsw and ivfflat indexes, through
-- build, inserts, deletes and VACUUM; errors for other relations.
\set VERBOSITY terse
CREATE TABLE ck (id int, v vector(8));
INSERT INTO ck SELECT i, ARRAY(SELECT sin(i * 0.7 + j) FROM generate_series(1, 8) j)::real[]
FROM generate_series(1, 3000) i;
INSERT INTO ck SELECT 3000 + i, v FROM ck WHERE id <= 50;	-- duplicates
CREATE INDEX ck_h ON ck USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
CREATE INDEX ck_i ON ck USING ivfflat (v) WITH (lists = 20);
SELECT * FROM vector_index_check('ck_h');
SELECT * FROM vector_index_check('ck_i');
INSERT INTO ck SELECT i, ARRAY(SELECT cos(i * 0.3 + j) FROM generate_series(1, 8) j)::real[]
FROM generate_series(4001, 6000) i;
DELETE FROM ck WHERE id % 3 = 0;
VACUUM ck;
SELECT * FROM vector_index_check('ck_h');
SELECT * FROM vector_index_check('ck_i');
-- empty indexes
CREATE TABLE ck_empty (v vector(2));
CREATE INDEX ck_empty_h ON ck_empty USING hnsw (v vector_l2_ops);
CREATE INDEX ck_empty_i ON ck_empty USING ivfflat (v);
SELECT * FROM vector_index_check('ck_empty_h');
SELECT * FROM vector_index_check('ck_empty_i');
-- not an index of ours
CREATE INDEX ck_btree ON ck (id);
SELECT * FROM vector_index_check('ck_btree');
SELECT * FROM vector_index_check('ck');
-- the check follows the handler, not the access method's name
CREATE ACCESS METHOD hnsw_alias TYPE INDEX HANDLER hnswhandler;
CREATE OPERATOR CLASS alias_l2_ops FOR TYPE vector USING hnsw_alias AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_l2_squared_distance(vector, vector),
	FUNCTION 3 vector_index_support(internal);
CREATE INDEX ck_alias ON ck USING hnsw_alias (v alias_l2_ops);
SELECT * FROM vector_index_check('ck_alias', 40);
DROP ACCESS METHOD hnsw_alias CASCADE;
DROP TABLE ck, ck_empty;
-- every row deleted and vacuumed: VACUUM leaves no entry point, which is
-- sound while no live node is there (the check reported 'entry point
-- 4294967295 is not a node of the index'); a new row makes it a node again
CREATE TABLE ck_gone (id int, v vector(3));
CREATE INDEX ck_gone_v ON ck_gone USING hnsw (v vector_l2_ops);
INSERT INTO ck_gone SELECT i, ARRAY[i, 1, 2] FROM generate_series(1, 20) i;
DELETE FROM ck_gone;
VACUUM ck_gone;
SELECT * FROM vector_index_check('ck_gone_v');
INSERT INTO ck_gone VALUES (21, NULL);
VACUUM ck_gone;
SELECT * FROM vector_index_check('ck_gone_v');
INSERT INTO ck_gone VALUES (22, '[1,2,3]');
SELECT * FROM vector_index_check('ck_gone_v');
SET enable_seqscan = off;
SELECT id FROM ck_gone ORDER BY v <-> '[1,2,3]' LIMIT 1;
RESET enable_seqscan;
DROP TABLE ck_gone;
