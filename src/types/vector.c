/*
 * vector.c
 *	  The vector SQL type: I/O, typmod, casts, arithmetic, comparison,
 *	  distances and aggregates.  Distances go through the kernel table.
 */
#include "compat.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/varbit.h"

#include "kernels.h"
#include "vecbase.h"
#include "vector.h"

#define TYPNAME "vector"

Vector *
InitVector(int dim)
{
	Vector	   *v = (Vector *) palloc0(VECTOR_SIZE(dim));

	SET_VARSIZE(v, VECTOR_SIZE(dim));
	v->dim = dim;
	return v;
}

static Vector *
vectorFromFloats(const float *values, int dim)
{
	Vector	   *v = InitVector(dim);

	memcpy(v->x, values, sizeof(float) * dim);
	return v;
}

/* ---------- I/O ---------- */

PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *values = VecParseText(str, TYPNAME, NULL, &dim);

	VecCheckExpectedDim(typmod, dim);
	PG_RETURN_VECTOR_P(vectorFromFloats(values, dim));
}

PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	initStringInfo(&buf);
	enlargeStringInfo(&buf, v->dim * (12) + 2);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		VecAppendFloat(&buf, v->x[i]);
	}
	appendStringInfoChar(&buf, ']');
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(VecTypmodIn(PG_GETARG_ARRAYTYPE_P(0), TYPNAME, VECTOR_MAX_DIM));
}

/* Binary: uint16 dim, uint16 unused (0), then dim big-endian float4. */
PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	Vector	   *v;

	if (buf->len - buf->cursor < 2 * (int) sizeof(int16))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type vector"),
				 errdetail("The header needs 4 bytes, got %d.", buf->len - buf->cursor)));
	dim = pq_getmsgint(buf, sizeof(int16));
	unused = pq_getmsgint(buf, sizeof(int16));
	VecCheckDim(dim, TYPNAME);
	VecCheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
	/* Check the length before allocating, so a bogus dim costs nothing. */
	if (buf->len - buf->cursor != (int) sizeof(float) * dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type vector"),
				 errdetail("Expected %d bytes of elements for %d dimensions, got %d.",
						   (int) sizeof(float) * dim, dim, buf->len - buf->cursor)));

	v = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		v->x[i] = pq_getmsgfloat4(buf);
		VecCheckElement(v->x[i], TYPNAME);
	}
	PG_RETURN_VECTOR_P(v);
}

PG_FUNCTION_INFO_V1(vector_send);
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- casts ---------- */

/* vector(vector, typmod, explicit): the typmod coercion */
PG_FUNCTION_INFO_V1(vector);
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	VecCheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_VECTOR_P(v);
}

PG_FUNCTION_INFO_V1(array_to_vector);
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float	   *values = VecFromArray(array, TYPNAME, NULL, &dim);

	VecCheckExpectedDim(PG_GETARG_INT32(1), dim);
	PG_RETURN_VECTOR_P(vectorFromFloats(values, dim));
}

PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *d = palloc_array(Datum, v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = Float4GetDatum(v->x[i]);
	PG_RETURN_POINTER(construct_array(d, v->dim, FLOAT4OID, sizeof(float4),
									  true, TYPALIGN_INT));
}

/* ---------- distances ---------- */

static inline void
getPair(FunctionCallInfo fcinfo, Vector **a, Vector **b)
{
	*a = PG_GETARG_VECTOR_P(0);
	*b = PG_GETARG_VECTOR_P(1);
	VecCheckSameDim((*a)->dim, (*b)->dim, TYPNAME);
}

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(sqrt((double) vk_active->f32_l2sq(a->x, b->x, a->dim)));
}

PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f32_l2sq(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f32_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(-(double) vk_active->f32_dot(a->x, b->x, a->dim));
}

/* Cosine similarity, clamped to [-1, 1]; NaN when either vector is zero. */
static double
cosineSimilarity(const Vector *a, const Vector *b)
{
	float		dot,
				aa,
				bb;
	double		sim;

	vk_active->f32_dot_norms(a->x, b->x, a->dim, &dot, &aa, &bb);
	sim = (double) dot / sqrt((double) aa * (double) bb);
	if (isnan(sim))
		return sim;
	/* rounding can push it a little outside the range */
	return Max(-1.0, Min(1.0, sim));
}

PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(1.0 - cosineSimilarity(a, b));
}

/*
 * Angular distance of two unit vectors, acos(a.b) / pi, in [0, 1]: a metric,
 * which IVFFlat's cosine opclass needs for its triangle-inequality reasoning.
 */
