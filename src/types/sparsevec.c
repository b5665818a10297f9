/*
 * sparsevec.c
 *	  The sparsevec SQL type: I/O, typmod, casts, comparison, distances and
 *	  norms on vectors that store only their non-zero elements.
 *
 * Every value keeps the invariants of sparsevec.h (indices strictly
 * ascending and in range, values finite and non-zero), so two values are
 * equal exactly when their stored arrays are, and every function below can
 * walk the index lists as sorted sets.  Distances merge the two index lists
 * and accumulate in double: the loop is scalar anyway, and in double a sum
 * of squares of finite floats cannot overflow.  L2, inner product and L1
 * then round the sum to float, as pgvector's float sums are: an hnsw index
 * orders its rows by that float (typeops.c), so the operator must not tell
 * apart two rows the index ties (a squared distance of 1e-60 is 0 in
 * float; 100000001 and 100000002 are one float), or the index hands them
 * out in an order the operator's values contradict.
 */
#include "compat.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "f16.h"
#include "halfvec.h"
#include "kernels.h"
#include "sparsevec.h"
#include "vecbase.h"
#include "vector.h"

#define TYPNAME "sparsevec"

/* one element of the text form, before sorting */
typedef struct SparseElement
{
	int64		index;			/* 1-based, as written (range checked later) */
	float		value;
} SparseElement;

SparseVector *
InitSparseVector(int dim, int nnz)
{
	SparseVector *v = (SparseVector *) palloc0(SPARSEVEC_SIZE(nnz));

	SET_VARSIZE(v, SPARSEVEC_SIZE(nnz));
	v->dim = dim;
	v->nnz = nnz;
	return v;
}

static void
checkNnz(int64 nnz)
{
	if (nnz > SPARSEVEC_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements",
						SPARSEVEC_MAX_NNZ)));
}

static void
reportOutOfBounds(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("sparsevec index out of bounds")));
}

/*
 * The non-zero elements of a dense float array as a sparsevec.  The values
 * are finite (checked by the caller); -0 is zero and is not stored.
 */
static SparseVector *
sparsevecFromDense(const float *values, int dim)
{
	SparseVector *v;
	float	   *x;
	int			nnz = 0;
	int			k = 0;

	for (int i = 0; i < dim; i++)
		if (values[i] != 0)
			nnz++;
	checkNnz(nnz);
	v = InitSparseVector(dim, nnz);
	x = SPARSEVEC_VALUES(v);
	for (int i = 0; i < dim; i++)
		if (values[i] != 0)
		{
			v->indices[k] = i;
			x[k++] = values[i];
		}
	return v;
}

/* ---------- text I/O ---------- */

/* An optionally signed decimal integer at *p (no leading space). */
static int64
parseInteger(const char **p, const char *str)
{
	const char *q = *p;
	char	   *end;
	long long	v;

	if (*q == '+' || *q == '-')
		q++;
	if (*q < '0' || *q > '9')
		VecReportSyntax(TYPNAME, str);
	errno = 0;
	v = strtoll(*p, &end, 10);
	/* on overflow strtoll saturates, which every caller treats as too big */
	*p = end;
	return (int64) v;
}

/*
 * One value at *p.  A nonzero literal below the smallest denormal reads as 0
 * (strtof says ERANGE); pgvector reports it rather than dropping the element.
 */
static float
parseValue(const char **p, const char *str)
{
	const char *start = *p;
	float		v = VecParseElement(p, str, TYPNAME, NULL);

	if (v == 0)
	{
		errno = 0;
		(void) strtof(start, NULL);
		if (errno == ERANGE)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type %s",
							pnstrdup(start, *p - start), TYPNAME)));
	}
	return v;
}

static int
compareElements(const void *a, const void *b)
{
	int64		x = ((const SparseElement *) a)->index;
	int64		y = ((const SparseElement *) b)->index;

	return (x > y) - (x < y);
}

/*
 * Parse "{i:v, ...}/dim" (1-based indices in any order, whitespace around
 * every token).  Result: a palloc'd array of the elements written, zeros
 * included, sorted by index; *count of them, and *dim.  The number of
 * non-zero elements is checked as they come, so that an oversized input
 * fails before it costs memory.
 */
