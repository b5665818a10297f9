/*
 * typeops.c
 *	  VecTypeOps for the vector and halfvec types, and the metric helpers
 *	  shared by all types.  The SQL-callable support function hands the struct to the
 *	  index access methods.
 */
#include "compat.h"

#include <math.h>

#include "fmgr.h"
#include "utils/varbit.h"

#include "halfvec.h"
#include "kernels.h"
#include "sparsevec.h"
#include "typeops.h"
#include "vector.h"

/* Defined in bitvec.c */
extern Datum hamming_distance(PG_FUNCTION_ARGS);
extern Datum jaccard_distance(PG_FUNCTION_ARGS);

/* Defined in vector.c; only their addresses are used here. */
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum cosine_distance(PG_FUNCTION_ARGS);
extern Datum l1_distance(PG_FUNCTION_ARGS);
extern Datum l2_distance(PG_FUNCTION_ARGS);
extern Datum inner_product(PG_FUNCTION_ARGS);

/* Defined in halfvec.c. */
extern Datum halfvec_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_l2_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum halfvec_cosine_distance(PG_FUNCTION_ARGS);
extern Datum halfvec_l1_distance(PG_FUNCTION_ARGS);

VecMetric
VecOpsMetric(const VecTypeOps *ops, PGFunction distproc)
{
	for (int i = 0; i < ops->nmetrics; i++)
		if (ops->metrics[i].sqlfn == distproc)
			return ops->metrics[i].metric;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("operator class distance function is not supported for type %s",
					ops->name)));
	pg_unreachable();
}

double
VecSqlDistance(VecMetric metric, float d)
{
	if (metric == VEC_METRIC_L2)
		return sqrt((double) Max(d, 0.0f));
	return (double) d;
}

/* ---------- vector ---------- */

/*
 * Kernel wrappers: read vk_active at each call, so that vector.simd_level
 * takes effect at once.
 */
static float
f32L2(const void *a, const void *b, int dim)
{
	return vk_active->f32_l2sq((const float *) a, (const float *) b, dim);
}

static float
f32NegDot(const void *a, const void *b, int dim)
{
	return -vk_active->f32_dot((const float *) a, (const float *) b, dim);
}

/* Items and queries are unit vectors: cosine distance is 1 - dot. */
static float
f32Cosine(const void *a, const void *b, int dim)
{
	return 1.0f - vk_active->f32_dot((const float *) a, (const float *) b, dim);
}

static float
f32L1(const void *a, const void *b, int dim)
{
	return vk_active->f32_l1((const float *) a, (const float *) b, dim);
}

static void
f32L2Batch(const void *q, const void *const *items, int count, int dim, float *out)
{
	vk_active->f32_l2sq_batch((const float *) q, (const float *const *) items, count, dim, out);
}

static void
f32NegDotBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	vk_active->f32_dot_batch((const float *) q, (const float *const *) items, count, dim, out);
	for (int i = 0; i < count; i++)
		out[i] = -out[i];
}

static void
f32CosineBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	vk_active->f32_dot_batch((const float *) q, (const float *const *) items, count, dim, out);
	for (int i = 0; i < count; i++)
		out[i] = 1.0f - out[i];
}

/* No batch entry for L1 in the table: one call per item. */
static void
f32L1Batch(const void *q, const void *const *items, int count, int dim, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] = vk_active->f32_l1((const float *) q, (const float *) items[i], dim);
}

static void
f32RowsDot(const void *q, const void *rows, Size row_bytes, int count, int dim, float *out)
{
	vk_active->f32_dot_rows((const float *) q, (const float *) rows, row_bytes / sizeof(float),
							count, dim, out);
}

static float
f32NormSq(const void *item, int dim)
{
	return vk_active->f32_norm_sq((const float *) item, dim);
}

static Size
vectorItemSize(int dim)
{
	return sizeof(float) * dim;
}

static int
vectorDatumDim(Datum value)
{
	return DatumGetVector(value)->dim;
}

