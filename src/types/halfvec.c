/*
 * halfvec.c
 *	  The halfvec SQL type: I/O, typmod, casts, arithmetic, comparison,
 *	  distances and aggregates on IEEE binary16 elements.
 *
 * Values are parsed and computed in float4 and stored as halves, rounded to
 * nearest even; a finite float beyond the half range (65504, or 65520 and
 * up once rounded) is an error, never an infinity.  Distances run on the
 * halves directly through the kernel table (f16_* entries), with no float
 * copy.  The parse loop, checks and aggregate state are vecbase.c's.
 */
#include "compat.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/varbit.h"

#include "f16.h"
#include "halfvec.h"
#include "kernels.h"
#include "vecbase.h"
#include "vector.h"

#define TYPNAME "halfvec"

HalfVector *
InitHalfVector(int dim)
{
	HalfVector *v = (HalfVector *) palloc0(HALFVEC_SIZE(dim));

	SET_VARSIZE(v, HALFVEC_SIZE(dim));
	v->dim = dim;
	return v;
}

bool
HalfvecFits(float value)
{
	return fabsf(value) < 65520.0f;
}

/* The values must be finite and fit (checked by the caller). */
static HalfVector *
halfvecFromFloats(const float *values, int dim)
{
	HalfVector *v = InitHalfVector(dim);

	vk_active->f32_to_f16(values, v->x, dim);
	return v;
}

static inline float
halfAt(const HalfVector *v, int i)
{
	return vk_f16_to_f32(v->x[i]);
}

/* Store a computed float as a half: overflow is an error. */
static inline uint16
checkedHalf(float r)
{
	uint16		h = vk_f32_to_f16(r);

	if (unlikely((h & 0x7c00) == 0x7c00))
		float_overflow_error();
	return h;
}

/* ---------- I/O ---------- */

PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	float	   *values = VecParseText(str, TYPNAME, HalfvecFits, &dim);

	VecCheckExpectedDim(typmod, dim);
	PG_RETURN_HALFVEC_P(halfvecFromFloats(values, dim));
}

/* Each half as the shortest text that reads back to its float value. */
PG_FUNCTION_INFO_V1(halfvec_out);
Datum
halfvec_out(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	initStringInfo(&buf);
	enlargeStringInfo(&buf, v->dim * 13 + 2);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		VecAppendFloat(&buf, halfAt(v, i));
	}
	appendStringInfoChar(&buf, ']');
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(VecTypmodIn(PG_GETARG_ARRAYTYPE_P(0), TYPNAME, VECTOR_MAX_DIM));
}

/* Binary: uint16 dim, uint16 unused (0), then dim big-endian half bits. */
PG_FUNCTION_INFO_V1(halfvec_recv);
Datum
halfvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	HalfVector *v;

	if (buf->len - buf->cursor < 2 * (int) sizeof(int16))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type halfvec"),
				 errdetail("The header needs 4 bytes, got %d.", buf->len - buf->cursor)));
	dim = pq_getmsgint(buf, sizeof(int16));
	unused = pq_getmsgint(buf, sizeof(int16));
	VecCheckDim(dim, TYPNAME);
	VecCheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
	if (buf->len - buf->cursor != (int) sizeof(uint16) * dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type halfvec"),
				 errdetail("Expected %d bytes of elements for %d dimensions, got %d.",
						   (int) sizeof(uint16) * dim, dim, buf->len - buf->cursor)));

	v = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		v->x[i] = (uint16) pq_getmsgint(buf, sizeof(uint16));
		VecCheckElement(halfAt(v, i), TYPNAME);
	}
	PG_RETURN_HALFVEC_P(v);
}

PG_FUNCTION_INFO_V1(halfvec_send);
Datum
halfvec_send(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- casts ---------- */

/* halfvec(halfvec, typmod, explicit): the typmod coercion */
PG_FUNCTION_INFO_V1(halfvec);
Datum
halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	VecCheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_HALFVEC_P(v);
}

PG_FUNCTION_INFO_V1(array_to_halfvec);
Datum
array_to_halfvec(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float	   *values = VecFromArray(array, TYPNAME, HalfvecFits, &dim);

	VecCheckExpectedDim(PG_GETARG_INT32(1), dim);
	PG_RETURN_HALFVEC_P(halfvecFromFloats(values, dim));
}

