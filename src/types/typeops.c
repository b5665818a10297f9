/*
 * typeops.c
 *	  VecTypeOps for the vector type, and the metric helpers shared by all
 *	  types.  The SQL-callable support function hands the struct to the
 *	  index access methods.
 */
#include "compat.h"

#include <math.h>

#include "fmgr.h"

#include "kernels.h"
#include "typeops.h"
#include "vector.h"

/* Defined in vector.c; only their addresses are used here. */
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum cosine_distance(PG_FUNCTION_ARGS);
extern Datum l1_distance(PG_FUNCTION_ARGS);
extern Datum l2_distance(PG_FUNCTION_ARGS);
extern Datum inner_product(PG_FUNCTION_ARGS);

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
	.distance = vectorDistance,
	.batch_distance = vectorBatchDistance,
	.rows_dot = f32RowsDot,
	.norm_sq = f32NormSq,
	.metrics = vector_metrics,
	.nmetrics = lengthof(vector_metrics),
};

/* Defined in bitvec.c */
extern Datum hamming_distance(PG_FUNCTION_ARGS);
extern Datum jaccard_distance(PG_FUNCTION_ARGS);

/* Every type the index access methods know. */
static const VecTypeOps *const all_type_ops[] = {&vector_type_ops};

bool
VecIsDistanceFunction(PGFunction fn)
{
	if (fn == hamming_distance || fn == jaccard_distance)
		return true;
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