static bool
vectorToItem(Datum value, VecMetric metric, void *dst)
{
	Vector	   *v = DatumGetVector(value);
	float	   *out = (float *) dst;

	if (metric == VEC_METRIC_COSINE)
	{
		double		norm = 0.0;

		for (int i = 0; i < v->dim; i++)
			norm += (double) v->x[i] * (double) v->x[i];
		norm = sqrt(norm);
		if (norm == 0.0)
			return false;
		for (int i = 0; i < v->dim; i++)
			out[i] = (float) ((double) v->x[i] / norm);
		return true;
	}
	memcpy(out, v->x, sizeof(float) * v->dim);
	return true;
}

static void
vectorItemToFloats(const void *item, int dim, float *out)
{
	memcpy(out, item, sizeof(float) * dim);
}

static void
vectorFloatsToItem(const float *in, int dim, void *item)
{
	memcpy(item, in, sizeof(float) * dim);
}

static VecDistanceFn
vectorDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return f32L2;
		case VEC_METRIC_IP:
			return f32NegDot;
		case VEC_METRIC_COSINE:
			return f32Cosine;
		case VEC_METRIC_L1:
			return f32L1;
		default:
			elog(ERROR, "metric %d not supported for type vector", (int) metric);
	}
	pg_unreachable();
}

static VecBatchDistanceFn
vectorBatchDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return f32L2Batch;
		case VEC_METRIC_IP:
			return f32NegDotBatch;
		case VEC_METRIC_COSINE:
			return f32CosineBatch;
		case VEC_METRIC_L1:
			return f32L1Batch;
		default:
			elog(ERROR, "metric %d not supported for type vector", (int) metric);
	}
	pg_unreachable();
}

static const VecMetricEntry vector_metrics[] = {
	{vector_l2_squared_distance, VEC_METRIC_L2},
	{l2_distance, VEC_METRIC_L2},
	{vector_negative_inner_product, VEC_METRIC_IP},
	{cosine_distance, VEC_METRIC_COSINE},
	{l1_distance, VEC_METRIC_L1},
};

const VecTypeOps vector_type_ops = {
	.name = "vector",
	.hnsw_max_dim = 2000,
	.ivf_max_dim = 2000,
	.item_size = vectorItemSize,
	.datum_dim = vectorDatumDim,
	.to_item = vectorToItem,
	.unit_cosine_items = true,
	.distance = vectorDistance,
	.batch_distance = vectorBatchDistance,
	.rows_dot = f32RowsDot,
	.norm_sq = f32NormSq,
	.item_to_floats = vectorItemToFloats,
	.floats_to_item = vectorFloatsToItem,
	.metrics = vector_metrics,
	.nmetrics = lengthof(vector_metrics),
};

/* Every type the index access methods know. */
static const VecTypeOps *const all_type_ops[] = {&vector_type_ops, &halfvec_type_ops,
&bit_type_ops, &sparsevec_type_ops};

bool
VecIsDistanceFunction(PGFunction fn)
{
	for (int t = 0; t < lengthof(all_type_ops); t++)
		for (int i = 0; i < all_type_ops[t]->nmetrics; i++)
			if (all_type_ops[t]->metrics[i].sqlfn == fn)
				return true;
	return false;
}

/* The opclass support function: FUNCTION 3 of every vector opclass. */
PG_FUNCTION_INFO_V1(vector_index_support);
Datum
vector_index_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&vector_type_ops);
}

/* ---------- halfvec ---------- */

/*
 * Items are the halves themselves (2 bytes each, the size rounded up to 4),
 * for every metric; the kernels read them without a float copy.
 */
static float
f16L2(const void *a, const void *b, int dim)
{
	return vk_active->f16_l2sq((const uint16 *) a, (const uint16 *) b, dim);
}

static float
f16NegDot(const void *a, const void *b, int dim)
{
	return -vk_active->f16_dot((const uint16 *) a, (const uint16 *) b, dim);
}

