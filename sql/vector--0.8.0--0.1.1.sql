-- pgvector 0.8.0 -> vector 0.1.1: the switch in place from pgvector.
-- pgvector's 0.8.0 install script (Debian 13's postgresql-17-pgvector) made
-- the same types, operators and casts, with the same C symbols for all but
-- five functions; this turns its catalog into exactly a fresh
-- CREATE EXTENSION vector's (test/switch.sh checks that, object by object).
-- The indexes pgvector built keep pgvector's page format, which this
-- library refuses ("is not a valid hnsw index"): REINDEX them after.
\echo Use "ALTER EXTENSION vector UPDATE" to load this file. \quit

-- the functions pgvector 0.8.0 lacks
CREATE FUNCTION vector_distance_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparsevec_spherical_distance(sparsevec, sparsevec) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_index_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_index_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparsevec_index_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bit_index_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_index_check(regclass) RETURNS SETOF text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION vector_index_check(index regclass, search_ef integer) RETURNS SETOF text
	AS 'MODULE_PATHNAME', 'vector_index_check' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- the planner support of every distance function (src/index/veccost.c)
ALTER FUNCTION l2_distance(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION inner_product(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION cosine_distance(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION l1_distance(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION vector_l2_squared_distance(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION vector_negative_inner_product(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION vector_spherical_distance(vector, vector) SUPPORT vector_distance_support;
ALTER FUNCTION hamming_distance(bit, bit) SUPPORT vector_distance_support;
ALTER FUNCTION jaccard_distance(bit, bit) SUPPORT vector_distance_support;
ALTER FUNCTION l2_distance(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION inner_product(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION cosine_distance(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION l1_distance(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION halfvec_l2_squared_distance(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION halfvec_negative_inner_product(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION halfvec_spherical_distance(halfvec, halfvec) SUPPORT vector_distance_support;
ALTER FUNCTION l2_distance(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION inner_product(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION cosine_distance(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION l1_distance(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION sparsevec_l2_squared_distance(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION sparsevec_negative_inner_product(sparsevec, sparsevec) SUPPORT vector_distance_support;
ALTER FUNCTION sparsevec_spherical_distance(sparsevec, sparsevec) SUPPORT vector_distance_support;

-- PREFERRED, as vector--0.1.1.sql makes it: a call with only untyped
-- literals (l2_distance('[1,2]', '[3,4]')) resolves to vector.  ALTER TYPE
-- cannot set it.
UPDATE pg_catalog.pg_type SET typispreferred = true WHERE oid = 'vector'::regtype;

-- avg(halfvec) combines with vector_combine; pgvector had a copy of it
CREATE OR REPLACE AGGREGATE avg(halfvec) (
	SFUNC = halfvec_accum,
	STYPE = double precision[],
	FINALFUNC = halfvec_avg,
	COMBINEFUNC = vector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
DROP FUNCTION halfvec_combine(double precision[], double precision[]);

-- The hnsw and ivfflat operator classes: pgvector's support functions
-- (numbers 1 to 5, some of them C symbols this library does not have) give
-- way to ours, FUNCTION 1 the distance and FUNCTION 3 the type's index
-- support, as vector--0.1.1.sql declares them, each then made the class's
-- own member as CREATE OPERATOR CLASS makes it.  The operators (FOR ORDER
-- BY) are the same and stay.
DO $$
DECLARE
	ext oid := (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'vector');
	fams oid[];
	r record;
BEGIN
	fams := ARRAY(SELECT f.oid
		FROM pg_catalog.pg_opfamily f
			JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod
			JOIN pg_catalog.pg_depend e ON e.classid = 'pg_catalog.pg_opfamily'::regclass
				AND e.objid = f.oid AND e.refclassid = 'pg_catalog.pg_extension'::regclass
				AND e.refobjid = ext AND e.deptype = 'e'
		WHERE a.amname IN ('hnsw', 'ivfflat'));

	-- pgvector's members, and what they depend on, as a DROP would remove
	-- them: ALTER OPERATOR FAMILY ... DROP refuses a class's own members, and
	-- numbers 4 and 5, which our access methods do not have.
	DELETE FROM pg_catalog.pg_depend d USING pg_catalog.pg_amproc p
	WHERE d.classid = 'pg_catalog.pg_amproc'::regclass AND d.objid = p.oid
		AND p.amprocfamily = ANY (fams);
	DELETE FROM pg_catalog.pg_amproc p WHERE p.amprocfamily = ANY (fams);

	FOR r IN SELECT v.*, a.amname AS am FROM (VALUES
			('vector_l2_ops', 'vector', 'vector_l2_squared_distance', 'vector_index_support'),
			('vector_ip_ops', 'vector', 'vector_negative_inner_product', 'vector_index_support'),
			('vector_cosine_ops', 'vector', 'cosine_distance', 'vector_index_support'),
			('vector_l1_ops', 'vector', 'l1_distance', 'vector_index_support'),
			('halfvec_l2_ops', 'halfvec', 'halfvec_l2_squared_distance', 'halfvec_index_support'),
			('halfvec_ip_ops', 'halfvec', 'halfvec_negative_inner_product', 'halfvec_index_support'),
			('halfvec_cosine_ops', 'halfvec', 'cosine_distance', 'halfvec_index_support'),
			('halfvec_l1_ops', 'halfvec', 'l1_distance', 'halfvec_index_support'),
			('sparsevec_l2_ops', 'sparsevec', 'sparsevec_l2_squared_distance', 'sparsevec_index_support'),
			('sparsevec_ip_ops', 'sparsevec', 'sparsevec_negative_inner_product', 'sparsevec_index_support'),
			('sparsevec_cosine_ops', 'sparsevec', 'cosine_distance', 'sparsevec_index_support'),
			('sparsevec_l1_ops', 'sparsevec', 'l1_distance', 'sparsevec_index_support'),
			('bit_hamming_ops', 'bit', 'hamming_distance', 'bit_index_support'),
			('bit_jaccard_ops', 'bit', 'jaccard_distance', 'bit_index_support')) v(name, typ, dist, support)
		JOIN pg_catalog.pg_opfamily f ON f.opfname = v.name AND f.oid = ANY (fams)
		JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod
	LOOP
		EXECUTE format('ALTER OPERATOR FAMILY %I USING %I ADD FUNCTION 1 (%s, %s) %I(%s, %s), FUNCTION 3 (%s, %s) %I(internal)',
					   r.name, r.am, r.typ, r.typ, r.dist, r.typ, r.typ, r.typ, r.typ, r.support);
	END LOOP;

	UPDATE pg_catalog.pg_depend d SET refclassid = 'pg_catalog.pg_opclass'::regclass, refobjid = c.oid, deptype = 'i'
	FROM pg_catalog.pg_amproc p, pg_catalog.pg_opclass c
	WHERE d.classid = 'pg_catalog.pg_amproc'::regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_catalog.pg_opfamily'::regclass AND d.refobjid = p.amprocfamily
		AND p.amprocfamily = ANY (fams) AND c.opcfamily = p.amprocfamily;
END $$;

-- pgvector's own index support functions, no longer used by any class
DROP FUNCTION hnsw_bit_support(internal);
DROP FUNCTION hnsw_halfvec_support(internal);
DROP FUNCTION hnsw_sparsevec_support(internal);
DROP FUNCTION ivfflat_bit_support(internal);
DROP FUNCTION ivfflat_halfvec_support(internal);

-- descriptions, as vector--0.1.1.sql gives them
COMMENT ON TYPE vector IS 'vector of float4 elements, up to 16000 dimensions';
COMMENT ON TYPE halfvec IS 'vector of half-precision (float2) elements, up to 16000 dimensions';
COMMENT ON TYPE sparsevec IS 'sparse vector of float4 elements: up to 16000 non-zero elements, up to 1000000000 dimensions';
COMMENT ON FUNCTION vector_in(cstring, oid, integer) IS 'text input of type vector';
COMMENT ON FUNCTION vector_out(vector) IS 'text output of type vector';
COMMENT ON FUNCTION vector_typmod_in(cstring[]) IS 'reads the dimensions of a vector(n) type modifier';
COMMENT ON FUNCTION vector_recv(internal, oid, integer) IS 'binary input of type vector';
COMMENT ON FUNCTION vector_send(vector) IS 'binary output of type vector';
COMMENT ON FUNCTION l2_distance(vector, vector) IS 'Euclidean (L2) distance';
COMMENT ON FUNCTION inner_product(vector, vector) IS 'inner product';
COMMENT ON FUNCTION cosine_distance(vector, vector) IS 'cosine distance (1 - cosine similarity)';
COMMENT ON FUNCTION l1_distance(vector, vector) IS 'taxicab (L1) distance';
COMMENT ON FUNCTION vector_dims(vector) IS 'number of dimensions';
COMMENT ON FUNCTION vector_norm(vector) IS 'Euclidean (L2) norm';
COMMENT ON FUNCTION l2_normalize(vector) IS 'scales to unit Euclidean norm';
COMMENT ON FUNCTION binary_quantize(vector) IS 'bit string of the positive elements';
COMMENT ON FUNCTION subvector(vector, integer, integer) IS 'count elements from position start (1-based)';
COMMENT ON FUNCTION vector_l2_squared_distance(vector, vector) IS 'squared Euclidean distance (index support)';
COMMENT ON FUNCTION vector_negative_inner_product(vector, vector) IS 'negative inner product (the <#> operator)';
COMMENT ON FUNCTION vector_spherical_distance(vector, vector) IS 'angular distance of unit vectors (index support)';
COMMENT ON FUNCTION vector_add(vector, vector) IS 'element-wise sum';
COMMENT ON FUNCTION vector_sub(vector, vector) IS 'element-wise difference';
COMMENT ON FUNCTION vector_mul(vector, vector) IS 'element-wise product';
COMMENT ON FUNCTION vector_concat(vector, vector) IS 'concatenation';
COMMENT ON FUNCTION vector_lt(vector, vector) IS 'less than';
COMMENT ON FUNCTION vector_le(vector, vector) IS 'less than or equal';
COMMENT ON FUNCTION vector_eq(vector, vector) IS 'equal';
COMMENT ON FUNCTION vector_ne(vector, vector) IS 'not equal';
COMMENT ON FUNCTION vector_ge(vector, vector) IS 'greater than or equal';
COMMENT ON FUNCTION vector_gt(vector, vector) IS 'greater than';
COMMENT ON FUNCTION vector_cmp(vector, vector) IS 'three-way comparison (btree support)';
COMMENT ON FUNCTION hamming_distance(bit, bit) IS 'Hamming distance (bits that differ)';
COMMENT ON FUNCTION jaccard_distance(bit, bit) IS 'Jaccard distance (1 - shared bits / bits set in either)';
COMMENT ON FUNCTION vector_accum(double precision[], vector) IS 'avg and sum transition function';
COMMENT ON FUNCTION vector_avg(double precision[]) IS 'avg final function';
COMMENT ON FUNCTION vector_combine(double precision[], double precision[]) IS 'avg and sum combine function (parallel aggregation)';
COMMENT ON FUNCTION vector(vector, integer, boolean) IS 'checks the dimensions of a vector against its type modifier';
COMMENT ON FUNCTION array_to_vector(integer[], integer, boolean) IS 'cast from integer[] to vector';
COMMENT ON FUNCTION array_to_vector(real[], integer, boolean) IS 'cast from real[] to vector';
COMMENT ON FUNCTION array_to_vector(double precision[], integer, boolean) IS 'cast from double precision[] to vector';
COMMENT ON FUNCTION array_to_vector(numeric[], integer, boolean) IS 'cast from numeric[] to vector';
COMMENT ON FUNCTION vector_to_float4(vector, integer, boolean) IS 'cast from vector to real[]';
COMMENT ON FUNCTION halfvec_in(cstring, oid, integer) IS 'text input of type halfvec';
COMMENT ON FUNCTION halfvec_out(halfvec) IS 'text output of type halfvec';
COMMENT ON FUNCTION halfvec_typmod_in(cstring[]) IS 'reads the dimensions of a halfvec(n) type modifier';
COMMENT ON FUNCTION halfvec_recv(internal, oid, integer) IS 'binary input of type halfvec';
COMMENT ON FUNCTION halfvec_send(halfvec) IS 'binary output of type halfvec';
COMMENT ON FUNCTION l2_distance(halfvec, halfvec) IS 'Euclidean (L2) distance';
COMMENT ON FUNCTION inner_product(halfvec, halfvec) IS 'inner product';
COMMENT ON FUNCTION cosine_distance(halfvec, halfvec) IS 'cosine distance (1 - cosine similarity)';
COMMENT ON FUNCTION l1_distance(halfvec, halfvec) IS 'taxicab (L1) distance';
COMMENT ON FUNCTION vector_dims(halfvec) IS 'number of dimensions';
COMMENT ON FUNCTION l2_norm(halfvec) IS 'Euclidean (L2) norm';
COMMENT ON FUNCTION l2_normalize(halfvec) IS 'scales to unit Euclidean norm';
COMMENT ON FUNCTION binary_quantize(halfvec) IS 'bit string of the positive elements';
COMMENT ON FUNCTION subvector(halfvec, integer, integer) IS 'count elements from position start (1-based)';
COMMENT ON FUNCTION halfvec_l2_squared_distance(halfvec, halfvec) IS 'squared Euclidean distance (index support)';
COMMENT ON FUNCTION halfvec_negative_inner_product(halfvec, halfvec) IS 'negative inner product (the <#> operator)';
COMMENT ON FUNCTION halfvec_spherical_distance(halfvec, halfvec) IS 'angular distance of unit vectors (index support)';
COMMENT ON FUNCTION halfvec_add(halfvec, halfvec) IS 'element-wise sum';
COMMENT ON FUNCTION halfvec_sub(halfvec, halfvec) IS 'element-wise difference';
COMMENT ON FUNCTION halfvec_mul(halfvec, halfvec) IS 'element-wise product';
COMMENT ON FUNCTION halfvec_concat(halfvec, halfvec) IS 'concatenation';
COMMENT ON FUNCTION halfvec_lt(halfvec, halfvec) IS 'less than';
COMMENT ON FUNCTION halfvec_le(halfvec, halfvec) IS 'less than or equal';
COMMENT ON FUNCTION halfvec_eq(halfvec, halfvec) IS 'equal';
COMMENT ON FUNCTION halfvec_ne(halfvec, halfvec) IS 'not equal';
COMMENT ON FUNCTION halfvec_ge(halfvec, halfvec) IS 'greater than or equal';
COMMENT ON FUNCTION halfvec_gt(halfvec, halfvec) IS 'greater than';
COMMENT ON FUNCTION halfvec_cmp(halfvec, halfvec) IS 'three-way comparison (btree support)';
COMMENT ON FUNCTION halfvec_accum(double precision[], halfvec) IS 'avg and sum transition function';
COMMENT ON FUNCTION halfvec_avg(double precision[]) IS 'avg final function';
COMMENT ON FUNCTION halfvec(halfvec, integer, boolean) IS 'checks the dimensions of a halfvec against its type modifier';
COMMENT ON FUNCTION array_to_halfvec(integer[], integer, boolean) IS 'cast from integer[] to halfvec';
COMMENT ON FUNCTION array_to_halfvec(real[], integer, boolean) IS 'cast from real[] to halfvec';
COMMENT ON FUNCTION array_to_halfvec(double precision[], integer, boolean) IS 'cast from double precision[] to halfvec';
COMMENT ON FUNCTION array_to_halfvec(numeric[], integer, boolean) IS 'cast from numeric[] to halfvec';
COMMENT ON FUNCTION halfvec_to_float4(halfvec, integer, boolean) IS 'cast from halfvec to real[]';
COMMENT ON FUNCTION vector_to_halfvec(vector, integer, boolean) IS 'cast from vector to halfvec';
COMMENT ON FUNCTION halfvec_to_vector(halfvec, integer, boolean) IS 'cast from halfvec to vector';
COMMENT ON FUNCTION sparsevec_in(cstring, oid, integer) IS 'text input of type sparsevec';
COMMENT ON FUNCTION sparsevec_out(sparsevec) IS 'text output of type sparsevec';
COMMENT ON FUNCTION sparsevec_typmod_in(cstring[]) IS 'reads the dimensions of a sparsevec(n) type modifier';
COMMENT ON FUNCTION sparsevec_recv(internal, oid, integer) IS 'binary input of type sparsevec';
COMMENT ON FUNCTION sparsevec_send(sparsevec) IS 'binary output of type sparsevec';
COMMENT ON FUNCTION l2_distance(sparsevec, sparsevec) IS 'Euclidean (L2) distance';
COMMENT ON FUNCTION inner_product(sparsevec, sparsevec) IS 'inner product';
COMMENT ON FUNCTION cosine_distance(sparsevec, sparsevec) IS 'cosine distance (1 - cosine similarity)';
COMMENT ON FUNCTION l1_distance(sparsevec, sparsevec) IS 'taxicab (L1) distance';
COMMENT ON FUNCTION l2_norm(sparsevec) IS 'Euclidean (L2) norm';
COMMENT ON FUNCTION l2_normalize(sparsevec) IS 'scales to unit Euclidean norm';
COMMENT ON FUNCTION sparsevec_l2_squared_distance(sparsevec, sparsevec) IS 'squared Euclidean distance (index support)';
COMMENT ON FUNCTION sparsevec_negative_inner_product(sparsevec, sparsevec) IS 'negative inner product (the <#> operator)';
COMMENT ON FUNCTION sparsevec_spherical_distance(sparsevec, sparsevec) IS 'angular distance of unit vectors (index support)';
COMMENT ON FUNCTION sparsevec_lt(sparsevec, sparsevec) IS 'less than';
COMMENT ON FUNCTION sparsevec_le(sparsevec, sparsevec) IS 'less than or equal';
COMMENT ON FUNCTION sparsevec_eq(sparsevec, sparsevec) IS 'equal';
COMMENT ON FUNCTION sparsevec_ne(sparsevec, sparsevec) IS 'not equal';
COMMENT ON FUNCTION sparsevec_ge(sparsevec, sparsevec) IS 'greater than or equal';
COMMENT ON FUNCTION sparsevec_gt(sparsevec, sparsevec) IS 'greater than';
COMMENT ON FUNCTION sparsevec_cmp(sparsevec, sparsevec) IS 'three-way comparison (btree support)';
COMMENT ON FUNCTION sparsevec(sparsevec, integer, boolean) IS 'checks the dimensions of a sparsevec against its type modifier';
COMMENT ON FUNCTION array_to_sparsevec(integer[], integer, boolean) IS 'cast from integer[] to sparsevec';
COMMENT ON FUNCTION array_to_sparsevec(real[], integer, boolean) IS 'cast from real[] to sparsevec';
COMMENT ON FUNCTION array_to_sparsevec(double precision[], integer, boolean) IS 'cast from double precision[] to sparsevec';
COMMENT ON FUNCTION array_to_sparsevec(numeric[], integer, boolean) IS 'cast from numeric[] to sparsevec';
COMMENT ON FUNCTION vector_to_sparsevec(vector, integer, boolean) IS 'cast from vector to sparsevec';
COMMENT ON FUNCTION halfvec_to_sparsevec(halfvec, integer, boolean) IS 'cast from halfvec to sparsevec';
COMMENT ON FUNCTION sparsevec_to_vector(sparsevec, integer, boolean) IS 'cast from sparsevec to vector';
COMMENT ON FUNCTION sparsevec_to_halfvec(sparsevec, integer, boolean) IS 'cast from sparsevec to halfvec';
COMMENT ON FUNCTION hnswhandler(internal) IS 'hnsw index access method handler';
COMMENT ON FUNCTION vector_distance_support(internal) IS 'planner support for the distance functions (their cost at the arguments'' dimensions)';
COMMENT ON FUNCTION vector_index_support(internal) IS 'index support for type vector (hnsw and ivfflat operator classes)';
COMMENT ON FUNCTION halfvec_index_support(internal) IS 'index support for type halfvec (hnsw and ivfflat operator classes)';
COMMENT ON FUNCTION sparsevec_index_support(internal) IS 'index support for type sparsevec (hnsw and ivfflat operator classes)';
COMMENT ON FUNCTION ivfflathandler(internal) IS 'ivfflat index access method handler';
COMMENT ON FUNCTION vector_index_check(regclass) IS 'structural problems of an hnsw or ivfflat index (no rows: sound)';
COMMENT ON FUNCTION vector_index_check(regclass, integer) IS 'structural problems of an hnsw or ivfflat index, and for hnsw the rows a search at search_ef misses';
COMMENT ON FUNCTION bit_index_support(internal) IS 'index support for type bit (hnsw and ivfflat operator classes)';
COMMENT ON OPERATOR <-> (vector, vector) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR <#> (vector, vector) IS 'negative inner product';
COMMENT ON OPERATOR <=> (vector, vector) IS 'cosine distance';
COMMENT ON OPERATOR <+> (vector, vector) IS 'taxicab (L1) distance';
COMMENT ON OPERATOR + (vector, vector) IS 'element-wise sum';
COMMENT ON OPERATOR - (vector, vector) IS 'element-wise difference';
COMMENT ON OPERATOR * (vector, vector) IS 'element-wise product';
COMMENT ON OPERATOR || (vector, vector) IS 'concatenation';
COMMENT ON OPERATOR < (vector, vector) IS 'less than';
COMMENT ON OPERATOR <= (vector, vector) IS 'less than or equal';
COMMENT ON OPERATOR = (vector, vector) IS 'equal';
COMMENT ON OPERATOR <> (vector, vector) IS 'not equal';
COMMENT ON OPERATOR >= (vector, vector) IS 'greater than or equal';
COMMENT ON OPERATOR > (vector, vector) IS 'greater than';
COMMENT ON OPERATOR <~> (bit, bit) IS 'Hamming distance';
COMMENT ON OPERATOR <%> (bit, bit) IS 'Jaccard distance';
COMMENT ON OPERATOR <-> (halfvec, halfvec) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR <#> (halfvec, halfvec) IS 'negative inner product';
COMMENT ON OPERATOR <=> (halfvec, halfvec) IS 'cosine distance';
COMMENT ON OPERATOR <+> (halfvec, halfvec) IS 'taxicab (L1) distance';
COMMENT ON OPERATOR + (halfvec, halfvec) IS 'element-wise sum';
COMMENT ON OPERATOR - (halfvec, halfvec) IS 'element-wise difference';
COMMENT ON OPERATOR * (halfvec, halfvec) IS 'element-wise product';
COMMENT ON OPERATOR || (halfvec, halfvec) IS 'concatenation';
COMMENT ON OPERATOR < (halfvec, halfvec) IS 'less than';
COMMENT ON OPERATOR <= (halfvec, halfvec) IS 'less than or equal';
COMMENT ON OPERATOR = (halfvec, halfvec) IS 'equal';
COMMENT ON OPERATOR <> (halfvec, halfvec) IS 'not equal';
COMMENT ON OPERATOR >= (halfvec, halfvec) IS 'greater than or equal';
COMMENT ON OPERATOR > (halfvec, halfvec) IS 'greater than';
COMMENT ON OPERATOR <-> (sparsevec, sparsevec) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR <#> (sparsevec, sparsevec) IS 'negative inner product';
COMMENT ON OPERATOR <=> (sparsevec, sparsevec) IS 'cosine distance';
COMMENT ON OPERATOR <+> (sparsevec, sparsevec) IS 'taxicab (L1) distance';
COMMENT ON OPERATOR < (sparsevec, sparsevec) IS 'less than';
COMMENT ON OPERATOR <= (sparsevec, sparsevec) IS 'less than or equal';
COMMENT ON OPERATOR = (sparsevec, sparsevec) IS 'equal';
COMMENT ON OPERATOR <> (sparsevec, sparsevec) IS 'not equal';
COMMENT ON OPERATOR >= (sparsevec, sparsevec) IS 'greater than or equal';
COMMENT ON OPERATOR > (sparsevec, sparsevec) IS 'greater than';
COMMENT ON AGGREGATE avg(vector) IS 'element-wise mean';
COMMENT ON AGGREGATE sum(vector) IS 'element-wise sum';
COMMENT ON AGGREGATE avg(halfvec) IS 'element-wise mean';
COMMENT ON AGGREGATE sum(halfvec) IS 'element-wise sum';
COMMENT ON ACCESS METHOD hnsw IS 'hierarchical navigable small world graph index for nearest-neighbour search';
COMMENT ON ACCESS METHOD ivfflat IS 'inverted file index (k-means lists) for nearest-neighbour search';