PG_FUNCTION_INFO_V1(vector_spherical_distance);
Datum
vector_spherical_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;
	double		dot;

	getPair(fcinfo, &a, &b);
	dot = (double) vk_active->f32_dot(a->x, b->x, a->dim);
	dot = Max(-1.0, Min(1.0, dot));
	PG_RETURN_FLOAT8(acos(dot) / M_PI);
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f32_l1(a->x, b->x, a->dim));
}

/* ---------- functions ---------- */

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_VECTOR_P(0)->dim);
}

static double
normOf(const Vector *v)
{
	double		s = 0.0;

	/* in double: the norm is also used to normalise, where error compounds */
	for (int i = 0; i < v->dim; i++)
		s += (double) v->x[i] * (double) v->x[i];
	return sqrt(s);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(normOf(PG_GETARG_VECTOR_P(0)));
}

PG_FUNCTION_INFO_V1(l2_normalize);
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *r = InitVector(a->dim);
	double		norm = normOf(a);

	/* the zero vector stays zero */
	if (norm > 0)
		for (int i = 0; i < a->dim; i++)
			r->x[i] = (float) ((double) a->x[i] / norm);
	PG_RETURN_VECTOR_P(r);
}

/* One bit per element, set when the element is positive. */
PG_FUNCTION_INFO_V1(binary_quantize);
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int			len = VARBITTOTALLEN(a->dim);
	VarBit	   *r = (VarBit *) palloc0(len);
	bits8	   *bits = VARBITS(r);

	SET_VARSIZE(r, len);
	VARBITLEN(r) = a->dim;
	for (int i = 0; i < a->dim; i++)
		if (a->x[i] > 0)
			bits[i / BITS_PER_BYTE] |= (bits8) (0x80 >> (i % BITS_PER_BYTE));
	PG_RETURN_VARBIT_P(r);
}

/* subvector(v, start, count): 1-based, clamped to the vector like substr */
PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int64		start = PG_GETARG_INT32(1);
	int64		count = PG_GETARG_INT32(2);
	int64		end = start + count;

	if (count < 1)
		VecCheckDim(0, TYPNAME);
	start = Max(start, 1);
	end = Min(end, (int64) a->dim + 1);
	if (end <= start)
		VecCheckDim(0, TYPNAME);
	PG_RETURN_VECTOR_P(vectorFromFloats(a->x + start - 1, (int) (end - start)));
}

/* ---------- arithmetic ---------- */

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] + b->x[i];
	for (int i = 0; i < a->dim; i++)
		VecCheckedResult(r->x[i]);
	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] - b->x[i];
	for (int i = 0; i < a->dim; i++)
		VecCheckedResult(r->x[i]);
	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] * b->x[i];
	for (int i = 0; i < a->dim; i++)
	{
		VecCheckedResult(r->x[i]);
		if (r->x[i] == 0 && a->x[i] != 0 && b->x[i] != 0)
			float_underflow_error();
	}
	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	VecCheckDim(a->dim + b->dim, TYPNAME);
	r = InitVector(a->dim + b->dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(r);
}

/* ---------- comparison (btree) ---------- */

/* Element by element, then the shorter vector first. */
static int
vectorCmp(const Vector *a, const Vector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

#define VECTOR_CMP_FN(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = vectorCmp(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)); \
	PG_RETURN_BOOL(test); \
}

VECTOR_CMP_FN(vector_lt, c < 0)
VECTOR_CMP_FN(vector_le, c <= 0)
VECTOR_CMP_FN(vector_eq, c == 0)
VECTOR_CMP_FN(vector_ne, c != 0)
VECTOR_CMP_FN(vector_ge, c >= 0)
VECTOR_CMP_FN(vector_gt, c > 0)

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(vectorCmp(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)));
}

/* ---------- aggregates ---------- */

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	float8	   *sums;
	float8	   *count;

	state = VecAccumState(fcinfo, state, "vector_accum", v->dim, &sums, &count);
	*count += 1;
	for (int i = 0; i < v->dim; i++)
		sums[i] += v->x[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(VecCombineStates(fcinfo, PG_GETARG_ARRAYTYPE_P(0),
										   PG_GETARG_ARRAYTYPE_P(1), "vector_combine"));
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	int			nelems;
	float8	   *v = VecStateValues(PG_GETARG_ARRAYTYPE_P(0), "vector_avg", &nelems);
	int			dim = nelems - 1;
	Vector	   *r;

	if (dim < 1 || v[0] == 0)
		PG_RETURN_NULL();
	r = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		r->x[i] = (float) (v[i + 1] / v[0]);
		VecCheckElement(r->x[i], TYPNAME);
	}
	PG_RETURN_VECTOR_P(r);
}