/*
 * Cosine items keep their halves (unit_cosine_items is false): normalised
 * and rounded to halves, unit vectors would have norms 1 +- 1e-3, an error
 * larger than the distances between near neighbours.  So the distance is
 * the SQL operator's own, from one pass over both, formed in double like
 * halfvec_cosine_distance.  A zero query (never an item) gives 1.
 */
static float
f16Cosine(const void *a, const void *b, int dim)
{
	float		dot,
				aa,
				bb;
	double		norms;
	double		sim;

	vk_active->f16_dot_norms((const uint16 *) a, (const uint16 *) b, dim, &dot, &aa, &bb);
	norms = sqrt((double) aa * (double) bb);
	if (norms == 0.0)
		return 1.0f;
	sim = (double) dot / norms;
	sim = Max(-1.0, Min(1.0, sim));
	return (float) (1.0 - sim);
}

static float
f16L1(const void *a, const void *b, int dim)
{
	return vk_active->f16_l1((const uint16 *) a, (const uint16 *) b, dim);
}

static void
f16L2Batch(const void *q, const void *const *items, int count, int dim, float *out)
{
	vk_active->f16_l2sq_batch((const uint16 *) q, (const uint16 *const *) items, count, dim, out);
}

static void
f16NegDotBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	vk_active->f16_dot_batch((const uint16 *) q, (const uint16 *const *) items, count, dim, out);
	for (int i = 0; i < count; i++)
		out[i] = -out[i];
}

static void
f16CosineBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] = f16Cosine(q, items[i], dim);
}

static void
f16L1Batch(const void *q, const void *const *items, int count, int dim, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] = vk_active->f16_l1((const uint16 *) q, (const uint16 *) items[i], dim);
}

static Size
halfvecItemSize(int dim)
{
	return TYPEALIGN(4, sizeof(uint16) * dim);
}

static int
halfvecDatumDim(Datum value)
{
	return DatumGetHalfVector(value)->dim;
}

static bool
halfvecToItem(Datum value, VecMetric metric, void *dst)
{
	HalfVector *v = DatumGetHalfVector(value);
	uint16	   *out = (uint16 *) dst;
	Size		size = halfvecItemSize(v->dim);

	/* the padding is part of the item on disk: keep it zero */
	memset((char *) dst + sizeof(uint16) * v->dim, 0, size - sizeof(uint16) * v->dim);
	/* cosine: the halves as they are, but a zero vector is not indexed */
	if (metric == VEC_METRIC_COSINE)
	{
		bool		zero = true;

		for (int i = 0; i < v->dim && zero; i++)
			zero = (v->x[i] & 0x7fff) == 0;
		if (zero)
			return false;
	}
	memcpy(out, v->x, sizeof(uint16) * v->dim);
	return true;
}

static void
halfvecItemToFloats(const void *item, int dim, float *out)
{
	vk_active->f16_to_f32((const uint16 *) item, out, dim);
}

/* Centroids are means of halves: always within the half range. */
static void
halfvecFloatsToItem(const float *in, int dim, void *item)
{
	Size		size = halfvecItemSize(dim);

	memset((char *) item + sizeof(uint16) * dim, 0, size - sizeof(uint16) * dim);
	vk_active->f32_to_f16(in, (uint16 *) item, dim);
}

static VecDistanceFn
halfvecDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return f16L2;
		case VEC_METRIC_IP:
			return f16NegDot;
		case VEC_METRIC_COSINE:
			return f16Cosine;
		case VEC_METRIC_L1:
			return f16L1;
		default:
			elog(ERROR, "metric %d not supported for type halfvec", (int) metric);
	}
	pg_unreachable();
}

static VecBatchDistanceFn
halfvecBatchDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return f16L2Batch;
		case VEC_METRIC_IP:
			return f16NegDotBatch;
		case VEC_METRIC_COSINE:
			return f16CosineBatch;
		case VEC_METRIC_L1:
			return f16L1Batch;
		default:
			elog(ERROR, "metric %d not supported for type halfvec", (int) metric);
	}
	pg_unreachable();
}

