-- vector 0.1.2 -> 0.1.3
\echo Use "ALTER EXTENSION vector UPDATE TO '0.1.3'" to load this file. \quit

-- array filter columns of an hnsw index (labels, tags): the scan applies
-- && and @> on a 64-bit signature of each row's array, and the executor
-- checks the rows it passes (src/hnsw/hnswfilter.c).  Any array whose
-- element type has a hash operator class.
CREATE OPERATOR CLASS array_ops
	DEFAULT FOR TYPE anyarray USING hnsw AS
	OPERATOR 3 && (anyarray, anyarray),
	OPERATOR 7 @> (anyarray, anyarray);
