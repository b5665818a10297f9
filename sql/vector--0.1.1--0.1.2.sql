-- vector 0.1.1 -> 0.1.2
\echo Use "ALTER EXTENSION vector UPDATE TO '0.1.2'" to load this file. \quit

-- filter columns of an hnsw index: every key column after the vector is
-- one, and the scan applies = and IN (...) on it while it walks the graph
-- (src/hnsw/hnswfilter.c).  The integers share a family, so that a
-- comparison across their widths is an index condition too.
CREATE OPERATOR FAMILY integer_ops USING hnsw;

CREATE OPERATOR CLASS int2_ops
	DEFAULT FOR TYPE int2 USING hnsw FAMILY integer_ops AS
	OPERATOR 1 = (int2, int2);

CREATE OPERATOR CLASS int4_ops
	DEFAULT FOR TYPE int4 USING hnsw FAMILY integer_ops AS
	OPERATOR 1 = (int4, int4);

CREATE OPERATOR CLASS int8_ops
	DEFAULT FOR TYPE int8 USING hnsw FAMILY integer_ops AS
	OPERATOR 1 = (int8, int8);

ALTER OPERATOR FAMILY integer_ops USING hnsw ADD
	OPERATOR 1 = (int2, int4),
	OPERATOR 1 = (int2, int8),
	OPERATOR 1 = (int4, int2),
	OPERATOR 1 = (int4, int8),
	OPERATOR 1 = (int8, int2),
	OPERATOR 1 = (int8, int4);

CREATE OPERATOR CLASS bool_ops
	DEFAULT FOR TYPE bool USING hnsw AS
	OPERATOR 1 = (bool, bool);

CREATE OPERATOR CLASS text_ops
	DEFAULT FOR TYPE text USING hnsw AS
	OPERATOR 1 = (text, text);

CREATE OPERATOR CLASS uuid_ops
	DEFAULT FOR TYPE uuid USING hnsw AS
	OPERATOR 1 = (uuid, uuid);