static const VecMetricEntry halfvec_metrics[] = {
	{halfvec_l2_squared_distance, VEC_METRIC_L2},
	{halfvec_l2_distance, VEC_METRIC_L2},
	{halfvec_negative_inner_product, VEC_METRIC_IP},
	{halfvec_cosine_distance, VEC_METRIC_COSINE},
	{halfvec_l1_distance, VEC_METRIC_L1},
};

const VecTypeOps halfvec_type_ops = {
	.name = "halfvec",
	.hnsw_max_dim = 4000,
	.ivf_max_dim = 4000,
	.item_size = halfvecItemSize,
	.datum_dim = halfvecDatumDim,
	.to_item = halfvecToItem,
	.unit_cosine_items = false,
	.distance = halfvecDistance,
	.batch_distance = halfvecBatchDistance,
	.item_to_floats = halfvecItemToFloats,
	.floats_to_item = halfvecFloatsToItem,
	.metrics = halfvec_metrics,
	.nmetrics = lengthof(halfvec_metrics),
};

/* The opclass support function: FUNCTION 3 of every halfvec opclass. */
PG_FUNCTION_INFO_V1(halfvec_index_support);
Datum
halfvec_index_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&halfvec_type_ops);
}

/* ---------- bit ---------- */

/*
 * Items are the bit string's bytes (dim bits, the pad bits of the last byte
 * zero, as PostgreSQL keeps them).
 */
static float
bitHamming(const void *a, const void *b, int dim)
{
	return (float) vk_active->bit_hamming((const uint8 *) a, (const uint8 *) b, (dim + 7) / 8);
}

/* the same values as jaccard_distance(): 1 when no bit is shared */
static float
bitJaccard(const void *a, const void *b, int dim)
{
	uint64		inter,
				uni;

	vk_active->bit_and_or_count((const uint8 *) a, (const uint8 *) b, (dim + 7) / 8,
								&inter, &uni);
	if (inter == 0)
		return 1.0f;
	return (float) (1.0 - (double) inter / (double) uni);
}

static void
bitHammingBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] = bitHamming(q, items[i], dim);
}

static void
bitJaccardBatch(const void *q, const void *const *items, int count, int dim, float *out)
{
	for (int i = 0; i < count; i++)
		out[i] = bitJaccard(q, items[i], dim);
}

static Size
bitItemSize(int dim)
{
	return (dim + 7) / 8;
}

static int
bitDatumDim(Datum value)
{
	return VARBITLEN(DatumGetVarBitP(value));
}

static bool
bitToItem(Datum value, VecMetric metric, void *dst)
{
	VarBit	   *v = DatumGetVarBitP(value);

	memcpy(dst, VARBITS(v), VARBITBYTES(v));
	return true;
}

/* k-means on bits: 0/1 floats in, and a centroid is its majority vote */
static void
bitItemToFloats(const void *item, int dim, float *out)
{
	const uint8 *bytes = (const uint8 *) item;

	for (int i = 0; i < dim; i++)
		out[i] = (bytes[i / 8] >> (7 - i % 8)) & 1;
}

static void
bitFloatsToItem(const float *in, int dim, void *item)
{
	uint8	   *bytes = (uint8 *) item;

	memset(bytes, 0, (dim + 7) / 8);
	for (int i = 0; i < dim; i++)
		if (in[i] >= 0.5f)
			bytes[i / 8] |= 1 << (7 - i % 8);
}

static VecDistanceFn
bitDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_HAMMING:
			return bitHamming;
		case VEC_METRIC_JACCARD:
			return bitJaccard;
		default:
			elog(ERROR, "metric %d not supported for type bit", (int) metric);
	}
	pg_unreachable();
}

static VecBatchDistanceFn
bitBatchDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_HAMMING:
			return bitHammingBatch;
		case VEC_METRIC_JACCARD:
			return bitJaccardBatch;
		default:
			elog(ERROR, "metric %d not supported for type bit", (int) metric);
	}
	pg_unreachable();
}