static SparseElement *
parseSparseText(const char *str, int *count, int64 *dim)
{
	const char *p = VecSkipSpace(str);
	SparseElement *elems;
	int			cap = 16;
	int			n = 0;
	int64		nonzero = 0;

	if (*p != '{')
		VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_START_BRACE);
	elems = palloc_array(SparseElement, cap);
	p = VecSkipSpace(p + 1);
	if (*p != '}')
	{
		for (;;)
		{
			int64		index;
			float		value;

			if (*p == '\0')
				VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_END);
			index = parseInteger(&p, str);
			p = VecSkipSpace(p);
			if (*p == '\0')
				VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_END);
			if (*p != ':')
				VecReportSyntax(TYPNAME, str);
			p = VecSkipSpace(p + 1);
			if (*p == '\0')
				VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_END);
			value = parseValue(&p, str);
			if (value != 0)
				checkNnz(++nonzero);

			/* zeros are kept for the duplicate check: grow, within palloc's limit */
			if (n == cap)
			{
				if ((Size) cap * 2 > MaxAllocSize / sizeof(SparseElement))
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("sparsevec input has too many elements")));
				cap *= 2;
				elems = repalloc(elems, sizeof(SparseElement) * cap);
			}
			elems[n].index = index;
			elems[n].value = value;
			n++;

			p = VecSkipSpace(p);
			if (*p == ',')
				p = VecSkipSpace(p + 1);
			else if (*p == '}')
				break;
			else if (*p == '\0')
				VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_END);
			else
				VecReportSyntax(TYPNAME, str);
		}
	}
	p = VecSkipSpace(p + 1);
	/* pgvector says this for whatever stands where "/dim" should */
	if (*p != '/')
		VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_END);
	p = VecSkipSpace(p + 1);
	*dim = parseInteger(&p, str);
	if (*VecSkipSpace(p) != '\0')
		VecReportSyntaxDetail(TYPNAME, str, VEC_SYNTAX_JUNK);

	qsort(elems, n, sizeof(SparseElement), compareElements);
	*count = n;
	return elems;
}

/*
 * Text input.  Indices may come in any order (they are sorted); a repeated
 * index is an error even when one of its values is zero; zeros are dropped.
 */
PG_FUNCTION_INFO_V1(sparsevec_in);
Datum
sparsevec_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			n;
	int64		dim;
	SparseElement *elems = parseSparseText(str, &n, &dim);
	SparseVector *v;
	float	   *x;
	int			nnz = 0;
	int			k = 0;

	VecCheckDimMax(dim, TYPNAME, SPARSEVEC_MAX_DIM);
	VecCheckExpectedDim(typmod, (int) dim);
	for (int i = 0; i < n; i++)
	{
		if (elems[i].index < 1 || elems[i].index > dim)
			reportOutOfBounds();
		if (i > 0 && elems[i].index == elems[i - 1].index)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sparsevec indices must not contain duplicates")));
		if (elems[i].value != 0)
			nnz++;
	}

	v = InitSparseVector((int) dim, nnz);
	x = SPARSEVEC_VALUES(v);
	for (int i = 0; i < n; i++)
		if (elems[i].value != 0)
		{
			v->indices[k] = (int32) (elems[i].index - 1);
			x[k++] = elems[i].value;
		}
	PG_RETURN_SPARSEVEC_P(v);
}

/* "{i:v,...}/dim", 1-based, each value the shortest text that reads back */
PG_FUNCTION_INFO_V1(sparsevec_out);
Datum
sparsevec_out(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = SPARSEVEC_VALUES(v);
	StringInfoData buf;

	initStringInfo(&buf);
	enlargeStringInfo(&buf, v->nnz * 25 + 14);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < v->nnz; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfo(&buf, "%d:", v->indices[i] + 1);
		VecAppendFloat(&buf, x[i]);
	}
	appendStringInfo(&buf, "}/%d", v->dim);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(sparsevec_typmod_in);
Datum
sparsevec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(VecTypmodIn(PG_GETARG_ARRAYTYPE_P(0), TYPNAME, SPARSEVEC_MAX_DIM));
}

/* ---------- binary I/O ---------- */

static void
reportBinaryLength(const char *what, int expected, int got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid binary data for type sparsevec"),
			 errdetail("Expected %d bytes of %s, got %d.", expected, what, got)));
}

/*
 * Binary: int32 dim, int32 nnz, int32 unused (0), nnz int32 indices
 * (0-based), nnz float4 values, all big-endian.  Everything the type
 * promises is checked, and a value of zero is refused rather than dropped:
 * send never writes one, so what recv accepts is exactly what send can
 * produce, and the element count a client sent is the one stored.
 */