PG_FUNCTION_INFO_V1(halfvec_to_float4);
Datum
halfvec_to_float4(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Datum	   *d = palloc_array(Datum, v->dim);

	for (int i = 0; i < v->dim; i++)
		d[i] = Float4GetDatum(halfAt(v, i));
	PG_RETURN_POINTER(construct_array(d, v->dim, FLOAT4OID, sizeof(float4),
									  true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(vector_to_halfvec);
Datum
vector_to_halfvec(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	for (int i = 0; i < a->dim; i++)
		VecCheckFits(a->x[i], TYPNAME, HalfvecFits);
	PG_RETURN_HALFVEC_P(halfvecFromFloats(a->x, a->dim));
}

PG_FUNCTION_INFO_V1(halfvec_to_vector);
Datum
halfvec_to_vector(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	Vector	   *r;

	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	r = InitVector(a->dim);
	vk_active->f16_to_f32(a->x, r->x, a->dim);
	PG_RETURN_VECTOR_P(r);
}

/* ---------- distances ---------- */

static inline void
getPair(FunctionCallInfo fcinfo, HalfVector **a, HalfVector **b)
{
	*a = PG_GETARG_HALFVEC_P(0);
	*b = PG_GETARG_HALFVEC_P(1);
	VecCheckSameDim((*a)->dim, (*b)->dim, TYPNAME);
}

PG_FUNCTION_INFO_V1(halfvec_l2_distance);
Datum
halfvec_l2_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(sqrt((double) vk_active->f16_l2sq(a->x, b->x, a->dim)));
}

PG_FUNCTION_INFO_V1(halfvec_l2_squared_distance);
Datum
halfvec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f16_l2sq(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(halfvec_inner_product);
Datum
halfvec_inner_product(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f16_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(halfvec_negative_inner_product);
Datum
halfvec_negative_inner_product(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(-(double) vk_active->f16_dot(a->x, b->x, a->dim));
}

/* 1 - cos, as for vector: NaN when either is zero, else in [0, 2]. */
PG_FUNCTION_INFO_V1(halfvec_cosine_distance);
Datum
halfvec_cosine_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;
	float		dot,
				aa,
				bb;
	double		sim;

	getPair(fcinfo, &a, &b);
	vk_active->f16_dot_norms(a->x, b->x, a->dim, &dot, &aa, &bb);
	sim = (double) dot / sqrt((double) aa * (double) bb);
	if (!isnan(sim))
		sim = Max(-1.0, Min(1.0, sim));
	PG_RETURN_FLOAT8(1.0 - sim);
}

/* acos(a.b) / pi for unit vectors (see vector_spherical_distance) */
PG_FUNCTION_INFO_V1(halfvec_spherical_distance);
Datum
halfvec_spherical_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;
	double		dot;

	getPair(fcinfo, &a, &b);
	dot = (double) vk_active->f16_dot(a->x, b->x, a->dim);
	dot = Max(-1.0, Min(1.0, dot));
	PG_RETURN_FLOAT8(acos(dot) / M_PI);
}

PG_FUNCTION_INFO_V1(halfvec_l1_distance);
Datum
halfvec_l1_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((double) vk_active->f16_l1(a->x, b->x, a->dim));
}

/* ---------- functions ---------- */

PG_FUNCTION_INFO_V1(halfvec_vector_dims);
Datum
halfvec_vector_dims(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_HALFVEC_P(0)->dim);
}

static double
halfNorm(const HalfVector *v)
{
	double		s = 0.0;

	for (int i = 0; i < v->dim; i++)
	{
		double		x = halfAt(v, i);

		s += x * x;
	}
	return sqrt(s);
}

PG_FUNCTION_INFO_V1(halfvec_l2_norm);
Datum
halfvec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(halfNorm(PG_GETARG_HALFVEC_P(0)));
}

PG_FUNCTION_INFO_V1(halfvec_l2_normalize);
Datum
halfvec_l2_normalize(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *r = InitHalfVector(a->dim);
	double		norm = halfNorm(a);

	/* the zero vector stays zero; elements are at most 1 in magnitude */
	if (norm > 0)
		for (int i = 0; i < a->dim; i++)
			r->x[i] = vk_f32_to_f16((float) (halfAt(a, i) / norm));
	PG_RETURN_HALFVEC_P(r);
}

/* One bit per element, set when the element is positive. */
PG_FUNCTION_INFO_V1(halfvec_binary_quantize);
Datum
halfvec_binary_quantize(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	int			len = VARBITTOTALLEN(a->dim);
	VarBit	   *r = (VarBit *) palloc0(len);
	bits8	   *bits = VARBITS(r);

	SET_VARSIZE(r, len);
	VARBITLEN(r) = a->dim;
	for (int i = 0; i < a->dim; i++)
		if (halfAt(a, i) > 0)
			bits[i / BITS_PER_BYTE] |= (bits8) (0x80 >> (i % BITS_PER_BYTE));
	PG_RETURN_VARBIT_P(r);
}

