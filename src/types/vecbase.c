/*
 * vecbase.c
 *	  Checks, text parsing and formatting, array conversion and aggregate
 *	  state shared by the vector-like types (see vecbase.h).
 */
#include "compat.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "parser/scansup.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "vecbase.h"
#include "vecstrtof.h"

void
VecCheckDim(int dim, const char *typname)
{
	VecCheckDimMax(dim, typname, VECTOR_MAX_DIM);
}

void
VecCheckDimMax(int64 dim, const char *typname, int maxdim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", typname)));
	if (dim > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot have more than %d dimensions", typname, maxdim)));
}

void
VecCheckElement(float value, const char *typname)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in %s", typname)));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in %s", typname)));
}

void
VecCheckExpectedDim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void
VecCheckSameDim(int a, int b, const char *typname)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different %s dimensions %d and %d", typname, a, b)));
}

int32
VecTypmodIn(ArrayType *ta, const char *typname, int maxdim)
{
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s must be at least 1", typname)));
	if (mods[0] > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s cannot exceed %d", typname, maxdim)));
	return mods[0];
}

void
VecReportSyntax(const char *typname, const char *str)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", typname, str)));
}

void
VecReportSyntaxDetail(const char *typname, const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", typname, str),
			 errdetail("%s", detail)));
}

/* C isspace() in the C locale: space, \t \n \v \f \r (scanner_isspace lacks \v) */
const char *
VecSkipSpace(const char *p)
{
	while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		p++;
	return p;
}

float *
VecParseText(const char *str, const char *typname, VecFitsFn fits, int *dim)
{
	const char *p = VecSkipSpace(str);
	const char *q;
	float	   *values;
	int			cap = 1;
	int			n = 0;

	if (*p != '[')
		VecReportSyntaxDetail(typname, str, VEC_SYNTAX_START_BRACKET);

	/* Size the array from the commas; the loop below checks everything. */
	for (q = p; *q && cap <= VECTOR_MAX_DIM; q++)
		if (*q == ',')
			cap++;
	values = palloc_array(float, cap);

	p = VecSkipSpace(p + 1);
	if (*p == ']')
		VecCheckDim(0, typname);

	for (;;)
	{
		float		v;

		if (n == VECTOR_MAX_DIM)
			VecCheckDim(n + 1, typname);

		p = VecSkipSpace(p);
		if (*p == '\0')
			VecReportSyntaxDetail(typname, str, VEC_SYNTAX_END);
		/* strtof would accept these after skipping its own whitespace */
		if (*p == ',' || *p == ']')
			VecReportSyntax(typname, str);
		v = VecParseElement(&p, str, typname, fits);
		Assert(n < cap);
		values[n++] = v;

		p = VecSkipSpace(p);
		if (*p == ',')
			p++;
		else if (*p == ']')
			break;
		else if (*p == '\0')
			VecReportSyntaxDetail(typname, str, VEC_SYNTAX_END);
		else
			VecReportSyntax(typname, str);
	}

	if (*VecSkipSpace(p + 1) != '\0')
		VecReportSyntaxDetail(typname, str, VEC_SYNTAX_JUNK_BRACKET);

	*dim = n;
	return values;
}

float
VecParseElement(const char **p, const char *str, const char *typname, VecFitsFn fits)
{
	const char *start = *p;
	char	   *end;
	float		v;

	errno = 0;
	v = VecStrtof(start, &end);
	if (end == start)
		VecReportSyntax(typname, str);
	if (errno == ERANGE && isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type %s",
						pnstrdup(start, end - start), typname)));
	VecCheckElement(v, typname);
	if (fits != NULL && !fits(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type %s",
						pnstrdup(start, end - start), typname)));
	*p = end;
	return v;
}

void
VecAppendFloat(StringInfo buf, float value)
{
	enlargeStringInfo(buf, FLOAT_SHORTEST_DECIMAL_LEN);
	buf->len += float_to_shortest_decimal_bufn(value, buf->data + buf->len);
	buf->data[buf->len] = '\0';
}

void
VecCheckFits(float value, const char *typname, VecFitsFn fits)
{
	if (fits != NULL && !fits(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%g\" is out of range for type %s", value, typname)));
}

float *
VecFromArray(ArrayType *array, const char *typname, VecFitsFn fits, int *dim)
{
	return VecFromArrayMax(array, typname, fits, VECTOR_MAX_DIM, dim);
}