PG_FUNCTION_INFO_V1(sparsevec_recv);
Datum
sparsevec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			nnz;
	int			unused;
	SparseVector *v;
	float	   *x;

	if (buf->len - buf->cursor < 3 * (int) sizeof(int32))
		reportBinaryLength("header", 3 * (int) sizeof(int32), buf->len - buf->cursor);
	dim = pq_getmsgint(buf, sizeof(int32));
	nnz = pq_getmsgint(buf, sizeof(int32));
	unused = pq_getmsgint(buf, sizeof(int32));
	VecCheckDimMax(dim, TYPNAME, SPARSEVEC_MAX_DIM);
	VecCheckExpectedDim(typmod, dim);
	if (nnz < 0 || nnz > dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type sparsevec"),
				 errdetail("%d elements do not fit in %d dimensions.", nnz, dim)));
	checkNnz(nnz);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("expected unused to be 0, not %d", unused)));
	/* nnz <= 16000: no overflow; checked before allocating */
	if (buf->len - buf->cursor != (int) (sizeof(int32) + sizeof(float)) * nnz)
		reportBinaryLength("elements", (int) (sizeof(int32) + sizeof(float)) * nnz,
						   buf->len - buf->cursor);

	v = InitSparseVector(dim, nnz);
	x = SPARSEVEC_VALUES(v);
	for (int i = 0; i < nnz; i++)
	{
		v->indices[i] = pq_getmsgint(buf, sizeof(int32));
		if (v->indices[i] < 0 || v->indices[i] >= dim)
			reportOutOfBounds();
		if (i > 0 && v->indices[i] == v->indices[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sparsevec indices must not contain duplicates")));
		if (i > 0 && v->indices[i] < v->indices[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("sparsevec indices must be in ascending order")));
	}
	for (int i = 0; i < nnz; i++)
	{
		x[i] = pq_getmsgfloat4(buf);
		VecCheckElement(x[i], TYPNAME);
		if (x[i] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("binary representation of sparsevec cannot contain zero values")));
	}
	PG_RETURN_SPARSEVEC_P(v);
}