/* subvector(v, start, count): 1-based, clamped to the vector like substr */
PG_FUNCTION_INFO_V1(halfvec_subvector);
Datum
halfvec_subvector(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	int64		start = PG_GETARG_INT32(1);
	int64		count = PG_GETARG_INT32(2);
	int64		end = start + count;
	HalfVector *r;

	if (count < 1)
		VecCheckDim(0, TYPNAME);
	start = Max(start, 1);
	end = Min(end, (int64) a->dim + 1);
	if (end <= start)
		VecCheckDim(0, TYPNAME);
	r = InitHalfVector((int) (end - start));
	memcpy(r->x, a->x + start - 1, sizeof(uint16) * r->dim);
	PG_RETURN_HALFVEC_P(r);
}

/* ---------- arithmetic: in float, rounded back to half ---------- */

PG_FUNCTION_INFO_V1(halfvec_add);
Datum
halfvec_add(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = checkedHalf(halfAt(a, i) + halfAt(b, i));
	PG_RETURN_HALFVEC_P(r);
}

PG_FUNCTION_INFO_V1(halfvec_sub);
Datum
halfvec_sub(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = checkedHalf(halfAt(a, i) - halfAt(b, i));
	PG_RETURN_HALFVEC_P(r);
}

PG_FUNCTION_INFO_V1(halfvec_mul);
Datum
halfvec_mul(PG_FUNCTION_ARGS)
{
	HalfVector *a,
			   *b,
			   *r;

	getPair(fcinfo, &a, &b);
	r = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		float		x = halfAt(a, i);
		float		y = halfAt(b, i);

		r->x[i] = checkedHalf(x * y);
		/* a product of non-zero elements that rounds to zero */
		if ((r->x[i] & 0x7fff) == 0 && x != 0 && y != 0)
			float_underflow_error();
	}
	PG_RETURN_HALFVEC_P(r);
}

PG_FUNCTION_INFO_V1(halfvec_concat);
Datum
halfvec_concat(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *r;

	VecCheckDim(a->dim + b->dim, TYPNAME);
	r = InitHalfVector(a->dim + b->dim);
	memcpy(r->x, a->x, sizeof(uint16) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(uint16) * b->dim);
	PG_RETURN_HALFVEC_P(r);
}

/* ---------- comparison (btree) ---------- */

/* Element by element (by value: -0 = 0), then the shorter vector first. */
static int
halfvecCmp(const HalfVector *a, const HalfVector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		float		x = halfAt(a, i);
		float		y = halfAt(b, i);

		if (x < y)
			return -1;
		if (x > y)
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

#define HALFVEC_CMP_FN(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = halfvecCmp(PG_GETARG_HALFVEC_P(0), PG_GETARG_HALFVEC_P(1)); \
	PG_RETURN_BOOL(test); \
}

HALFVEC_CMP_FN(halfvec_lt, c < 0)
HALFVEC_CMP_FN(halfvec_le, c <= 0)
HALFVEC_CMP_FN(halfvec_eq, c == 0)
HALFVEC_CMP_FN(halfvec_ne, c != 0)
HALFVEC_CMP_FN(halfvec_ge, c >= 0)
HALFVEC_CMP_FN(halfvec_gt, c > 0)

PG_FUNCTION_INFO_V1(halfvec_cmp);
Datum
halfvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(halfvecCmp(PG_GETARG_HALFVEC_P(0), PG_GETARG_HALFVEC_P(1)));
}

/* ---------- aggregates (state and combine shared with vector) ---------- */

PG_FUNCTION_INFO_V1(halfvec_accum);
Datum
halfvec_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	HalfVector *v = PG_GETARG_HALFVEC_P(1);
	float8	   *sums;
	float8	   *count;

	state = VecAccumState(fcinfo, state, "halfvec_accum", v->dim, &sums, &count);
	*count += 1;
	for (int i = 0; i < v->dim; i++)
		sums[i] += halfAt(v, i);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(halfvec_avg);
Datum
halfvec_avg(PG_FUNCTION_ARGS)
{
	int			nelems;
	float8	   *v = VecStateValues(PG_GETARG_ARRAYTYPE_P(0), "halfvec_avg", &nelems);
	int			dim = nelems - 1;
	float	   *means;

	if (dim < 1 || v[0] == 0)
		PG_RETURN_NULL();
	means = palloc_array(float, dim);
	for (int i = 0; i < dim; i++)
	{
		means[i] = (float) (v[i + 1] / v[0]);
		VecCheckElement(means[i], TYPNAME);
		VecCheckFits(means[i], TYPNAME, HalfvecFits);
	}
	PG_RETURN_HALFVEC_P(halfvecFromFloats(means, dim));
}
