-- psql's describe commands on the extension's objects: what a user sees
-- with \dx, \dT, \dA, \dAc, \d+ on a table with a vector column and an
-- hnsw index, and the plan of a nearest-neighbour query.  Only commands
-- whose output does not depend on the OS user (no Owner column) or on
-- sizes.
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));
INSERT INTO items (embedding)
SELECT ARRAY[i % 7, i % 11, i % 13]::real[] FROM generate_series(1, 100) i;
CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)
  WITH (m = 16, ef_construction = 64);
ANALYZE items;

\dx vector
\dT vector
\dA hnsw
\dAc hnsw vector
\dAo hnsw vector_l2_ops
\d+ items
\d items_embedding_idx
\d+ items_embedding_idx

-- the typmod shows in the column type, the type without it plainly
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'items'::regclass AND attname = 'embedding';
SELECT pg_typeof(embedding) FROM items LIMIT 1;

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5;
RESET enable_seqscan;
-- the exact answer (seq scan), for reference
SET enable_indexscan = off;
SELECT id, embedding, embedding <-> '[1,2,3]' AS distance
FROM items ORDER BY embedding <-> '[1,2,3]', id LIMIT 5;
RESET enable_indexscan;

DROP TABLE items;

-- every type, function, operator, aggregate and access method of the
-- extension has a description (COMMENT ON), so that \dT+, \df+, \do+ and
-- \dA+ describe it (array types, which 17 made members too, are implicit)
SELECT pg_describe_object(classid, objid, 0) AS undescribed FROM pg_depend d
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector')
  AND classid IN ('pg_type'::regclass, 'pg_proc'::regclass, 'pg_operator'::regclass, 'pg_am'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_description ds
                  WHERE ds.classoid = d.classid AND ds.objoid = d.objid AND ds.objsubid = 0)
  AND NOT EXISTS (SELECT 1 FROM pg_type t WHERE d.classid = 'pg_type'::regclass
                  AND t.oid = d.objid AND t.typcategory = 'A')
ORDER BY 1;
\do+ public.<->
\dA+ hnsw
SELECT obj_description('vector'::regtype, 'pg_type'),
       obj_description('avg(vector)'::regprocedure, 'pg_proc'),
       obj_description('l2_distance(halfvec, halfvec)'::regprocedure, 'pg_proc');