PG_FUNCTION_INFO_V1(sparsevec_send);
Datum
sparsevec_send(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = SPARSEVEC_VALUES(v);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendint32(&buf, v->nnz);
	pq_sendint32(&buf, v->unused);
	for (int i = 0; i < v->nnz; i++)
		pq_sendint32(&buf, v->indices[i]);
	for (int i = 0; i < v->nnz; i++)
		pq_sendfloat4(&buf, x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- casts ---------- */

/* sparsevec(sparsevec, typmod, explicit): the typmod coercion */
PG_FUNCTION_INFO_V1(sparsevec);
Datum
sparsevec(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);

	VecCheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_SPARSEVEC_P(v);
}

/* An array of up to 1e9 elements, of which at most 16000 non-zero. */
PG_FUNCTION_INFO_V1(array_to_sparsevec);
Datum
array_to_sparsevec(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float	   *values = VecFromArrayMax(array, TYPNAME, NULL, SPARSEVEC_MAX_DIM, &dim);

	VecCheckExpectedDim(PG_GETARG_INT32(1), dim);
	PG_RETURN_SPARSEVEC_P(sparsevecFromDense(values, dim));
}

PG_FUNCTION_INFO_V1(vector_to_sparsevec);
Datum
vector_to_sparsevec(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	PG_RETURN_SPARSEVEC_P(sparsevecFromDense(a->x, a->dim));
}

PG_FUNCTION_INFO_V1(halfvec_to_sparsevec);
Datum
halfvec_to_sparsevec(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	float	   *values = palloc_array(float, a->dim);

	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	vk_active->f16_to_f32(a->x, values, a->dim);
	PG_RETURN_SPARSEVEC_P(sparsevecFromDense(values, a->dim));
}

/* To the dense types: the dimension must be within their 16000. */
PG_FUNCTION_INFO_V1(sparsevec_to_vector);
Datum
sparsevec_to_vector(PG_FUNCTION_ARGS)
{
	SparseVector *a = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = SPARSEVEC_VALUES(a);
	Vector	   *r;

	VecCheckDim(a->dim, "vector");
	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	r = InitVector(a->dim);
	for (int i = 0; i < a->nnz; i++)
		r->x[a->indices[i]] = x[i];
	PG_RETURN_VECTOR_P(r);
}

/* Values round to the nearest half; beyond the half range is an error. */
PG_FUNCTION_INFO_V1(sparsevec_to_halfvec);
Datum
sparsevec_to_halfvec(PG_FUNCTION_ARGS)
{
	SparseVector *a = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = SPARSEVEC_VALUES(a);
	HalfVector *r;

	VecCheckDim(a->dim, "halfvec");
	VecCheckExpectedDim(PG_GETARG_INT32(1), a->dim);
	r = InitHalfVector(a->dim);
	for (int i = 0; i < a->nnz; i++)
	{
		VecCheckFits(x[i], "halfvec", HalfvecFits);
		r->x[a->indices[i]] = vk_f32_to_f16(x[i]);
	}
	PG_RETURN_HALFVEC_P(r);
}

/* ---------- distances: merges of the two index lists ---------- */

static inline void
getPair(FunctionCallInfo fcinfo, SparseVector **a, SparseVector **b)
{
	*a = PG_GETARG_SPARSEVEC_P(0);
	*b = PG_GETARG_SPARSEVEC_P(1);
	VecCheckSameDim((*a)->dim, (*b)->dim, TYPNAME);
}

double
SparseMergeDot(int an, const int32 *ai, const float *ax, int bn, const int32 *bi, const float *bx)
{
	double		dot = 0.0;
	int			i = 0;
	int			j = 0;

	while (i < an && j < bn)
	{
		if (ai[i] < bi[j])
			i++;
		else if (ai[i] > bi[j])
			j++;
		else
			dot += (double) ax[i++] * (double) bx[j++];
	}
	return dot;
}

/*
 * Sum over every index of either of |a_i - b_i|^2 (squared L2) or
 * |a_i - b_i| (L1); an index stored in one only contributes its value.
 */
double
SparseMergeDiff(int an, const int32 *ai, const float *ax, int bn, const int32 *bi,
				const float *bx, bool l1)
{
	double		sum = 0.0;
	int			i = 0;
	int			j = 0;

	while (i < an || j < bn)
	{
		double		d;

		if (j == bn || (i < an && ai[i] < bi[j]))
			d = ax[i++];
		else if (i == an || ai[i] > bi[j])
			d = -(double) bx[j++];
		else
			d = (double) ax[i++] - (double) bx[j++];
		sum += l1 ? fabs(d) : d * d;
	}
	return sum;
}

static double
sparseDot(const SparseVector *a, const SparseVector *b)
{
	return SparseMergeDot(a->nnz, a->indices, SPARSEVEC_VALUES(a),
						  b->nnz, b->indices, SPARSEVEC_VALUES(b));
}

static double
sparseDiff(const SparseVector *a, const SparseVector *b, bool l1)
{
	return SparseMergeDiff(a->nnz, a->indices, SPARSEVEC_VALUES(a),
						   b->nnz, b->indices, SPARSEVEC_VALUES(b), l1);
}

static double
sparseNormSq(const SparseVector *v)
{
	const float *x = SPARSEVEC_VALUES(v);
	double		s = 0.0;

	for (int i = 0; i < v->nnz; i++)
		s += (double) x[i] * (double) x[i];
	return s;
}

PG_FUNCTION_INFO_V1(sparsevec_l2_distance);
Datum
sparsevec_l2_distance(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(sqrt((double) (float) sparseDiff(a, b, false)));
}

PG_FUNCTION_INFO_V1(sparsevec_l2_squared_distance);
Datum
sparsevec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((float) sparseDiff(a, b, false));
}

PG_FUNCTION_INFO_V1(sparsevec_inner_product);
Datum
sparsevec_inner_product(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((float) sparseDot(a, b));
}

PG_FUNCTION_INFO_V1(sparsevec_negative_inner_product);
Datum
sparsevec_negative_inner_product(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8(-(float) sparseDot(a, b));
}

/* 1 - cos, as for vector: NaN when either is zero, else in [0, 2]. */
PG_FUNCTION_INFO_V1(sparsevec_cosine_distance);
Datum
sparsevec_cosine_distance(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;
	double		sim;

	getPair(fcinfo, &a, &b);
	sim = sparseDot(a, b) / sqrt(sparseNormSq(a) * sparseNormSq(b));
	if (!isnan(sim))
		sim = Max(-1.0, Min(1.0, sim));
	PG_RETURN_FLOAT8(1.0 - sim);
}

