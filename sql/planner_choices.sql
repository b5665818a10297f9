-- Planner choices (issue 14): the cost of a distance at the column's
-- dimensions, on both sides of the comparison: the index scan
-- (amcostestimate) and the sequential scan and sort it competes with (the
-- distance functions' planner support function, vector_distance_support).
-- Generic plans, so that the query vector shows as $1.
SET plan_cache_mode = force_generic_plan;
SELECT setseed(0.14);

CREATE TABLE pc384_2k (id int, v vector(384));
INSERT INTO pc384_2k SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 384) WHERE i > 0)
	FROM generate_series(1, 2000) i;
CREATE TABLE pc384_6k (id int, v vector(384));
INSERT INTO pc384_6k SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 384) WHERE i > 0)
	FROM generate_series(1, 6000) i;
-- over 2 kB: stored out of line, so every distance first fetches it
CREATE TABLE pc1536_2k (id int, v vector(1536));
INSERT INTO pc1536_2k SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 1536) WHERE i > 0)
	FROM generate_series(1, 2000) i;
CREATE TABLE pc1536_6k (id int, v vector(1536));
INSERT INTO pc1536_6k SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 1536) WHERE i > 0)
	FROM generate_series(1, 6000) i;
VACUUM ANALYZE pc384_2k, pc384_6k, pc1536_2k, pc1536_6k;

PREPARE nn384_2k(vector) AS SELECT id FROM pc384_2k ORDER BY v <-> $1 LIMIT 10;
PREPARE in384_2k(vector) AS SELECT id FROM pc384_2k WHERE v <-> $1 < 1 ORDER BY v <-> $1 LIMIT 10;
PREPARE nn384_6k(vector) AS SELECT id FROM pc384_6k ORDER BY v <-> $1 LIMIT 10;
PREPARE in384_6k(vector) AS SELECT id FROM pc384_6k WHERE v <-> $1 < 1 ORDER BY v <-> $1 LIMIT 10;
PREPARE nn1536_2k(vector) AS SELECT id FROM pc1536_2k ORDER BY v <-> $1 LIMIT 10;
PREPARE in1536_2k(vector) AS SELECT id FROM pc1536_2k WHERE v <-> $1 < 1 ORDER BY v <-> $1 LIMIT 10;
PREPARE nn1536_6k(vector) AS SELECT id FROM pc1536_6k ORDER BY v <-> $1 LIMIT 10;
PREPARE in1536_6k(vector) AS SELECT id FROM pc1536_6k WHERE v <-> $1 < 1 ORDER BY v <-> $1 LIMIT 10;

-- hnsw (ef_construction 32, the least for m 16, only to build faster: the
-- plan does not depend on it)
CREATE INDEX pc384_2k_v ON pc384_2k USING hnsw (v vector_l2_ops) WITH (ef_construction = 32);
CREATE INDEX pc384_6k_v ON pc384_6k USING hnsw (v vector_l2_ops) WITH (ef_construction = 32);
CREATE INDEX pc1536_2k_v ON pc1536_2k USING hnsw (v vector_l2_ops) WITH (ef_construction = 32);
CREATE INDEX pc1536_6k_v ON pc1536_6k USING hnsw (v vector_l2_ops) WITH (ef_construction = 32);
EXPLAIN (COSTS OFF) EXECUTE nn384_2k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE in384_2k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE nn384_6k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE in384_6k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE nn1536_2k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE in1536_2k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE nn1536_6k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE in1536_6k(array_fill(0.5, ARRAY[1536]));
DROP INDEX pc384_2k_v, pc384_6k_v, pc1536_2k_v, pc1536_6k_v;

-- ivfflat, 5 lists (one probed)
CREATE INDEX pc384_2k_v ON pc384_2k USING ivfflat (v vector_l2_ops) WITH (lists = 5);
CREATE INDEX pc384_6k_v ON pc384_6k USING ivfflat (v vector_l2_ops) WITH (lists = 5);
CREATE INDEX pc1536_2k_v ON pc1536_2k USING ivfflat (v vector_l2_ops) WITH (lists = 5);
CREATE INDEX pc1536_6k_v ON pc1536_6k USING ivfflat (v vector_l2_ops) WITH (lists = 5);
EXPLAIN (COSTS OFF) EXECUTE nn384_2k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE in384_2k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE nn384_6k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE in384_6k(array_fill(0.5, ARRAY[384]));
EXPLAIN (COSTS OFF) EXECUTE nn1536_2k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE in1536_2k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE nn1536_6k(array_fill(0.5, ARRAY[1536]));
EXPLAIN (COSTS OFF) EXECUTE in1536_6k(array_fill(0.5, ARRAY[1536]));
-- the lists the build made count, not the option: ALTER INDEX SET changes
-- only the option (a new statement: the old plan stays cached)
ALTER INDEX pc384_6k_v SET (lists = 1);
PREPARE nn384_6k_after(vector) AS SELECT id FROM pc384_6k ORDER BY v <-> $1 LIMIT 10;
EXPLAIN (COSTS OFF) EXECUTE nn384_6k_after(array_fill(0.5, ARRAY[384]));
DEALLOCATE ALL;
DROP TABLE pc384_2k, pc384_6k, pc1536_2k, pc1536_6k;
RESET plan_cache_mode;

-- A filter on another column, 10,000 rows of vector(3), 50 categories.
-- One that keeps few rows makes the index walk far for 20 of them (and a
-- scan without iterative_scan stops after ef_search rows, of which a
-- fiftieth pass): the exact plan is cheaper, a sequential scan and a sort,
-- or with a btree index on c the matching rows through it and a sort.  One
-- that removes few rows leaves the index cheapest.
CREATE TABLE pc_cat (id int, c int, v vector(3));
INSERT INTO pc_cat SELECT i, i % 50, ARRAY[random(), random(), random()] FROM generate_series(1, 10000) i;
CREATE INDEX pc_cat_v ON pc_cat USING hnsw (v vector_l2_ops);
VACUUM ANALYZE pc_cat;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c = 7 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c < 1 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c != 7 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c >= 1 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
CREATE INDEX pc_cat_c ON pc_cat (c);
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c = 7 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c < 1 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
-- a tenth of the rows is still few for 20 of them
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c < 5 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c != 7 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM pc_cat WHERE c >= 1 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
-- the exact plan returns all 20
SELECT count(*) FROM (SELECT id FROM pc_cat WHERE c = 7 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20) s;
DROP TABLE pc_cat;

-- m is the graph's, from the metapage: ALTER INDEX SET changes only the
-- option, and the plan stays (priced with m = 100, 5,000 rows looked
-- cheaper to sort)
CREATE TABLE pc_m (id int, v vector(3));
INSERT INTO pc_m SELECT i, ARRAY[random(), random(), random()] FROM generate_series(1, 5000) i;
CREATE INDEX pc_m_v ON pc_m USING hnsw (v vector_l2_ops);
VACUUM ANALYZE pc_m;
EXPLAIN (COSTS OFF) SELECT id FROM pc_m ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
ALTER INDEX pc_m_v SET (m = 100);
EXPLAIN (COSTS OFF) SELECT id FROM pc_m ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 20;
DROP TABLE pc_m;