/* True when a numeric (finite or not) is beyond float4's range. */
static bool
numericOverflowsFloat4(Datum num)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, num));
	float		f;

	errno = 0;
	f = strtof(text, NULL);
	pfree(text);
	return isinf(f);
}

float *
VecFromArrayMax(ArrayType *array, const char *typname, VecFitsFn fits, int maxdim, int *dim)
{
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float	   *values;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	VecCheckDimMax(n, typname, maxdim);

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);

	values = palloc_array(float, n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				values[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				values[i] = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				/* beyond float4 becomes infinite: rejected below, as pgvector does */
				values[i] = (float) DatumGetFloat8(elems[i]);
				break;
			case NUMERICOID:
				/*
				 * numeric_float4 would say "out of range for type real" for a
				 * value beyond float4; say what a float8 beyond it says.  The
				 * value itself still comes from numeric_float4, which rounds
				 * the decimal once.
				 */
				if (numericOverflowsFloat4(elems[i]))
					values[i] = get_float4_infinity();
				else
					values[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elems[i]));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("cannot convert an array of type %s to %s",
								format_type_be(elemtype), typname)));
		}
		VecCheckElement(values[i], typname);
		VecCheckFits(values[i], typname, fits);
	}
	*dim = n;
	return values;
}

/* Validate a float8[] aggregate state, which a user could pass by hand. */
float8 *
VecStateValues(ArrayType *state, const char *caller, int *nelems)
{
	/* pgvector's wording and SQLSTATE (XX000): only reached by a direct call */
	if (ARR_NDIM(state) != 1 || ARR_ELEMTYPE(state) != FLOAT8OID ||
		ARR_HASNULL(state) || ARR_DIMS(state)[0] < 1 || ARR_LBOUND(state)[0] != 1 ||
		ARR_DIMS(state)[0] > VECTOR_MAX_DIM + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("%s: expected state array", caller)));
	*nelems = ARR_DIMS(state)[0];
	return (float8 *) ARR_DATA_PTR(state);
}

/* A zeroed state for dim, in the aggregate's context when there is one. */
static ArrayType *
newState(FunctionCallInfo fcinfo, int dim)
{
	MemoryContext aggcxt;
	MemoryContext old = NULL;
	ArrayType  *state;
	Datum	   *zeros;

	if (AggCheckCallContext(fcinfo, &aggcxt))
		old = MemoryContextSwitchTo(aggcxt);
	zeros = palloc_array(Datum, dim + 1);
	for (int i = 0; i <= dim; i++)
		zeros[i] = Float8GetDatum(0.0);
	state = construct_array(zeros, dim + 1, FLOAT8OID, sizeof(float8),
							FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	if (old)
		MemoryContextSwitchTo(old);
	return state;
}

/*
 * Make state ready to accumulate a dim-dimensional value.  Only the initial
 * state {0} takes any dimension; a state with sums fixes it, even with a
 * count of 0 (a hand-made {0,0} expects 1 dimension, as in pgvector).
 * Outside an aggregate the input must not be modified, so a copy is made.
 */
ArrayType *
VecAccumState(FunctionCallInfo fcinfo, ArrayType *state, const char *caller, int dim,
			  float8 **sums, float8 **count)
{
	int			nelems;
	float8	   *v;

	(void) VecStateValues(state, caller, &nelems);
	if (nelems == 1)
		state = newState(fcinfo, dim);
	else
	{
		VecCheckExpectedDim(nelems - 1, dim);
		if (!AggCheckCallContext(fcinfo, NULL))
			state = DatumGetArrayTypePCopy(PointerGetDatum(state));
	}
	v = (float8 *) ARR_DATA_PTR(state);
	*count = v;
	*sums = v + 1;
	return state;
}

ArrayType *
VecCombineStates(FunctionCallInfo fcinfo, ArrayType *a, ArrayType *b, const char *caller)
{
	int			na,
				nb;
	float8	   *va = VecStateValues(a, caller, &na);
	float8	   *vb = VecStateValues(b, caller, &nb);
	float8	   *sums;
	float8	   *count;

	if (nb == 1 || vb[0] == 0)
		return a;
	if (na == 1 || va[0] == 0)
	{
		a = newState(fcinfo, nb - 1);
		va = (float8 *) ARR_DATA_PTR(a);
		memcpy(va, vb, sizeof(float8) * nb);
		return a;
	}
	a = VecAccumState(fcinfo, a, caller, nb - 1, &sums, &count);
	*count += vb[0];
	for (int i = 1; i < nb; i++)
		sums[i - 1] += vb[i];
	return a;
}