/* acos(a.b) / pi for unit vectors (see vector_spherical_distance) */
PG_FUNCTION_INFO_V1(sparsevec_spherical_distance);
Datum
sparsevec_spherical_distance(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;
	double		dot;

	getPair(fcinfo, &a, &b);
	dot = sparseDot(a, b);
	dot = Max(-1.0, Min(1.0, dot));
	PG_RETURN_FLOAT8(acos(dot) / M_PI);
}

PG_FUNCTION_INFO_V1(sparsevec_l1_distance);
Datum
sparsevec_l1_distance(PG_FUNCTION_ARGS)
{
	SparseVector *a,
			   *b;

	getPair(fcinfo, &a, &b);
	PG_RETURN_FLOAT8((float) sparseDiff(a, b, true));
}

/* ---------- functions ---------- */

PG_FUNCTION_INFO_V1(sparsevec_l2_norm);
Datum
sparsevec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sqrt(sparseNormSq(PG_GETARG_SPARSEVEC_P(0))));
}

/*
 * The unit vector in the same direction; the zero vector stays zero.  An
 * element far smaller than the norm can become zero in float: it is then
 * dropped, as the type stores no zeros.
 */
PG_FUNCTION_INFO_V1(sparsevec_l2_normalize);
Datum
sparsevec_l2_normalize(PG_FUNCTION_ARGS)
{
	SparseVector *a = PG_GETARG_SPARSEVEC_P(0);
	const float *ax = SPARSEVEC_VALUES(a);
	double		norm = sqrt(sparseNormSq(a));
	float	   *values = palloc_array(float, Max(a->nnz, 1));
	SparseVector *r;
	float	   *rx;
	int			nnz = 0;
	int			k = 0;

	for (int i = 0; i < a->nnz; i++)
	{
		values[i] = (float) ((double) ax[i] / norm);
		if (values[i] != 0)
			nnz++;
	}
	r = InitSparseVector(a->dim, nnz);
	rx = SPARSEVEC_VALUES(r);
	for (int i = 0; i < a->nnz; i++)
		if (values[i] != 0)
		{
			r->indices[k] = a->indices[i];
			rx[k++] = values[i];
		}
	PG_RETURN_SPARSEVEC_P(r);
}

/* ---------- comparison (btree) ---------- */

/*
 * The order of the dense vectors, as for vector: element by element over
 * the dimensions both have, then the shorter first.  Stored values are
 * never zero, so the first differing element is at the first index where
 * the stored lists differ (an index in one list only, or one value
 * against another); it counts only below the smaller dimension.  Equal
 * exactly when the dimensions and the stored elements are.
 */
static int
sparsevecCmp(const SparseVector *a, const SparseVector *b)
{
	const float *ax = SPARSEVEC_VALUES(a);
	const float *bx = SPARSEVEC_VALUES(b);
	int			mindim = Min(a->dim, b->dim);
	int			i = 0;
	int			j = 0;

	while (i < a->nnz || j < b->nnz)
	{
		int			index;
		float		x;
		float		y;

		if (j == b->nnz || (i < a->nnz && a->indices[i] < b->indices[j]))
		{
			index = a->indices[i];
			x = ax[i++];
			y = 0;
		}
		else if (i == a->nnz || a->indices[i] > b->indices[j])
		{
			index = b->indices[j];
			x = 0;
			y = bx[j++];
		}
		else
		{
			index = a->indices[i];
			x = ax[i++];
			y = bx[j++];
		}
		if (index >= mindim)
			break;
		if (x < y)
			return -1;
		if (x > y)
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

#define SPARSEVEC_CMP_FN(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = sparsevecCmp(PG_GETARG_SPARSEVEC_P(0), PG_GETARG_SPARSEVEC_P(1)); \
	PG_RETURN_BOOL(test); \
}

SPARSEVEC_CMP_FN(sparsevec_lt, c < 0)
SPARSEVEC_CMP_FN(sparsevec_le, c <= 0)
SPARSEVEC_CMP_FN(sparsevec_eq, c == 0)
SPARSEVEC_CMP_FN(sparsevec_ne, c != 0)
SPARSEVEC_CMP_FN(sparsevec_ge, c >= 0)
SPARSEVEC_CMP_FN(sparsevec_gt, c > 0)

PG_FUNCTION_INFO_V1(sparsevec_cmp);
Datum
sparsevec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sparsevecCmp(PG_GETARG_SPARSEVEC_P(0), PG_GETARG_SPARSEVEC_P(1)));
}