static const VecMetricEntry bit_metrics[] = {
	{hamming_distance, VEC_METRIC_HAMMING},
	{jaccard_distance, VEC_METRIC_JACCARD},
};

const VecTypeOps bit_type_ops = {
	.name = "bit",
	.hnsw_max_dim = 64000,
	.ivf_max_dim = 64000,
	.item_size = bitItemSize,
	.datum_dim = bitDatumDim,
	.to_item = bitToItem,
	.unit_cosine_items = true,
	.distance = bitDistance,
	.batch_distance = bitBatchDistance,
	.item_to_floats = bitItemToFloats,
	.floats_to_item = bitFloatsToItem,
	.metrics = bit_metrics,
	.nmetrics = lengthof(bit_metrics),
};

/* The opclass support function: FUNCTION 3 of every bit opclass. */
PG_FUNCTION_INFO_V1(bit_index_support);
Datum
bit_index_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&bit_type_ops);
}

/* ---------- sparsevec ---------- */

/* Defined in sparsevec.c */
extern Datum sparsevec_l2_distance(PG_FUNCTION_ARGS);
extern Datum sparsevec_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum sparsevec_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum sparsevec_cosine_distance(PG_FUNCTION_ARGS);
extern Datum sparsevec_l1_distance(PG_FUNCTION_ARGS);

/*
 * Items are variable-length (SPARSE_ITEM_SIZE in sparsevec.h): the index
 * stores them out of line, and they need no dimension.  The kernels merge
 * the two sorted index lists, scalar and in double like the SQL functions,
 * and round to the same float as they do (sparsevec.c); the kernel table
 * has no sparse entries, since a merge does not vectorise.
 */
static float
sparseL2(const void *a, const void *b, int dim)
{
	return (float) SparseMergeDiff(SparseItemNnz(a), SparseItemIndices(a), SparseItemValues(a),
								   SparseItemNnz(b), SparseItemIndices(b), SparseItemValues(b),
								   false);
}

static float
sparseNegDot(const void *a, const void *b, int dim)
{
	return (float) -SparseMergeDot(SparseItemNnz(a), SparseItemIndices(a), SparseItemValues(a),
								   SparseItemNnz(b), SparseItemIndices(b), SparseItemValues(b));
}

/* Items and queries are unit vectors: cosine distance is 1 - dot. */
static float
sparseCosine(const void *a, const void *b, int dim)
{
	return (float) (1.0 - SparseMergeDot(SparseItemNnz(a), SparseItemIndices(a),
										 SparseItemValues(a), SparseItemNnz(b),
										 SparseItemIndices(b), SparseItemValues(b)));
}

static float
sparseL1(const void *a, const void *b, int dim)
{
	return (float) SparseMergeDiff(SparseItemNnz(a), SparseItemIndices(a), SparseItemValues(a),
								   SparseItemNnz(b), SparseItemIndices(b), SparseItemValues(b),
								   true);
}

#define SPARSE_BATCH(name, fn) \
static void \
name(const void *q, const void *const *items, int count, int dim, float *out) \
{ \
	for (int i = 0; i < count; i++) \
		out[i] = fn(q, items[i], dim); \
}

SPARSE_BATCH(sparseL2Batch, sparseL2)
SPARSE_BATCH(sparseNegDotBatch, sparseNegDot)
SPARSE_BATCH(sparseCosineBatch, sparseCosine)
SPARSE_BATCH(sparseL1Batch, sparseL1)

/* The most an indexed item takes: no more elements than dimensions. */
static Size
sparsevecItemSize(int dim)
{
	return SPARSE_ITEM_SIZE(Min(dim, SPARSEVEC_HNSW_MAX_NNZ));
}

static Size
sparsevecItemLen(const void *item)
{
	return SPARSE_ITEM_SIZE(SparseItemNnz(item));
}

