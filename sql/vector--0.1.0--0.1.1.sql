-- vector 0.1.0 -> 0.1.1
\echo Use "ALTER EXTENSION vector UPDATE TO '0.1.1'" to load this file. \quit

-- vector_index_check(regclass) and also, for hnsw, a search for every live
-- row's own vector at ef search_ef (0: no search), reporting the rows it
-- does not find
CREATE FUNCTION vector_index_check(index regclass, search_ef integer) RETURNS SETOF text
	AS 'MODULE_PATHNAME', 'vector_index_check' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