static Size
sparsevecDatumItemLen(Datum value)
{
	return SPARSE_ITEM_SIZE(DatumGetSparseVector(value)->nnz);
}

static void
sparsevecCheckValue(Datum value)
{
	if (DatumGetSparseVector(value)->nnz > SPARSEVEC_HNSW_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements for hnsw index",
						SPARSEVEC_HNSW_MAX_NNZ)));
}

static int
sparsevecDatumDim(Datum value)
{
	return DatumGetSparseVector(value)->dim;
}

/*
 * The stored elements; under cosine divided by the norm (in double), and
 * a zero vector, which has no direction, is not indexed.  An element far
 * below the norm may become zero: it stays, harmless to every kernel.
 */
static bool
sparsevecToItem(Datum value, VecMetric metric, void *dst)
{
	SparseVector *v = DatumGetSparseVector(value);
	const float *x = SPARSEVEC_VALUES(v);
	int32	   *out = (int32 *) dst;
	float	   *values = (float *) (out + 1 + v->nnz);

	out[0] = v->nnz;
	memcpy(out + 1, v->indices, sizeof(int32) * v->nnz);
	if (metric == VEC_METRIC_COSINE)
	{
		double		norm = 0.0;

		for (int i = 0; i < v->nnz; i++)
			norm += (double) x[i] * (double) x[i];
		norm = sqrt(norm);
		if (norm == 0.0)
			return false;
		for (int i = 0; i < v->nnz; i++)
			values[i] = (float) ((double) x[i] / norm);
		return true;
	}
	memcpy(values, x, sizeof(float) * v->nnz);
	return true;
}

static VecDistanceFn
sparsevecDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return sparseL2;
		case VEC_METRIC_IP:
			return sparseNegDot;
		case VEC_METRIC_COSINE:
			return sparseCosine;
		case VEC_METRIC_L1:
			return sparseL1;
		default:
			elog(ERROR, "metric %d not supported for type sparsevec", (int) metric);
	}
	pg_unreachable();
}

static VecBatchDistanceFn
sparsevecBatchDistance(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return sparseL2Batch;
		case VEC_METRIC_IP:
			return sparseNegDotBatch;
		case VEC_METRIC_COSINE:
			return sparseCosineBatch;
		case VEC_METRIC_L1:
			return sparseL1Batch;
		default:
			elog(ERROR, "metric %d not supported for type sparsevec", (int) metric);
	}
	pg_unreachable();
}

static const VecMetricEntry sparsevec_metrics[] = {
	{sparsevec_l2_squared_distance, VEC_METRIC_L2},
	{sparsevec_l2_distance, VEC_METRIC_L2},
	{sparsevec_negative_inner_product, VEC_METRIC_IP},
	{sparsevec_cosine_distance, VEC_METRIC_COSINE},
	{sparsevec_l1_distance, VEC_METRIC_L1},
};

/*
 * hnsw only: ivfflat's lists hold fixed-size records and its k-means works
 * on dense floats, so the float views stay NULL (ivfflat refuses the type).
 */
const VecTypeOps sparsevec_type_ops = {
	.name = "sparsevec",
	.hnsw_max_dim = SPARSEVEC_MAX_DIM,
	.ivf_max_dim = 0,
	.item_size = sparsevecItemSize,
	.item_len = sparsevecItemLen,
	.datum_item_len = sparsevecDatumItemLen,
	.check_value = sparsevecCheckValue,
	.datum_dim = sparsevecDatumDim,
	.to_item = sparsevecToItem,
	.unit_cosine_items = true,
	.distance = sparsevecDistance,
	.batch_distance = sparsevecBatchDistance,
	.metrics = sparsevec_metrics,
	.nmetrics = lengthof(sparsevec_metrics),
};

/* The opclass support function: FUNCTION 3 of every sparsevec opclass. */
PG_FUNCTION_INFO_V1(sparsevec_index_support);
Datum
sparsevec_index_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&sparsevec_type_ops);
}
